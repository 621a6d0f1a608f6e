"""Keep secrets out of every message llmpulse writes (logs, the landing page, errors, metrics)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Shapes of provider credentials, redacted even when llmpulse does not know the value (e.g. echoed by an API).
_PATTERNS = [
    re.compile(r"\b(sk-(?:ant-|admin-|proj-|or-v1-)?[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*]{4,}"),
    re.compile(r"\b(pat_)[A-Za-z0-9_\-]{4,}"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9_\-.=:+/]{4,}"),
    re.compile(r"(?i)\b((?:x-api-key|api[_-]?key|token|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{4,}"),
]
MASK = "<redacted>"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace known secret values and anything shaped like a credential with ``<redacted>``."""
    out = text
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: m.group(1) + MASK, out)
    return out
