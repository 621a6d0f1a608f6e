"""The metric contract itself follows Prometheus naming conventions."""

from __future__ import annotations

import re

from exporter import contract


def test_every_family_carries_provider_and_source_except_process_wide_ones() -> None:
    process_wide = {
        "llmpulse_build_info",
        "llmpulse_relay_notifications_total",
        "llmpulse_exposition_render_failures_total",
    }
    for fam in contract.FAMILIES.values():
        if fam.name in process_wide:
            continue
        assert fam.labels[:2] == ("provider", "source"), fam.name


def test_names_units_and_help() -> None:
    for fam in contract.FAMILIES.values():
        assert fam.name.startswith("llmpulse_")
        assert fam.help.endswith("."), fam.name
        assert len(fam.help) > 30, fam.name
        assert not re.search(r"_(ms|milliseconds|minutes|hours|cents|percent)(_|$)", fam.name), fam.name
        assert "date" not in fam.all_labels and "day" not in fam.all_labels
        if fam.type == "histogram":
            assert list(fam.buckets) == sorted(fam.buckets)


def test_call_duration_buckets_resolve_the_thresholds_the_alerts_use() -> None:
    buckets = contract.API_CALL_DURATION.buckets
    assert {0.8, 1.2, 2.0, 5.0, 10.0} <= set(buckets)
    assert len([b for b in buckets if 0.8 <= b <= 1.2]) >= 4


def test_issue_contract_names_exist() -> None:
    names = set(contract.FAMILIES)
    for required in (
        "llmpulse_usage_requests_total",
        "llmpulse_usage_tokens_total",
        "llmpulse_cost_usd_total",
        "llmpulse_source_up",
        "llmpulse_source_last_success_timestamp_seconds",
        "llmpulse_source_poll_duration_seconds",
        "llmpulse_source_api_requests_total",
        "llmpulse_build_info",
        "llmpulse_api_call_duration_seconds",
        "llmpulse_time_to_first_token_seconds",
        "llmpulse_error_code_counter_total",
        "llmpulse_api_calls_total",
        "llmpulse_probe_success",
        "llmpulse_probe_tokens_total",
        "llmpulse_ratelimit_limit",
        "llmpulse_ratelimit_remaining",
        "llmpulse_ratelimit_reset_seconds",
        "llmpulse_balance",
        "llmpulse_balance_available",
        "llmpulse_status_component",
        "llmpulse_status_indicator",
        "llmpulse_status_incidents_open",
        "llmpulse_cost_estimated_usd_total",
        "llmpulse_unpriced_tokens_total",
    ):
        assert required in names, required
    assert contract.USAGE_TOKENS.labels == ("provider", "source", "project", "model", "token_type")
    assert contract.ERROR_CODES.labels == ("provider", "source", "model", "code", "error_type")
    assert contract.API_CALLS.labels == ("provider", "source", "model", "outcome")
