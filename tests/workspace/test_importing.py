"""Unpacking uploads and choosing a folder's files: hostile archives are refused with a clear error
and write nothing outside the scratch folder; limits are counted on what really comes out."""

from __future__ import annotations

import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tandem.errors import Cancelled, InvalidInput, LimitReached, TandemError, TooLarge
from tandem.workspace.files import FileLimits
from tandem.workspace.importing import MAX_TAR_HEADER, pick_folder, public_url, unpack
from tests.archive_support import (
    lie_about_size,
    tar_file,
    tar_link,
    understate_entries,
    write_header_bomb,
    write_tar,
    write_zip,
)

LIMITS = FileLimits(max_file_bytes=1_000_000, max_files=10_000, max_project_bytes=100_000_000)
PROTOCOLS = ["file"]


@pytest.fixture
def unpacked(tmp_path: Path) -> Callable[[Path], Path]:
    def run(archive: Path) -> Path:
        root = tmp_path / "root"
        root.mkdir()
        unpack(archive, root, LIMITS, threading.Event())
        return root

    return run


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_zip_unpacks_without_skipped_folders(tmp_path: Path, unpacked: Callable[[Path], Path]) -> None:
    archive = write_zip(
        tmp_path / "a.zip",
        {
            "src/app.py": b"print(1)\n",
            "node_modules/x/index.js": b"x",
            "pkg/.venv/bin/python": b"",
            "logo.png": b"\x89PNG\0",
        },
    )
    assert files_under(unpacked(archive)) == ["logo.png", "src/app.py"]


def test_a_tar_gz_unpacks(tmp_path: Path, unpacked: Callable[[Path], Path]) -> None:
    archive = write_tar(
        tmp_path / "a.tgz",
        [tar_file("app/main.py"), tar_file("dist/out.js")],
        {
            "app/main.py": b"x = 1\n",
            "dist/out.js": b"built",
        },
    )
    root = unpacked(archive)
    assert files_under(root) == ["app/main.py"]
    assert (root / "app/main.py").read_bytes() == b"x = 1\n"


@pytest.mark.parametrize(
    ("entries", "modes", "expected"),
    [
        ({"../evil.txt": b"x"}, None, "'..'"),
        ({"ok/../../evil.txt": b"x"}, None, "'..'"),
        ({"/tmp/evil.txt": b"x"}, None, "absolute"),
        ({"C:/evil.txt": b"x"}, None, "absolute"),
        ({"link": b"/etc/passwd"}, {"link": 0o120777}, "symbolic link"),
        ({"a": b"x", "a/b": b"y"}, None, "also a file"),
        ({"a/b": b"y", "a": b"x"}, None, "also a folder"),
    ],
)
def test_hostile_zip_entries_are_refused(
    tmp_path: Path,
    unpacked: Callable[[Path], Path],
    entries: dict[str, bytes],
    modes: dict[str, int] | None,
    expected: str,
) -> None:
    archive = write_zip(tmp_path / "hostile.zip", {"first.txt": b"fine", **entries}, modes=modes)
    with pytest.raises(InvalidInput, match=expected):
        unpacked(archive)
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/evil.txt").exists()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (tar_link("link", "/etc/passwd"), "is a link"),
        (tar_link("hard", "/etc/passwd", tarfile.LNKTYPE), "is a link"),
        (tar_link("fifo", "", tarfile.FIFOTYPE), "device or pipe"),
        (tar_file("../evil.txt"), "'..'"),
    ],
)
def test_hostile_tar_entries_are_refused(
    tmp_path: Path, unpacked: Callable[[Path], Path], entry: tarfile.TarInfo, expected: str
) -> None:
    archive = write_tar(tmp_path / "hostile.tgz", [entry], {"../evil.txt": b"x"})
    with pytest.raises(InvalidInput, match=expected):
        unpacked(archive)
    assert not (tmp_path / "evil.txt").exists()


def test_a_tree_over_the_file_limit_is_refused(tmp_path: Path, unpacked: Callable[[Path], Path]) -> None:
    archive = write_zip(tmp_path / "many.zip", {f"d{i // 100}/f{i}.txt": b"" for i in range(10_001)})
    with pytest.raises(LimitReached, match=r"more than 10000 files.*TANDEM_MAX_PROJECT_FILES"):
        unpacked(archive)


def test_an_archive_listing_too_many_entries_is_refused_before_they_are_read(
    tmp_path: Path, unpacked: Callable[[Path], Path]
) -> None:
    limits = FileLimits(max_file_bytes=100, max_files=5, max_project_bytes=1000)
    archive = write_zip(tmp_path / "many.zip", {f"node_modules/{i}": b"" for i in range(101)})
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LimitReached, match=r"holds more than 100 entries"):
        unpack(archive, root, limits, threading.Event())


def test_a_zip_bomb_is_refused(zip_bomb: Path, unpacked: Callable[[Path], Path]) -> None:
    with pytest.raises(TooLarge, match=r"'big.bin' is larger than 1000000 bytes.*TANDEM_MAX_FILE_BYTES"):
        unpacked(zip_bomb)


def test_an_entry_bigger_than_its_header_says_is_refused(tmp_path: Path, unpacked: Callable[[Path], Path]) -> None:
    honest = write_zip(tmp_path / "honest.zip", {"big.bin": bytes(5_000_000)})
    archive = tmp_path / "liar.zip"
    archive.write_bytes(lie_about_size(honest.read_bytes(), b"big.bin", 10))
    with pytest.raises(InvalidInput, match="corrupt"):
        unpacked(archive)


def test_a_tar_entry_bigger_than_the_limit_is_refused_by_counting(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "big.tgz", [tar_file("big.bin")], {"big.bin": bytes(3000)})
    limits = FileLimits(max_file_bytes=100_000, max_files=10, max_project_bytes=2000)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(TooLarge, match=r"larger than 2000 bytes \(at 'big.bin'\).*TANDEM_MAX_PROJECT_BYTES"):
        unpack(archive, root, limits, threading.Event())


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:40] + bytes(200) + data[240:], id="overwritten"),
        pytest.param(lambda data: b"PK\x03\x04" + bytes(100), id="header-only"),
    ],
)
def test_a_corrupt_zip_is_refused(
    tmp_path: Path, unpacked: Callable[[Path], Path], damage: Callable[[bytes], bytes]
) -> None:
    honest = write_zip(tmp_path / "honest.zip", {f"f{i}.txt": b"some text " * 50 for i in range(5)})
    archive = tmp_path / "corrupt.zip"
    archive.write_bytes(damage(honest.read_bytes()))
    with pytest.raises(InvalidInput, match="corrupt"):
        unpacked(archive)


def test_a_corrupt_tar_gz_is_refused(tmp_path: Path, unpacked: Callable[[Path], Path]) -> None:
    honest = write_tar(tmp_path / "a.tgz", [tar_file("a.txt")], {"a.txt": bytes(range(256)) * 400})
    archive = tmp_path / "corrupt.tgz"
    archive.write_bytes(honest.read_bytes()[:200])
    with pytest.raises(InvalidInput, match="corrupt"):
        unpacked(archive)


def test_something_else_is_refused(tmp_path: Path, unpacked: Callable[[Path], Path]) -> None:
    archive = tmp_path / "x.rar"
    archive.write_bytes(b"Rar!\x1a\x07\x00")
    with pytest.raises(InvalidInput, match=r"neither a zip nor a tar\.gz"):
        unpacked(archive)


def test_unpacking_stops_when_cancelled(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "a.zip", {"a.txt": b"x"})
    stop = threading.Event()
    stop.set()
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(Cancelled):
        unpack(archive, root, LIMITS, stop)
    assert files_under(root) == []


async def test_a_folder_keeps_what_git_would(tmp_path: Path) -> None:
    folder = tmp_path / "code"
    for path, text in {
        ".gitignore": "*.log\n/secret/\n!keep.log\n",
        "src/.gitignore": "generated.py\n",
        "src/app.py": "app",
        "src/generated.py": "gen",
        "debug.log": "log",
        "keep.log": "kept",
        "secret/key": "k",
        "node_modules/x/index.js": "x",
        "env1/pyvenv.cfg": "home = /usr",
        "env1/lib/site.py": "s",
        "build/out.js": "o",
    }.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    (folder / "link").symlink_to("/etc/passwd")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    picked, skipped = await pick_folder(folder, scratch, LIMITS, protocols=PROTOCOLS)
    assert [item.path for item in picked] == [".gitignore", "keep.log", "src/.gitignore", "src/app.py"]
    assert skipped == 1
    assert not (folder / ".git").exists()


@pytest.mark.parametrize(
    ("limits", "error", "expected"),
    [
        (
            FileLimits(max_file_bytes=5, max_files=10, max_project_bytes=100),
            TooLarge,
            r"'big.txt'.*TANDEM_MAX_FILE_BYTES",
        ),
        (FileLimits(max_file_bytes=50, max_files=1, max_project_bytes=100), LimitReached, "TANDEM_MAX_PROJECT_FILES"),
        (FileLimits(max_file_bytes=50, max_files=10, max_project_bytes=12), TooLarge, "TANDEM_MAX_PROJECT_BYTES"),
    ],
)
async def test_a_folder_over_a_limit_is_refused(
    tmp_path: Path, limits: FileLimits, error: type[TandemError], expected: str
) -> None:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "big.txt").write_text("0123456789")
    (folder / "small.txt").write_text("0123456789")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(error, match=expected):
        await pick_folder(folder, scratch, limits, protocols=PROTOCOLS)


def test_a_zip_whose_end_record_understates_its_entries_is_counted_by_its_directory(tmp_path: Path) -> None:
    limits = FileLimits(max_file_bytes=100, max_files=5, max_project_bytes=1000)
    honest = write_zip(tmp_path / "many.zip", {f"node_modules/{i}": b"" for i in range(101)})
    archive = tmp_path / "liar.zip"
    archive.write_bytes(understate_entries(honest.read_bytes(), 1))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LimitReached, match=r"more than 100 entries"):
        unpack(archive, root, limits, threading.Event())


@pytest.mark.parametrize(
    "kind", [pytest.param(tarfile.XHDTYPE, id="pax"), pytest.param(tarfile.GNUTYPE_LONGNAME, id="gnu-long-name")]
)
def test_a_tar_header_bomb_is_refused_before_it_is_read(
    tmp_path: Path, unpacked: Callable[[Path], Path], kind: bytes
) -> None:
    archive = write_header_bomb(tmp_path / "bomb.tgz", kind, 64 * MAX_TAR_HEADER)
    with pytest.raises(InvalidInput, match=rf"{64 * MAX_TAR_HEADER}-byte extended header"):
        unpacked(archive)


def test_a_tar_stream_is_bounded_even_where_its_entries_are_skipped(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "deps.tgz", [tar_file("node_modules/big.bin")], {"node_modules/big.bin": bytes(50_000)}
    )
    limits = FileLimits(max_file_bytes=1000, max_files=1, max_project_bytes=1000)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(TooLarge, match=r"unpacks to more than \d+ bytes.*TANDEM_MAX_PROJECT_BYTES"):
        unpack(archive, root, limits, threading.Event())


@pytest.mark.parametrize(
    "write", [write_zip, lambda path, entries: write_tar(path, [tar_file(n) for n in entries], entries)]
)
def test_a_name_too_long_for_the_file_system_is_refused_by_name(
    tmp_path: Path, unpacked: Callable[[Path], Path], write: Callable[[Path, dict[str, bytes]], Path]
) -> None:
    name = "é" * 200  # 200 characters, 400 bytes
    archive = write(tmp_path / "long", {f"src/{name}.txt": b"x"})
    with pytest.raises(InvalidInput, match=rf"archive entry 'src/{name}.txt' has a name longer than 255 bytes"):
        unpacked(archive)


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("http://someone:s3cr3t@127.0.0.1:8080/x.git", "http://127.0.0.1:8080/x.git"),
        ("https://token@[::1]:8443/x.git", "https://[::1]:8443/x.git"),
        ("https://[2001:db8::1]/x.git", "https://[2001:db8::1]/x.git"),
        ("https://user:p%40ss@example.com/x.git", "https://example.com/x.git"),
    ],
)
def test_the_public_url_keeps_the_port_and_brackets_and_drops_credentials(url: str, public: str) -> None:
    assert public_url(url) == public
