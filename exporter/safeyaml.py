"""Reading files an operator points llmpulse at (the config, price tables, key and CA files) so they cannot hurt.

A config is input like any other: a 578-byte YAML "billion laughs" document expands to billions of nodes once
anything walks it (validation does), 10,000 nested brackets overflow the recursive composer, ``/dev/zero`` given
as a key file is read forever, and a Latin-1 or UTF-16 file is not text we can trust. Each of these becomes a
:class:`FileProblem` whose message says what is wrong, never a hang or a traceback.

Why not another YAML library: PyYAML is already a dependency and its composer is the one place where aliases and
nesting become visible, so the limits are enforced there, before any Python object is built.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

#: A config is a few KB (the demo config 4 KB); the pure-Python YAML scanner needs seconds per MB, so the cap is
#: what bounds the time to refuse a hostile file. Price tables may be larger (hundreds of models).
MAX_YAML_BYTES = 256 * 1024
MAX_PRICE_FILE_BYTES = 1024 * 1024
#: Key files hold one token or URL; a CA bundle a few hundred KB.
MAX_SECRET_BYTES = 64 * 1024
MAX_CA_BYTES = 4 * 1024 * 1024
#: Nesting of mappings and lists (the deepest real config is about 8 levels).
MAX_DEPTH = 64
#: Nodes written in the document (a large config has about 2,000; a table of 1,000 prices about 12,000).
MAX_DOCUMENT_NODES = 20_000
#: Nodes once every alias is expanded, and aliases: enough for any sensible use of YAML anchors (shared label
#: sets, repeated metric blocks), far below what an alias bomb needs.
MAX_NODES = 200_000
MAX_ALIASES = 1000


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


class SafeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with duplicate keys refused and nesting, aliases and expanded size bounded."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._aliases = 0

    def fetch_flow_collection_start(self, TokenClass: type) -> None:
        # The scanner keeps one pending "simple key" per open bracket and rescans them all at every token: 100k
        # nested brackets cost O(n^2) before the composer sees any node, so the depth is checked here first.
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[misc]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        self._depth += 1
        self._nodes += 1
        try:
            if self._nodes > MAX_DOCUMENT_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_DOCUMENT_NODES} values in one document", self.peek_event().start_mark
                )
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _construct_mapping(loader: SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            ) from None
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


SafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_NODES` nodes or :data:`MAX_DEPTH` levels, or that
    refers to itself. Iterative, memoised per node: linear in the document, whatever it expands to."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases expand to more than {MAX_NODES} nodes", node.start_mark
                )
            if depth[key] > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases expand to more than {MAX_DEPTH} levels of nesting", node.start_mark
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise yaml.composer.ComposerError(None, None, "an alias refers to a node that contains it", node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely. Raises :class:`yaml.YAMLError` (with a ``problem_mark``) on any problem."""
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def yaml_problem(exc: yaml.YAMLError, text: str = "") -> tuple[str, str]:
    """(where, what) of a YAML error: ``line L, column C`` and the problem on one line, for ``file: where: what``
    messages."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (NUL, other controls)
        before = text[: exc.position]
        where = f"line {before.count(chr(10)) + 1}, column {len(before) - before.rfind(chr(10))}" if text else ""
        return where, f"invalid YAML: character #x{exc.character:04x} is not allowed in YAML"
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return where, f"invalid YAML: {' '.join(str(problem).split())}"
