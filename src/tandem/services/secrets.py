"""Secrets at rest: what Tandem stores that it must read back (the API key saved on the Models page) is
Fernet-encrypted (AES-128-CBC with an HMAC) with the key from TANDEM_SECRET_KEY, else from a key file."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from tandem.settings import Settings

KEY_FILE = "secret.key"


class SecretUnreadable(Exception):
    """A stored secret was encrypted with another key (TANDEM_SECRET_KEY changed, or the key file was lost)."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def of(cls, settings: Settings) -> SecretBox:
        """The box for TANDEM_SECRET_KEY, or for `<data_dir>/secret.key`, made on first use (readable by this
        account only) so a single process works with no setup."""
        if settings.secret_key is not None:
            return cls(settings.secret_key.get_secret_value().encode())
        path = settings.data_dir / KEY_FILE
        return cls(_key_file(path))

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, token: bytes, *, max_age: float | None = None) -> str:
        """The secret; `max_age` (seconds) refuses one sealed longer ago."""
        try:
            return self._fernet.decrypt(token, ttl=None if max_age is None else int(max_age)).decode()
        except InvalidToken:
            raise SecretUnreadable from None


def _key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(Fernet.generate_key())
    try:
        # A hard link appears whole or not at all: of two processes starting at once, one key wins.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()
