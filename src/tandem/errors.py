"""The error tree. Every error a client can see is one of these, rendered as `{"code", "message"}`."""

from __future__ import annotations


class TandemError(Exception):
    status_code = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the error's response carries."""
        return {}


class Unauthorized(TandemError):
    """No valid sign-in or token (TANDEM_AUTH=accounts)."""

    status_code = 401
    code = "unauthorized"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="tandem"'}


class Forbidden(TandemError):
    """Signed in, and allowed to see the thing, but not to do this to it (read-only share, not admin)."""

    status_code = 403
    code = "forbidden"


class RateLimited(TandemError):
    """Too much at once or too often for one user; waiting `retry_after` seconds helps."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class NotFound(TandemError):
    status_code = 404
    code = "not_found"


class InvalidInput(TandemError):
    status_code = 422
    code = "invalid_input"


class IdempotencyKeyReused(InvalidInput):
    """An `Idempotency-Key` sent again with a different request (draft-ietf-httpapi-idempotency-key-header)."""

    code = "idempotency_key_reused"


class TooLarge(TandemError):
    status_code = 413
    code = "too_large"


class LimitReached(TandemError):
    """A count limit (projects, files per project) is reached: waiting will not help, deleting will."""

    status_code = 422
    code = "limit_reached"


class Conflict(TandemError):
    status_code = 409
    code = "conflict"


class Busy(Conflict):
    code = "busy"


class SearchFailed(TandemError):
    """A project search that could not finish, e.g. a pattern slower than its time budget."""

    status_code = 422
    code = "search_failed"


class ImportFailed(TandemError):
    """An import whose source could not be read (a Git clone that failed, a folder not readable)."""

    status_code = 422
    code = "import_failed"


class GitFailed(TandemError):
    """A Git remote that could not be reached or read, or that refused what was sent (not found, no
    access, a protected branch)."""

    status_code = 422
    code = "git_failed"


class MergeConflict(Conflict):
    """A Git pull whose commits conflict with the project's; nothing was changed."""

    code = "merge_conflict"

    def __init__(self, files: list[str]) -> None:
        shown = ", ".join(files[:20]) + (f" and {len(files) - 20} more" if len(files) > 20 else "")
        super().__init__(
            f"the remote's commits conflict with the project's in {len(files)} file(s): {shown}; nothing was "
            "changed. Change those files so one side wins (in the project, or on the remote), then pull again"
        )
        self.files = files


class Cancelled(Conflict):
    """Work stopped because the user asked (an import)."""

    code = "cancelled"


class Unavailable(TandemError):
    """A service Tandem depends on (the Redis event bus) cannot be reached; trying again may work."""

    status_code = 503
    code = "unavailable"


class SandboxUnavailable(Unavailable):
    """Commands cannot run on this server (no working sandbox); the message says why and how to fix it."""

    code = "sandbox_unavailable"


class RunFailed(TandemError):
    """A run ended without a final answer; `code` is the wire `error` event's code."""


class ModelNotConfigured(RunFailed):
    code = "model_not_configured"


class ModelFailed(RunFailed):
    code = "model_error"


class LimitExceeded(RunFailed):
    code = "limit_exceeded"


class RunCancelled(RunFailed):
    code = "cancelled"
