"""``llmpulse stack up|down|status|reload|inbox``: the command-line face of :mod:`exporter.stack`.

The CLI layer parses flags, prints and maps errors to exit codes (0 ok, 1 failure, 2 bad usage); the native stack
itself (:class:`exporter.stack.Stack`) knows nothing about click, so the CLI depends on it and never the reverse.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path

import click

from exporter.bundle.stackfiles import SERVICES, all_ports
from exporter.durations import parse_duration
from exporter.httpserver import parse_listen
from exporter.inbox import Inbox
from exporter.logs import setup_logging
from exporter.stack import BINARIES, DEFAULT_WORKDIR, STOP_GRACE_SECONDS, Stack, StackError, free_ports

log = logging.getLogger(__name__)

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 110}
_workdir_option = click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_WORKDIR,
    envvar="LLMPULSE_STACK_DIR",
    help="Working directory (configs, data, logs, pids).",
)


def _parse_ports(values: tuple[str, ...]) -> dict[str, int]:
    ports = {}
    for item in values:
        name, sep, port = item.partition("=")
        if not sep or name not in all_ports() or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(
                f"{item!r}: expected NAME=PORT with NAME one of {', '.join(all_ports())}", param_hint="--port"
            )
        ports[name] = int(port)
    return ports


@click.group(context_settings=CONTEXT)
def stack() -> None:
    """Run the monitoring stack natively (no Docker): simulator, exporter, mail catcher (mailpit, or the built-in
    inbox), Prometheus, Alertmanager and Grafana if installed, with the bundle generated for their loopback ports."""


@stack.command()
@_workdir_option
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Exporter config [default: the demo config, polling the simulator].",
)
@click.option(
    "--bundle-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Config whose bundle: section sets thresholds, windows and receivers [default: --config's].",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME=PORT",
    help=f"Port of a service ({', '.join(f'{n}={p}' for n, p in all_ports().items())}). Repeatable.",
)
@click.option("--free-ports", "pick_free_ports", is_flag=True, help="Pick free loopback ports for every service.")
@click.option("--simulator/--no-simulator", default=None, help="Run the simulator [default: if the config uses it].")
@click.option("--grafana/--no-grafana", default=None, help="Run Grafana [default: if grafana-server is installed].")
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops the stack.")
@click.option("--timeout", default=90.0, help="Seconds to wait for every service to become ready.")
@click.option(
    "--backfill",
    metavar="DURATION",
    help="Import this much provider history (e.g. 90d) into Prometheus before it starts (llmpulse backfill), "
    "with a retention that keeps it.",
)
def up(
    workdir: Path,
    config_path: Path | None,
    bundle_config: Path | None,
    ports: tuple[str, ...],
    pick_free_ports: bool,
    simulator: bool | None,
    grafana: bool | None,
    foreground: bool,
    timeout: float,
    backfill: str | None,
) -> None:
    """Start the stack and wait until every service is ready; print the URLs."""
    chosen = free_ports() if pick_free_ports else {}
    chosen.update(_parse_ports(ports))
    history = None
    if backfill:
        try:
            history = parse_duration(backfill)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--backfill") from None
    st = Stack(
        workdir,
        config=config_path,
        bundle_config=bundle_config,
        ports=chosen,
        simulator=simulator,
        grafana=grafana,
        backfill=history,
    )
    click.echo(f"starting the llmpulse stack in {st.workdir} ...")
    try:
        st.start(timeout=timeout)
    except StackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    _print_urls(st)
    if "grafana" not in st.services:
        why = "--no-grafana" if grafana is False else f"not installed; {BINARIES['grafana'].install}"
        click.echo(f"(Grafana is not running: {why}. Dashboards: docker compose, or import grafana/dashboards.)")
    if not foreground:
        click.echo(
            f"logs in {st.path('logs')}; stop with: llmpulse stack down"
            + ("" if workdir == DEFAULT_WORKDIR else f" --workdir {workdir}")
        )
        return
    click.echo("running in the foreground; Ctrl-C stops the stack")
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.5)
    click.echo("stopping ...")
    st.stop()


def _print_urls(st: Stack) -> None:
    click.echo("the llmpulse stack is up:")
    for name in st.services:
        role = SERVICES[name].role
        if name == "mailpit" and st.mail_catcher() == "inbox":
            role = "notification inbox (built-in stand-in for mailpit): Alertmanager's mails arrive here"
        url, note = st.page(name)
        click.echo(f"  {name:<13} {url:<40} {role}")
        if note:
            click.echo(f"  {'':<13} ({note})")
    if "grafana" in st.services:
        click.echo(f"  Grafana: anonymous read access; admin password in {st.grafana_password_file}")
    if "simulator" in st.services:
        sim = st.url("simulator")
        click.echo(
            "break it (20 % errors on the chat APIs the probes call; alerts fire within minutes, see docs/stack.md,\n"
            '"Make something happen", for the times and the other breaks):\n'
            f'  curl -X POST {sim}/_sim/faults -d \'{{"openai_chat": {{"error_rate": 0.2}}}}\'\n'
            f"  curl -X POST {sim}/_sim/reset       # heal everything"
        )


@stack.command()
@_workdir_option
@click.option("--timeout", default=STOP_GRACE_SECONDS, help="Seconds to wait after SIGTERM before SIGKILL.")
def down(workdir: Path, timeout: float) -> None:
    """Stop every service of the stack (SIGTERM, then SIGKILL after --timeout). Data and logs stay."""
    st = Stack(workdir)
    if not st.state_exists():
        click.echo(f"no stack is running in {st.workdir}")
        return
    stopped = st.stop(grace=timeout)
    click.echo(
        f"stopped: {', '.join(stopped) if stopped else 'nothing was running'} (data and logs kept in {st.workdir})"
    )


@stack.command()
@_workdir_option
@click.option(
    "--bundle-config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Use this config's bundle: section from now on [default: the one the stack started with].",
)
def reload(workdir: Path, bundle_config: Path | None) -> None:
    """Regenerate the bundle and reload the running Prometheus and Alertmanager (after editing a bundle: section)."""
    st = Stack(workdir)
    if not st.state_exists():
        click.echo(f"no stack is running in {st.workdir}", err=True)
        sys.exit(1)
    try:
        st.reload(bundle_config)
    except StackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo("reloaded: prometheus, alertmanager")


@stack.command()
@_workdir_option
def status(workdir: Path) -> None:
    """Show each service's state, pid, URL and log, then each source's health as the exporter reports it; exit 1
    unless every service is up and every source is up."""
    st = Stack(workdir)
    if not st.state_exists():
        click.echo(f"no stack is running in {st.workdir}")
        sys.exit(1)
    statuses = st.status()
    for s in statuses:
        click.echo(f"  {s.name:<13} {s.state:<19} pid {s.pid or '-':<8} {s.url:<24} {s.log}")
    sources = st.sources()
    down = [src for src in sources if not src.up]
    if sources:
        click.echo(f"sources ({len(sources) - len(down)} of {len(sources)} up; reasons on {st.url('exporter')}/):")
        for src in sources:
            click.echo(f"  {src.name:<24} {src.provider:<14} {'up' if src.up else 'DOWN'}")
    services_ok = bool(statuses) and all(s.healthy for s in statuses)
    sys.exit(0 if services_ok and not down else 1)


@stack.command()
@click.option("--listen", default=f"127.0.0.1:{SERVICES['mailpit'].port}", help="HOST:PORT of the inbox page.")
@click.option(
    "--smtp",
    default=f"127.0.0.1:{SERVICES['mailpit'].extra_ports['smtp']}",
    help="HOST:PORT of the SMTP listener Alertmanager's e-mail receiver sends to.",
)
@click.option("--keep", default=500, help="Notifications kept in memory.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def inbox(listen: str, smtp: str, keep: int, log_level: str) -> None:
    """Serve the notification inbox (the native stand-in for mailpit): mail over SMTP, Alertmanager webhooks on
    /hook, all listed on the page at /."""
    setup_logging(log_level)
    try:
        host, port = parse_listen(listen, SERVICES["mailpit"].port)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    try:
        smtp_host, smtp_port = parse_listen(smtp, SERVICES["mailpit"].extra_ports["smtp"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--smtp") from None
    box = Inbox(keep)
    try:
        box.serve_smtp(smtp_host, smtp_port)
        server = box.serve(host, port)
    except OSError as exc:
        click.echo(f"error: cannot listen: {exc.strerror or exc}", err=True)
        sys.exit(1)
    log.info("inbox on %s (SMTP %s, Alertmanager webhook %s/hook)", server.url, box.smtp_address, server.url)
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.5)
    server.stop()
    box.stop_smtp()
