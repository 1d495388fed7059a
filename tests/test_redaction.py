"""Secrets never reach the log, whatever logs them: message, arguments or traceback."""

from __future__ import annotations

import io
import logging

from uvicorn.logging import AccessFormatter

from tandem.redaction import redact_logs, redact_secrets

TOKEN = "tdm_Qt5ePZeomjok9_YZFNabcdefgh"
PASSWORD = "hunter2hunter2"


def test_tokens_keys_passwords_and_cookies_are_redacted() -> None:
    text = redact_secrets(
        f"Authorization: Bearer {TOKEN} key sk-ant-0123456789abcdef {TOKEN} "
        '{"password": "hunter2hunter2"} Cookie: tandem_session=abcdefghijkl; api_key=xyz123456'
    )
    for secret in (TOKEN, "sk-ant-0123456789abcdef", "hunter2hunter2", "abcdefghijkl", "xyz123456"):
        assert secret not in text
    assert text.count("[redacted]") == 6


def test_a_handler_writes_no_secret_of_a_message_its_arguments_or_a_traceback() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    redact_logs(logger)
    try:
        logger.warning("token %s used", TOKEN)
        try:
            raise ValueError(f"login failed: password={PASSWORD}")
        except ValueError:
            logger.exception("failed for Bearer %s", TOKEN)
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "token [redacted] used" in written
    assert "ValueError: login failed: password=[redacted]" in written
    assert TOKEN not in written
    assert PASSWORD not in written


def test_uvicorn_access_lines_keep_their_arguments() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("uvicorn.access")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s", use_colors=False))
    logger.addHandler(handler)
    redact_logs(logger)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/x?t={TOKEN}", "1.1", 200)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert stream.getvalue() == "127.0.0.1:5 GET /x?t=[redacted] HTTP/1.1 200 OK\n"
