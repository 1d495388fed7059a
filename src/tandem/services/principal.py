"""Who is calling: what every service that checks or records a user is handed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tandem.persistence.models import User


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: the user, and the sign-in or token they called with (None: the implicit local user)."""

    id: int
    name: str
    is_admin: bool
    credential_id: int | None = None

    @classmethod
    def of_user(cls, user: User, credential_id: int | None = None) -> Principal:
        return cls(id=user.id, name=user.name, is_admin=user.is_admin, credential_id=credential_id)
