"""Secrets out of text that leaves the process: upstream error messages and the log.

What a provider's error body or an exception may echo of a credential: `Bearer <token>`, `sk-...`
provider keys (OpenAI, Anthropic, OpenRouter), `api_key: <value>` fields, Tandem's own API tokens
(`tdm_...`), its sign-in cookie and `password` fields. Linear-time patterns: the text is untrusted.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SECRETS = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\bsk-[\w-]{8,}"), REDACTED),
    (re.compile(r"\btdm_[\w-]{8,}"), REDACTED),
    (re.compile(r"(?i)\b((?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(password[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(tandem_session=)[^\s\"',;]+"), rf"\1{REDACTED}"),
)


def redact_secrets(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """On a handler: every record it writes, message and traceback, with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_secrets(v) if isinstance(v, str) else v for k, v in record.args.items()}
        message = record.getMessage()
        clean = redact_secrets(message)
        # A secret seen only in context (`"Bearer %s" % secret`): the whole line, redacted, replaces
        # the template and its arguments. Not for uvicorn's access lines, whose formatter reads the
        # arguments; their only free text, the path, was redacted above.
        if clean != message and record.name != "uvicorn.access":
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        return True


def redact_logs(*loggers: logging.Logger) -> None:
    """Add the filter to the handlers of these loggers (handler filters see propagated records too)."""
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
