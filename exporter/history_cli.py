"""CLI commands that read the providers' history: ``backfill`` (TSDB blocks) and ``export`` (CSV / FOCUS rows).

Flags are parsed and checked here, errors are mapped to exit codes (2: bad config or flags, 1: a provider call or
promtool failed); the work is in :mod:`exporter.history`, :mod:`exporter.backfill` and :mod:`exporter.export`.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import click

from exporter.config import Config, ConfigError, load_config
from exporter.durations import format_duration, parse_duration
from exporter.history import DAY, HOUR, History, HistorySourceConfig, fetch_history, history_sources
from exporter.http import ApiError

DEFAULT_UNTIL_AGO = 3 * HOUR


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_history_config(path: Path) -> tuple[Config, list[HistorySourceConfig]]:
    """The config and its usage/cost sources; exit 2 on a bad config or one without such a source."""
    try:
        config = load_config(path)
    except ConfigError as err:
        fail(f"invalid config\n{err}", 2)
    sources = history_sources(config.sources)
    if not sources:
        fail(f"{path}: no usage/cost source (type openai or anthropic) in sources: nothing has a history to read", 2)
    return config, sources


def parse_time(value: str, now: float, option: str) -> float:
    """A point in time: a duration (that long ago), a date (00:00 UTC) or an ISO 8601 time (UTC unless it has an
    offset)."""
    text = value.strip()
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected a duration ago (3h), a date (2026-11-30) or a time (2026-11-30T12:00:00Z)",
            param_hint=option,
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def duration(value: str, option: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def fetch_all(sources: list[HistorySourceConfig], start: float, end: float, usage_width: int) -> list[History]:
    """Every source's history; exit 1 naming the source on the first failed call (nothing is written then)."""

    def progress(name: str, what: str, newest: float) -> None:
        shown = min(newest, end)
        click.echo(f"  {name}: {what} (through {when(shown)})", err=True)

    histories = []
    for source in sources:
        click.echo(f"reading {source.name} ({source.type}) from {when(start)} to {when(end)}", err=True)
        try:
            histories.append(fetch_history(source, start, end, usage_width=usage_width, progress=progress))
        except ApiError as exc:
            hint = ""
            if exc.status == 400:
                hint = " (the provider cannot serve this window; try a shorter --since)"
            fail(f"{source.name}: reading the history failed: {exc}{hint}; nothing was written", 1)
    return histories


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", required=True, metavar="DURATION", help="How far back to start, e.g. 40d or 90d.")
@click.option(
    "--until",
    metavar="TIME",
    help="Where to stop: a duration ago, a date or an ISO time.  [default: 3h ago, so the blocks stay clear of "
    "what Prometheus is scraping now]",
)
@click.option("--step", default="1h", metavar="DURATION", help="Time between two samples of a series.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--promtool", metavar="PATH", help="promtool binary  [default: promtool on PATH]")
@click.option(
    "--retention",
    metavar="DURATION",
    help="The retention of the Prometheus that will get the blocks: warn when the window reaches past it.",
)
@click.option(
    "--no-blocks",
    is_flag=True,
    help="Write only DIR/backfill.om and build no blocks (no promtool needed): for a promtool that runs elsewhere, "
    "e.g. the compose stack's backfill-import service.",
)
def backfill(
    config_path: Path,
    since: str,
    until: str | None,
    step: str,
    out_dir: Path,
    promtool: str | None,
    retention: str | None,
    no_blocks: bool,
) -> None:
    """Write the month-to-date usage and cost series of the past, as `serve` would have exported them, into
    DIR/backfill.om (OpenMetrics) and DIR/blocks (TSDB blocks for Prometheus)."""
    from exporter.backfill import BackfillError, Window, check_out_dir, enrichers_for, write_backfill

    config, sources = load_history_config(config_path)
    now = time.time()
    since_ts = now - duration(since, "--since")
    until_ts = parse_time(until, now, "--until") if until else now - DEFAULT_UNTIL_AGO
    step_s = duration(step, "--step")
    retention_s = duration(retention, "--retention") if retention else None
    if until_ts > now:
        raise click.BadParameter(
            f"{when(until_ts)} is in the future: the providers only report the past", param_hint="--until"
        )
    if no_blocks and promtool:
        raise click.UsageError("--promtool builds the blocks that --no-blocks leaves out: give one or the other")
    try:
        window = Window.snapped(since_ts, until_ts, step_s)
        if not no_blocks:
            check_out_dir(out_dir)
    except BackfillError as exc:
        fail(str(exc), 2)
    tool = None
    if not no_blocks:
        tool = promtool or shutil.which("promtool")
        if not tool or not shutil.which(tool):
            fail("promtool not found: install Prometheus' promtool or give its path with --promtool", 1)
    if retention_s is not None and now - window.since > retention_s:
        click.echo(
            f"warning: the window starts {format_duration(now - window.since)} ago, beyond the retention of "
            f"{format_duration(retention_s)}: Prometheus will delete the older blocks at once; raise "
            "--storage.tsdb.retention.time or shorten --since",
            err=True,
        )
    histories = fetch_all(sources, window.fetch_start, window.until, HOUR)
    try:
        result = write_backfill(histories, window, enrichers_for(config), out_dir, tool)
    except BackfillError as exc:
        fail(f"{exc}\nnothing was written", 1)
    keep = format_duration(math_ceil_days(now - window.since))
    click.echo(
        f"wrote {result.samples} samples of {result.series} series from {when(window.since)} to "
        f"{when(window.until)} (step {format_duration(step_s)})\n  {result.om_file}"
    )
    if result.blocks_dir is None:
        click.echo(
            "next:\n"
            f"  1. build the blocks straight into Prometheus' data directory (one block per {IMPORT_BLOCK}: promtool re-reads "
            "the file for every block it cuts):\n"
            f"     promtool tsdb create-blocks-from openmetrics --max-block-duration={IMPORT_BLOCK} "
            f"{result.om_file} <--storage.tsdb.path>\n"
            f"  2. keep them: run Prometheus with --storage.tsdb.retention.time={keep} or more\n"
            f"  {QUERY_HINT}"
        )
        return
    click.echo(
        f"  {result.blocks_dir} ({result.blocks} blocks)\n"
        "next:\n"
        f"  1. copy the blocks into Prometheus' data directory: cp -r {result.blocks_dir}/* <--storage.tsdb.path>/\n"
        "     (Prometheus 2.39+ merges them with what it already has; no restart needed, they load within a minute)\n"
        f"  2. keep them: run Prometheus with --storage.tsdb.retention.time={keep} or more\n"
        f"  {QUERY_HINT}"
    )


#: promtool's block length for one OpenMetrics file of a long window (it rounds to 2h times a power of 3).
IMPORT_BLOCK = "162h"
QUERY_HINT = (
    "3. counters have one sample per step: query past ranges with windows of at least one step "
    "(increase(...[1d]), last_over_time(...[1h]))"
)


def math_ceil_days(seconds: float) -> float:
    return -(-seconds // DAY) * DAY


@click.command("export")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "from_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC).")
@click.option("--to", "to_day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), included.")
@click.option("--format", "fmt", type=click.Choice(["csv", "focus"]), default="csv")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="File  [default: stdout]")
def export(config_path: Path, from_day: datetime, to_day: datetime, fmt: str, out_file: Path | None) -> None:
    """Daily usage and cost rows straight from the providers' APIs (no Prometheus needed), as CSV or FOCUS."""
    from exporter.export import write_rows

    _, sources = load_history_config(config_path)
    first, last = from_day.date(), to_day.date()
    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    today = datetime.now(UTC).date()
    if first > today:
        raise click.BadParameter(f"{first} is in the future: the providers only report the past", param_hint="--from")
    start = _midnight(first)
    end = min(_midnight(last + timedelta(days=1)), _midnight(today + timedelta(days=1)))
    histories = fetch_all(sources, start, end, DAY)
    if out_file is None:
        write_rows(histories, fmt, sys.stdout)
        return
    tmp = out_file.with_name(out_file.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        rows = write_rows(histories, fmt, out)
    tmp.replace(out_file)
    click.echo(f"wrote {rows} rows to {out_file}", err=True)


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


@click.command()
@click.option(
    "--prometheus", "prometheus_url", metavar="URL", help="Prometheus base URL  [default: report.prometheus_url]"
)
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="The day to report  [default: yesterday]")
@click.option(
    "--timezone", "tz_name", metavar="TZ", help="IANA time zone of the day  [default: report.timezone or UTC]"
)
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv", "json"]), default="markdown")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Config with a report: section."
)
@click.option("--send", is_flag=True, help="Send the report now to the receivers of the config's report: section.")
def report(
    prometheus_url: str | None,
    day: datetime | None,
    tz_name: str | None,
    fmt: str,
    config_path: Path | None,
    send: bool,
) -> None:
    """One day's summary read from Prometheus: calls, users, response times, errors, spend, top models,
    projects and error codes, balances and runway, each against the day before."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from exporter.report import ReportError, build_report, prometheus_query, render

    config = None
    if config_path is not None:
        try:
            config = load_config(config_path)
        except ConfigError as err:
            fail(f"invalid config\n{err}", 2)
    rc = config.report if config is not None else None
    if send and rc is None:
        raise click.UsageError("--send needs --config FILE with a report: section (its receivers)")
    url = prometheus_url or (rc.prometheus_url if rc else None)
    if not url:
        raise click.UsageError("give --prometheus URL (or --config FILE with report.prometheus_url)")
    zone = tz_name or (rc.timezone if rc else "UTC")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {zone!r} (use an IANA name such as Asia/Shanghai)", param_hint="--timezone"
        ) from None
    the_day = day.date() if day else datetime.now(tz).date() - timedelta(days=1)
    try:
        result = build_report(prometheus_query(url), the_day, zone)
    except ReportError as exc:
        fail(str(exc), 1)
    if not send:
        click.echo(render(result, fmt), nl=False)
        return
    from exporter.report_send import deliver

    assert config is not None
    failed = 0
    for delivery in deliver(config, result):
        click.echo(f"{delivery.receiver}: {delivery.detail}", err=not delivery.ok)
        failed += not delivery.ok
    if failed:
        sys.exit(1)
