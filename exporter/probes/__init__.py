"""Active probes (blackbox_exporter style): one tiny, never-retried call per interval to an LLM API, measured.

Modules: :mod:`.scheduler` (threads, schedule, landing-page status), :mod:`.recorder` (outcome -> metric
families), :mod:`.base` (one measurement), :mod:`.transport` (timed HTTP with phases and a deadline), one module
per probe type (:mod:`.openai_compatible`, :mod:`.anthropic`, :mod:`.coze`, :mod:`.http`) and the parsers they
share (:mod:`.ratelimit`, :mod:`.errors`, :mod:`.sse`). User documentation: docs/probes.md.
"""

from exporter.probes.scheduler import ProbeScheduler

__all__ = ["ProbeScheduler"]
