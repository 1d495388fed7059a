"""The project download: a streamed zip holding exactly every file, under any project name."""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import unquote

import httpx

# Over the 4 MB the download reads from the database at once, so the zip spans several batches.
_LARGE = {f"assets/big-{i}.txt": "".join(f"{i}:{n:06d} ✓ données\n" for n in range(40_000)) for i in range(6)}
_FILES = {
    "README.md": "# top\n",
    "docs/guide.md": "in docs\n",
    "src/deep/nested/module.py": "print('ünïcödé 漢字')\n",
    "empty.txt": "",
    "z-last.txt": "the last path\n",
    **_LARGE,
}


async def test_the_zip_holds_exactly_every_file_of_the_project(client: httpx.AsyncClient, project_id: int) -> None:
    for path, content in _FILES.items():
        assert (await client.put(f"/projects/{project_id}/files/{path}", json={"content": content})).status_code == 200
    listed = [f["path"] for f in (await client.get(f"/projects/{project_id}/files")).json()]
    expected = {path: (await client.get(f"/projects/{project_id}/files/{path}")).json()["content"] for path in listed}
    assert set(_FILES) <= set(expected)  # plus the template's files

    response = await client.get(f"/projects/{project_id}/download")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == listed
        assert {name: archive.read(name).decode() for name in archive.namelist()} == expected


async def test_a_project_named_in_any_script_downloads_with_its_name(client: httpx.AsyncClient) -> None:
    name = 'Проект "漢字" / ✓'
    project = (await client.post("/projects", json={"name": name})).json()

    response = await client.get(f"/projects/{project['id']}/download")

    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    fallback = re.search(r'filename="([^"]*)"', disposition)
    utf8 = re.search(r"filename\*=UTF-8''(\S+)", disposition)
    assert fallback is not None
    assert utf8 is not None
    assert fallback.group(1).isascii()
    assert fallback.group(1).endswith(".zip")
    assert unquote(utf8.group(1)) == "Проект -漢字- - ✓.zip"  # path separators and quotes replaced
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == [f["path"] for f in (await client.get(f"/projects/{project['id']}/files")).json()]


async def test_an_unknown_project_is_404_not_an_empty_zip(client: httpx.AsyncClient) -> None:
    response = await client.get("/projects/999999/download")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
