"""Keeping secrets out of what the bot writes: log lines (tracebacks included) and provider text shown to users."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# Credentials of any provider, configured or not: an endpoint may echo a header or another key.
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]*[A-Za-z0-9_~+/=\-]")  # a sentence's full stop is not the token's
_SECRET_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the configured secrets, bearer tokens or anything shaped like an API key ("sk-...")."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    return _SECRET_KEY.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True
