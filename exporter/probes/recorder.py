"""Turns probe outcomes into the contract's probe families in a :class:`LiveMetrics`.

Counters and histograms of a probe are created at zero when the probe is set up (both outcomes of
``llmpulse_api_calls_total``, the duration and TTFT histograms, token counters), so ``rate()`` and ``increase()``
have a baseline before the first call. Rate-limit gauges follow the last response that carried rate-limit
headers: such a response replaces the probe's whole set (a resource the provider stopped reporting disappears),
while a response without any (an error page, a timeout) leaves the last known values; a header never sent never
becomes a series, and is never exported as 0.
"""

from __future__ import annotations

from exporter import contract
from exporter.config import ProbeConfig
from exporter.probes.base import Outcome
from exporter.samples import LiveMetrics

RATELIMIT_FAMILIES = {
    "limit": contract.RATELIMIT_LIMIT,
    "remaining": contract.RATELIMIT_REMAINING,
    "reset": contract.RATELIMIT_RESET,
}
#: Distinct (code, error_type) pairs kept per probe before new error types fold into "other".
MAX_ERROR_SERIES = 50


class ProbeRecorder:
    """Records one probe's outcomes. Called from that probe's thread only."""

    def __init__(self, config: ProbeConfig, live: LiveMetrics, *, streams: bool, spends_tokens: bool) -> None:
        self.live = live
        self.labels = {"provider": config.provider_label, "source": config.name, "model": config.model}
        self.extra = dict(config.labels)
        self._ratelimit_keys: set[tuple[str, str]] = set()
        self._error_series: set[tuple[str, str]] = set()
        self.streams = streams
        for outcome in ("success", "error"):
            live.touch(contract.API_CALLS, {**self.labels, "outcome": outcome}, self.extra)
        live.touch(contract.API_CALL_DURATION, self.labels, self.extra)
        if streams:
            live.touch(contract.TIME_TO_FIRST_TOKEN, self.labels, self.extra)
        if spends_tokens:
            for token_type in ("input", "output"):
                live.touch(contract.PROBE_TOKENS, {**self.labels, "token_type": token_type}, self.extra)

    def record(self, outcome: Outcome) -> None:
        live, labels, extra = self.live, self.labels, self.extra
        if not outcome.success:
            live.inc(
                contract.ERROR_CODES,
                {**labels, "code": outcome.code, "error_type": self._error_type(outcome)},
                1,
                extra,
            )
        live.observe(contract.API_CALL_DURATION, labels, outcome.duration, extra)
        if outcome.ttft is not None:
            live.observe(contract.TIME_TO_FIRST_TOKEN, labels, outcome.ttft, extra)
        for token_type, value in outcome.tokens.items():
            live.inc(contract.PROBE_TOKENS, {**labels, "token_type": token_type}, value, extra)
        if outcome.ratelimits:
            self._ratelimits(outcome.ratelimits)
        for phase, seconds in outcome.phases.items():
            live.set(contract.PROBE_PHASE, {**labels, "phase": phase}, seconds, extra)
        if outcome.cert_not_after is not None:
            live.set(contract.TLS_CERT_EXPIRY, labels, outcome.cert_not_after, extra)
        live.set(contract.PROBE_DURATION, labels, outcome.duration, extra)
        live.set(contract.PROBE_SUCCESS, labels, 1.0 if outcome.success else 0.0, extra)
        # Last, so a scrape that sees the call counted sees everything else about it too.
        live.inc(contract.API_CALLS, {**labels, "outcome": "success" if outcome.success else "error"}, 1, extra)

    def record_internal_failure(self) -> None:
        """A bug in llmpulse, not a provider error: the probe reads as failing but no error code is invented."""
        self.live.set(contract.PROBE_SUCCESS, self.labels, 0.0, self.extra)

    def _error_type(self, outcome: Outcome) -> str:
        pair = (outcome.code, outcome.error_type)
        if pair not in self._error_series:
            if len(self._error_series) >= MAX_ERROR_SERIES:
                pair = (outcome.code, "other")
            self._error_series.add(pair)
        return pair[1]

    def _ratelimits(self, values: dict[tuple[str, str], float]) -> None:
        for kind, resource in self._ratelimit_keys - set(values):
            self.live.remove(RATELIMIT_FAMILIES[kind], {**self.labels, "resource": resource}, self.extra)
        for (kind, resource), value in values.items():
            self.live.set(RATELIMIT_FAMILIES[kind], {**self.labels, "resource": resource}, value, self.extra)
        self._ratelimit_keys = set(values)
