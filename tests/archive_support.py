"""Archives for import tests: honest ones, hostile ones, a zip bomb."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path


def write_zip(path: Path, entries: dict[str, bytes], *, modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            archive.writestr(info, data)
    return path


def write_tar(path: Path, entries: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info in entries:
            content = data.get(info.name)
            if content is not None:
                info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def tar_file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def tar_link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def lie_about_size(archive: bytes, name: bytes, size: int) -> bytes:
    """The zip with `name`'s declared uncompressed size (local header and directory) set to `size`."""
    data = bytearray(archive)
    local = data.find(b"PK\x03\x04")
    data[local + 22 : local + 26] = size.to_bytes(4, "little")
    central = data.find(b"PK\x01\x02")
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    assert name in data
    return bytes(data)


def write_zip_bomb(path: Path) -> Path:
    """One 1 GiB entry of zeros (about 1 MB compressed), written a MiB at a time."""
    zeros = bytes(1024 * 1024)
    entry_info = zipfile.ZipInfo("big.bin")
    entry_info.compress_type = zipfile.ZIP_DEFLATED
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(entry_info, "w", force_zip64=True) as entry,
    ):
        for _ in range(1024):
            entry.write(zeros)
    return path


def understate_entries(archive: bytes, count: int) -> bytes:
    """The zip with its end record's entry counts (this disk's and the total) set to `count`."""
    data = bytearray(archive)
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = count.to_bytes(2, "little") * 2
    return bytes(data)


def write_header_bomb(path: Path, kind: bytes, size: int) -> Path:
    """A tar.gz whose first header is a pax or GNU long-name header claiming `size` bytes (zeros,
    a few hundred KB compressed), followed by a small file."""
    header = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "pax")
    header.type = kind
    header.size = size
    with gzip.open(path, "wb") as out:
        out.write(header.tobuf(tarfile.GNU_FORMAT))
        zeros = bytes(1024 * 1024)
        for _ in range(size // len(zeros)):
            out.write(zeros)
        out.write(tarfile.TarInfo("a.txt").tobuf(tarfile.GNU_FORMAT))
        out.write(bytes(2 * tarfile.BLOCKSIZE))
    return path
