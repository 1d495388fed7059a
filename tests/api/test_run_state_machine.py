"""A Hypothesis state machine drives a real server through random sequences of run starts, cancels
(some racing the end of the run), client disconnects with and without `on_disconnect=cancel`,
re-attaches (`Last-Event-ID` and `?after=`), reverts and file edits, and checks the run lifecycle:
every run ends, with exactly one terminal event and a terminal status; every stream is gap-free
from where it resumed and agrees with every other; a project is never left busy; the server keeps
serving and can still run the team at the end."""

from __future__ import annotations

import itertools
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import ServerFactory
from tests.support import Event, EventParser, Server

ENV = {
    "TANDEM_MODEL": "scripted",
    # A run takes ~1 s: long enough to act on it mid-run, short enough for many runs per example.
    "TANDEM_SCRIPTED_PACE": "0.01",
    # Pings give a reader control back while a stuck run sends nothing, so it can give up in time.
    "TANDEM_PING_SECONDS": "0.5",
    # Replays of finished runs come from the event log (memory or Redis) or, a second later, the database.
    "TANDEM_EVENT_RETENTION_SECONDS": "1",
}
BOUND = 20.0
"""Seconds anything may take (a run to end once asked, a stream to reach its end) before it counts as stuck."""
TERMINAL = ("complete", "error")
NOTES = "TANDEM_NOTES.md"

SETTINGS = settings(
    max_examples=10,
    stateful_step_count=12,
    deadline=None,
    # The same sequences on every run of the suite: CI is steady and a failure reproduces.
    derandomize=True,
    database=None,
    # No shrinking: a failure may have wedged the server, and each retry would start a new one;
    # the failing sequence is printed as it was found.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)


class Stream:
    """One open SSE response, read a few events at a time across steps, checked as it goes."""

    def __init__(
        self, client: httpx.Client, method: str, url: str, *, after: int = 0, ended: bool = False, **kwargs: Any
    ) -> None:
        self.response = client.send(client.build_request(method, url, **kwargs), stream=True)
        self._lines = self.response.iter_lines()
        self._parser = EventParser()
        self.next_seq = after + 1
        self.ended = ended
        """The terminal event was read (or resumed after: nothing is due)."""
        self.closed = False

    def refusal(self) -> dict[str, str]:
        self.response.read()
        self.close()
        return dict(self.response.json())

    def read(self, count: int | None = None, *, until: Callable[[Event], bool] | None = None) -> list[Event]:
        """The next `count` events (all of them, to the end of the stream, if None), or up to the
        first for which `until` holds. After the terminal event the stream must close."""
        events: list[Event] = []
        deadline = time.monotonic() + BOUND
        for line in self._lines:
            assert time.monotonic() < deadline, f"no terminal event within {BOUND} s; last: {events[-1:]}"
            event = self._parser.feed(line)
            if event is None:
                continue
            assert not self.ended, f"event after the terminal event: {event.raw}"
            assert event.id == self.next_seq, f"seq {event.id} where {self.next_seq} was due: a gap or a duplicate"
            self.next_seq += 1
            events.append(event)
            self.ended = event.type in TERMINAL
            if not self.ended and (len(events) == count or (until is not None and until(event))):
                return events
        self.closed = True
        assert self.ended, f"stream closed before its terminal event; last: {events[-1:]}"
        return events

    def close(self) -> None:
        self.closed = True
        self.response.close()


@dataclass(eq=False)
class ProjectModel:
    id: int
    runs: list[RunModel] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"project {self.id}"


@dataclass(eq=False)
class RunModel:
    id: str
    project: ProjectModel
    session_id: int
    stream: Stream | None
    """The connection that started it, while the machine keeps it open."""
    cancels_on_leave: bool
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Every event any stream delivered, by seq: they must all agree."""
    may_be_cancelled: bool = False
    ended: bool = False
    """Known to have ended (terminal event seen or terminal status read)."""

    def __repr__(self) -> str:
        return f"run {self.id[:8]}"


def handed_back(event: Event) -> bool:
    """The scripted Coder handed back to the Planner, whose last answer then ends the run."""
    return (
        event.type == "agent_interaction"
        and event.data["tool_name"] == "hand_off_to_coder"
        and event.data["message_type"] == "tool_response"
    )


def time_the_end(client: httpx.Client) -> float:
    """Seconds from the hand-back to the terminal event, as a client sees them, on this server now."""
    project = client.post("/projects", json={"name": "timing", "template": "static-site"}).json()
    stream = Stream(client, "POST", f"/chat/{project['id']}/stream", json={"message": "time me"})
    stream.read(until=handed_back)
    began = time.monotonic()
    stream.read()
    return time.monotonic() - began


@dataclass
class Slot:
    """The server the machine drives; a new one after a failed example, which may have wedged it."""

    start: Callable[[], Server]
    server: Server | None = None
    dirty: bool = False
    finishing: float = 0.0
    """`time_the_end` of this server: where to aim cancels that race a run's end."""

    def client(self) -> httpx.Client:
        if self.server is not None and self.dirty:
            self.server.kill()
            self.server = None
        fresh = self.server is None
        if self.server is None:
            self.server, self.dirty = self.start(), False
        client = httpx.Client(base_url=f"{self.server.url}/api/v1", timeout=BOUND)
        if fresh:
            self.finishing = time_the_end(client)
        return client


class RunLifecycle(RuleBasedStateMachine):
    projects = Bundle("projects")
    runs = Bundle("runs")

    def __init__(self, slot: Slot) -> None:
        super().__init__()
        self.slot = slot
        self.client = slot.client()
        self.all_projects: list[ProjectModel] = []
        self.all_runs: list[RunModel] = []

    @initialize(target=projects)
    def create_projects(self) -> object:
        for _ in range(2):
            response = self.client.post("/projects", json={"name": "state machine", "template": "static-site"})
            assert response.status_code == 201, response.text
            self.all_projects.append(ProjectModel(response.json()["id"]))
        return multiple(*self.all_projects)

    # -- runs -----------------------------------------------------------------------------------

    @rule(
        target=runs,
        project=projects,
        cancels_on_leave=st.booleans(),
        same_session=st.booleans(),
        first=st.integers(1, 4),
    )
    def start(self, project: ProjectModel, cancels_on_leave: bool, same_session: bool, first: int) -> object:
        run = self.start_run(project, cancels_on_leave=cancels_on_leave, same_session=same_session)
        if run is None:
            return multiple()
        assert run.stream is not None
        self.record(run, run.stream.read(first - 1))
        return run

    @rule(target=runs, project=projects, same_session=st.booleans(), lead_ms=st.integers(0, 60))
    def race_the_end(self, project: ProjectModel, same_session: bool, lead_ms: int) -> object:
        """Start a run and cancel it `lead_ms` before it should end by itself (timed from the Coder's
        hand-back): the cancel lands while the run is finishing (persisting its last events and its
        terminal event), or just before or after. A client cannot see that moment: the last words
        are published with the terminal event."""
        for earlier in project.runs:
            self.settle(earlier)
        run = self.start_run(project, cancels_on_leave=False, same_session=same_session)
        assert run is not None, "start_run checked it: the project's runs have ended, so it is free"
        assert run.stream is not None
        self.record(run, run.stream.read(until=handed_back))
        time.sleep(max(0.0, self.slot.finishing - lead_ms / 1000))
        self.cancel(run)
        self.record(run, run.stream.read())
        return run

    def start_run(self, project: ProjectModel, *, cancels_on_leave: bool, same_session: bool) -> RunModel | None:
        """A new run on `project`, its `start` event read; None if the project is busy (checked)."""
        body: dict[str, Any] = {"message": f"step {len(self.all_runs)}"}
        if same_session and project.runs:
            body["session_id"] = project.runs[-1].session_id
        query = "?on_disconnect=cancel" if cancels_on_leave else ""
        stream = Stream(self.client, "POST", f"/chat/{project.id}/stream{query}", json=body)
        unsettled = [run for run in project.runs if not run.ended]
        if stream.response.status_code == 409:
            error = stream.refusal()
            assert error["code"] == "busy", error
            assert unsettled, f"409 busy, yet every run of {project} has ended: {error}"
            assert unsettled[-1].id in error["message"], error
            return None
        assert stream.response.status_code == 200, stream.refusal()
        for earlier in unsettled:  # the project took a new run: the one before must have ended
            self.settle(earlier, bound=0)
        run = RunModel(
            id=stream.response.headers["x-run-id"],
            project=project,
            session_id=0,
            stream=stream,
            cancels_on_leave=cancels_on_leave,
        )
        (start,) = stream.read(1)
        assert start.type == "start", start.raw
        assert start.data["run_id"] == run.id
        run.session_id = start.data["session_id"]
        project.runs.append(run)
        self.all_runs.append(run)
        self.record(run, [start])
        return run

    @rule(run=runs, count=st.integers(1, 40))
    def read(self, run: RunModel, count: int) -> None:
        if run.stream is not None and not run.stream.closed:
            self.record(run, run.stream.read(count))

    @rule(run=runs)
    def leave(self, run: RunModel) -> None:
        """The client that started the run goes away (a closed tab)."""
        if run.stream is None:
            return
        run.stream.close()
        if run.cancels_on_leave and not run.stream.ended:
            run.may_be_cancelled = True
        run.stream = None

    @rule(run=runs)
    def cancel(self, run: RunModel) -> None:
        response = self.client.post(f"/runs/{run.id}/cancel")
        assert response.status_code == 202, response.text
        if not run.ended:
            run.may_be_cancelled = True

    @rule(run=runs, header=st.booleans(), at=st.integers(0, 120), keep=st.none() | st.integers(1, 10))
    def reattach(self, run: RunModel, header: bool, at: int, keep: int | None) -> None:
        """Re-attach after seq n: exactly the events after n; reading `keep` of them, then leaving,
        is a plain disconnect."""
        after = min(at, max(run.events))
        resume: dict[str, Any] = {"headers": {"Last-Event-ID": str(after)}} if header else {"params": {"after": after}}
        ended = run.events[after]["type"] in TERMINAL if after else False
        follower = Stream(self.client, "GET", f"/runs/{run.id}/stream", after=after, ended=ended, **resume)
        assert follower.response.status_code == 200, follower.refusal()
        self.record(run, follower.read(keep))
        follower.close()

    @rule(run=runs)
    def wait_for_the_end(self, run: RunModel) -> None:
        self.settle(run)

    # -- code changes and files -----------------------------------------------------------------

    @rule(run=runs)
    def revert_run(self, run: RunModel) -> None:
        response = self.client.post(f"/runs/{run.id}/revert")
        assert response.status_code in (200, 409), response.text
        if response.status_code == 409:
            assert response.json()["code"] == "conflict"
        else:
            assert all(change["reverted"] for change in response.json())

    @rule(project=projects, pick=st.integers(0, 7))
    def revert_change(self, project: ProjectModel, pick: int) -> None:
        listed = self.client.get(f"/projects/{project.id}/changes").json()
        if not listed:
            return
        change = listed[pick % len(listed)]
        response = self.client.post(f"/changes/{change['id']}/revert")
        assert response.status_code in (200, 409), response.text
        if change["reverted"]:
            assert response.status_code == 409, "a change is reverted once"
        if response.status_code == 200:
            assert response.json()["reverted"] is True

    @rule(
        project=projects,
        path=st.sampled_from([NOTES, "index.html", "notes/edit.txt"]),
        content=st.text(max_size=60),
    )
    def edit_file(self, project: ProjectModel, path: str, content: str) -> None:
        response = self.client.put(f"/projects/{project.id}/files/{path}", json={"content": content})
        if "\x00" in content:  # no database stores it the same: refused on both
            assert (response.status_code, response.json()["code"]) == (422, "invalid_input"), response.text
            return
        assert response.status_code == 200, response.text
        if all(run.ended for run in project.runs):  # nothing else writes the project meanwhile
            assert self.client.get(f"/projects/{project.id}/files/{path}").json()["content"] == content

    @rule(project=projects, path=st.sampled_from([NOTES, "notes/edit.txt"]))
    def delete_file(self, project: ProjectModel, path: str) -> None:
        response = self.client.delete(f"/projects/{project.id}/files/{path}")
        assert response.status_code in (204, 404), response.text

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def serving(self) -> None:
        assert self.client.get("/health").status_code == 200

    def record(self, run: RunModel, events: list[Event]) -> None:
        for event in events:
            known = run.events.setdefault(event.id, event.raw)
            assert known == event.raw, f"{run} seq {event.id} differs between streams: {known} vs {event.raw}"
            run.ended = run.ended or event.type in TERMINAL

    def settle(self, run: RunModel, *, bound: float = BOUND) -> dict[str, Any]:
        """The run's state once it is no longer `running`; fails if it still is after `bound` s."""
        deadline = time.monotonic() + bound
        while (state := self.client.get(f"/runs/{run.id}").json())["status"] == "running":
            assert time.monotonic() < deadline, (
                f"{run} still running after {bound} s (cancel asked: {run.may_be_cancelled}; "
                f"last seq {state['last_seq']}); server log: {self.slot.server and self.slot.server.log_path}"
            )
            time.sleep(0.05)
        run.ended = True
        return dict(state)

    def teardown(self) -> None:
        # Called after a failed step too: then only clean up, and replace the server. (Hypothesis
        # also ends examples early with its own exceptions, which are not Exceptions.)
        failed = isinstance(sys.exc_info()[1], Exception)
        try:
            if not failed:
                self.check_the_end()
        except Exception:
            failed = True
            raise
        finally:
            for run in self.all_runs:
                if run.stream is not None:
                    run.stream.close()
            self.client.close()
            if failed:
                # Races may not fail again when Hypothesis replays the example: keep the first failure.
                server = self.slot.server
                print(f"failed on the server logging to {server and server.log_path}:", file=sys.stderr)
                traceback.print_exc()
                self.slot.dirty = True

    def check_the_end(self) -> None:
        for run in self.all_runs:
            if run.stream is not None and not run.stream.closed:
                self.record(run, run.stream.read())
        histories: dict[int, list[dict[str, Any]]] = {}
        for run in self.all_runs:
            state = self.settle(run)
            replay = Stream(self.client, "GET", f"/runs/{run.id}/stream")
            events = replay.read()
            self.record(run, events)
            assert len(run.events) == events[-1].id == state["last_seq"], f"{run}: {state}"
            allowed = {"completed", "cancelled"} if run.may_be_cancelled else {"completed"}
            assert state["status"] in allowed, f"{run} ended {state['status']} ({state['error_message']})"
            terminal = events[-1]
            if state["status"] == "completed":
                assert terminal.type == "complete", terminal.raw
            else:
                assert (terminal.type, terminal.data["code"], state["error_code"]) == (
                    "error",
                    "cancelled",
                    "cancelled",
                )
            if run.session_id not in histories:
                histories[run.session_id] = self.client.get(f"/sessions/{run.session_id}/messages").json()
            (answer,) = [m for m in histories[run.session_id] if m["run_id"] == run.id and m["role"] == "assistant"]
            assert answer["run_status"] == state["status"]
            interactions = [e.id for e in events if e.type == "agent_interaction"]
            assert [i["seq"] for i in answer["agent_interactions"]] == interactions, f"{run}: history != stream"
        for project in self.all_projects:
            response = self.client.post(f"/chat/{project.id}", json={"message": "still free?"})
            assert response.status_code == 200, f"{project}: {response.text}"
            assert response.json()["status"] == "completed", response.json()


@pytest.mark.timeout(300)
def test_run_lifecycle_state_machine(start_server: ServerFactory, tmp_path: Path) -> None:
    servers = itertools.count()
    slot = Slot(lambda: start_server(data_dir=tmp_path / f"server{next(servers)}", **ENV))
    run_state_machine_as_test(lambda: RunLifecycle(slot), settings=SETTINGS)
