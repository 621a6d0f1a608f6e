"""The Python mirror of Prometheus' alert template functions (used to write the expected annotations of the
generated promtool tests; those tests check it against real Prometheus end to end)."""

from __future__ import annotations

import pytest

from exporter.bundle.gotmpl import expand, humanize, humanize_duration, humanize_percentage


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1, "1"),
        (999, "999"),
        (1234, "1.234k"),
        (1_500_000, "1.5M"),
        (0.5, "500m"),
        (0.001234, "1.234m"),
        (-2500, "-2.5k"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_humanize(value: float, text: str) -> None:
    assert humanize(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0s"),
        (2.99, "2.99s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (61, "1m 1s"),
        (3600, "1h 0m 0s"),
        (90061, "1d 1h 1m 1s"),
        (-7200, "-2h 0m 0s"),
        (1209600.5, "14d 0h 0m 0s"),
    ],
)
def test_humanize_duration(value: float, text: str) -> None:
    assert humanize_duration(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.06, "6%"), (0.0612, "6.12%"), (0.15000000000000002, "15%"), (1, "100%"), (0.000123, "0.0123%")],
)
def test_humanize_percentage(value: float, text: str) -> None:
    assert humanize_percentage(value) == text


def test_expand_fills_labels_and_value_and_leaves_other_text() -> None:
    text = (
        "{{ $value | humanizePercentage }} of {{ $labels.provider }} calls ({{ $labels.missing }}) cost "
        '${{ $value | printf "%.2f" }} = {{ $value }}'
    )
    assert expand(text, {"provider": "openai"}, 0.25) == "25% of openai calls () cost $0.25 = 0.25"


@pytest.mark.parametrize("template", ["{{ .Labels.x }}", "{{ $value | title }}", "{{ range . }}x{{ end }}"])
def test_expand_refuses_what_it_cannot_mirror(template: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        expand(template, {}, 1)
