"""The landing page shows errors short and in whole words (the full text is in the log)."""

from __future__ import annotations

from exporter.server import ERROR_TEXT_CHARS, short_error


def test_a_long_error_is_cut_at_a_word_boundary() -> None:
    words = [f"word{i}" for i in range(80)]
    text = "GET /v1/usage: " + " ".join(words)
    shown = short_error(text)
    assert len(shown) <= ERROR_TEXT_CHARS and shown.endswith(" …")
    assert all(w in words or w in ("GET", "/v1/usage:") for w in shown.removesuffix(" …").split())


def test_a_short_error_is_shown_as_is_on_one_line() -> None:
    assert short_error("GET /v1/usage: connection refused") == "GET /v1/usage: connection refused"
    assert short_error("line one\nline two") == "line one line two"
    assert short_error("") == ""
