"""Month-to-date high-water marks that survive a restart: one small JSON file per source in the state directory.

Why: the exporter keeps a month-to-date counter at its highest value when the provider revises a total downward
(a decrease reads as a counter reset, and ``increase()`` would count the whole month again). Kept only in memory,
that mark is lost on restart: the exporter comes back with the provider's lower value and Prometheus sees the
reset anyway. So each source's marks (the highest value exported and the last value the provider reported, per
series) are written to ``<state_dir>/<source>.mtd.json`` after every poll that changed them, and read back at
start.

Writes are atomic (a temporary file in the same directory, fsync, rename), so a crash leaves the old or the new
file, never half of one. A file that cannot be read or does not make sense is logged and ignored: the source then
starts from the provider's values, as it did before state files existed. Nothing here is a secret, but label
values (project names) are the operator's business, so the files are 0600 in a 0700 directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter import contract
from exporter.safefiles import FileProblem, read_limited
from exporter.samples import LabelKey, label_key

log = logging.getLogger(__name__)

FORMAT = 1
#: A source's marks are a few hundred series; 32 MiB is far beyond any real file and bounds what we read.
MAX_STATE_BYTES = 32 * 1024 * 1024
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

SeriesId = tuple[contract.Family, LabelKey]


@dataclass
class MonthMarks:
    """The guard's memory for one source and one UTC month (``YYYY-MM``)."""

    month: str = ""
    high: dict[SeriesId, float] = field(default_factory=dict)
    reported: dict[SeriesId, float] = field(default_factory=dict)


class StateError(ValueError):
    """A state file that does not make sense; the message says why (it never holds a credential)."""


def state_path(directory: Path, source: str) -> Path:
    """Source names are ``[A-Za-z0-9][A-Za-z0-9_.-]*``, so they are safe file names as they are."""
    return directory / f"{source}.mtd.json"


def prepare_dir(directory: Path) -> None:
    """Create the state directory (0700) if needed and check that files can be written there. Raises OSError."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    fd, probe = tempfile.mkstemp(dir=directory, prefix=".write-test.")
    os.close(fd)
    os.unlink(probe)


def encode(source: str, marks: MonthMarks) -> bytes:
    series = [
        {
            "metric": family.name,
            "labels": dict(key),
            "high": marks.high[(family, key)],
            "reported": marks.reported.get((family, key), 0.0),
        }
        for family, key in sorted(marks.high, key=lambda ident: (ident[0].name, ident[1]))
    ]
    doc = {"format": FORMAT, "source": source, "month": marks.month, "series": series}
    return json.dumps(doc, indent=1, sort_keys=True, allow_nan=False).encode()


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise StateError(f"{where}: expected a finite number >= 0")
    return float(value)


def decode(data: bytes, source: str) -> MonthMarks:
    """Check a state file's content completely before using any of it."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise StateError(f"not JSON ({exc})") from None
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise StateError(f"not a state file of format {FORMAT}")
    if doc.get("source") != source:
        raise StateError("written for another source")
    month = doc.get("month")
    if not isinstance(month, str) or not _MONTH.match(month):
        raise StateError("month: expected YYYY-MM")
    items = doc.get("series")
    if not isinstance(items, list):
        raise StateError("series: expected a list")
    marks = MonthMarks(month=month)
    for i, item in enumerate(items):
        where = f"series[{i}]"
        if not isinstance(item, Mapping):
            raise StateError(f"{where}: expected an object")
        family = contract.FAMILIES.get(str(item.get("metric")))
        labels = item.get("labels")
        if family is None or family.type != "counter":
            continue  # a metric this version does not have (any more): nothing to guard
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise StateError(f"{where}.labels: expected an object of strings")
        try:
            key = label_key(family, labels)
        except ValueError:
            continue  # the family's labels changed between versions: these marks do not apply
        marks.high[(family, key)] = _number(item.get("high"), f"{where}.high")
        marks.reported[(family, key)] = _number(item.get("reported"), f"{where}.reported")
    return marks


class SourceState:
    """The state file of one source. ``load`` never raises; ``save`` logs instead of raising."""

    def __init__(self, directory: Path, source: str) -> None:
        self.directory = directory
        self.source = source
        self.path = state_path(directory, source)
        self._save_failed = False

    def load(self) -> MonthMarks | None:
        try:
            data = read_limited(self.path, max_bytes=MAX_STATE_BYTES, what="the state file")
        except FileProblem as exc:
            if self.path.exists() or self.path.is_symlink():
                log.warning("source=%s state file %s ignored: %s", self.source, self.path, exc)
            return None
        try:
            marks = decode(data, self.source)
        except StateError as exc:
            log.warning(
                "source=%s state file %s ignored (%s); month-to-date counters start from the provider's values",
                self.source,
                self.path,
                exc,
            )
            return None
        log.info("source=%s month-to-date marks of %s read from %s", self.source, marks.month, self.path)
        return marks

    def save(self, marks: MonthMarks) -> bool:
        """Write atomically; True on success. A failure is logged once until a save succeeds again."""
        tmp = ""
        try:
            data = encode(self.source, marks)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{self.source}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            tmp = ""
            _fsync_dir(self.directory)
        except (OSError, ValueError) as exc:
            if not self._save_failed:
                log.warning("source=%s cannot write state file %s: %s", self.source, self.path, exc)
            self._save_failed = True
            return False
        finally:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        if self._save_failed:
            log.info("source=%s state file %s written again", self.source, self.path)
        self._save_failed = False
        return True


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
