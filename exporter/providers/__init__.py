"""Provider modules, one per API, selected by the source's ``type`` (blackbox_exporter's prober table).

Adding a provider = a source model in :mod:`exporter.config` + one module here exposing ``PROVIDER``, a subclass of
``ProviderBase[ThatSource]`` (so mypy checks the keys it reads) + one simulator module + tests + one line below.
"""

from __future__ import annotations

import importlib

from exporter.config import SourceBase
from exporter.providers.base import ProviderBase

PROVIDER_MODULES: dict[str, str] = {
    "openai": "exporter.providers.openai",
    "anthropic": "exporter.providers.anthropic",
    "deepseek": "exporter.providers.deepseek",
    "moonshot": "exporter.providers.moonshot",
    "openrouter": "exporter.providers.openrouter",
    "siliconflow": "exporter.providers.siliconflow",
    "stepfun": "exporter.providers.stepfun",
    "minimax": "exporter.providers.minimax",
    "zhipu": "exporter.providers.zhipu",
    "coze": "exporter.providers.coze",
    "statuspage": "exporter.providers.statuspage",
    "http_json": "exporter.providers.http_json",
}


def provider_class(source_type: str) -> type[ProviderBase[SourceBase]]:
    """The provider class for a source type (imported lazily); it takes that type's source model."""
    module = importlib.import_module(PROVIDER_MODULES[source_type])
    cls: type[ProviderBase[SourceBase]] = module.PROVIDER
    return cls
