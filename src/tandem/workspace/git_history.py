"""A project's history as Git, kept in the database (`git_objects`, `project_commits`).

The files in `project_files` are the working tree; a commit snapshots them as real Git objects
(blobs, trees, a commit) whose ids are the SHA-1s Git computes, stored in the database beside the
files. Every process reads and writes the same rows, so all of them see one history, and `git`
itself would accept the objects as they are (see docs/history.md).

When commits are made:
- a run that changed files: one commit when it ends, in the transaction that ends it (message: the
  user's request and the run id; author: the agents; committer: Tandem);
- edits made outside runs (the editor, reverts of single changes) are batched: whatever differs
  from the last commit is committed before the next run starts and whenever the history is read;
- a revert of a run and a restore to an earlier commit are new commits; nothing is ever rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import NotFound
from tandem.persistence.database import insert_on_conflict
from tandem.persistence.models import GitObject, Project, ProjectCommit, ProjectFile, Run
from tandem.workspace.files import touch_project, unified_diff

AGENTS = "Tandem agents <agents@tandem.invalid>"
EDITOR = "Tandem editor <editor@tandem.invalid>"
COMMITTER = "Tandem <tandem@tandem.invalid>"
_FILE_MODE = b"100644"
_TREE_MODE = b"40000"


def object_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


def _bytes(row: ProjectFile) -> bytes:
    return row.data if row.data is not None else row.content.encode()


def _tree_objects(files: dict[str, str]) -> tuple[str, dict[str, bytes]]:
    """The trees of `files` (path → blob id): the root tree's id and every tree object by id."""
    trees: dict[str, bytes] = {}

    def build(entries: dict[str, str], prefix: str) -> str:
        children: dict[str, dict[str, str]] = {}
        records: list[tuple[bytes, bytes, str]] = []
        for path, blob in entries.items():
            head, slash, rest = path.partition("/")
            if slash:
                children.setdefault(head, {})[rest] = blob
            else:
                records.append((head.encode(), _FILE_MODE, blob))
        for name, inner in children.items():
            records.append((name.encode(), _TREE_MODE, build(inner, f"{prefix}{name}/")))
        # Git orders a tree's entries by name, a folder's name as if it ended with '/'.
        records.sort(key=lambda record: record[0] + (b"/" if record[1] == _TREE_MODE else b""))
        data = b"".join(mode + b" " + name + b"\0" + bytes.fromhex(sha) for name, mode, sha in records)
        sha = object_id("tree", data)
        trees[sha] = data
        return sha

    return build(files, ""), trees


def _parse_tree(data: bytes) -> list[tuple[bytes, str, str]]:
    """(mode, name, id) of each entry of a tree object."""
    entries = []
    at = 0
    while at < len(data):
        space = data.index(b" ", at)
        nul = data.index(b"\0", space)
        entries.append((data[at:space], data[space + 1 : nul].decode(), data[nul + 1 : nul + 21].hex()))
        at = nul + 21
    return entries


@dataclass(frozen=True, kw_only=True)
class FileDiff:
    path: str
    change_type: str
    """created, modified or deleted"""
    diff: str
    """A unified diff; for a binary file, one line saying it differs."""


@dataclass(frozen=True, kw_only=True)
class CommitView:
    sha: str
    parent_sha: str | None
    kind: str
    run_id: str | None
    message: str
    author: str
    committer: str
    committed_at: datetime
    files: list[FileDiff]


async def _objects(session: AsyncSession, project_id: int, shas: set[str]) -> dict[str, bytes]:
    if not shas:
        return {}
    rows = await session.execute(
        select(GitObject.sha, GitObject.data).where(GitObject.project_id == project_id, GitObject.sha.in_(shas))
    )
    return {sha: data for sha, data in rows}


async def store_objects(session: AsyncSession, project_id: int, objects: dict[str, tuple[str, bytes]]) -> None:
    """Insert the objects not yet stored (content-addressed: one already there is the same)."""
    if not objects:
        return
    rows = [{"project_id": project_id, "sha": sha, "kind": kind, "data": data} for sha, (kind, data) in objects.items()]
    for start in range(0, len(rows), 500):
        insert = insert_on_conflict(session, GitObject).values(rows[start : start + 500])
        await session.execute(insert.on_conflict_do_nothing())


async def head(session: AsyncSession, project_id: int) -> ProjectCommit | None:
    return await session.scalar(
        select(ProjectCommit).where(ProjectCommit.project_id == project_id).order_by(ProjectCommit.id.desc()).limit(1)
    )


async def tree_of_commit(session: AsyncSession, project_id: int, sha: str) -> str:
    data = (await _objects(session, project_id, {sha}))[sha]
    return data.split(b"\n", 1)[0].removeprefix(b"tree ").decode()


async def files_at(session: AsyncSession, project_id: int, tree: str) -> dict[str, str]:
    """path → blob id of every file in `tree`."""
    files: dict[str, str] = {}
    pending = {tree: ""}
    while pending:
        objects = await _objects(session, project_id, set(pending))
        nested: dict[str, str] = {}
        for sha, prefix in pending.items():
            for mode, name, entry in _parse_tree(objects[sha]):
                if mode == _TREE_MODE:
                    nested[entry] = f"{prefix}{name}/"
                else:
                    files[f"{prefix}{name}"] = entry
        pending = nested
    return files


async def commit(
    session: AsyncSession,
    project_id: int,
    *,
    kind: str,
    message: str,
    author: str,
    run_id: str | None = None,
    merged: str | None = None,
) -> ProjectCommit | None:
    """Commit the project's files as they are in this transaction, unless they are exactly the last
    commit's and nothing is `merged` (a second parent: a pulled commit, whose objects are stored
    already); returns the new commit. The project's row lock orders commits from several processes:
    FOR NO KEY UPDATE, which a run starting (FOR KEY SHARE) does not wait for, nor this for it. The
    end of a run commits after updating its run row, which a start's insert may be waiting on."""
    await session.get(Project, project_id, with_for_update={"key_share": True})
    rows = list(await session.scalars(select(ProjectFile).where(ProjectFile.project_id == project_id)))
    blobs = {row.path: _bytes(row) for row in rows}
    files = {path: object_id("blob", data) for path, data in blobs.items()}
    tree, trees = _tree_objects(files)
    parent = await head(session, project_id)
    if merged is None and parent is not None and await tree_of_commit(session, project_id, parent.sha) == tree:
        return None
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = f"{int(now.timestamp())} +0000"
    lines = [f"tree {tree}"]
    if parent is not None:
        lines.append(f"parent {parent.sha}")
    if merged is not None:
        lines.append(f"parent {merged}")
    lines += [f"author {author} {stamp}", f"committer {COMMITTER} {stamp}", "", message.rstrip("\n"), ""]
    data = "\n".join(lines).encode()
    sha = object_id("commit", data)
    objects = {files[path]: ("blob", blob) for path, blob in blobs.items()}
    objects.update({tree_sha: ("tree", tree_data) for tree_sha, tree_data in trees.items()})
    objects[sha] = ("commit", data)
    await store_objects(session, project_id, objects)
    row = ProjectCommit(
        project_id=project_id,
        sha=sha,
        parent_sha=parent.sha if parent is not None else None,
        kind=kind,
        run_id=run_id,
        message=message,
        author=author,
        committed_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def commit_edits(session: AsyncSession, project_id: int) -> ProjectCommit | None:
    """Commit what changed since the last commit outside runs (batched editor edits), or the first
    snapshot of a project that has no history yet. Not during a run: its own commit will hold
    what changed (the project's row lock keeps a run from starting meanwhile)."""
    # FOR UPDATE: no run starts until this commit is made (call it in a transaction that holds no
    # other lock a run's start or end waits for).
    if await session.get(Project, project_id, with_for_update=True) is None:
        return None  # deleted meanwhile
    if await session.scalar(select(Run.id).where(Run.active_project_id == project_id)) is not None:
        return None
    first = await head(session, project_id) is None
    return await commit(
        session,
        project_id,
        kind="initial" if first else "edits",
        message="Files as they were when the history began" if first else "Edits outside runs",
        author=EDITOR,
    )


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    return None if "\0" in text else text


async def _diffs(
    session: AsyncSession, project_id: int, before: dict[str, str], after: dict[str, str]
) -> list[FileDiff]:
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    blobs = await _objects(
        session, project_id, {sha for path in changed for sha in (before.get(path), after.get(path)) if sha}
    )
    diffs = []
    for path in changed:
        old, new = before.get(path), after.get(path)
        kind = "created" if old is None else "deleted" if new is None else "modified"
        old_data, new_data = blobs.get(old or ""), blobs.get(new or "")
        old_text, new_text = _text(old_data), _text(new_data)
        binary = (old_data is not None and old_text is None) or (new_data is not None and new_text is None)
        diff = f"Binary file {path} differs\n" if binary else unified_diff(path, old_text, new_text)
        diffs.append(FileDiff(path=path, change_type=kind, diff=diff))
    return diffs


async def log(session: AsyncSession, project_id: int, *, limit: int, offset: int) -> list[CommitView]:
    """Commits newest first, each with its diff against its parent."""
    rows = list(
        await session.scalars(
            select(ProjectCommit)
            .where(ProjectCommit.project_id == project_id)
            .order_by(ProjectCommit.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    views = []
    for row in rows:
        after = await files_at(session, project_id, await tree_of_commit(session, project_id, row.sha))
        before = (
            await files_at(session, project_id, await tree_of_commit(session, project_id, row.parent_sha))
            if row.parent_sha is not None
            else {}
        )
        views.append(
            CommitView(
                sha=row.sha,
                parent_sha=row.parent_sha,
                kind=row.kind,
                run_id=row.run_id,
                message=row.message,
                author=row.author,
                committer=COMMITTER,
                committed_at=row.committed_at,
                files=await _diffs(session, project_id, before, after),
            )
        )
    return views


async def restore(session: AsyncSession, project_id: int, sha: str) -> ProjectCommit:
    """Make the project's files exactly those of commit `sha`, as a new commit (the commits after
    it stay in the history). Pending edits are committed first, so they are not lost either."""
    target = await session.scalar(
        select(ProjectCommit).where(ProjectCommit.project_id == project_id, ProjectCommit.sha == sha)
    )
    if target is None:
        raise NotFound(f"commit {sha} is not in project {project_id}'s history")
    await commit_edits(session, project_id)
    await checkout(
        session, project_id, await files_at(session, project_id, await tree_of_commit(session, project_id, sha))
    )
    made = await commit(session, project_id, kind="restore", message=f"Restore to {sha[:12]}", author=EDITOR)
    if made is None:  # already exactly that commit's files
        latest = await head(session, project_id)
        assert latest is not None  # `target` is in the history
        return latest
    return made


async def checkout(session: AsyncSession, project_id: int, wanted: dict[str, str]) -> None:
    """Make the project's files exactly `wanted` (path → id of a stored blob): the rows the editor
    and the agents read, so every view of the project sees the change."""
    rows = {
        row.path: row for row in await session.scalars(select(ProjectFile).where(ProjectFile.project_id == project_id))
    }
    gone = [path for path in rows if path not in wanted]
    if gone:
        await session.execute(
            delete(ProjectFile).where(ProjectFile.project_id == project_id, ProjectFile.path.in_(gone))
        )
    changed = {
        path: blob for path, blob in wanted.items() if path not in rows or object_id("blob", _bytes(rows[path])) != blob
    }
    blobs = await _objects(session, project_id, set(changed.values()))
    for path, blob in changed.items():
        data = blobs[blob]
        text = _text(data)
        row = rows.get(path)
        if row is None:
            row = ProjectFile(project_id=project_id, path=path)
            session.add(row)
        row.content = text if text is not None else ""
        row.data = None if text is not None else data
        row.size = len(data)
    if gone or changed:  # the project list's order, and clients following the project's files, see it
        await touch_project(session, project_id)
    await session.flush()


async def all_objects(session: AsyncSession, project_id: int) -> AsyncIterator[tuple[str, str, bytes]]:
    """(id, kind, data) of every stored object of the project, a few hundred rows at a time."""
    rows = await session.stream(
        select(GitObject.sha, GitObject.kind, GitObject.data)
        .where(GitObject.project_id == project_id)
        .execution_options(yield_per=200)
    )
    async for sha, kind, data in rows:
        yield sha, kind, data
