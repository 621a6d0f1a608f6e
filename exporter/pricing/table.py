"""The price table: loading (built-in, then a price file, then inline config), checking, and model-name matching.

Prices are per million tokens in the currency of each entry; conversion to US dollars happens later, with the
config's ``exchange_rates`` (see :mod:`exporter.pricing`), so a CNY price list stays exactly as published.

Matching a model name reported by an API to a table entry (first hit wins; case-insensitive):

1. the exact name (so a dated snapshot with its own price, e.g. ``gpt-4o-2024-05-13``, keeps it);
2. the name without routing prefixes, dropping one ``org/`` segment at a time (``openai/gpt-4o`` -> ``gpt-4o``,
   ``Pro/deepseek-ai/DeepSeek-V3`` -> ``deepseek-ai/DeepSeek-V3`` -> ``DeepSeek-V3``);
3. each of those without a version suffix: a date (``-2024-07-18``, ``-20250514``, ``@20241022``), a 4-digit
   snapshot (``-0613``), ``-latest``, or an OpenRouter variant (``:beta``, ``:thinking``...);
4. all of the above with dotted version numbers written with dashes, as OpenRouter and Anthropic disagree
   (``anthropic/claude-3.7-sonnet`` -> ``claude-3-7-sonnet``).

OpenRouter's ``:free`` variants cost nothing and match as free. Fine-tuned models (``ft:...``) match only an exact
entry: their price differs from the base model's. Nothing else is guessed (no longest-prefix matching: a
``gpt-4o-mini-search-preview`` must not silently get ``gpt-4o-mini``'s price); an unmatched model is *unpriced*.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from exporter import yamlio
from exporter.modeltypes import StrictModel

BUILTIN_NAME = "prices.yaml"
_VERSION_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # OpenAI: gpt-4o-mini-2024-07-18
    re.compile(r"[-@]\d{8}$"),  # Anthropic: claude-sonnet-4-20250514, Vertex: ...@20241022
    re.compile(r"-\d{4}$"),  # 4-digit snapshots: gpt-4-0613, gpt-3.5-turbo-0125
    re.compile(r"-latest$"),  # moving aliases: claude-3-5-haiku-latest
    re.compile(r":[a-z0-9_\-]+$"),  # OpenRouter variants: :beta, :thinking, :nitro, :floor
)


class PriceTableError(ValueError):
    """A price file that cannot be used. ``key`` is the config key to blame (file, builtin or models)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


@dataclass(frozen=True)
class Price:
    """One table entry, per million tokens, in ``currency``; cache prices default to the input price."""

    name: str
    input: float
    output: float
    cached_input: float
    cache_write_input: float
    currency: str
    origin: str  # builtin, the price file's path, or "config"


FREE = Price("(free)", 0.0, 0.0, 0.0, 0.0, "USD", "rule")


class PriceTable:
    """An immutable table of prices keyed by lower-cased model name, with the matching rules above."""

    def __init__(self, entries: Mapping[str, Price]) -> None:
        self._entries = {name.lower(): price for name, price in entries.items()}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def entries(self) -> dict[str, Price]:
        return dict(self._entries)

    def lookup(self, model: str) -> Price | None:
        """The price of ``model`` by the matching rules, or None if it is unpriced."""
        return _lookup(self, model.strip().lower())

    def _get(self, name: str) -> Price | None:
        return self._entries.get(name)


@lru_cache(maxsize=4096)
def _lookup(table: PriceTable, name: str) -> Price | None:
    if not name:
        return None
    exact = table._get(name)
    if exact is not None:
        return exact
    if name.startswith("ft:"):
        return None
    if name.endswith(":free"):
        return FREE
    for candidate in candidates(name):
        hit = table._get(candidate)
        if hit is not None:
            return hit
    return None


def candidates(name: str) -> Iterator[str]:
    """The names tried after the exact one, in rule order (lower-cased input): prefixes dropped, then suffixes,
    then the same with dotted version numbers dashed."""
    seen = {name}
    for candidate in _candidates(name):
        if candidate not in seen:
            seen.add(candidate)
            yield candidate
    dashed = _DOTTED_VERSION.sub(r"\1-\2", name)
    if dashed != name:
        for candidate in (dashed, *_candidates(dashed)):
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


_DOTTED_VERSION = re.compile(r"(\d)\.(\d)")


def _candidates(name: str) -> Iterator[str]:
    bases = [name]
    rest = name
    while "/" in rest:
        rest = rest.split("/", 1)[1]
        if rest:
            bases.append(rest)
    yield from bases[1:]
    seen = set(bases)
    for base in bases:
        stripped = base
        while True:
            for pattern in _VERSION_SUFFIXES:
                shorter = pattern.sub("", stripped)
                if shorter != stripped and shorter:
                    stripped = shorter
                    break
            else:
                break
            if stripped not in seen:
                seen.add(stripped)
                yield stripped


class ModelPrice(StrictModel):
    """Price of one model per million tokens, in ``currency``: an entry of a price file and of the config's
    ``pricing.models`` alike (one definition of an entry)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0, description="default: the input price")
    cache_write_input: float | None = Field(default=None, ge=0, description="default: the input price")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


# --- loading ---------------------------------------------------------------------------------------------------------
def _entry(name: str, raw: Any, origin: str, key: str, where: str) -> Price:
    if isinstance(raw, ModelPrice):
        mp = raw
    else:
        try:
            mp = ModelPrice.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else str(err["msg"])
            if err["type"] == "model_type":
                msg = f"expected a mapping with input and output prices, got {type(raw).__name__}"
            raise PriceTableError(key, f"{where}models.{name}{'.' + field if field else ''}: {msg}") from None
    return Price(
        name=name,
        input=mp.input,
        output=mp.output,
        cached_input=mp.input if mp.cached_input is None else mp.cached_input,
        cache_write_input=mp.input if mp.cache_write_input is None else mp.cache_write_input,
        currency=mp.currency,
        origin=origin,
    )


def parse_table(data: Any, origin: str, key: str) -> dict[str, Price]:
    """Check a price file's parsed YAML (``models: {name: {input, output, ...}}``) and return its entries."""
    where = f"{origin}: "
    if not isinstance(data, Mapping):
        raise PriceTableError(key, f"{where}the top level must be a mapping with a 'models' key")
    unknown = set(data) - {"models"}
    if unknown:
        raise PriceTableError(key, f"{where}{sorted(unknown)[0]}: unknown key (expected only 'models')")
    models = data.get("models") or {}
    if not isinstance(models, Mapping):
        raise PriceTableError(key, f"{where}models: expected a mapping of model name -> prices")
    out: dict[str, Price] = {}
    lowered: dict[str, str] = {}
    for name, raw in models.items():
        if not isinstance(name, str) or not name.strip():
            raise PriceTableError(key, f"{where}models: model names must be non-empty strings, got {name!r}")
        if name.lower() in lowered:
            raise PriceTableError(
                key,
                f"{where}models.{name}: duplicate of {lowered[name.lower()]!r} (names are matched case-insensitively)",
            )
        lowered[name.lower()] = name
        out[name] = _entry(name, raw, origin, key, where)
    return out


def _read_yaml(path: Path, key: str) -> Any:
    from exporter.safefiles import MAX_PRICE_FILE_BYTES, FileProblem, read_text

    try:  # bounded, UTF-8 only; parsed like the config itself (aliases, nesting and duplicate keys checked)
        text = read_text(path, max_bytes=MAX_PRICE_FILE_BYTES, what=f"price file {str(path)!r}")
    except FileProblem as exc:
        raise PriceTableError(key, str(exc)) from None
    try:
        return yamlio.load(text)
    except yamlio.YAMLError as exc:
        where, problem = yamlio.error_text(exc, text)
        raise PriceTableError(key, f"{path}: {where + ': ' if where else ''}invalid YAML: {problem}") from None


@lru_cache(maxsize=1)
def builtin_entries() -> dict[str, Price]:
    """The table shipped in the package (read once)."""
    ref = resources.files("exporter.pricing").joinpath(BUILTIN_NAME)
    with resources.as_file(ref) as path:
        return parse_table(_read_yaml(Path(path), "builtin"), "builtin", "builtin")


def load_table(
    *, builtin: bool = True, file: Path | None = None, inline: Mapping[str, Any] | None = None
) -> PriceTable:
    """Merge the built-in table, a price file and inline entries (later ones replace whole entries)."""
    merged: dict[str, Price] = {}

    def merge(entries: Mapping[str, Price]) -> None:
        for name, price in entries.items():
            for existing in [k for k in merged if k.lower() == name.lower()]:
                del merged[existing]
            merged[name] = price

    if builtin:
        merge(builtin_entries())
    if file is not None:
        merge(parse_table(_read_yaml(file, "file"), str(file), "file"))
    if inline:
        lowered: set[str] = set()
        for name in inline:
            if name.lower() in lowered:
                raise PriceTableError("models", f"{name}: duplicate model name (names are matched case-insensitively)")
            lowered.add(name.lower())
        merge({name: _entry(name, raw, "config", "models", "") for name, raw in inline.items()})
    return PriceTable(merged)
