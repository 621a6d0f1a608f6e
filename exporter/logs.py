"""Logging in logfmt (Prometheus style) or JSON, with every message passed through the redactor."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from exporter.redact import redact


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        msg = redact(record.getMessage())
        if record.exc_info:
            msg += " " + redact(self.formatException(record.exc_info)).replace("\n", " | ")
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if self.fmt == "json":
            return json.dumps({"ts": ts, "level": record.levelname.lower(), "logger": record.name, "msg": msg})
        return f'ts={ts} level={record.levelname.lower()} logger={record.name} msg="{msg.replace(chr(34), chr(39))}"'


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("urllib3").setLevel(logging.WARNING)
