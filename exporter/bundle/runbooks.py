"""``docs/runbooks.md``: one section per alert, generated so thresholds and windows match the rules exactly.

Each alert's ``runbook_url`` is the runbook base URL plus ``#<alert name in lower case>``, the anchor GitHub and
most Markdown renderers give a ``## AlertName`` heading.
"""

from __future__ import annotations

from exporter.bundle.alertmanager import INCIDENT_MUTED_ALERTS, SOURCE_DATA_ALERTS
from exporter.bundle.rules import AlertRule, alert_rules, dur, num, pct
from exporter.bundle.settings import ALERT_NAMES, BundleConfig

RUNBOOKS_FILE = "docs/runbooks.md"


def _texts(s: BundleConfig) -> dict[str, dict[str, str]]:
    """meaning / impact / diagnosis / mitigation per alert (Markdown)."""
    a, b, bal = s.api, s.budget, s.balance
    codes = '`sum by (code, error_type) (increase(llmpulse_error_code_counter_total{provider="P"}[1h]))`'
    return {
        "LLMAPIHighErrorRate": {
            "meaning": f"More than {pct(a.error_ratio)} of the LLM API calls llmpulse saw (probes and traffic "
            f"events) for one provider, source and model failed over {dur(a.error_ratio_window)}.",
            "impact": "Users of the product get errors or retries; chat replies fail or arrive late.",
            "diagnosis": f"Which codes? {codes}. 429 = rate limited (see LLMAPIRateLimited), 401/403 = the key "
            "(LLMAPIAuthFailure), 500/502/503/529 = the provider is in trouble, `timeout` / "
            "`connection` / `tls` = the network path. Check the provider's status page and the "
            "Latency & errors dashboard.",
            "mitigation": "Provider trouble: wait, or fail over to another provider or model. Throttling: back off, "
            "spread traffic, raise the tier. Key: rotate it. Network: check proxies, DNS, egress.",
        },
        "LLMAPIHighLatencyP99": {
            "meaning": f"The P{num(a.latency_quantile * 100)} duration of whole calls exceeded "
            f"{num(a.latency_threshold_seconds)}s over {dur(a.latency_window)}.",
            "impact": "The slowest users wait several seconds for an answer; timeouts upstream may follow.",
            "diagnosis": "Compare `llmpulse_time_to_first_token_seconds` (model speed) with "
            "`llmpulse_probe_phase_duration_seconds` (dns, connect, tls, first_byte): slow phases "
            "before first_byte point at the network; a slow first token at the model. Check whether "
            "prompts or max_tokens grew.",
            "mitigation": "Use a faster model or region, stream responses, cut prompt length, set client timeouts "
            "that match the product's patience.",
        },
        "LLMAPIErrorBudgetBurn": {
            "meaning": f"Errors consume the error budget of the {pct(s.slo.objective)} objective faster than the "
            "month can afford (multi-window, multi-burn-rate: both a long and a short window must burn, "
            "so a brief blip does not page and the alert resolves soon after recovery). "
            + "; ".join(f"{w.severity}: {num(w.factor)}x over {dur(w.long)} and {dur(w.short)}" for w in s.slo.windows)
            + ".",
            "impact": "Critical: at this pace the month's budget is gone within days. Warning: it erodes steadily.",
            "diagnosis": f"As for LLMAPIHighErrorRate; the `long`/`short` labels say which windows fire. {codes}.",
            "mitigation": "Fix or route around the cause; if the provider is at fault, the budget tells you when to "
            "escalate with them or switch.",
        },
        "LLMAPIRateLimited": {
            "meaning": f"More than {pct(a.rate_limited_ratio)} of calls were answered HTTP 429 over "
            f"{dur(a.rate_limited_window)}, continuously for {dur(s.alert_for.LLMAPIRateLimited)}.",
            "impact": "Requests are refused or delayed by retries.",
            "diagnosis": "`llmpulse_ratelimit_remaining / llmpulse_ratelimit_limit` by resource (requests or "
            "tokens?) and the `error_type` label (rate_limit_error vs insufficient_quota).",
            "mitigation": "Honour Retry-After with backoff, smooth bursts, batch, or ask the provider for a higher "
            "tier. `insufficient_quota` means money, not speed: see the budget and balance alerts.",
        },
        "LLMAPIAuthFailure": {
            "meaning": f"Calls kept failing with 401 or 403 in every {dur(a.auth_failure_window)} window for "
            f"{dur(s.alert_for.LLMAPIAuthFailure)}.",
            "impact": "Every call with this key fails: the feature using it is down.",
            "diagnosis": "The `code` and `error_type` labels (invalid_api_key, permission_error, "
            "model_not_found...). Was the key rotated, revoked, or its project's access changed?",
            "mitigation": "Issue a new key, update the secret the application and llmpulse read "
            "(api_key_env / api_key_file), restart or reload.",
        },
        "LLMAPIProbeFailing": {
            "meaning": f"Every active probe of one model failed for {dur(s.alert_for.LLMAPIProbeFailing)} "
            "(llmpulse_probe_success == 0).",
            "impact": "From where llmpulse runs, the API is unusable; production traffic from the same network "
            "likely fails too.",
            "diagnosis": 'The probe\'s error code in `llmpulse_error_code_counter_total{source="PROBE"}`, the '
            "provider's status page, and the connection phases (DNS or TLS failures show there).",
            "mitigation": "Fail over; if only the probe fails (wrong model name, tiny max_tokens refused), fix the "
            "probe's config.",
        },
        "LLMAPISlowCalls": {
            "meaning": f"More than {pct(a.slow_call_ratio)} of calls took longer than {num(a.slow_call_seconds)}s "
            f"over {dur(a.slow_call_window)}.",
            "impact": "A noticeable share of users wait too long; some clients time out.",
            "diagnosis": "The duration heatmap on the Latency & errors dashboard; time to first token; output "
            "token counts (long generations are slow by nature).",
            "mitigation": "Stream, cap max_tokens, move slow workloads to batch, or pick a faster model.",
        },
        "LLMBudgetBurnHigh": {
            "meaning": f"Month-to-date reported cost reached {pct(b.burn_high_ratio)} of a monthly budget "
            "(the total and any per-provider budget; label `scope`).",
            "impact": "The budget will run out before the month ends unless spend slows.",
            "diagnosis": "Cost & budget dashboard by provider, project, model and line item; compare with the "
            "month-end forecast.",
            "mitigation": "Decide: raise the budget deliberately, or cut usage (cheaper models, caching, limits).",
        },
        "LLMBudgetExceeded": {
            "meaning": "Month-to-date reported cost is over a monthly budget. (The cost counters hold the "
            "month-to-date total and restart on the 1st, so this resolves by itself at month end.)",
            "impact": "Every further call is over budget.",
            "diagnosis": "As for LLMBudgetBurnHigh.",
            "mitigation": "Cap usage now (provider-side spend limits, feature flags), or approve the overrun.",
        },
        "LLMBudgetForecastExceeded": {
            "meaning": "The linear month-end forecast (month-to-date cost / elapsed fraction of the month) is over "
            f"a budget; only after {dur(b.forecast_min_elapsed)} of the month, when the pace means "
            "something.",
            "impact": "At the current pace the budget is exceeded before the month ends.",
            "diagnosis": "Which provider, project or model grew? Cost & budget dashboard, daily spend.",
            "mitigation": "Slow spend now, when it is still cheap to act.",
        },
        "LLMSpendSpike": {
            "meaning": f"Spend over the last {dur(b.spike_window)} is more than {num(b.spike_factor)}x its average "
            f"per {dur(b.spike_window)} over the {dur(b.spike_baseline_window)} before, and above "
            f"${num(b.spike_min_usd)}. Needs {dur(b.spike_window + b.spike_baseline_window)} of history.",
            "impact": "Money is being spent much faster than usual: a runaway loop, a new heavy feature, abuse, or a "
            "leaked key.",
            "diagnosis": "Cost by project, model and api_key (if enabled); usage requests and tokens over the same "
            "period.",
            "mitigation": "Stop the loop or revoke the leaked key first; then look at budgets.",
        },
        "LLMUnpricedUsage": {
            "meaning": f"Tokens of a model with no entry in the price table arrived within "
            f"{dur(b.unpriced_window)} (llmpulse_unpriced_tokens_total).",
            "impact": "The estimated cost undercounts; budgets based on it look better than they are.",
            "diagnosis": "The `model` label names the model.",
            "mitigation": "Add it under `pricing.models` in the config (input/output/cached prices per million "
            "tokens), or update llmpulse for a newer built-in table.",
        },
        "LLMBalanceLow": {
            "meaning": 'The spendable prepaid balance (llmpulse_balance{kind="total"}) is under its currency\'s '
            "threshold ("
            + ", ".join(f"{num(v)} {k}" for k, v in sorted(bal.low.items()))
            + (f"; other currencies: ${num(bal.low_usd_fallback)} converted" if bal.low_usd_fallback else "")
            + ").",
            "impact": "Calls start failing when it reaches zero.",
            "diagnosis": "Balances and runway on the Cost & budget dashboard; the runway says how urgent it is.",
            "mitigation": "Top up the account with the provider.",
        },
        "LLMBalanceRunwayShort": {
            "meaning": f"At the burn rate of the last {dur(bal.burn_window)} (the balance's slope), the balance "
            f"lasts fewer than {num(bal.runway_days)} days.",
            "impact": "The balance runs out within the week; top-ups can take days (invoices, cards, approvals).",
            "diagnosis": f"`{'provider_source_currency:llmpulse_balance:burn_per_day'}` and "
            "`provider_source_currency:llmpulse_balance:runway_days`; did spend grow?",
            "mitigation": "Top up, or reduce spend on this provider.",
        },
        "LLMBalanceExhausted": {
            "meaning": "The provider reports no usable balance (DeepSeek is_available false, or a balance at or "
            "below zero, e.g. Moonshot arrears).",
            "impact": "API calls with this account are refused now.",
            "diagnosis": "The provider's console; llmpulse_balance by kind shows granted vs topped-up parts.",
            "mitigation": "Top up immediately; fail over to another provider meanwhile.",
        },
        "LLMPlanQuotaLow": {
            "meaning": f"Less than {pct(s.plan.quota_low_ratio)} of a subscription plan's quota is left in its "
            "current window (llmpulse_plan_quota_remaining_ratio: MiniMax Token Plan, Zhipu GLM coding plan, Coze "
            f"paid-plugin calls), and the window does not reset within {dur(s.plan.quiet_before_reset)}.",
            "impact": "When the quota is gone the plan refuses or throttles calls until the reset; coding agents and "
            "bots on that plan stop.",
            "diagnosis": "`llmpulse_plan_quota_remaining_ratio` by quota and window, and "
            "`llmpulse_plan_quota_reset_timestamp_seconds - time()` for the time left; which client spends it "
            "(the events and probe panels by app)?",
            "mitigation": "Slow the heavy client, move traffic to a pay-as-you-go key until the reset, or upgrade "
            "the plan.",
        },
        "LLMRateLimitHeadroomLow": {
            "meaning": f"Less than {pct(a.ratelimit_headroom_ratio)} of a rate limit (requests or tokens) was left "
            "at the last probe, from the provider's rate-limit headers.",
            "impact": "The next burst is throttled (429s).",
            "diagnosis": "`llmpulse_ratelimit_remaining`, `llmpulse_ratelimit_limit` and "
            "`llmpulse_ratelimit_reset_seconds` by resource.",
            "mitigation": "Smooth traffic, queue, or request a higher limit.",
        },
        "LLMTLSCertExpiringSoon": {
            "meaning": f"The TLS certificate of a probed endpoint expires within {dur(a.tls_expiry_warning)} "
            f"(warning) or {dur(a.tls_expiry_critical)} (critical).",
            "impact": "When it expires, every call to that endpoint fails TLS verification.",
            "diagnosis": "`llmpulse_tls_cert_expiry_timestamp_seconds`; is the endpoint yours (a gateway, proxy, "
            "self-hosted model) or the provider's?",
            "mitigation": "Renew your certificate (check the automation); for a provider, report it.",
        },
        "LLMProviderIncident": {
            "meaning": "A provider's status page reports an incident (indicator "
            + " or ".join(s.status.incident_indicators)
            + ").",
            "impact": "Errors and slow calls from this provider are expected"
            + (
                f"; its {', '.join(INCIDENT_MUTED_ALERTS)} alerts are muted meanwhile"
                if s.routing.incident_mutes_api_alerts
                else ""
            )
            + ".",
            "diagnosis": "The status page itself; llmpulse_status_component shows which components.",
            "mitigation": "Follow the incident; fail over if the product depends on the provider.",
        },
        "LLMStatusPageUnreadable": {
            "meaning": "llmpulse could not read or parse a status page (indicator `unknown`). This is never "
            "treated as an outage.",
            "impact": "Provider incidents go unnoticed by llmpulse.",
            "diagnosis": "The exporter log and `llmpulse_source_poll_errors_total` for the status source; open the "
            "page's /api/v2/summary.json.",
            "mitigation": "Fix base_url, or remove the source if the provider moved to another status platform.",
        },
        "LLMPulseSourceDown": {
            "meaning": f"The polls of a source failed for {dur(s.alert_for.LLMPulseSourceDown)} "
            "(llmpulse_source_up == 0). Its last good data is still served.",
            "impact": "Cost, usage, balance or status figures from it are getting old"
            + ("; alerts computed from them are muted" if s.routing.source_problems_mute_data_alerts else "")
            + ".",
            "diagnosis": "`llmpulse_source_poll_errors_total` by reason and `llmpulse_source_api_requests_total` by "
            "code; the exporter log (keys are redacted).",
            "mitigation": "401/403: the admin/management key; 429: a longer interval; timeouts: the network or a "
            "higher timeout.",
        },
        "LLMPulseSourceStale": {
            "meaning": f"The newest successful poll of a source is older than {dur(s.exporter.stale_after)}.",
            "impact": "Its figures are out of date"
            + (
                f"; {', '.join(SOURCE_DATA_ALERTS)} for it are muted"
                if s.routing.source_problems_mute_data_alerts
                else ""
            )
            + ".",
            "diagnosis": "Is the source down (LLMPulseSourceDown) or is its poller stuck (up but no new success)? "
            "The landing page of the exporter lists each source's last success.",
            "mitigation": "Fix the cause of the failures, or restart the exporter if the poller hangs.",
        },
        "LLMPulseExporterDown": {
            "meaning": f"Prometheus could not scrape job `{s.prometheus.job}` for "
            f"{dur(s.alert_for.LLMPulseExporterDown)}, or the target is missing.",
            "impact": "All llmpulse metrics are stale and every other llmpulse alert is blind.",
            "diagnosis": '`up{job="' + s.prometheus.job + "\"}`, Prometheus' Targets page (the scrape error), "
            "the exporter's container or process and its log (a config error exits with status 2).",
            "mitigation": "Restart it; fix the config (`llmpulse check-config FILE`).",
        },
        "Watchdog": {
            "meaning": "Always firing, on purpose: a heartbeat through Prometheus and Alertmanager.",
            "impact": "None while it arrives. When it stops arriving, the alerting pipeline itself is broken.",
            "diagnosis": "Prometheus rule evaluation, Prometheus -> Alertmanager delivery, Alertmanager -> "
            "receiver delivery.",
            "mitigation": "Route it (receivers.watchdog_url) to a dead man's switch such as healthchecks.io, which "
            "alerts you when the heartbeat stops.",
        },
    }


def _rules_line(rules: list[AlertRule]) -> str:
    parts = []
    for r in rules:
        extra = ", ".join(f"{k}={v}" for k, v in r.labels.items())
        parts.append(f"`{r.severity}`" + (f" ({extra})" if extra else "") + (f", for {dur(r.for_)}" if r.for_ else ""))
    return "; ".join(dict.fromkeys(parts))


def runbooks_markdown(s: BundleConfig, header: str) -> str:
    texts = _texts(s)
    rules = alert_rules(s, include_disabled=True)
    out = [
        f"<!-- {header.strip()} -->\n",
        "# llmpulse runbooks\n\n",
        "One section per alert of the generated bundle: what it means, what it costs you, how to find the "
        "cause and what to do. Thresholds and windows below are those of the generated rules.\n\n",
    ]
    for name in ALERT_NAMES:
        t = texts[name]
        mine = [r for r in rules if r.name == name]
        out.append(f"## {name}\n\n")
        if not s.enabled(name):
            out.append("*Disabled in this bundle (`bundle.disabled_alerts`).*\n\n")
        if mine:
            out.append(f"**Severity:** {_rules_line(mine)}. **Summary:** {mine[0].summary}\n\n")
        out.append(
            f"**Meaning.** {t['meaning']}\n\n**Impact.** {t['impact']}\n\n"
            f"**Diagnosis.** {t['diagnosis']}\n\n**Mitigation.** {t['mitigation']}\n\n"
        )
    return "".join(out).rstrip("\n") + "\n"
