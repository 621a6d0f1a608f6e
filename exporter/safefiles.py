"""Reading files an operator points llmpulse at (the config, price tables, key, CA and state files) so they
cannot hurt.

``/dev/zero`` given as a key file is read forever, a FIFO blocks the open, a 300 MB "config" is read whole, and a
Latin-1 or UTF-16 file is not text we can trust. Each of these becomes a :class:`FileProblem` whose message says
what is wrong (never the file's content), not a hang or a traceback. Parsing YAML safely is :mod:`exporter.yamlio`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: A config is a few KB (the demo config 4 KB); the pure-Python YAML scanner needs seconds per MB, so the cap is
#: what bounds the time to refuse a hostile file. Price tables may be larger (hundreds of models).
MAX_YAML_BYTES = 256 * 1024
MAX_PRICE_FILE_BYTES = 1024 * 1024
#: Key files hold one token or URL; a CA bundle a few hundred KB.
MAX_SECRET_BYTES = 64 * 1024
MAX_CA_BYTES = 4 * 1024 * 1024


class FileProblem(ValueError):
    """A file that cannot be used; ``str()`` is the reason, without the file's content."""


def read_limited(path: Path, *, max_bytes: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; devices, FIFOs, directories and bigger files are
    refused before anything is read (a FIFO is opened non-blocking so that opening it cannot hang either)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileProblem(f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(f"{what} is not a regular file")
        if info.st_size > max_bytes:
            raise FileProblem(f"{what} is larger than {max_bytes} bytes ({info.st_size})")
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:  # the file grew while we read it
                raise FileProblem(f"{what} is larger than {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(f"cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def decode_utf8(data: bytes, what: str) -> str:
    """UTF-8 text (a UTF-8 byte order mark is dropped); anything else is refused with where it went wrong."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(f"{what} is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(
            f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None


def read_text(path: Path, *, max_bytes: int, what: str) -> str:
    """A small UTF-8 text file (see :func:`read_limited` and :func:`decode_utf8`)."""
    return decode_utf8(read_limited(path, max_bytes=max_bytes, what=what), what)


def write_private(path: Path, text: str) -> None:
    """Write a file that holds a secret so that only its owner can read it (0600), from the first byte on: the file
    is created with that mode (not chmod-ed after writing) and an existing file is narrowed before it is rewritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
