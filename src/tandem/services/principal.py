"""Who is calling: what every service that checks or records a user is handed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: the user, and the sign-in or token they called with (None: the implicit local user)."""

    id: int
    name: str
    is_admin: bool
    credential_id: int | None = None
