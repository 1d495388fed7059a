"""Users, their passwords, browser sign-ins and API tokens.

Passwords are argon2id hashes (pwdlib), verified off the event loop. Sign-ins and tokens are random
secrets (256 bits) of which only the SHA-256 is stored: a fast hash is right for a secret nobody
chose, and it lets every request find its credential with one indexed look-up. A database dump
therefore holds nothing that signs anyone in.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pwdlib import PasswordHash
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Conflict, InvalidInput, NotFound, Unauthorized
from tandem.persistence.database import get_or_404
from tandem.persistence.models import LOCAL_USER, LOCAL_USER_ID, AuditEvent, Credential, User
from tandem.services import audit
from tandem.services.principal import Principal
from tandem.settings import AuthMode

CredentialKind = Literal["session", "token"]
TOKEN_PREFIX = "tdm_"
"""API tokens start with this, so secret scanners and the log redaction can recognise them."""
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_hasher = PasswordHash.recommended()


LOCAL = Principal(id=LOCAL_USER_ID, name=LOCAL_USER, is_admin=True)
"""Who every request is with TANDEM_AUTH=none (loopback only, see `tandem serve`)."""


@dataclass(frozen=True, kw_only=True)
class Me(Principal):
    """The caller as they see themselves (`GET /auth/me`), with how this server signs callers in."""

    auth: AuthMode

    @classmethod
    def of(cls, user: Principal, auth: AuthMode) -> Me:
        return cls(**asdict(user), auth=auth)


@dataclass(frozen=True, kw_only=True)
class IssuedCredential:
    credential: Credential
    secret: str
    """Shown once, to the caller; only its digest is stored."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@functools.cache
def _decoy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput("a user name is 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return name


def _check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, _check_password(password))


async def create_user(session: AsyncSession, name: str, password: str, *, is_admin: bool) -> User:
    if await session.scalar(select(User.id).where(User.name == _check_name(name))) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, password_hash=await hash_password(password), is_admin=is_admin)
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, name: str, password: str) -> User:
    """A new password signs the user out everywhere (their tokens stay)."""
    user = await user_named(session, name)
    user.password_hash = await hash_password(password)
    await session.execute(delete(Credential).where(Credential.user_id == user.id, Credential.kind == "session"))
    return user


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.id)))


async def user_named(session: AsyncSession, name: str) -> User:
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} does not exist")
    return user


def _issue(user_id: int, kind: CredentialKind, name: str, lifetime: timedelta | None) -> IssuedCredential:
    secret = (TOKEN_PREFIX if kind == "token" else "") + secrets.token_urlsafe(32)
    credential = Credential(
        user_id=user_id,
        kind=kind,
        name=name,
        secret_hash=digest(secret),
        expires_at=datetime.now(UTC) + lifetime if lifetime is not None else None,
    )
    return IssuedCredential(credential=credential, secret=secret)


async def create_token(session: AsyncSession, user: Principal, name: str) -> IssuedCredential:
    issued = _issue(user.id, "token", name, None)
    session.add(issued.credential)
    await session.flush()
    await audit.record(session, user, "token.create", f"token {issued.credential.id} ({name})")
    return issued


async def list_tokens(session: AsyncSession, user: Principal) -> list[Credential]:
    return list(
        await session.scalars(
            select(Credential).where(Credential.user_id == user.id, Credential.kind == "token").order_by(Credential.id)
        )
    )


async def revoke_token(session: AsyncSession, user: Principal, token_id: int) -> None:
    token = await get_or_404(
        session,
        Credential,
        token_id,
        f"token {token_id}",
        belongs=lambda found: found.user_id == user.id and found.kind == "token",
    )
    await session.delete(token)
    await audit.record(session, user, "token.revoke", f"token {token_id} ({token.name})")


class Accounts:
    """Signing in and out, and finding who a request's credential belongs to."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        session_lifetime: timedelta,
        login_attempts_per_minute: int,
    ) -> None:
        self._sessions = sessions
        self._session_lifetime = session_lifetime
        self._login_attempts = login_attempts_per_minute
        self._claiming = asyncio.Lock()
        """Counting an attempt and claiming its place is one step in this process (the database row
        makes the count hold across processes)."""

    @property
    def session_lifetime(self) -> timedelta:
        return self._session_lifetime

    async def authenticate(self, secret: str) -> Principal | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(User, Credential.id)
                    .join(Credential, Credential.user_id == User.id)
                    .where(
                        Credential.secret_hash == digest(secret),
                        or_(Credential.expires_at.is_(None), Credential.expires_at > datetime.now(UTC)),
                    )
                )
            ).first()
        return None if row is None else Principal.of_user(row[0], row[1])

    async def sign_in(self, name: str, password: str, *, address: str | None) -> tuple[Principal, str]:
        """A new browser sign-in: the user and the cookie's secret. Failed attempts are counted per
        name and per address (TANDEM_LOGIN_ATTEMPTS_PER_MINUTE)."""
        # Each attempt is counted as failed before its password is checked, and un-counted if right:
        # a burst of guesses sent at once cannot all pass the count while their hashes are computed.
        async with self._claiming, self._sessions.begin() as session:
            await audit.throttle(
                session,
                action="auth.login_failed",
                limit=self._login_attempts,
                setting="TANDEM_LOGIN_ATTEMPTS_PER_MINUTE",
                what="failed sign-ins for this user name or from this address",
                actor=name,
                address=address,
            )
            attempt = await audit.record(
                session, None, "auth.login_failed", f"user {name}", actor=name, address=address
            )
            attempt_id = attempt.id
            user = await session.scalar(select(User).where(User.name == name))
        stored = user.password_hash if user is not None and user.password_hash else None
        valid = await asyncio.to_thread(_hasher.verify, password, stored or _decoy_hash())
        if user is None or stored is None or not valid:
            raise Unauthorized("wrong user name or password")
        async with self._sessions.begin() as session:
            await session.execute(delete(AuditEvent).where(AuditEvent.id == attempt_id))
            await session.execute(delete(Credential).where(Credential.expires_at < datetime.now(UTC)))
            issued = _issue(user.id, "session", "browser", self._session_lifetime)
            session.add(issued.credential)
            await session.flush()
            principal = Principal.of_user(user, issued.credential.id)
            await audit.record(session, principal, "auth.login", f"user {name}", address=address)
        return principal, issued.secret

    async def sign_out(self, user: Principal, *, address: str | None) -> None:
        async with self._sessions.begin() as session:
            if user.credential_id is not None:
                await session.execute(
                    delete(Credential).where(Credential.id == user.credential_id, Credential.kind == "session")
                )
            await audit.record(session, user, "auth.logout", f"user {user.name}", address=address)
