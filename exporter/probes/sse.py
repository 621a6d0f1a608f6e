"""Server-sent events (the ``text/event-stream`` format of OpenAI, Anthropic and Coze streams), parsed per the
WHATWG spec: ``event:``/``data:`` fields with an optional space after the colon (Coze writes none), multi-line
data joined with newlines, comments ignored, a blank line dispatching the event."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def iter_events(lines: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    """Yield ``(event name, data)``; the name is ``message`` when the stream gives none."""
    event = ""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data or event:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data or event:
        yield event or "message", "\n".join(data)
