"""The schema of one ``POST /events`` event, as a pydantic model, and the translation of its errors.

Why pydantic with a translation layer: the model states the schema once (types, limits, defaults), and the
translation keeps the answers clients already rely on: one error per post, naming the event's field and saying
what was wrong in the words of docs/events.md ("app is longer than 128 characters", "duration_ms must be a number,
got string"). Every string that is accepted is valid Unicode (pydantic refuses lone surrogates: what a string cut
inside an emoji becomes), so it can always become a label value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

EVENT_KINDS = ("call", "session_start", "session_end")
STATUSES = ("success", "error")
MAX_LABEL_CHARS = 128
MAX_ID_CHARS = 256
MAX_CODE_CHARS = 64
MAX_DURATION_MS = 7 * 86400 * 1000.0
MAX_TOKENS = 1_000_000_000
# Unix seconds beyond this are almost certainly milliseconds (JavaScript's Date.now()); 1e11 s is the year 5138.
MAX_UNIX_SECONDS = 1e11
#: Fields given as strings or integers (bot and user ids are often numbers).
ID_FIELDS = frozenset({"app", "channel", "session_id", "user_id", "code"})

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


@dataclass(frozen=True, slots=True)
class Event:
    """One validated event. ``timestamp`` is Unix seconds as sent (None when absent)."""

    kind: str
    app: str
    channel: str
    model: str
    session_id: str | None
    user_id: str | None
    status: str
    code: str
    error_type: str
    duration_ms: float | None
    input_tokens: int
    output_tokens: int
    timestamp: float | None


class EventError(ValueError):
    """A field of one event is invalid; ``field`` names it (empty for the event as a whole)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def kind_of(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# --- field types ------------------------------------------------------------------------------------------------
def _id_text(value: Any) -> Any:
    """Integers (not booleans) as their decimal text: ids are often numbers."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _empty_is_absent(value: Any) -> Any:
    return None if value == "" else value


def _whole(value: Any) -> Any:
    """Whole floats (3.0) as integers; anything else is left for the int schema to refuse."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except EventError as err:
        raise PydanticCustomError("timestamp", "{message}", {"message": err.message}) from None


def _text(limit: int, *, ids: bool = False, required: bool = False) -> Any:
    """A text field: at most ``limit`` characters, no control characters, valid Unicode (pydantic refuses lone
    surrogates); ids also as integers; optional ones treat "" as absent."""
    text = Annotated[str, StringConstraints(min_length=1 if required else 0, max_length=limit, pattern=_NO_CONTROL)]
    before = [BeforeValidator(_id_text)] if ids else []
    if required:
        return Annotated[text, *before]
    return Annotated[text | None, BeforeValidator(_empty_is_absent), *before]


AppText = _text(MAX_LABEL_CHARS, ids=True, required=True)
Label = _text(MAX_LABEL_CHARS)
LabelId = _text(MAX_LABEL_CHARS, ids=True)
Ident = _text(MAX_ID_CHARS, ids=True)
Code = _text(MAX_CODE_CHARS, ids=True)
ErrorType = _text(MAX_CODE_CHARS)
Tokens = Annotated[int, BeforeValidator(_whole), Field(ge=0, le=MAX_TOKENS)]


class EventModel(BaseModel):
    """One event as posted (docs/events.md). Strict: no string-to-number or number-to-string guessing beyond ids."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    event: Annotated[Literal["call", "session_start", "session_end"] | None, BeforeValidator(_empty_is_absent)] = None
    app: AppText  # type: ignore[valid-type]
    channel: LabelId = None  # type: ignore[valid-type]
    session_id: Ident = None  # type: ignore[valid-type]
    user_id: Ident = None  # type: ignore[valid-type]
    model: Label = None  # type: ignore[valid-type]
    status: Annotated[Literal["success", "error"] | None, BeforeValidator(_empty_is_absent)] = None
    code: Code = None  # type: ignore[valid-type]
    error_type: ErrorType = None  # type: ignore[valid-type]
    duration_ms: Annotated[float | None, Field(ge=0, le=MAX_DURATION_MS, allow_inf_nan=False)] = None
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    timestamp: Annotated[float | None, BeforeValidator(_timestamp)] = None

    @model_validator(mode="before")
    @classmethod
    def _session_needs_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("event") in ("session_start", "session_end"):
            if data.get("session_id") is None:
                raise PydanticCustomError("session_id", "session_id is required", {"field": "session_id"})
            if data["session_id"] == "":
                raise PydanticCustomError("session_id", "session_id must not be empty", {"field": "session_id"})
        return data

    def to_event(self) -> Event:
        return Event(
            kind=self.event or "call",
            app=self.app,
            channel=self.channel or "unknown",
            model=self.model or "unknown",
            session_id=self.session_id,
            user_id=self.user_id,
            status=self.status or "success",
            code=self.code or "unknown",
            error_type=self.error_type or "",
            duration_ms=self.duration_ms,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            timestamp=self.timestamp,
        )


FIELDS = frozenset(EventModel.model_fields)
#: The order in which a post's errors are reported when one event has several (the first one is answered).
_FIELD_ORDER = ("event", "status", "session_id", "timestamp", *EventModel.model_fields)


def parse_timestamp(value: Any) -> float:
    """RFC 3339 (with a Z or a UTC offset) or Unix seconds -> Unix seconds. Raises EventError."""
    if isinstance(value, bool):
        raise EventError("timestamp", "timestamp must be an RFC 3339 string or Unix seconds, got boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float, e.g. 10**400
            seconds = math.inf
        if math.isnan(seconds) or seconds < 0 or (math.isinf(seconds) and not isinstance(value, int)):
            raise EventError("timestamp", "timestamp in Unix seconds must be a finite number >= 0")
        if seconds >= MAX_UNIX_SECONDS:
            raise EventError(
                "timestamp",
                "timestamp looks like milliseconds; send Unix seconds (e.g. Date.now() / 1000) or an RFC 3339 string",
            )
        return seconds
    if isinstance(value, str):
        if not _RFC3339.match(value):
            raise EventError(
                "timestamp",
                "timestamp must be RFC 3339 with a time zone, e.g. 2025-05-01T08:30:00Z or 2025-05-01T16:30:00+08:00",
            )
        try:
            return datetime.fromisoformat(value.upper().replace(" ", "T")).timestamp()
        except ValueError as exc:
            raise EventError("timestamp", f"timestamp is not a valid date/time: {exc}") from None
    raise EventError("timestamp", f"timestamp must be an RFC 3339 string or Unix seconds, got {kind_of(value)}")


def parse_event(obj: Any) -> Event:
    """Validate one decoded JSON event. Raises :class:`EventError` naming the field and the reason."""
    if not isinstance(obj, dict):
        raise EventError("", f"an event must be a JSON object, got {kind_of(obj)}")
    try:
        return EventModel.model_validate(obj).to_event()
    except ValidationError as exc:
        raise _first_error(exc.errors(include_url=False), obj) from None


def _first_error(errors: list[ErrorDetails], obj: dict[str, Any]) -> EventError:
    def rank(err: ErrorDetails) -> tuple[int, int]:
        field = _field_of(err)
        extra = 0 if err["type"] == "extra_forbidden" else 1
        return extra, _FIELD_ORDER.index(field) if field in _FIELD_ORDER else len(_FIELD_ORDER)

    err = min(errors, key=rank)
    field = _field_of(err)
    return EventError(field, _message(err, field, obj.get(field)))


def _field_of(err: ErrorDetails) -> str:
    ctx = err.get("ctx") or {}
    if "field" in ctx:
        return str(ctx["field"])
    return str(err["loc"][0]) if err["loc"] else ""


def _message(err: ErrorDetails, field: str, sent: Any) -> str:
    """Today's words for a pydantic error on ``field`` (``sent`` is the value as posted)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown field {field[:64]!r} (fields: {', '.join(sorted(FIELDS))})"
    if kind == "missing":
        return f"{field} is required"
    if kind == "string_unicode":
        return f"{field or 'a field name'} is not valid Unicode text (a lone surrogate such as \\ud83d: a string cut inside an emoji?)"
    if kind == "string_type":
        want = "a string or an integer" if field in ID_FIELDS else "a string"
        return f"{field} must be {want}, got {kind_of(sent)}"
    if kind == "string_too_short":
        return f"{field} must not be empty"
    if kind == "string_too_long":
        return f"{field} is longer than {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{field} contains control characters"
    if kind == "literal_error" and not isinstance(sent, str):
        return f"{field} must be a string, got {kind_of(sent)}"
    if kind == "literal_error" and field == "event":
        return f"unknown event kind {sent[:32]!r}; expected one of: {', '.join(EVENT_KINDS)}"
    if kind == "literal_error":
        return f"status must be 'success' or 'error', got {sent[:32]!r}"
    if kind in ("float_type", "int_type"):
        if isinstance(sent, float) and not math.isfinite(sent):
            return f"{field} must be a finite number >= 0"
        if isinstance(sent, float):
            return f"{field} must be a whole number"
        if isinstance(sent, int) and not isinstance(sent, bool):  # an integer beyond any float, e.g. 10**400
            return f"{field} must not exceed {MAX_DURATION_MS:g}"
        return f"{field} must be a number, got {kind_of(sent)}"
    if kind in ("finite_number", "greater_than_equal"):
        return f"{field} must be a finite number >= 0"
    if kind == "less_than_equal":
        return f"{field} must not exceed {float(ctx.get('le', 0)):g}"
    if kind in ("timestamp", "session_id"):
        return err["msg"]
    return f"{field}: {err['msg']}"[:200]
