"""What Tandem knows about one model server's quirks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True)
class ServerQuirks:
    """Learned by the model check or on the first request that trips over the quirk, then kept for every
    later run of the process (the team and its models are built once per process)."""

    stream_tool_calls: bool = True
    """False once the server showed it cannot stream tool calls: requests that offer tools go non-streamed."""
    null_content_rejected: bool = False
    """True once the server rejected an assistant message with tool calls and `content: null`."""


class KnownQuirks:
    """The quirks of every model server a process has talked to, by base URL and model: what one run or
    check learns, the next run on the same server and model starts from."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], ServerQuirks] = {}

    def of(self, name: str | None, base_url: str | None) -> ServerQuirks:
        return self._known.setdefault((base_url or "", name or ""), ServerQuirks())
