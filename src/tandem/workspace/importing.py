"""Existing code coming in: an uploaded archive unpacked with every entry checked, a Git repository
cloned with the `git` client, a folder's files chosen the way Git would, all held to `FileLimits`.

Nothing here touches the database: each source yields `(path, bytes)` pairs, and the caller stores
them in one transaction (`tandem.services.imports`). Work happens in a private scratch folder that
the caller deletes, so a refused or cancelled import leaves nothing behind.

Why the `git` client and not dulwich: it speaks every transport and auth scheme users have (smart
HTTP, SSH config, credential helpers), does shallow clones of a branch or tag in C, and its
`ls-files --exclude-standard` is the reference implementation of `.gitignore` (nested files,
negation, `**`), which the folder and archive sources reuse instead of a second matcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import io
import ipaddress
import os
import re
import shutil
import socket
import stat
import struct
import tarfile
import tempfile
import threading
import zipfile
import zlib
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self
from urllib.parse import urlsplit, urlunsplit

from tandem.errors import Cancelled, Forbidden, ImportFailed, InvalidInput, LimitReached, TooLarge
from tandem.workspace.files import FileLimits
from tandem.workspace.paths import UnsafePath, project_path

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

SKIPPED_DIRS = (
    ".git",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "dist",
    "build",
    "target",
    ".next",
    ".nuxt",
    ".gradle",
    ".idea",
)
"""Folders skipped wherever they are, whatever `.gitignore` says: dependencies, virtualenvs and build
output are rebuilt from the project, not part of it. (A folder holding `pyvenv.cfg` is a virtualenv
whatever its name, and is skipped too.)"""

_CHUNK = 64 * 1024
_BATCH_BYTES = 4 * 1024 * 1024
_GIT_TIMEOUT = 600.0
ENTRY_FACTOR = 20
"""An archive may list at most this many times `max_files` entries (folders and skipped ones
included): its directory is read into memory before any entry is."""


@dataclass(frozen=True, kw_only=True)
class Progress:
    phase: str
    files_done: int = 0
    files_total: int | None = None
    bytes_done: int = 0


ProgressSink = Callable[[Progress], None]


@dataclass(frozen=True, kw_only=True)
class Picked:
    """A file the project will hold: its project path and where its bytes come from."""

    path: str
    size: int
    source: str
    """A file under the scratch or source folder, or a Git blob id."""


def skipped(path: str) -> bool:
    return any(part in SKIPPED_DIRS for part in path.split("/")[:-1]) or path.split("/")[-1] == ".git"


def _safe(name: str, what: str) -> str:
    try:
        return project_path(name)
    except UnsafePath as error:
        raise InvalidInput(f"{what} {name!r} is refused: {error.message}") from None


NAME_MAX = 255
"""Longest file name, in bytes, that the scratch folder's file system takes (ext4, xfs, tmpfs...)."""


def _entry_path(name: str) -> str:
    """An archive entry's project path; it is written to disk before it is stored, so each name in it
    must also fit the file system there."""
    path = _safe(name, "archive entry")
    if any(len(part.encode()) > NAME_MAX for part in path.split("/")):
        raise InvalidInput(f"archive entry {name!r} has a name longer than {NAME_MAX} bytes in UTF-8")
    return path


class Budget:
    """Counts files and bytes against the limits as they are unpacked, so the first file past a
    limit stops the import, whatever the archive's headers claim."""

    def __init__(self, limits: FileLimits, stop: threading.Event) -> None:
        self.limits = limits
        self.files = 0
        self.bytes = 0
        self._stop = stop

    def check_stop(self) -> None:
        if self._stop.is_set():
            raise Cancelled("the import was cancelled")

    def add_file(self, path: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise LimitReached(
                f"the import holds more than {self.limits.max_files} files (at {path!r}), the limit per project "
                "(TANDEM_MAX_PROJECT_FILES)"
            )

    def add_bytes(self, path: str, file_bytes: int, count: int) -> None:
        self.bytes += count
        if file_bytes > self.limits.max_file_bytes:
            raise TooLarge(
                f"{path!r} is larger than {self.limits.max_file_bytes} bytes, the limit per file "
                "(TANDEM_MAX_FILE_BYTES)"
            )
        if self.bytes > self.limits.max_project_bytes:
            raise TooLarge(
                f"the import is larger than {self.limits.max_project_bytes} bytes (at {path!r}), the limit per "
                "project (TANDEM_MAX_PROJECT_BYTES)"
            )


def _write_entry(budget: Budget, path: str, source: IO[bytes], root: Path) -> None:
    target = root / path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidInput(f"archive entry {path!r} lies inside a path that is also a file") from None
    try:
        out = target.open("xb")
    except (FileExistsError, IsADirectoryError):
        raise InvalidInput(f"archive entry {path!r} appears twice, or is also a folder") from None
    written = 0
    with out:
        while chunk := source.read(_CHUNK):
            budget.check_stop()
            written += len(chunk)
            budget.add_bytes(path, written, len(chunk))
            out.write(chunk)


def _zip_entry_count(file: IO[bytes], cap: int) -> int:
    """How many entries the zip's central directory holds, counted by walking its records (up to
    `cap` + 1), before `zipfile` loads the whole directory into memory. The end record's own count is
    not trusted: `zipfile` walks the directory by its size, whatever that count says. Zero when there
    is no end record (then `zipfile` calls the archive corrupt)."""
    file.seek(0, os.SEEK_END)
    tail_start = max(0, file.tell() - 65_557)  # the end record (22 bytes) plus the longest comment
    file.seek(tail_start)
    tail = file.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return 0
    size, _ = struct.unpack("<II", tail[at + 12 : at + 20])
    end = tail_start + at
    locator = at - 20
    if locator >= 56 and tail[locator : locator + 4] == b"PK\x06\x07":
        # zip64: the record right before the locator holds the directory's 64-bit size.
        record = tail[locator - 56 : locator]
        if record[:4] == b"PK\x06\x06":
            (size,) = struct.unpack("<Q", record[40:48])
            end = tail_start + locator - 56
    # Where `zipfile` looks too: right before the end record, whatever prefix the file has.
    position = end - size
    if position < 0:
        return 0
    file.seek(position)
    count = 0
    while count <= cap and position + 46 <= end:
        head = file.read(46)
        if head[:4] != b"PK\x01\x02":
            break
        name, extra, comment = struct.unpack("<HHH", head[28:34])
        file.seek(name + extra + comment, os.SEEK_CUR)
        position += 46 + name + extra + comment
        count += 1
    return count


def _unzip(archive: Path, root: Path, budget: Budget) -> None:
    with archive.open("rb") as file:
        cap = ENTRY_FACTOR * budget.limits.max_files
        if _zip_entry_count(file, cap) > cap:
            raise LimitReached(
                f"the archive holds more than {cap} entries; an import reads at most {ENTRY_FACTOR} × "
                f"{budget.limits.max_files} (TANDEM_MAX_PROJECT_FILES)"
            )
        file.seek(0)
        with zipfile.ZipFile(file) as zipped:
            for info in zipped.infolist():
                budget.check_stop()
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise InvalidInput(f"archive entry {info.filename!r} is a symbolic link; links are refused")
                if info.is_dir():
                    continue
                path = _entry_path(info.filename)
                if skipped(path):
                    continue
                budget.add_file(path)
                # The declared size is checked first so a huge entry is refused without reading it;
                # the copy then counts what really comes out, whatever the header says.
                budget.add_bytes(path, info.file_size, 0)
                with zipped.open(info) as source:
                    _write_entry(budget, path, source, root)


MAX_TAR_HEADER = 1 << 20
"""Largest pax or GNU long-name header: `tarfile` reads each one whole into memory, and a path needs
a few KB of one."""

_LONG_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, b"X")


class _CappedTarInfo(tarfile.TarInfo):
    """Refuses an oversized pax or long-name header as soon as its 512-byte block is parsed, before
    `tarfile` reads what that header claims to hold."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        if info.type in _LONG_HEADERS and info.size > MAX_TAR_HEADER:
            raise InvalidInput(
                f"the archive has a {info.size}-byte extended header; at most {MAX_TAR_HEADER} bytes are read"
            )
        return info


class _Capped(io.RawIOBase):
    """What a decompressed stream yields, refused past `limit` bytes: skipped entries and headers
    pass through the stream too, and are counted by nothing else."""

    def __init__(self, source: gzip.GzipFile, limit: int) -> None:
        super().__init__()
        self._source = source
        self._limit = limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = self._source.readinto(buffer)
        self._read += count
        if self._read > self._limit:
            raise TooLarge(
                f"the archive unpacks to more than {self._limit} bytes, twice the limit per project plus room for "
                "its headers (TANDEM_MAX_PROJECT_BYTES)"
            )
        return count


def _untar(archive: Path, root: Path, budget: Budget) -> None:
    cap = ENTRY_FACTOR * budget.limits.max_files
    # Headers of every entry the cap lets through (two blocks each) on top of twice the files' bytes.
    limit = 2 * budget.limits.max_project_bytes + cap * 2 * tarfile.BLOCKSIZE
    entries = 0
    # Decompressed here, not by `tarfile` ("r|gz"), so the bytes it reads are counted; "r|" still
    # reads the archive as a stream, one block after the other, never seeking.
    with (
        gzip.open(archive, "rb") as unzipped,
        tarfile.open(fileobj=_Capped(unzipped, limit), mode="r|", tarinfo=_CappedTarInfo) as tar,
    ):
        for member in tar:
            budget.check_stop()
            entries += 1
            if entries > cap:
                raise LimitReached(
                    f"the archive holds more than {ENTRY_FACTOR} × {budget.limits.max_files} entries "
                    "(TANDEM_MAX_PROJECT_FILES)"
                )
            if member.issym() or member.islnk():
                raise InvalidInput(f"archive entry {member.name!r} is a link; links are refused")
            if member.isdir():
                continue
            if not member.isfile():
                raise InvalidInput(f"archive entry {member.name!r} is a device or pipe, not a file")
            path = _entry_path(member.name)
            if skipped(path):
                continue
            budget.add_file(path)
            budget.add_bytes(path, member.size, 0)
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has a reader
            _write_entry(budget, path, source, root)


def unpack(archive: Path, root: Path, limits: FileLimits, stop: threading.Event) -> None:
    """Unpack a zip or tar.gz into the empty folder `root`; blocking (run it in a thread)."""
    with archive.open("rb") as file:
        magic = file.read(4)
    budget = Budget(limits, stop)
    try:
        if magic[:2] == b"PK":
            _unzip(archive, root, budget)
        elif magic[:2] == b"\x1f\x8b":
            _untar(archive, root, budget)
        else:
            raise InvalidInput("the upload is neither a zip nor a tar.gz archive")
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, NotImplementedError) as error:
        raise InvalidInput(f"the archive is corrupt or unreadable: {error}") from None
    except RuntimeError as error:  # zipfile: an encrypted entry
        raise InvalidInput(f"the archive cannot be read: {error}") from None
    except OSError as error:  # gzip: not a gzip stream, or a truncated one
        if isinstance(error, (PermissionError, FileNotFoundError)) or error.errno is not None:
            raise
        raise InvalidInput(f"the archive is corrupt or unreadable: {error}") from None


def git_env(home: Path, protocols: list[str]) -> dict[str, str]:
    """A clean environment: no user or system config (hooks, aliases, credential helpers of the
    server's account), no prompt that would hang the import, only the allowed transports."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_ALLOW_PROTOCOL": ":".join(protocols),
        "LC_ALL": "C",
    }


def public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    # Everything after the credentials, as written: the port, an IPv6 address's brackets.
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


_RECEIVING = re.compile(rb"Receiving objects:\s+(\d+)%")


def check_git_url(url: str, protocols: list[str]) -> None:
    try:
        scheme = urlsplit(url).scheme
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise InvalidInput(f"Git URL is malformed: {error}") from None
    if scheme not in protocols:
        raise InvalidInput(
            f"Git URL scheme {scheme or '(none)'!r} is not allowed; use one of {', '.join(protocols)} "
            "(TANDEM_IMPORT_GIT_PROTOCOLS)"
        )


_DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.partition("%")[0])  # an IPv6 zone (`fe80::1%eth0`) is no part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


async def resolve_git_host(url: str, *, allow_internal: bool) -> list[str]:
    """Refuse a Git URL whose host resolves to a loopback, private, link-local, multicast or reserved
    address (the server's own network, cloud metadata) unless `allow_internal`; returns `git -c`
    options that pin the host to the addresses checked here, so a second lookup by `git` (DNS
    rebinding) cannot swap them."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return []
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError as error:
        raise InvalidInput(f"Git URL is malformed: {error}") from None
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ImportFailed(f"the Git host {host!r} cannot be resolved: {error}") from None
    addresses = sorted({str(info[4][0]) for info in found})
    internal = [address for address in addresses if _internal(address)]
    if internal and not allow_internal:
        raise Forbidden(
            f"the Git host {host!r} is at {internal[0]}, an internal address (loopback, private, link-local, "
            "multicast or reserved): only an admin may import from one, unless TANDEM_IMPORT_GIT_INTERNAL_HOSTS is set"
        )
    if parts.scheme not in ("http", "https"):
        return []
    pinned = ",".join(f"[{address}]" if ":" in address else address for address in addresses)
    return ["-c", f"http.curloptResolve={host}:{port}:{pinned}"]


async def git_output(args: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """`git` with `args`: its exit status, output and error output (killed past the time limit)."""
    child = await asyncio.create_subprocess_exec(
        "git",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        async with asyncio.timeout(_GIT_TIMEOUT):
            out, err = await child.communicate()
    except TimeoutError:
        raise ImportFailed(f"git took longer than {_GIT_TIMEOUT:g} s") from None
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode is not None
    return child.returncode, out, err


def last_line(err: bytes) -> str:
    lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


async def _run_git(args: list[str], env: dict[str, str]) -> bytes:
    """`git` with `args`; its output, or `ImportFailed` with its last error line."""
    code, out, err = await git_output(args, env)
    if code != 0:
        command = next(arg for arg in args if not arg.startswith("-"))
        raise ImportFailed(f"git {command} failed: {last_line(err)}")
    return out


def _name(raw: bytes, what: str) -> str:
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} {raw!r} is not UTF-8") from None
    return _safe(name, what)


class GitRepository:
    """A shallow clone in a scratch folder, read without a checkout: files come straight from the
    object store (`git cat-file --batch`), so skipped folders and over-limit files are never written."""

    def __init__(self, scratch: Path, *, protocols: list[str]) -> None:
        self._scratch = scratch
        self._dir = scratch / "repo.git"
        self._env = git_env(scratch, protocols)

    async def _git(self, *args: str) -> bytes:
        return await _run_git([f"--git-dir={self._dir}", *args], self._env)

    async def clone(
        self,
        url: str,
        *,
        ref: str | None,
        depth: int | None,
        limits: FileLimits,
        stop: threading.Event,
        progress: ProgressSink,
        pinned: list[str],
    ) -> None:
        """Fetch `ref` (a branch or tag; the default branch if None) into a bare repository, from the
        addresses `pinned` (`resolve_git_host`). Stopped when cancelled or when the download outgrows
        the project's size limit."""
        # A redirect would lead to a host nobody checked: git follows the first one by default.
        args = [*pinned, "-c", "http.followRedirects=false", "clone", "--bare", "--single-branch", "--no-tags"]
        args += ["--progress"]
        if ref is not None:
            args += ["--branch", ref]
        if depth is not None:
            args += ["--depth", str(depth)]
        code, errors = await self.watched(
            [*args, "--", url, str(self._dir)], env=self._env, limits=limits, stop=stop, progress=progress
        )
        if code != 0:
            # git leaves the URL's credentials out of its messages (tested), and so does `public_url`.
            raise ImportFailed(f"git clone of {public_url(url)} failed: {last_line(errors)}")

    async def watched(
        self, args: list[str], *, env: dict[str, str], limits: FileLimits, stop: threading.Event, progress: ProgressSink
    ) -> tuple[int, bytes]:
        """`git` downloading into this repository (a clone or a fetch): its exit status and last error
        output. Stopped when cancelled or when what it downloaded outgrows the project's size limit."""
        start = _folder_bytes(self._dir) if self._dir.exists() else 0
        child = await asyncio.create_subprocess_exec(
            "git",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert child.stderr is not None
        errors = bytearray()
        # A pack is compressed: twice the project limit is room for any project that fits in it.
        max_download = 2 * limits.max_project_bytes

        async def read_errors() -> None:
            assert child.stderr is not None
            while chunk := await child.stderr.read(4096):
                errors.extend(chunk)
                del errors[: max(0, len(errors) - 16384)]

        reader = asyncio.create_task(read_errors())
        try:
            async with asyncio.timeout(_GIT_TIMEOUT):
                while child.returncode is None:
                    received = _folder_bytes(self._dir) - start
                    percent = _RECEIVING.findall(bytes(errors))
                    progress(
                        Progress(
                            phase="cloning",
                            bytes_done=received,
                            files_done=int(percent[-1]) if percent else 0,
                            files_total=100,
                        )
                    )
                    if received > max_download:
                        raise TooLarge(
                            f"the repository's download passed {max_download} bytes, twice the limit per project "
                            "(TANDEM_MAX_PROJECT_BYTES)"
                        )
                    if stop.is_set():
                        raise Cancelled("the import was cancelled")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(child.wait(), 0.25)
                await reader
        except TimeoutError:
            raise ImportFailed(f"git took longer than {_GIT_TIMEOUT:g} s") from None
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
            reader.cancel()
        assert child.returncode is not None
        return child.returncode, bytes(errors)

    async def pick(self, limits: FileLimits, tree: str = "HEAD") -> tuple[list[Picked], int]:
        """The files of `tree` the project keeps, checked against the limits before any is read, and
        how many entries were skipped (symbolic links, submodules)."""
        listing = await self._git("ls-tree", "-r", "-l", "-z", "--full-tree", tree)
        picked: list[Picked] = []
        skipped_links = 0
        budget = Budget(limits, threading.Event())
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, blob, size = meta.split()
            if kind != b"blob" or mode == b"120000":
                skipped_links += 1
                continue
            path = _name(raw_path, "repository path")
            if skipped(path):
                continue
            budget.add_file(path)
            budget.add_bytes(path, int(size), int(size))
            picked.append(Picked(path=path, size=int(size), source=blob.decode()))
        return _without_virtualenvs(picked), skipped_links

    async def read(self, picked: list[Picked]) -> AsyncGenerator[list[tuple[str, bytes]]]:
        """The files' bytes, a batch of a few MB at a time, from one `git cat-file --batch`."""
        batches = list(_batches(picked))
        done = 0
        async for found in self.objects([[item.source for item in batch] for batch in batches]):
            yield [(item.path, data) for item, (_, _, data) in zip(batches[done], found, strict=True)]
            done += 1

    async def objects(self, batches: list[list[str]]) -> AsyncGenerator[list[tuple[str, str, bytes]]]:
        """(id, kind, data) of the objects named, batch by batch, from one `git cat-file --batch`."""
        child = await asyncio.create_subprocess_exec(
            "git",
            f"--git-dir={self._dir}",
            "cat-file",
            "--batch",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=self._env,
            limit=_CHUNK,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            for batch in batches:
                child.stdin.write(b"".join(f"{sha}\n".encode() for sha in batch))
                await child.stdin.drain()
                found = []
                for sha in batch:
                    header = await child.stdout.readline()
                    kind, size = header.split()[1:3]
                    data = await child.stdout.readexactly(int(size) + 1)
                    found.append((sha, kind.decode(), data[:-1]))
                yield found
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()


def _batches(picked: list[Picked]) -> Iterator[list[Picked]]:
    batch: list[Picked] = []
    size = 0
    for item in picked:
        if batch and size + item.size > _BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


def _without_virtualenvs(picked: list[Picked]) -> list[Picked]:
    venvs = tuple(item.path.removesuffix("pyvenv.cfg") for item in picked if item.path.split("/")[-1] == "pyvenv.cfg")
    if not venvs:
        return picked
    return [item for item in picked if not item.path.startswith(venvs)]


def _folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # git renames its temporary files as it goes
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


async def pick_folder(
    folder: Path, scratch: Path, limits: FileLimits, *, protocols: list[str]
) -> tuple[list[Picked], int]:
    """The files of `folder` a project keeps: what `git status` would show as untracked plus, for a
    repository, what it tracks, minus `.gitignore`d files and `SKIPPED_DIRS`. Symbolic links are
    skipped (counted): they could point out of the folder."""
    env = git_env(scratch, protocols)
    index = scratch / "index.git"
    excludes = [f"--exclude={name}/" for name in SKIPPED_DIRS]
    await _run_git(["init", "--quiet", "--bare", str(index)], env)
    out = await _run_git(
        [f"--git-dir={index}", f"--work-tree={folder}", "ls-files", "-z", "--others", "--exclude-standard", *excludes],
        env,
    )
    picked: list[Picked] = []
    links = 0
    budget = Budget(limits, threading.Event())
    for raw in sorted(out.split(b"\0")):
        if not raw:
            continue
        path = _name(raw, "file")
        source = folder / path
        info = source.lstat()
        if not stat.S_ISREG(info.st_mode):
            links += 1
            continue
        budget.add_file(path)
        budget.add_bytes(path, info.st_size, info.st_size)
        picked.append(Picked(path=path, size=info.st_size, source=str(source)))
    return _without_virtualenvs(picked), links


def _read_batch(batch: list[Picked]) -> list[tuple[str, bytes]]:
    return [(item.path, Path(item.source).read_bytes()) for item in batch]


async def read_folder(picked: list[Picked]) -> AsyncGenerator[list[tuple[str, bytes]]]:
    for batch in _batches(picked):
        yield await asyncio.to_thread(_read_batch, batch)


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)


class ScratchSpace:
    """Where one process unpacks and clones: `<root>/<owner>/`, claimed by holding `<root>/<owner>.lock`
    locked (`flock`) for the process's life. The kernel drops the lock when the process dies however
    it dies, so `reap` knows which folders are left over: those whose lock it can take (or that have
    none). Processes sharing a data folder never remove each other's work."""

    def __init__(self, root: Path, owner: str) -> None:
        self._root = root
        self._owner = owner
        self._lock: IO[bytes] | None = None

    def new(self) -> Path:
        """A new private folder for one import (blocking)."""
        if self._lock is None:
            self._root.mkdir(parents=True, exist_ok=True)
            # Locked under a name `reap` ignores, then renamed (the lock stays with the file): no
            # moment where another process could see this lock unlocked.
            claiming = self._root / f"{self._owner}.claiming"
            lock = claiming.open("wb")
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            claiming.rename(self._root / f"{self._owner}.lock")
            self._lock = lock  # the lock before the folder: a folder without a held lock is left over
            (self._root / self._owner).mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="import-", dir=self._root / self._owner))

    def reap(self) -> int:
        """Remove what dead processes left (blocking); returns how many of their folders there were."""
        if not self._root.is_dir():
            return 0
        reaped = 0
        for entry in list(self._root.iterdir()):
            name = entry.name.removesuffix(".lock")
            if name == self._owner or not (entry.is_dir() or entry.suffix == ".lock"):
                continue
            lock_path = self._root / f"{name}.lock"
            # "ab" makes a lock for a folder that has none (left by a process that never took one).
            with lock_path.open("ab") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # its process is alive
                    continue
                if (self._root / name).exists():
                    reaped += 1
                    remove_scratch(self._root / name)
                lock_path.unlink(missing_ok=True)
        return reaped

    def release(self) -> None:
        if self._lock is None:
            return
        remove_scratch(self._root / self._owner)
        (self._root / f"{self._owner}.lock").unlink(missing_ok=True)
        self._lock.close()
        self._lock = None
