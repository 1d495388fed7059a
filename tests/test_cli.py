"""`tandem serve` refuses to expose an unauthenticated server; `tandem users` manages accounts.
Real subprocesses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import Server


def test_serving_beyond_loopback_without_accounts_is_refused_naming_the_setting(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path, host="0.0.0.0")
    with pytest.raises(RuntimeError, match="server exited") as refused:
        server.start()
    assert server.process is not None
    assert server.process.returncode == 2
    assert "TANDEM_AUTH=accounts" in str(refused.value)
    assert "tandem users create NAME --admin" in str(refused.value)


def test_serving_beyond_loopback_with_accounts_starts_and_asks_who_is_calling(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path, env={"TANDEM_AUTH": "accounts"}, host="0.0.0.0").start()
    try:
        assert httpx.get(f"{server.url}/api/v1/projects", timeout=30).status_code == 401
    finally:
        server.stop()


def test_users_are_made_with_a_password_from_stdin_and_names_are_unique(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path)
    made = server.cli("users", "create", "ada", "--admin", stdin="a long enough password\n")
    assert made.returncode == 0, made.stderr
    assert "created user ada (admin)" in made.stdout
    again = server.cli("users", "create", "ada", stdin="a long enough password\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    short = server.cli("users", "create", "bob", stdin="short\n")
    assert short.returncode == 1
    assert "8 to 1024 characters" in short.stderr
    token = server.cli("users", "token", "ada")
    assert token.returncode == 0, token.stderr
    assert token.stdout.startswith("tdm_")
