"""The ``llmpulse`` command. Parses flags and maps errors to exit codes; the work happens in the package.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config (nothing was started).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exporter import __version__
from exporter.config import Config, ConfigError, load_config, parse_config, require_something_to_do
from exporter.history_cli import backfill as backfill_command
from exporter.history_cli import export as export_command
from exporter.history_cli import report as report_command
from exporter.httpserver import parse_listen
from exporter.logs import setup_logging
from exporter.stack_cli import stack as stack_group

if TYPE_CHECKING:
    from exporter.app import App
    from exporter.simulator import Simulator
    from exporter.simulator.traffic import TrafficGenerator

DEFAULT_PORT = 9877
SIMULATOR_PORT = 9878
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 110}

log = logging.getLogger("llmpulse")


def _fail_config(err: ConfigError) -> None:
    click.echo(f"error: invalid config\n{err}", err=True)
    sys.exit(2)


def _listen(value: str, default_port: int, option: str = "--listen") -> tuple[str, int]:
    try:
        return parse_listen(value, default_port)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="llmpulse")
def main() -> None:
    """llmpulse: a Prometheus exporter and monitoring bundle for LLM APIs (usage, cost, latency, errors,
    balances, provider status)."""


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML config file (see docs/config.md).",
)
@click.option("--listen", default=f"0.0.0.0:{DEFAULT_PORT}", help="HOST:PORT to serve /metrics on.")
@click.option("--demo", is_flag=True, help="No keys needed: start the built-in simulator in-process and poll it.")
@click.option(
    "--simulator-listen",
    default=f"127.0.0.1:{SIMULATOR_PORT}",
    help="With --demo: HOST:PORT of the simulator (its /_sim fault switches); port 0 picks a free one.",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
@click.option("--log-format", type=click.Choice(["logfmt", "json"]), default="logfmt")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for state kept across restarts (month-to-date high-water marks); overrides state_dir: "
    "in the config. Created if missing.",
)
def serve(
    config_path: Path | None,
    listen: str,
    demo: bool,
    simulator_listen: str,
    log_level: str,
    log_format: str,
    state_dir: Path | None,
) -> None:
    """Run the exporter: poll sources, run probes, accept events, serve /metrics."""
    setup_logging(log_level, log_format)
    host, port = _listen(listen, DEFAULT_PORT)
    sim_host, sim_port = _listen(simulator_listen, SIMULATOR_PORT, "--simulator-listen")
    if demo and config_path:
        raise click.UsageError("use either --demo or --config, not both")
    if not demo and not config_path:
        raise click.UsageError("give --config FILE (or --demo to try it with the built-in simulator)")
    sim_server = None
    sim = None
    if demo:
        from exporter.demo import DEMO_FAULTS, demo_config, set_demo_env
        from exporter.simulator import Simulator

        set_demo_env()
        sim = Simulator(faults=DEMO_FAULTS)
        try:
            sim_server = sim.serve(sim_host, sim_port)
        except OSError as exc:
            click.echo(
                f"error: the demo simulator cannot listen on {sim_host}:{sim_port}: {exc.strerror or exc} "
                "(choose another with --simulator-listen HOST:PORT)",
                err=True,
            )
            sys.exit(1)
        try:
            config: Config = parse_config(demo_config(sim_server.url), "<demo>")
        except ConfigError as err:
            _fail_config(err)
        log.info("demo mode: simulator on %s", sim_server.url)
    else:
        assert config_path is not None
        try:
            config = load_config(config_path)
            require_something_to_do(config)
        except ConfigError as err:
            _fail_config(err)
    state = _state_dir(state_dir, config)
    from exporter.app import App

    try:
        app = App(config, host, port, state_dir=state, simulator_url=sim_server.url if sim_server else None).start()
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    traffic = _demo_traffic(app, sim) if sim is not None else None
    _wait_for_signal()
    log.info("shutting down")
    if traffic is not None:
        traffic.stop()
    app.stop()
    if sim_server is not None:
        sim_server.stop()


def _state_dir(flag: Path | None, config: Config) -> Path | None:
    """The state directory (the flag wins over the config key), created and checked writable; exit 2 if not."""
    from exporter.state import prepare_dir

    path = flag or config.state_path
    if path is None:
        return None
    try:
        prepare_dir(path)
    except OSError as exc:
        where = "--state-dir" if flag else f"{config.path}: state_dir"
        click.echo(f"error: {where}: cannot use {str(path)!r} as the state directory: {exc.strerror or exc}", err=True)
        sys.exit(2)
    return path


def _demo_traffic(app: App, sim: Simulator) -> TrafficGenerator | None:
    """--demo: post simulated app traffic to our own /events (over HTTP, like a real client)."""
    if app.config.events is None:
        return None
    from exporter.simulator.traffic import TrafficGenerator, TrafficModel

    host = "127.0.0.1" if app.server.host in ("0.0.0.0", "") else app.server.host
    return TrafficGenerator(
        f"http://{host}:{app.server.port}/events", app.config.events.token, model=TrafficModel(faults=sim.faults)
    ).start()


@main.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
def check_config(config_file: Path) -> None:
    """Validate a config file; exit 2 with file, key path and reason for each problem."""
    try:
        config = load_config(config_file)
        require_something_to_do(config)
    except ConfigError as err:
        _fail_config(err)
    click.echo(
        f"{config_file}: OK ({_count(len(config.sources), 'source')}, {_count(len(config.probes), 'probe')}, "
        f"events {'on' if config.events else 'off'}, relay {'on' if config.relay else 'off'})"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@main.command()
@click.option("--listen", default=f"127.0.0.1:{SIMULATOR_PORT}", help="HOST:PORT for the simulated APIs.")
@click.option("--seed", default=42, show_default=True, help="Seed of the deterministic simulated data.")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="PROVIDER.SWITCH=VALUE",
    help="Start with a fault switch set, e.g. openai.error_rate=0.06 or '*.latency=0.3'. Repeatable.",
)
@click.option(
    "--events-url",
    metavar="URL",
    help="Also post simulated app traffic (calls, sessions, users) to this exporter's /events, "
    "e.g. http://127.0.0.1:9877 (follows the 'events' fault switches).",
)
@click.option(
    "--events-token-env",
    default="LLMPULSE_DEMO_EVENTS_TOKEN",
    metavar="VAR",
    help="Environment variable holding the exporter's events token (the demo token if unset).",
)
@click.option("--events-interval", default="2s", metavar="DURATION", help="How often to post a batch of events.")
@click.option(
    "--profile",
    type=click.Choice(["demo", "instant"]),
    default="demo",
    help="demo: realistic inference latency with rare slow calls and errors (below the default alert "
    "thresholds); instant: no added latency or errors. --fault switches apply on top.",
)
@click.option(
    "--org-size",
    metavar="PROJECTSxMODELSxKEYS",
    help="Serve generated OpenAI and Anthropic organizations of this size instead of the small hand-written ones, "
    "e.g. 10x10x10: 10 projects with 10 keys each, every key calling 10 models (1,000 project/model/key groups).",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def simulate(
    listen: str,
    seed: int,
    faults: tuple[str, ...],
    events_url: str | None,
    events_token_env: str,
    events_interval: str,
    profile: str,
    org_size: str | None,
    log_level: str,
) -> None:
    """Serve simulated provider APIs (OpenAI, Anthropic, DeepSeek, Moonshot, OpenRouter, SiliconFlow, Coze,
    status pages) with deterministic data and fault switches (see /_sim/state)."""
    setup_logging(log_level)
    traffic_args = _traffic_args(events_url, events_token_env, events_interval) if events_url else None
    from exporter.demo import DEMO_FAULTS
    from exporter.simulator import OrgSize, Simulator

    try:
        size = OrgSize.parse(org_size) if org_size else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--org-size") from None
    host, port = _listen(listen, SIMULATOR_PORT)
    spec: dict[str, dict[str, object]] = {k: dict(v) for k, v in DEMO_FAULTS.items()} if profile == "demo" else {}
    for item in faults:
        try:
            target, value = item.split("=", 1)
            provider, switch = target.split(".", 1)
            spec.setdefault(provider, {})[switch] = _scalar(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected PROVIDER.SWITCH=VALUE", param_hint="--fault") from None
    try:
        sim = Simulator(seed=seed, faults=spec, org_size=size)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from None
    try:
        server = sim.serve(host, port)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    log.info("simulator listening on %s (modules: %s)", server.url, ", ".join(sim.modules))
    traffic = None
    if traffic_args is not None:
        from exporter.simulator.traffic import TrafficGenerator, TrafficModel

        url, token, interval = traffic_args
        traffic = TrafficGenerator(
            url, token, interval=interval, model=TrafficModel(seed=seed, faults=sim.faults)
        ).start()
    _wait_for_signal()
    if traffic is not None:
        traffic.stop()
    server.stop()


def _traffic_args(url: str, token_env: str, interval: str) -> tuple[str, str, float]:
    """Check the --events-* options before anything starts: (events URL, token, interval seconds)."""
    import os

    from exporter.demo import DEMO_ENV
    from exporter.durations import parse_duration
    from exporter.simulator.traffic import events_endpoint

    try:
        endpoint = events_endpoint(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--events-url") from None
    try:
        seconds = parse_duration(interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--events-interval") from None
    token = (os.environ.get(token_env) or DEMO_ENV.get(token_env, "")).strip()
    if not token:
        raise click.BadParameter(
            f"environment variable {token_env} is not set or empty", param_hint="--events-token-env"
        )
    return endpoint, token, seconds


def _scalar(value: str) -> object:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"llmpulse {__version__}")


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config whose bundle: section sets thresholds, budgets and receivers (default: built-in).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Directory to write grafana/, prometheus/ and alertmanager/ into.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files on disk differ from the output.")
def generate(config_path: Path | None, out_dir: Path, check: bool) -> None:
    """Generate the Grafana dashboards, Prometheus rules and Alertmanager config from the metric contract."""
    from exporter.bundle.writer import run_generate

    config = None
    if config_path:
        try:
            config = load_config(config_path)
        except ConfigError as err:
            _fail_config(err)
    sys.exit(run_generate(config, out_dir, check))


main.add_command(stack_group, "stack")
main.add_command(backfill_command, "backfill")
main.add_command(export_command, "export")
main.add_command(report_command, "report")
