"""``promtool test rules`` unit tests for every alert, generated from the same settings as the rules.

For each alert: one case where it fires (a little past its threshold, held longer than its ``for:``) and one where
it stays quiet just under the threshold (or held for less than ``for:``), plus the cases that show the alert's
design (a short error burst does not page the burn-rate alert; a cheap spike does not count as a spike; a forecast
is not trusted early in the month; an absent exporter counts as down). Key recording rules get
``promql_expr_test`` checks (values rounded to integers, since promtool 2.42 compares floats exactly).

Input series are built so their values are known exactly (whole-window samples, counters starting at 0), and the
expected annotations are rendered with :mod:`exporter.bundle.gotmpl`, so a test also proves what the notification
will say. Thresholds change -> inputs and expectations change with them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.utils import floatToGoString

from exporter import contract
from exporter.bundle.gotmpl import expand
from exporter.bundle.rules import (
    ALERTS_FILE,
    RULES_FILE,
    AlertRule,
    Names,
    alert_groups,
    alert_rules,
    dur,
    recording_groups,
)
from exporter.bundle.settings import BundleConfig

TESTS_DIR = "prometheus/tests"
PSM = {"provider": "openai", "source": "openai-probe", "model": "gpt-4o-mini"}
MINUTE = 60.0


# --- small builders ---------------------------------------------------------------------------------------------
def series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _v(x: float) -> str:
    return f"{x:.12g}"


def _term(start: float, inc: float, n: int) -> str:
    sign = "-" if inc < 0 else "+"
    return f"{_v(start)}{sign}{_v(abs(inc))}x{n}"


def ramp(segments: Sequence[tuple[int, float]], start: float = 0.0) -> str:
    """promtool values: ``start``, then for each (n, inc) n more samples each ``inc`` above the previous one."""
    parts = []
    cur = start
    first = True
    for n, inc in segments:
        if n <= 0:
            continue
        if first:
            parts.append(_term(cur, inc, n))
            first = False
        else:
            parts.append(_term(cur + inc, inc, n - 1))
        cur += inc * n
    if first:
        parts.append(_v(cur))
    return " ".join(parts)


def levels(pairs: Sequence[tuple[float, int]]) -> str:
    """promtool values of a gauge holding each value for the given number of samples."""
    return " ".join(f"{_v(v)}+0x{k - 1}" for v, k in pairs if k > 0)


def const(value: float, n: int) -> str:
    return f"{_v(value)}+0x{n}"


def steps(duration: float, step: float) -> int:
    return math.ceil(duration / step - 1e-9)


def pick_step(*windows: float, cap: float = MINUTE) -> float:
    """A sample interval giving every window at least five samples (at most ``cap``, at least 1 s)."""
    return float(max(1, min(cap, int(min(windows) / 5))))


@dataclass
class Case:
    """One promtool test: its inputs, and what is expected of one alert (and optionally of recording rules)."""

    name: str
    step: float
    eval_steps: int
    input_series: list[tuple[str, str]]
    alertname: str
    exp_alerts: list[dict[str, Any]]
    exprs: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)
    # More alert checks at other times (eval step, expected alerts): an alert that must keep firing, then resolve.
    checks: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        test: dict[str, Any] = {
            "name": self.name,
            "interval": dur(self.step),
            "input_series": [{"series": s, "values": v} for s, v in self.input_series],
            "alert_rule_test": [
                {
                    "eval_time": dur(self.eval_steps * self.step),
                    "alertname": self.alertname,
                    "exp_alerts": self.exp_alerts,
                }
            ]
            + [
                {"eval_time": dur(at * self.step), "alertname": self.alertname, "exp_alerts": exp}
                for at, exp in self.checks
            ],
        }
        if self.exprs:
            test["promql_expr_test"] = [
                {
                    "expr": expr,
                    "eval_time": dur(self.eval_steps * self.step),
                    "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
                }
                for expr, samples in self.exprs
            ]
        return test


class Ctx:
    """The settings plus shortcuts used by every test builder."""

    def __init__(self, s: BundleConfig) -> None:
        self.s = s
        self.job = {"job": s.prometheus.job}
        self.inst = {**self.job, "instance": s.prometheus.exporter_targets[0]}
        self.alerts = alert_rules(s, include_disabled=True)

    def replicas(self, count: int) -> list[dict[str, str]]:
        """job and instance labels of ``count`` exporter replicas (the first is the configured target)."""
        host, _, port = self.s.prometheus.exporter_targets[0].rpartition(":")
        return [self.inst] + [{**self.job, "instance": f"{host}-{i + 1}:{port}"} for i in range(1, count)]

    def alert(self, name: str, key: str = "") -> AlertRule:
        found = [a for a in self.alerts if a.name == name and (not key or a.key == key)]
        if len(found) != 1:
            raise LookupError(f"expected one {name} rule with key {key!r}, found {len(found)}")
        return found[0]

    def expect(self, alert: AlertRule, labels: dict[str, str], value: float) -> dict[str, Any]:
        """An ``exp_alerts`` entry: the alert's labels and its annotations as Prometheus will render them."""
        full = {**labels, "severity": alert.severity, **alert.labels}
        rendered = {"alertname": alert.name, **full}
        annotations = {k: expand(v, rendered, value) for k, v in alert.annotations(self.s).items()}
        return {"exp_labels": full, "exp_annotations": annotations}

    def for_(self, name: str) -> float:
        return float(getattr(self.s.alert_for, name, 0) or 0)


def _eval_steps(step: float, *durations: float, extra: int = 3) -> int:
    return steps(sum(durations), step) + extra


# --- API alerts -------------------------------------------------------------------------------------------------
def _ratio_counts(threshold: float) -> tuple[int, int, int]:
    """Calls per step and error counts per step just over (x1.2) and just under the threshold."""
    total = 10 ** max(3, math.ceil(-math.log10(threshold)) + 2)
    over = min(total, max(math.floor(threshold * total) + 1, round(threshold * total * 1.2)))
    under = math.ceil(threshold * total) - 1
    return total, over, under


def cumulative(increments: Sequence[float], start: float = 0.0) -> str:
    """promtool values of a counter that grows by each increment in turn (one sample per increment, after
    ``start``)."""
    values = [start]
    for inc in increments:
        values.append(values[-1] + inc)
    return " ".join(_v(v) for v in values)


def _traffic_series(
    ctx: Ctx, errors: Sequence[int], totals: Sequence[int], labels: dict[str, str] = PSM
) -> list[tuple[str, str]]:
    """API call counters with ``errors[i]`` failed and ``totals[i]`` calls in step i (counters from 0)."""
    name = contract.API_CALLS.name
    return [
        (series(name, {**ctx.inst, **labels, "outcome": "error"}), cumulative(errors)),
        (
            series(name, {**ctx.inst, **labels, "outcome": "success"}),
            cumulative([t - e for e, t in zip(errors, totals, strict=True)]),
        ),
    ]


@dataclass
class AlertTimeline:
    """What Prometheus does with a ratio alert at every evaluation step: (firing, value shown) per step."""

    firing: list[bool]
    values: list[float | None]
    condition: list[bool]


def simulate_ratio_alert(
    errors: Sequence[int],
    totals: Sequence[int],
    *,
    step: float,
    window: float,
    threshold: float,
    min_calls: int,
    for_: float,
    keep_firing_for: float,
) -> AlertTimeline:
    """Evaluate ``errors/calls over window > threshold and calls over window >= min_calls`` at every step the way
    Prometheus 2.42 does (samples at whole steps, so rate() ratios are exact), with ``for`` and ``keep_firing_for``.
    The value an alert shows while kept firing is the last value its condition had."""
    cum_e, cum_n = [0], [0]
    for e, t in zip(errors, totals, strict=True):
        cum_e.append(cum_e[-1] + e)
        cum_n.append(cum_n[-1] + t)
    k = round(window / step)
    firing: list[bool] = [False]
    values: list[float | None] = [None]
    condition = [False]
    active_since: int | None = None
    last_true: int | None = None
    shown: float | None = None
    is_firing = False
    for i in range(1, len(cum_e)):
        j = max(0, i - k)
        calls = cum_n[i] - cum_n[j]
        # rate() * window: extrapolated to the whole window while the series is younger than it.
        calls_in_window = calls * (window / ((i - j) * step))
        ratio = (cum_e[i] - cum_e[j]) / calls if calls else None
        cond = ratio is not None and ratio > threshold and calls_in_window >= min_calls
        if ratio is not None and cond and abs(ratio - threshold) < threshold * 0.02:
            raise ValueError("scenario too close to the threshold")
        if cond:
            active_since = i if active_since is None else active_since
            last_true, shown = i, ratio
            is_firing = is_firing or (i - active_since) * step >= for_
        elif is_firing and last_true is not None and (i - last_true - 1) * step < keep_firing_for:
            pass  # kept firing
        else:
            active_since, is_firing = None, False
        firing.append(is_firing)
        values.append(shown if is_firing else None)
        condition.append(cond)
    return AlertTimeline(firing, values, condition)


def _calls_series(ctx: Ctx, errors: int, total: int, n: int, labels: dict[str, str] = PSM) -> list[tuple[str, str]]:
    name = contract.API_CALLS.name
    return [
        (series(name, {**ctx.inst, **labels, "outcome": "error"}), ramp([(n, errors)])),
        (series(name, {**ctx.inst, **labels, "outcome": "success"}), ramp([(n, total - errors)])),
    ]


def t_high_error_rate(ctx: Ctx) -> list[Case]:
    a = ctx.s.api
    alert = ctx.alert("LLMAPIHighErrorRate")
    step = pick_step(a.error_ratio_window)
    n = _eval_steps(step, a.error_ratio_window, alert.for_ or 0)
    total, over, under = _ratio_counts(a.error_ratio)
    rec = Names.errors_ratio(a.error_ratio_window)
    labels = {**ctx.job, **PSM}
    return [
        Case(
            f"fires at {over / total:.2%} errors (threshold {a.error_ratio:.2%})",
            step,
            n,
            _calls_series(ctx, over, total, n),
            alert.name,
            [ctx.expect(alert, labels, over / total)],
            [(f"round({rec} * {total})", [(series("", labels), over)])],
        ),
        Case(
            f"quiet at {under / total:.2%} errors, just under the threshold",
            step,
            n,
            _calls_series(ctx, under, total, n),
            alert.name,
            [],
            [(f"round({rec} * {total})", [(series("", labels), under)])],
        ),
        Case(
            "quiet and the ratio reads 0 when no call failed (no error series at all)",
            step,
            n,
            [(series(contract.API_CALLS.name, {**ctx.inst, **PSM, "outcome": "success"}), ramp([(n, total)]))],
            alert.name,
            [],
            [(f"round({rec} * {total})", [(series("", labels), 0)])],
        ),
    ]


#: 14 calls and 2 errors in every 5 minutes: a 14 % error ratio on too few calls to mean anything.
LOW_TRAFFIC_CALLS = (3, 3, 3, 3, 2)
LOW_TRAFFIC_ERRORS = (1, 0, 1, 0, 0)
#: A steady 8 % fault at 20 calls a minute, with the ups and downs of real traffic: 24 errors in 300 calls every
#: 15 minutes, bunched so that some 5-minute windows read well under 5 %.
FLAP_CALLS = 20
FLAP_ERRORS = (3, 3, 2, 3, 3, 0, 1, 0, 1, 2, 2, 1, 1, 1, 1)


def t_high_error_rate_low_traffic(ctx: Ctx) -> list[Case]:
    """The minimum-traffic guard and keep_firing_for, on the ratio alert where users met them first."""
    a = ctx.s.api
    alert = ctx.alert("LLMAPIHighErrorRate")
    step = MINUTE
    if a.error_ratio_window % step or a.error_ratio_window / step < 2:
        return []
    f = alert.for_ or 0
    cases = []
    # 1. Low traffic: every window holds 14 calls with 2 errors.
    per_window = round(a.error_ratio_window / step)
    calls = [LOW_TRAFFIC_CALLS[i % len(LOW_TRAFFIC_CALLS)] for i in range(per_window * 3 + steps(f, step))]
    errors = [LOW_TRAFFIC_ERRORS[i % len(LOW_TRAFFIC_ERRORS)] for i in range(len(calls))]
    in_window = sum(calls[-per_window:])
    if in_window < a.min_calls and sum(errors[-per_window:]) / in_window > a.error_ratio:
        cases.append(
            Case(
                f"quiet at low traffic: {sum(errors[-per_window:])} errors in {in_window} calls per "
                f"{dur(a.error_ratio_window)} (under api.min_calls {a.min_calls})",
                step,
                len(calls),
                _traffic_series(ctx, errors, calls),
                alert.name,
                [],
            )
        )
    # 2. A steady 8 % fault at 20 calls a minute: fires once, keeps firing through its dips, resolves once after.
    clean = per_window + 1
    fault = len(FLAP_ERRORS) * 3
    healed = steps(a.error_ratio_window + a.keep_firing_for, step) + 3
    errors = [0] * clean + [FLAP_ERRORS[i % len(FLAP_ERRORS)] for i in range(fault)] + [0] * healed
    calls = [FLAP_CALLS] * len(errors)
    try:
        sim = simulate_ratio_alert(
            errors,
            calls,
            step=step,
            window=a.error_ratio_window,
            threshold=a.error_ratio,
            min_calls=a.min_calls,
            for_=f,
            keep_firing_for=a.keep_firing_for,
        )
    except ValueError:
        return cases
    end = clean + fault
    first = next((i for i in range(clean, end + 1) if sim.firing[i]), None)
    dips = [i for i in range(first or end, end + 1) if not sim.condition[i]]
    stays = first is not None and all(sim.firing[first : end + 1])
    resolved = next((i for i in range(end, len(sim.firing)) if not sim.firing[i]), None)
    if first is None or not dips or not stays or resolved is None:
        return cases  # these settings make the scenario meaningless (no dip, or no firing at all)
    labels = {**ctx.job, **PSM}

    def firing_at(i: int) -> tuple[int, list[dict[str, Any]]]:
        value = sim.values[i]
        assert value is not None
        return i, [ctx.expect(alert, labels, value)]

    deepest = dips[len(dips) // 2]
    cases.append(
        Case(
            f"a steady {sum(FLAP_ERRORS) / (FLAP_CALLS * len(FLAP_ERRORS)):.0%} fault at {FLAP_CALLS} calls a minute "
            f"fires once at {dur(first * step)}, keeps firing while its {dur(a.error_ratio_window)} ratio dips under "
            f"{a.error_ratio:.0%} ({dur(deepest * step)}), and resolves once, {dur((resolved - end) * step)} after "
            "the fault is healed",
            step,
            len(errors),
            _traffic_series(ctx, errors, calls),
            alert.name,
            [],
            checks=[
                (first - 1, []),
                firing_at(first),
                firing_at(deepest),
                firing_at(end),
                firing_at(resolved - 1),
                (resolved, []),
            ],
        )
    )
    return cases


def t_burn_low_traffic(ctx: Ctx) -> list[Case]:
    """A fresh series with 2 errors in 14 calls (a few calls a minute, for 5 minutes) pages nothing."""
    slo = ctx.s.slo
    step = MINUTE
    burst = [LOW_TRAFFIC_CALLS[i % len(LOW_TRAFFIC_CALLS)] for i in range(5)]
    errs = [LOW_TRAFFIC_ERRORS[i % len(LOW_TRAFFIC_ERRORS)] for i in range(5)]
    if sum(burst) >= ctx.s.api.min_calls:
        return []
    ratio = sum(errs) / sum(burst)
    budget = 1 - slo.objective
    # Long enough for the for: of every pair whose threshold the ratio passes (it would fire without the guard).
    passing = [w for w in slo.windows if ratio > w.factor * budget and w.for_ + 5 * step <= w.short]
    if not passing:
        return []
    n = 5 + steps(max(w.for_ for w in passing), step) + 3
    calls = burst + [0] * (n - 5)
    errors = errs + [0] * (n - 5)
    return [
        Case(
            f"quiet on a fresh series with {sum(errs)} errors in {sum(burst)} calls ({ratio:.0%}, over the "
            f"{', '.join(f'{w.factor * budget:.1%}' for w in passing)} burn thresholds, but under api.min_calls "
            f"{ctx.s.api.min_calls} in the long window)",
            step,
            n,
            _traffic_series(ctx, errors, calls),
            "LLMAPIErrorBudgetBurn",
            [],
        )
    ]


def _histogram(
    ctx: Ctx, family: contract.Family, per_step: dict[float, int], n: int, labels: dict[str, str] = PSM
) -> list[tuple[str, str]]:
    """Histogram series where each step adds ``per_step[value]`` observations of each value."""
    out = []
    for bound in (*family.buckets, math.inf):
        count = sum(k for v, k in per_step.items() if v <= bound)
        le = "+Inf" if math.isinf(bound) else floatToGoString(bound)
        out.append((series(f"{family.name}_bucket", {**ctx.inst, **labels, "le": le}), ramp([(n, count)])))
    total = sum(per_step.values())
    out.append((series(f"{family.name}_count", {**ctx.inst, **labels}), ramp([(n, total)])))
    out.append(
        (series(f"{family.name}_sum", {**ctx.inst, **labels}), ramp([(n, sum(v * k for v, k in per_step.items()))]))
    )
    return out


def _bucket_around(bounds: Sequence[float], threshold: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(lower, upper) of the bucket just above the threshold (lower >= threshold) and just under it (upper <=)."""
    edges = (0.0, *bounds)
    above = next((lo, hi) for lo, hi in itertools.pairwise(edges) if lo >= threshold)
    below = [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi <= threshold][-1]
    return above, below


def t_latency(ctx: Ctx) -> list[Case]:
    a = ctx.s.api
    alert = ctx.alert("LLMAPIHighLatencyP99")
    step = pick_step(a.latency_window)
    n = _eval_steps(step, a.latency_window, alert.for_ or 0)
    q = a.latency_quantile
    (flo, fhi), (qlo, qhi) = _bucket_around(contract.API_CALL_DURATION.buckets, a.latency_threshold_seconds)
    per = 100
    rate = per * (a.latency_window / step) / a.latency_window
    fire_value = flo + (fhi - flo) * ((q * rate) / rate)
    quiet_value = qlo + (qhi - qlo) * ((q * rate) / rate)
    labels = {**ctx.job, **PSM, "quantile": f"{q:.10g}"}
    fam = contract.API_CALL_DURATION
    rec = Names.latency_quantile(a.latency_window)
    return [
        Case(
            f"fires when every call takes {flo:g}-{fhi:g}s (P{q * 100:g} {fire_value:.3g}s > "
            f"{a.latency_threshold_seconds:g}s)",
            step,
            n,
            [*_histogram(ctx, fam, {(flo + fhi) / 2: per}, n), *_calls_series(ctx, 0, per, n)],
            alert.name,
            [ctx.expect(alert, labels, fire_value)],
            [(f'round({rec}{{quantile="{q:.10g}"}} * 1000)', [(series("", labels), round(fire_value * 1000))])],
        ),
        Case(
            f"quiet when every call takes {qlo:g}-{qhi:g}s (P{q * 100:g} {quiet_value:.4g}s, just under)",
            step,
            n,
            [*_histogram(ctx, fam, {(qlo + qhi) / 2: per}, n), *_calls_series(ctx, 0, per, n)],
            alert.name,
            [],
        ),
    ]


def _burn_expected(ctx: Ctx, ratio: float) -> list[AlertRule]:
    budget = 1 - ctx.s.slo.objective
    return [
        ctx.alert("LLMAPIErrorBudgetBurn", f"{w.severity}-{dur(w.long)}-{dur(w.short)}")
        for w in ctx.s.slo.windows
        if ratio > w.factor * budget
    ]


def _simulate_burn(ctx: Ctx, errors: list[int], totals: list[int], step: float, lag: int) -> set[str]:
    """Which burn-rate rules fire at the last sample, evaluating every step like Prometheus (counters from 0,
    samples at whole steps: rate() ratios are exact). ``lag`` delays what the alerts see by that many steps."""
    cum_e = [0]
    cum_n = [0]
    for e, t in zip(errors, totals, strict=True):
        cum_e.append(cum_e[-1] + e)
        cum_n.append(cum_n[-1] + t)
    budget = 1 - ctx.s.slo.objective

    def ratio(i: int, window: float) -> float | None:
        j = max(0, i - round(window / step))
        dn = cum_n[i] - cum_n[j]
        return None if dn == 0 else (cum_e[i] - cum_e[j]) / dn

    fired = set()
    last = len(cum_e) - 1
    for w in ctx.s.slo.windows:
        thr = w.factor * budget
        active_since = None
        for i in range(1, last + 1):
            k = max(0, i - lag)
            rl, rs = ratio(k, w.long), ratio(k, w.short)
            cond = k > 0 and rl is not None and rs is not None and rl > thr and rs > thr
            for r in (rl, rs):
                if r is not None and abs(r - thr) < thr * 0.02:
                    raise ValueError("burst scenario too close to a threshold")
            active_since = (i if active_since is None else active_since) if cond else None
        if active_since is not None and (last - active_since) * step >= w.for_:
            fired.add(f"{w.severity}-{dur(w.long)}-{dur(w.short)}")
    return fired


def t_burn(ctx: Ctx) -> list[Case]:
    slo = ctx.s.slo
    budget = 1 - slo.objective
    step = pick_step(*(w.short for w in slo.windows))
    n = _eval_steps(step, max(w.for_ for w in slo.windows), extra=4)
    total = 10000
    labels = {**ctx.job, **PSM}
    cases = []
    for severity in ("critical", "warning"):
        pairs = [w for w in slo.windows if w.severity == severity]
        if not pairs:
            continue
        low = min(w.factor * budget for w in pairs)
        for kind, ratio in (("fires", min(0.99, low * 1.1)), ("quiet", low * 0.97)):
            errors = round(ratio * total)
            expected = _burn_expected(ctx, errors / total)
            what = (
                f"{kind} for {severity} at {errors / total:.2%} errors "
                f"({'over' if kind == 'fires' else 'just under'} {low:.2%} = the lowest {severity} burn)"
            )
            cases.append(
                Case(
                    what,
                    step,
                    n,
                    _calls_series(ctx, errors, total, n),
                    "LLMAPIErrorBudgetBurn",
                    [ctx.expect(a, labels, errors / total) for a in expected],
                )
            )
    burst = _burst_case(ctx, step, total, labels)
    if burst:
        cases.append(burst)
    return cases


def _burst_case(ctx: Ctx, step: float, total: int, labels: dict[str, str]) -> Case | None:
    """A 100 % error burst long enough for the fastest page's short window but too short for its long window:
    the multi-window design must not page (the case is left out when the settings make that impossible)."""
    slo = ctx.s.slo
    budget = 1 - slo.objective
    critical = sorted((w for w in slo.windows if w.severity == "critical"), key=lambda w: w.long)
    if not critical:
        return None
    fast = critical[0]
    thr = fast.factor * budget
    burst = steps(fast.long * thr * 0.9, step)
    if (burst - 1) * step < fast.for_ + step or burst < 2:
        return None
    clean = steps(max(w.long for w in critical), step)
    errors = [0] * clean + [total] * burst
    totals = [total] * (clean + burst)
    try:
        fired = _simulate_burn(ctx, errors, totals, step, 0)
        if fired != _simulate_burn(ctx, errors, totals, step, 1):
            return None
    except ValueError:
        return None
    if f"critical-{dur(fast.long)}-{dur(fast.short)}" in fired:
        return None
    n = clean + burst
    name = contract.API_CALLS.name
    inputs = [
        (series(name, {**ctx.inst, **PSM, "outcome": "error"}), ramp([(clean, 0), (burst, total)])),
        (series(name, {**ctx.inst, **PSM, "outcome": "success"}), ramp([(clean, total), (burst, 0)])),
    ]
    exp = []
    for key in sorted(fired):
        w = next(w for w in slo.windows if f"{w.severity}-{dur(w.long)}-{dur(w.short)}" == key)
        j = max(0, n - steps(w.long, step))
        errs = sum(errors[j:n])
        exp.append(ctx.expect(ctx.alert("LLMAPIErrorBudgetBurn", key), labels, errs / (total * (n - j))))
    return Case(
        f"no page for a burst of 100% errors lasting {dur(burst * step)} after {dur(clean * step)} of clean "
        f"traffic: the {dur(fast.short)} window burns longer than for: {dur(fast.for_)}, but the "
        f"{dur(fast.long)} window stays under {thr:.2%}",
        step,
        n,
        inputs,
        "LLMAPIErrorBudgetBurn",
        exp,
    )


def t_rate_limited(ctx: Ctx) -> list[Case]:
    a = ctx.s.api
    alert = ctx.alert("LLMAPIRateLimited")
    step = pick_step(a.rate_limited_window)
    n = _eval_steps(step, a.rate_limited_window, alert.for_ or 0)
    total, over, under = _ratio_counts(a.rate_limited_ratio)
    labels = {**ctx.job, **PSM}

    def inputs(k: int) -> list[tuple[str, str]]:
        codes = series(contract.ERROR_CODES.name, {**ctx.inst, **PSM, "code": "429", "error_type": "rate_limit_error"})
        return [*_calls_series(ctx, k, total, n), (codes, ramp([(n, k)]))]

    rec = Names.rate_limited_ratio(a.rate_limited_window)
    return [
        Case(
            f"fires when {over / total:.2%} of calls get 429 (threshold {a.rate_limited_ratio:.2%})",
            step,
            n,
            inputs(over),
            alert.name,
            [ctx.expect(alert, labels, over / total)],
            [(f"round({rec} * {total})", [(series("", labels), over)])],
        ),
        Case(f"quiet at {under / total:.2%} 429s, just under", step, n, inputs(under), alert.name, []),
    ]


def t_auth(ctx: Ctx) -> list[Case]:
    a = ctx.s.api
    alert = ctx.alert("LLMAPIAuthFailure")
    f = alert.for_ or 0
    step = pick_step(a.auth_failure_window)
    n = _eval_steps(step, a.auth_failure_window, f)
    code = {**ctx.inst, **PSM, "code": "401", "error_type": "invalid_api_key"}
    per_window = a.auth_failure_window / step
    cases = [
        Case(
            "fires when every probe is refused with 401 (a dead key)",
            step,
            n,
            [*_calls_series(ctx, 1, 1, n), (series(contract.ERROR_CODES.name, code), ramp([(n, 1)]))],
            alert.name,
            [ctx.expect(alert, {**ctx.job, **PSM, "code": "401"}, per_window)],
        ),
        Case(
            "quiet when no call is refused",
            step,
            n,
            [*_calls_series(ctx, 0, 1, n), (series(contract.ERROR_CODES.name, code), ramp([(n, 0)]))],
            alert.name,
            [],
        ),
    ]
    if a.auth_failure_window < f:
        blip = n - steps(f, step) - 2
        cases.append(
            Case(
                f"quiet after a single 401 (it leaves the {dur(a.auth_failure_window)} window before for: {dur(f)})",
                step,
                n,
                [(series(contract.ERROR_CODES.name, code), ramp([(blip, 0), (1, 1), (n - blip - 1, 0)]))],
                alert.name,
                [],
            )
        )
    return cases


def _down_cases(
    ctx: Ctx, alert: AlertRule, family: contract.Family, labels: dict[str, str], what: str, *, per_replica: bool = True
) -> list[Case]:
    """Fires when a 0/1 gauge stays 0 longer than for:, quiet when it recovers just before. A ``per_replica``
    alert keeps the instance label; otherwise the alert is about all replicas together (no instance)."""
    f = alert.for_ or 0
    step = pick_step(f, cap=MINUTE)
    n = _eval_steps(step, f, extra=6)
    short = steps(f, step) - 2
    name = series(family.name, {**ctx.inst, **labels})
    return [
        Case(
            f"fires when {what} for longer than {dur(f)}",
            step,
            n,
            [(name, levels([(1, 3), (0, n - 2)]))],
            alert.name,
            [ctx.expect(alert, {**(ctx.inst if per_replica else ctx.job), **labels}, 0)],
        ),
        Case(
            f"quiet when {what} for {dur(short * step)} only, less than for: {dur(f)}",
            step,
            n,
            [(name, levels([(1, n + 1 - short), (0, short)]))],
            alert.name,
            [],
        ),
    ]


def t_probe(ctx: Ctx) -> list[Case]:
    return _down_cases(
        ctx, ctx.alert("LLMAPIProbeFailing"), contract.PROBE_SUCCESS, PSM, "every probe fails", per_replica=False
    )


def t_slow(ctx: Ctx) -> list[Case]:
    a = ctx.s.api
    alert = ctx.alert("LLMAPISlowCalls")
    step = pick_step(a.slow_call_window)
    n = _eval_steps(step, a.slow_call_window, alert.for_ or 0)
    total, over, under = _ratio_counts(a.slow_call_ratio)
    bounds = contract.API_CALL_DURATION.buckets
    fast_value = bounds[0] / 2
    idx = bounds.index(a.slow_call_seconds)
    slow_value = (bounds[idx] + bounds[idx + 1]) / 2 if idx + 1 < len(bounds) else bounds[idx] * 2
    labels = {**ctx.job, **PSM}
    rec = Names.slow_ratio(a.slow_call_window)

    def inputs(k: int) -> list[tuple[str, str]]:
        return [
            *_histogram(ctx, contract.API_CALL_DURATION, {fast_value: total - k, slow_value: k}, n),
            *_calls_series(ctx, 0, total, n),
        ]

    return [
        Case(
            f"fires when {over / total:.2%} of calls take over {a.slow_call_seconds:g}s (threshold "
            f"{a.slow_call_ratio:.2%})",
            step,
            n,
            inputs(over),
            alert.name,
            [ctx.expect(alert, labels, over / total)],
            [(f"round({rec} * {total})", [(series("", labels), over)])],
        ),
        Case(f"quiet when {under / total:.2%} of calls are slow, just under", step, n, inputs(under), alert.name, []),
    ]


def t_headroom(ctx: Ctx) -> list[Case]:
    a = ctx.s.api
    alert = ctx.alert("LLMRateLimitHeadroomLow")
    f = alert.for_ or 0
    step = pick_step(f)
    n = _eval_steps(step, f)
    limit = 10000
    low = math.floor(a.ratelimit_headroom_ratio * limit * 0.9)
    ok = math.ceil(a.ratelimit_headroom_ratio * limit * 1.01)
    labels = {**PSM, "resource": "requests"}

    def inputs(remaining: int) -> list[tuple[str, str]]:
        return [
            (series(contract.RATELIMIT_LIMIT.name, {**ctx.inst, **labels}), const(limit, n)),
            (series(contract.RATELIMIT_REMAINING.name, {**ctx.inst, **labels}), const(remaining, n)),
        ]

    return [
        Case(
            f"fires with {low / limit:.2%} of the limit left (threshold {a.ratelimit_headroom_ratio:.2%})",
            step,
            n,
            inputs(low),
            alert.name,
            [ctx.expect(alert, {**ctx.job, **labels}, low / limit)],
        ),
        Case(f"quiet with {ok / limit:.2%} left, just above", step, n, inputs(ok), alert.name, []),
    ]


def t_tls(ctx: Ctx) -> list[Case]:
    a = ctx.s.api
    warn, crit = ctx.alert("LLMTLSCertExpiringSoon", "warning"), ctx.alert("LLMTLSCertExpiringSoon", "critical")
    f = warn.for_ or 0
    step = pick_step(f)
    n = _eval_steps(step, f)
    t_end = n * step
    labels = {"provider": "openai", "source": "openai-probe"}
    name = series(contract.TLS_CERT_EXPIRY.name, {**ctx.inst, **labels})

    def case(what: str, left: float) -> Case:
        left = float(round(left))
        expected = [
            ctx.expect(x, {**ctx.job, **labels}, left)
            for x, limit in ((warn, a.tls_expiry_warning), (crit, a.tls_expiry_critical))
            if left < limit
        ]
        return Case(
            f"{what} ({dur(left)} left)", step, n, [(name, const(t_end + left, n))], "LLMTLSCertExpiringSoon", expected
        )

    return [
        case(f"warning fires under {dur(a.tls_expiry_warning)}", (a.tls_expiry_warning + a.tls_expiry_critical) / 2),
        case(f"quiet just over {dur(a.tls_expiry_warning)}", a.tls_expiry_warning * 1.05),
        case(
            f"critical fires under {dur(a.tls_expiry_critical)} (the warning too; Alertmanager mutes it)",
            a.tls_expiry_critical / 2,
        ),
        case(f"critical quiet just over {dur(a.tls_expiry_critical)} (warning only)", a.tls_expiry_critical * 1.05),
    ]


# --- cost alerts ------------------------------------------------------------------------------------------------
def _scopes(ctx: Ctx) -> list[tuple[str, float, list[str]]]:
    """(key, budget, providers whose cost series the test feeds) per budget scope. The total scope is fed by
    providers without a budget of their own, so a case tests one scope at a time where it can."""
    b = ctx.s.budget
    out: list[tuple[str, float, list[str]]] = []
    if b.monthly_budget_usd:
        free = [
            p
            for p in (
                "openai",
                "anthropic",
                "deepseek",
                "moonshot",
                "openrouter",
                "siliconflow",
                "provider-a",
                "provider-b",
            )
            if p not in b.provider_budgets_usd
        ]
        out.append(("total", b.monthly_budget_usd, free[:2]))
    for provider, amount in sorted(b.provider_budgets_usd.items()):
        out.append((provider, amount, [provider]))
    return out


def _cost_inputs(
    ctx: Ctx, providers: list[str], amount: float, n: int, start: int = 0, replicas: int = 1
) -> list[tuple[str, str]]:
    """Month-to-date cost series of ``providers`` sharing ``amount``, each reported by ``replicas`` exporters."""
    share = round(amount / len(providers), 2)
    out = []
    for provider, instance in itertools.product(providers, ctx.replicas(replicas)):
        labels = {
            "provider": provider,
            "source": f"{provider}-usage",
            "project": "proj_demo",
            "line_item": "gpt-4o, input",
        }
        out.append(
            (
                series(contract.COST_USD.name, {**instance, **labels}),
                (f"_x{start} " if start else "") + const(share, n - start),
            )
        )
    return out


def _budget_expected(
    ctx: Ctx, name: str, providers: list[str], amount: float, elapsed: float | None = None
) -> list[dict[str, Any]]:
    """What every budget scope of ``name`` says when ``providers`` share ``amount`` of spend this month."""
    b = ctx.s.budget
    share = round(amount / len(providers), 2)
    spend = {p: share for p in providers}
    ratio = b.burn_high_ratio if name == "LLMBudgetBurnHigh" else 1.0
    out = []
    for key, budget, _ in _scopes(ctx):
        value = sum(spend.values()) if key == "total" else spend.get(key, 0.0)
        if elapsed is not None:
            value = value / elapsed
        hit = value > budget if name == "LLMBudgetForecastExceeded" else value >= ratio * budget
        if hit:
            out.append(ctx.expect(ctx.alert(name, key), {} if key == "total" else {"provider": key}, value))
    return out


def t_budget(ctx: Ctx, name: str) -> list[Case]:
    b = ctx.s.budget
    cases = []
    for key, amount, providers in _scopes(ctx):
        alert = ctx.alert(name, key)
        f = alert.for_ or 0
        step = pick_step(f)
        n = _eval_steps(step, f)
        limit = amount * (b.burn_high_ratio if name == "LLMBudgetBurnHigh" else 1)
        over, under = round(limit * 1.01, 2), round(limit * 0.99, 2)
        what = "the monthly budget" if name == "LLMBudgetExceeded" else f"{b.burn_high_ratio:.0%} of the budget"
        labels = {} if key == "total" else {"provider": key}
        mtd = Names.COST_MTD_TOTAL if key == "total" else f'{Names.COST_MTD_PROVIDER}{{provider="{key}"}}'
        cases += [
            Case(
                f"{key}: fires at ${over:,.2f} this month (over {what}, ${limit:,.2f})",
                step,
                n,
                _cost_inputs(ctx, providers, over, n),
                name,
                _budget_expected(ctx, name, providers, over),
                [(f"round({mtd} * 100)", [(series("", labels), round(over * 100))])],
            ),
            Case(
                f"{key}: quiet at ${under:,.2f}, just under",
                step,
                n,
                _cost_inputs(ctx, providers, under, n),
                name,
                _budget_expected(ctx, name, providers, under),
            ),
            Case(
                f"{key}: two exporter replicas both reporting ${under:,.2f} stay quiet (deduplicated, not summed "
                f"to ${2 * under:,.2f})",
                step,
                n,
                _cost_inputs(ctx, providers, under, n, replicas=2),
                name,
                _budget_expected(ctx, name, providers, under),
                [(f"round({mtd} * 100)", [(series("", labels), round(under * 100))])],
            ),
            Case(
                f"{key}: two exporter replicas both reporting ${over:,.2f} fire once, at ${over:,.2f}",
                step,
                n,
                _cost_inputs(ctx, providers, over, n, replicas=2),
                name,
                _budget_expected(ctx, name, providers, over),
            ),
        ]
    return cases


def t_forecast(ctx: Ctx) -> list[Case]:
    b = ctx.s.budget
    name = "LLMBudgetForecastExceeded"
    cases = []
    for key, amount, providers in _scopes(ctx):
        alert = ctx.alert(name, key)
        f = alert.for_ or 0
        step = float(max(1, min(1800, int(f / 4), int(b.forecast_min_elapsed / 4))))  # only for: needs resolving
        n = _eval_steps(step, b.forecast_min_elapsed, f)
        t_end = n * step
        # promtool starts at 1970-01-01 00:00 UTC: January, 31 days; the rule counts at least one hour elapsed.
        elapsed = max(t_end, 3600) / (31 * 86400)
        start = max(0, n - steps(f, step) - 6)
        fire_mtd = round(amount * elapsed * 1.05, 2)
        quiet_mtd = round(amount * elapsed * 0.97, 2)
        labels = {} if key == "total" else {"provider": key}
        forecast = Names.FORECAST_TOTAL if key == "total" else f'{Names.FORECAST_PROVIDER}{{provider="{key}"}}'
        fire = _budget_expected(ctx, name, providers, fire_mtd, elapsed)
        cases += [
            Case(
                f"{key}: fires when ${fire_mtd:,.2f} after {dur(t_end)} extrapolates over ${amount:,.2f}",
                step,
                n,
                _cost_inputs(ctx, providers, fire_mtd, n, start),
                name,
                fire,
                [
                    (
                        f"round({forecast} * 100)",
                        [
                            (
                                series("", labels),
                                round(round(fire_mtd / len(providers), 2) * len(providers) / elapsed * 100),
                            )
                        ],
                    )
                ],
            ),
            Case(
                f"{key}: quiet when the forecast is just under the budget",
                step,
                n,
                _cost_inputs(ctx, providers, quiet_mtd, n, start),
                name,
                _budget_expected(ctx, name, providers, quiet_mtd, elapsed),
            ),
        ]
        early = steps(b.forecast_min_elapsed, step) - 2
        if early >= 2:
            cases.append(
                Case(
                    f"{key}: quiet before {dur(b.forecast_min_elapsed)} of the month have passed, however "
                    "high the forecast",
                    step,
                    early,
                    _cost_inputs(ctx, providers, round(amount * 0.9, 2), early),
                    name,
                    [],
                )
            )
    return cases


def t_spike(ctx: Ctx) -> list[Case]:
    b = ctx.s.budget
    alert = ctx.alert("LLMSpendSpike")
    f = alert.for_ or 0
    w, base = b.spike_window, b.spike_baseline_window
    step = pick_step(w, cap=3600)
    per_w = w / step
    n = steps(base + 2 * w + f, step) + 2
    spike_start = n - steps(w + f, step) - 2
    labels = {"provider": "openai", "source": "openai-usage"}

    def inputs(daily: float, k: float) -> tuple[list[tuple[str, str]], float]:
        base_inc, spike_inc = daily / per_w, daily * k / per_w
        name = series(
            contract.COST_USD.name, {**ctx.inst, **labels, "project": "proj_demo", "line_item": "gpt-4o, input"}
        )
        return [(name, ramp([(spike_start, base_inc), (n - spike_start, spike_inc)]))], daily * k

    daily = round(2 * b.spike_min_usd / (0.9 * b.spike_factor) + 1, 2)
    fire, fire_value = inputs(daily, b.spike_factor * 2)
    quiet, _ = inputs(daily, b.spike_factor * 0.9)
    cheap_daily = round(b.spike_min_usd / (b.spike_factor * 4), 4)
    cheap, _ = inputs(cheap_daily, b.spike_factor * 2)
    rec = Names.spend(w)
    return [
        Case(
            f"fires when the last {dur(w)} cost {b.spike_factor * 2:g}x the usual ${daily:,.2f}",
            step,
            n,
            fire,
            alert.name,
            [ctx.expect(alert, {**ctx.job, **labels}, fire_value)],
            [(f"round({rec} * 100)", [(series("", {**ctx.job, **labels}), round(fire_value * 100))])],
        ),
        Case(
            f"quiet at {b.spike_factor * 0.9:g}x the usual spend, just under {b.spike_factor:g}x",
            step,
            n,
            quiet,
            alert.name,
            [],
        ),
        Case(f"quiet when the spike costs less than ${b.spike_min_usd:g}", step, n, cheap, alert.name, []),
    ]


def t_unpriced(ctx: Ctx) -> list[Case]:
    b = ctx.s.budget
    alert = ctx.alert("LLMUnpricedUsage")
    f = alert.for_ or 0
    step = pick_step(b.unpriced_window, cap=300)
    n = _eval_steps(step, b.unpriced_window, f)
    labels = {"provider": "openai", "source": "openai-usage", "model": "o9-preview"}
    per = 100
    name = series(contract.UNPRICED_TOKENS.name, {**ctx.inst, **labels, "token_type": "input"})
    return [
        Case(
            "fires while tokens of a model without a price keep arriving",
            step,
            n,
            [(name, ramp([(n, per)]))],
            alert.name,
            [ctx.expect(alert, {**ctx.job, **labels}, per * b.unpriced_window / step)],
        ),
        Case("quiet when no unpriced tokens arrive", step, n, [(name, ramp([(n, 0)], 5000))], alert.name, []),
    ]


# --- balance alerts ---------------------------------------------------------------------------------------------
def t_balance_low(ctx: Ctx) -> list[Case]:
    bal = ctx.s.balance
    cases = []
    for currency, amount in sorted(bal.low.items()):
        alert = ctx.alert("LLMBalanceLow", currency)
        f = alert.for_ or 0
        step = pick_step(f)
        n = _eval_steps(step, f)
        labels = {"provider": "deepseek", "source": "deepseek-balance", "currency": currency, "kind": "total"}
        name = series(contract.BALANCE.name, {**ctx.inst, **labels})
        low, ok = round(amount * 0.99, 2), round(amount * 1.01, 2)
        cases += [
            Case(
                f"fires at {low:g} {currency} (under {amount:g})",
                step,
                n,
                [(name, const(low, n))],
                alert.name,
                [ctx.expect(alert, {**ctx.job, **labels}, low)],
            ),
            Case(f"quiet at {ok:g} {currency}, just over", step, n, [(name, const(ok, n))], alert.name, []),
            Case(
                f"two exporter replicas reporting {low:g} {currency} fire one alert (no instance label)",
                step,
                n,
                [(series(contract.BALANCE.name, {**inst, **labels}), const(low, n)) for inst in ctx.replicas(2)],
                alert.name,
                [ctx.expect(alert, {**ctx.job, **labels}, low)],
            ),
        ]
    if bal.low_usd_fallback:
        alert = ctx.alert("LLMBalanceLow", "usd-fallback")
        f = alert.for_ or 0
        step = pick_step(f)
        n = _eval_steps(step, f)
        other = next(cur for cur in ("EUR", "GBP", "JPY", "HKD", "SGD", "XXX") if cur not in bal.low)
        labels = {"provider": "openrouter", "source": "openrouter-credits", "currency": other, "kind": "total"}
        name = series(contract.BALANCE_USD.name, {**ctx.inst, **labels})
        low, ok = round(bal.low_usd_fallback * 0.99, 2), round(bal.low_usd_fallback * 1.01, 2)
        cases += [
            Case(
                f"{other} (no threshold of its own): fires at ${low:g} converted",
                step,
                n,
                [(name, const(low, n))],
                alert.name,
                [ctx.expect(alert, {**ctx.job, **labels}, low)],
            ),
            Case(f"{other}: quiet at ${ok:g} converted, just over", step, n, [(name, const(ok, n))], alert.name, []),
        ]
    return cases


def t_runway(ctx: Ctx) -> list[Case]:
    bal = ctx.s.balance
    alert = ctx.alert("LLMBalanceRunwayShort")
    f = alert.for_ or 0
    step = pick_step(bal.burn_window, cap=3600)
    n = max(_eval_steps(step, bal.burn_window, f), _eval_steps(step, bal.runway_min_history, f))
    per_day = 100.0
    labels = {"provider": "deepseek", "source": "deepseek-balance", "currency": "CNY"}
    name = series(contract.BALANCE.name, {**ctx.inst, **labels, "kind": "total"})
    held = (f + 3 * step) / 86400
    fire_days = round((bal.runway_days - held) / 2, 2)
    quiet_days = round(bal.runway_days * 1.05, 2)

    def inputs(days: float, rate: float = per_day, missing: int = 0) -> list[tuple[str, str]]:
        drop = rate * step / 86400
        head = f"_x{missing} " if missing else ""
        return [(name, head + ramp([(n - missing, -drop)], days * rate + drop * (n - missing)))]

    out = {**ctx.job, **labels}
    cases = [
        Case(
            f"fires with {fire_days:g} days left at {per_day:g} {labels['currency']}/day (threshold "
            f"{bal.runway_days:g})",
            step,
            n,
            inputs(fire_days),
            alert.name,
            [ctx.expect(alert, out, fire_days)],
            [
                (f"round({Names.BALANCE_BURN})", [(series("", out), per_day)]),
                (f"round({Names.BALANCE_RUNWAY} * 100)", [(series("", out), round(fire_days * 100))]),
            ],
        ),
        Case(f"quiet with {quiet_days:g} days left, just over", step, n, inputs(quiet_days), alert.name, []),
        Case(
            "quiet when the balance is not falling (no burn, no runway)",
            step,
            n,
            [(name, const(500, n))],
            alert.name,
            [],
            [(f"round({Names.BALANCE_BURN})", [(series("", out), 0)])],
        ),
    ]
    young = steps(bal.runway_min_history, step) - 2
    if young >= 3 and young * step > f + 2 * step:
        cases.append(
            Case(
                f"quiet on a balance with {dur(young * step)} of history, under runway_min_history "
                f"{dur(bal.runway_min_history)}",
                step,
                n,
                inputs(fire_days, missing=n - young),
                alert.name,
                [],
            )
        )
    level = bal.runway_levels.get(labels["currency"])
    if level:
        rate = 2 * level / fire_days
        cases.append(
            Case(
                f"quiet with {fire_days:g} days left while the balance is {2 * level:g} {labels['currency']}, over "
                f"the runway level {level:g}",
                step,
                n,
                inputs(fire_days, rate),
                alert.name,
                [],
            )
        )
    return cases


def t_exhausted(ctx: Ctx) -> list[Case]:
    alert = ctx.alert("LLMBalanceExhausted")
    f = alert.for_ or 0
    step = pick_step(f)
    n = _eval_steps(step, f)
    who = {"provider": "deepseek", "source": "deepseek-balance"}
    moon = {"provider": "moonshot", "source": "moonshot-balance", "currency": "CNY", "kind": "total"}
    avail = series(contract.BALANCE_AVAILABLE.name, {**ctx.inst, **who})
    total = series(contract.BALANCE.name, {**ctx.inst, **who, "currency": "CNY", "kind": "total"})
    return [
        Case(
            "fires when the provider says the balance cannot pay (is_available false)",
            step,
            n,
            [(avail, const(0, n)), (total, const(0.3, n))],
            alert.name,
            [ctx.expect(alert, {**ctx.job, **who}, 0)],
        ),
        Case(
            "fires on a negative balance (Moonshot arrears)",
            step,
            n,
            [(series(contract.BALANCE.name, {**ctx.inst, **moon}), const(-12.5, n))],
            alert.name,
            [ctx.expect(alert, {**ctx.job, **moon}, -12.5)],
        ),
        Case(
            "quiet with a small positive balance that can still pay",
            step,
            n,
            [(avail, const(1, n)), (total, const(0.3, n))],
            alert.name,
            [],
        ),
    ]


def t_plan_quota(ctx: Ctx) -> list[Case]:
    alert = ctx.alert("LLMPlanQuotaLow")
    p = ctx.s.plan
    f = alert.for_ or 0
    step = pick_step(f)
    n = _eval_steps(step, f)
    end = n * step  # the evaluation time: time() there
    who = {"provider": "minimax", "source": "minimax-plan", "quota": "MiniMax-M2", "window": "interval"}
    low = round(p.quota_low_ratio / 2, 6)
    above = round(min(0.99, p.quota_low_ratio * 1.5), 6)
    ratio = series(contract.PLAN_QUOTA_REMAINING_RATIO.name, {**ctx.inst, **who})
    reset = series(contract.PLAN_QUOTA_RESET.name, {**ctx.inst, **who})
    second_replica = {**ctx.inst, "instance": "replica-2:9877"}
    far, soon = end + p.quiet_before_reset * 4, end + p.quiet_before_reset / 2
    labels = {**ctx.job, **who}
    return [
        Case(
            f"fires at {low:.1%} left with the reset hours away",
            step,
            n,
            [(ratio, const(low, n)), (reset, const(far, n))],
            alert.name,
            [ctx.expect(alert, labels, low)],
        ),
        Case(
            "one alert however many replicas report the quota",
            step,
            n,
            [
                (ratio, const(low, n)),
                (reset, const(far, n)),
                (series(contract.PLAN_QUOTA_REMAINING_RATIO.name, {**second_replica, **who}), const(low, n)),
                (series(contract.PLAN_QUOTA_RESET.name, {**second_replica, **who}), const(far, n)),
            ],
            alert.name,
            [ctx.expect(alert, labels, low)],
        ),
        Case(
            "fires when the provider announces no reset time",
            step,
            n,
            [(ratio, const(low, n))],
            alert.name,
            [ctx.expect(alert, labels, low)],
        ),
        Case(
            f"quiet at {above:.1%} left, over the threshold",
            step,
            n,
            [(ratio, const(above, n)), (reset, const(far, n))],
            alert.name,
            [],
        ),
        Case(
            f"quiet when the window resets within {dur(p.quiet_before_reset)}",
            step,
            n,
            [(ratio, const(low, n)), (reset, const(soon, n))],
            alert.name,
            [],
        ),
    ]


# --- status and self alerts ---------------------------------------------------------------------------------------
_INDICATORS = ("none", "minor", "major", "critical", "maintenance", "unknown")


def _indicator(ctx: Ctx, labels: dict[str, str], timeline: list[tuple[str, int]]) -> list[tuple[str, str]]:
    """One-hot indicator series following ``timeline`` [(state, samples)]."""
    return [
        (
            series(contract.STATUS_INDICATOR.name, {**ctx.inst, **labels, "indicator": state}),
            levels([(1.0 if current == state else 0.0, k) for current, k in timeline]),
        )
        for state in _INDICATORS
    ]


def t_incident(ctx: Ctx) -> list[Case]:
    alert = ctx.alert("LLMProviderIncident")
    f = alert.for_ or 0
    step = pick_step(f)
    n = _eval_steps(step, f) + 1
    labels = {"provider": "openai", "source": "openai-status"}
    bad = ctx.s.status.incident_indicators[-1]
    calm = next(i for i in ("maintenance", "minor", "none") if i not in ctx.s.status.incident_indicators)
    return [
        Case(
            f"fires on a {bad} incident",
            step,
            n,
            _indicator(ctx, labels, [("none", 2), (bad, n - 1)]),
            alert.name,
            [ctx.expect(alert, {**ctx.job, **labels, "indicator": bad}, 1)],
        ),
        Case(f"quiet during {calm}", step, n, _indicator(ctx, labels, [("none", 2), (calm, n - 1)]), alert.name, []),
        Case(
            "quiet when the page is unreadable (unknown is never an outage)",
            step,
            n,
            _indicator(ctx, labels, [("none", 2), ("unknown", n - 1)]),
            alert.name,
            [],
        ),
    ]


def t_unreadable(ctx: Ctx) -> list[Case]:
    alert = ctx.alert("LLMStatusPageUnreadable")
    f = alert.for_ or 0
    step = pick_step(f)
    n = _eval_steps(step, f, extra=4)
    short = steps(f, step) - 2
    labels = {"provider": "openai", "source": "openai-status"}
    return [
        Case(
            f"fires when the page is unreadable for longer than {dur(f)}",
            step,
            n,
            _indicator(ctx, labels, [("none", 2), ("unknown", n - 1)]),
            alert.name,
            [ctx.expect(alert, {**ctx.job, **labels, "indicator": "unknown"}, 1)],
        ),
        Case(
            f"quiet when it is unreadable for {dur(short * step)} only",
            step,
            n,
            _indicator(ctx, labels, [("none", n + 1 - short), ("unknown", short)]),
            alert.name,
            [],
        ),
    ]


def t_source_down(ctx: Ctx) -> list[Case]:
    return _down_cases(
        ctx,
        ctx.alert("LLMPulseSourceDown"),
        contract.SOURCE_UP,
        {"provider": "openai", "source": "openai-usage"},
        "every poll fails",
    )


def t_stale(ctx: Ctx) -> list[Case]:
    alert = ctx.alert("LLMPulseSourceStale")
    f = alert.for_ or 0
    stale = ctx.s.exporter.stale_after
    step = pick_step(f, stale)
    n = steps(stale + f, step) + 10
    t_end = n * step
    labels = {"provider": "openai", "source": "openai-usage"}
    name = series(contract.SOURCE_LAST_SUCCESS.name, {**ctx.inst, **labels})
    old = 7 * step
    fresh = t_end - stale * 0.95
    return [
        Case(
            f"fires when the last good poll is {dur(t_end - old)} old (threshold {dur(stale)})",
            step,
            n,
            [(name, const(old, n))],
            alert.name,
            [ctx.expect(alert, {**ctx.inst, **labels}, t_end - old)],
        ),
        Case(
            f"quiet when it is {dur(t_end - fresh)} old, just under", step, n, [(name, const(fresh, n))], alert.name, []
        ),
        Case(
            "quiet when the source never succeeded yet (timestamp 0: LLMPulseSourceDown covers it)",
            step,
            n,
            [(name, const(0, n))],
            alert.name,
            [],
        ),
    ]


def t_exporter_down(ctx: Ctx) -> list[Case]:
    alert = ctx.alert("LLMPulseExporterDown")
    f = alert.for_ or 0
    step = pick_step(f)
    n = _eval_steps(step, f, extra=6)
    short = steps(f, step) - 2
    up = series("up", ctx.inst)
    prom = series("up", {"job": "prometheus", "instance": ctx.s.prometheus.self_target})
    return [
        Case(
            f"fires when the scrape fails for longer than {dur(f)}",
            step,
            n,
            [(up, levels([(1, 3), (0, n - 2)]))],
            alert.name,
            [ctx.expect(alert, ctx.inst, 0)],
        ),
        Case(
            "fires when the exporter's target is missing altogether",
            step,
            n,
            [(prom, const(1, n))],
            alert.name,
            [ctx.expect(alert, ctx.job, 1)],
        ),
        Case(
            f"quiet when the scrape fails for {dur(short * step)} only (a restart)",
            step,
            n,
            [(up, levels([(1, n + 1 - short), (0, short)]))],
            alert.name,
            [],
        ),
    ]


def t_watchdog(ctx: Ctx) -> list[Case]:
    alert = ctx.alert("Watchdog")
    return [
        Case(
            "always fires (there is no quiet case: silence means the pipeline is broken)",
            MINUTE,
            2,
            [],
            alert.name,
            [ctx.expect(alert, {}, 1)],
        )
    ]


BUILDERS: dict[str, Callable[[Ctx], list[Case]]] = {
    "LLMAPIHighErrorRate": lambda ctx: [*t_high_error_rate(ctx), *t_high_error_rate_low_traffic(ctx)],
    "LLMAPIHighLatencyP99": t_latency,
    "LLMAPIErrorBudgetBurn": lambda ctx: [*t_burn(ctx), *t_burn_low_traffic(ctx)],
    "LLMAPIRateLimited": t_rate_limited,
    "LLMAPIAuthFailure": t_auth,
    "LLMAPIProbeFailing": t_probe,
    "LLMAPISlowCalls": t_slow,
    "LLMBudgetBurnHigh": lambda ctx: t_budget(ctx, "LLMBudgetBurnHigh"),
    "LLMBudgetExceeded": lambda ctx: t_budget(ctx, "LLMBudgetExceeded"),
    "LLMBudgetForecastExceeded": t_forecast,
    "LLMSpendSpike": t_spike,
    "LLMUnpricedUsage": t_unpriced,
    "LLMBalanceLow": t_balance_low,
    "LLMBalanceRunwayShort": t_runway,
    "LLMBalanceExhausted": t_exhausted,
    "LLMPlanQuotaLow": t_plan_quota,
    "LLMRateLimitHeadroomLow": t_headroom,
    "LLMTLSCertExpiringSoon": t_tls,
    "LLMProviderIncident": t_incident,
    "LLMStatusPageUnreadable": t_unreadable,
    "LLMPulseSourceDown": t_source_down,
    "LLMPulseSourceStale": t_stale,
    "LLMPulseExporterDown": t_exporter_down,
    "Watchdog": t_watchdog,
}


def _relative(rule_file: str) -> str:
    """A rule file's path as seen from prometheus/tests/ (promtool resolves rule_files relative to the test)."""
    return "../" + rule_file.removeprefix("prometheus/")


def test_files(s: BundleConfig) -> dict[str, dict[str, Any]]:
    """``prometheus/tests/<alert>.yml`` -> promtool test file data, one file per enabled alert that has rules."""
    ctx = Ctx(s)
    enabled = {a.name for a in alert_rules(s)}
    files = {}
    for name, build in BUILDERS.items():
        if name not in enabled:
            continue
        cases = build(ctx)
        if not cases:
            continue
        files[f"{TESTS_DIR}/{name}.yml"] = {
            "rule_files": [_relative(RULES_FILE), _relative(ALERTS_FILE)],
            "evaluation_interval": dur(min(case.step for case in cases)),
            # Recording rules first: with evaluation intervals longer than the 5m lookback, an alert evaluated
            # before the recording rules of the same timestamp would not see them.
            "group_eval_order": [g["name"] for g in recording_groups(s)] + [g["name"] for g in alert_groups(s)],
            "tests": [{**case.to_dict(), "name": f"{name}: {case.name}"} for case in cases],
        }
    return files
