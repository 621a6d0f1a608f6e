"""Bodies of the simulator's admin API (``/_sim/...``), read with pydantic models.

Each admin route declares what it accepts as a model (unknown keys refused, types and ranges checked), reads its
body with :func:`read_body`, and answers 400 with every problem and where it is (``openai.error_rate: ...``) when the
body is wrong. A wrong body changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from exporter.httpserver import Request, Response

ModelT = TypeVar("ModelT", bound=BaseModel)


class AdminModel(BaseModel):
    """An admin body: unknown keys are errors (a misspelt switch must not be ignored silently)."""

    model_config = ConfigDict(extra="forbid")


class BadBody(ValueError):
    """An admin body that cannot be applied; ``str()`` says what is wrong and where."""

    def response(self) -> Response:
        return Response.json({"error": str(self)}, 400)


def problems(exc: ValidationError, prefix: str = "") -> str:
    """Every error of a validation, as ``where: what`` joined by ``; ``."""
    out = []
    for err in exc.errors(include_url=False):
        loc: Sequence[Any] = err["loc"]
        where = ".".join(str(part) for part in (prefix, *loc) if part != "")
        out.append(f"{where}: {err['msg']}" if where else str(err["msg"]))
    return "; ".join(out)


def validate(model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
    """``data`` as ``model``; raises :class:`BadBody`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadBody(problems(exc, prefix)) from None


def read_body(req: Request, model: type[ModelT]) -> ModelT:
    """The request's JSON body as ``model``; raises :class:`BadBody`."""
    try:
        data = req.json()
    except (ValueError, UnicodeDecodeError):
        raise BadBody("body must be JSON") from None
    return validate(model, data)
