"""Each source type's provider declares the config model of that type (``ProviderBase[OpenAISource]``...), so mypy
checks the keys a provider reads against the model the poller will actually hand it."""

from __future__ import annotations

from typing import Literal, get_args

import pytest

from exporter.config import SOURCE_TYPES, DeepSeekSource, SourceBase
from exporter.providers import PROVIDER_MODULES, provider_class
from exporter.providers.base import ProviderBase


def declared_source_model(cls: type) -> type:
    """The source model a provider class names in its ``ProviderBase[...]`` (or a subclass's) parameter."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            args = get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], SourceBase):
                return args[0]
    raise AssertionError(f"{cls.__name__} does not name its source model")


def takes_model_of(cls: type, source_type: str) -> bool:
    """True when ``cls`` declares the source model whose ``type`` is ``source_type``."""
    return declared_source_model(cls).model_fields["type"].annotation == Literal[source_type]


def test_every_source_type_has_a_provider() -> None:
    assert set(PROVIDER_MODULES) == set(SOURCE_TYPES)


@pytest.mark.parametrize("source_type", SOURCE_TYPES)
def test_the_provider_takes_the_model_of_its_source_type(source_type: str) -> None:
    cls = provider_class(source_type)
    assert issubclass(cls, ProviderBase)
    assert takes_model_of(cls, source_type), (
        f"{cls.__name__} declares {declared_source_model(cls).__name__}, not the model of type {source_type!r}"
    )


def test_the_check_fails_for_a_provider_that_declares_another_types_model() -> None:
    class MoonshotDeclaringDeepSeek(ProviderBase[DeepSeekSource]):
        pass

    assert not takes_model_of(MoonshotDeclaringDeepSeek, "moonshot")
    assert takes_model_of(MoonshotDeclaringDeepSeek, "deepseek")
