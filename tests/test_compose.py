"""docker-compose.yml, its demo overlay, the Dockerfile and the example configs.

There is no Docker engine here, so the stack cannot be started; what can be checked is checked: Debian's
docker-compose 1.29 validates the files (`config -q`), compose mounts exactly the generated files (the same ones the
native stack rewrites and the end-to-end tests run), the generated configs name the compose services on the ports
the compose file gives them, and the file follows the house rules (pinned images, loopback ports, healthchecks,
hardened exporter, no default admin password).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from helpers import ROOT, free_port, stop_process, wait_http_ok

from exporter.bundle.demofile import stack_files
from exporter.bundle.stackfiles import COMPOSE_MOUNTS, DEMO_CONFIG_PATH, SERVICES
from exporter.config import parse_config
from exporter.demo import DEMO_ENV

BASE = ROOT / "docker-compose.yml"
DEMO = ROOT / "docker-compose.override.yml"
SECRETS_TARGET = "/etc/llmpulse/secrets"
#: The backfill profile's one-shots (docs/history.md; tests/test_backfill_compose.py runs their commands).
ONE_SHOTS = {"backfill", "backfill-import"}
_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's variable substitution (``${VAR}``, ``${VAR:-default}``, ``$$``) with an empty environment."""
    env = env or {}

    def sub(m: re.Match[str]) -> str:
        if m.group("name") in env:
            return env[m.group("name")]
        if m.group("op") == "-":
            return m.group("arg")
        if m.group("op") == "?":
            raise AssertionError(f"{m.group('name')} is required: {m.group('arg')}")
        return ""

    return _VAR.sub(sub, value).replace("$$", "$")


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _compose() -> dict[str, Any]:
    """docker-compose.yml with the demo overlay merged in (services: deep merge of mappings, as compose does)."""
    base = _load(BASE)
    for name, overlay in _load(DEMO)["services"].items():
        svc = base["services"].setdefault(name, {})
        for key, value in overlay.items():
            if isinstance(value, dict) and isinstance(svc.get(key), dict):
                svc[key] = {**svc[key], **value}
            else:
                svc[key] = value
    return base


def _bind_mounts(compose: dict[str, Any]) -> set[tuple[str, str, str, bool]]:
    """(service, repo path, container path, read-only) of every bind mount (named volumes left out)."""
    mounts = set()
    for name, svc in compose["services"].items():
        for spec in svc.get("volumes", []):
            parts = _interpolate(spec).split(":")
            source, target = parts[0], parts[1]
            if not source.startswith((".", "/")):
                continue  # a named volume
            rel = os.path.normpath(source).replace(os.sep, "/")
            mounts.add((name, rel, target, parts[2:] == ["ro"]))
    return mounts


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMPOSE_", "LLMPULSE_", "GRAFANA_", "PROMETHEUS_", "ALERTMANAGER_", "MAILPIT_"))
    }
    return env


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle as `llmpulse generate` writes it with the default settings (what the repo must contain)."""
    from exporter.bundle.writer import run_generate

    out = tmp_path_factory.mktemp("bundle")
    assert run_generate(None, out, False) == 0
    return out


# --- docker-compose 1.29 ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (CI installs Debian's docker-compose 1.29)",
)
@pytest.mark.parametrize(
    ("files", "env", "services"),
    [
        # docker-compose 1.29 lists the services of every profile
        pytest.param(
            [], {}, {"simulator", "exporter", "mailpit", "alertmanager", "prometheus", "grafana", *ONE_SHOTS}, id="demo"
        ),
        pytest.param(
            ["-f", "docker-compose.yml"],
            {"LLMPULSE_CONFIG": "./examples/real.yml"},
            {"exporter", "mailpit", "alertmanager", "prometheus", "grafana", *ONE_SHOTS},
            id="real-keys",
        ),
    ],
)
def test_docker_compose_config_validates(
    tmp_path: Path, files: list[str], env: dict[str, str], services: set[str]
) -> None:
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    cmd = ["docker-compose", "--env-file", str(empty_env_file), *files]
    run_env = {**_clean_env(), **env}
    check = subprocess.run([*cmd, "config", "-q"], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    listed = subprocess.run(
        [*cmd, "config", "--services"], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60
    )
    assert set(listed.stdout.split()) == services, listed.stderr
    resolved = yaml.safe_load(
        subprocess.run([*cmd, "config"], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60).stdout
    )
    if "LLMPULSE_CONFIG" in env:  # the switch to real keys mounts the user's config instead of the demo
        for name in ("exporter", "backfill"):
            volumes = resolved["services"][name]["volumes"]
            assert any(
                str(v).startswith(str(ROOT / "examples/real.yml") + ":/etc/llmpulse/config.yml") for v in volumes
            )


# --- compose mounts exactly the generated files -----------------------------------------------------------------------
def test_compose_mounts_exactly_the_table_shared_with_the_native_stack() -> None:
    mounts = _bind_mounts(_compose())
    secret_targets = (SECRETS_TARGET, "/etc/alertmanager/secrets")
    config_mounts = {(s, p, t, ro) for s, p, t, ro in mounts if t not in secret_targets}
    expected = {(svc, repo, target, True) for repo, (svc, target) in COMPOSE_MOUNTS.items()}
    # the backfill one-shot reads the providers with the exporter's config
    expected.add(("backfill", DEMO_CONFIG_PATH, COMPOSE_MOUNTS[DEMO_CONFIG_PATH][1], True))
    assert config_mounts == expected
    for _, repo, _, _ in config_mounts:
        assert (ROOT / repo).exists(), f"compose mounts {repo}, which is not in the repository"
    secrets = sorted(m for m in mounts if m[2] in secret_targets)
    # the relay's token is shared: the exporter checks it, Alertmanager sends it
    assert secrets == [
        ("alertmanager", "examples/secrets", "/etc/alertmanager/secrets", True),
        ("backfill", "examples/secrets", SECRETS_TARGET, True),
        ("exporter", "examples/secrets", SECRETS_TARGET, True),
    ]
    assert (ROOT / "examples/secrets").is_dir()


def test_mounted_files_are_exactly_what_the_generator_writes(generated: Path) -> None:
    gen_files = {p.relative_to(generated).as_posix() for p in generated.rglob("*") if p.is_file()}
    gen_files |= set(stack_files())
    covered: set[str] = set()
    for repo in COMPOSE_MOUNTS:
        in_repo = ROOT / repo
        if in_repo.is_file():
            expected = stack_files()[repo] if repo in stack_files() else (generated / repo).read_text()
            assert in_repo.read_text() == expected, f"{repo} differs from the generator's output: run llmpulse generate"
            covered.add(repo)
            continue
        repo_files = {p.relative_to(ROOT).as_posix() for p in in_repo.rglob("*") if p.is_file()}
        want = {f for f in gen_files if f.startswith(repo + "/")}
        assert repo_files == want, f"{repo}/ holds files the generator does not write (or misses some)"
        for f in want:
            assert (ROOT / f).read_text() == (generated / f).read_text(), f"{f} is stale: run llmpulse generate"
        covered |= want
    # Everything generated is mounted, except the validators' inputs (rule unit tests, routing tests) and what is
    # generated for other topologies (the Kubernetes manifests, the monitoring mixin).
    other_topologies = ("docs/", "deploy/", "mixin/")
    unmounted = {f for f in gen_files - covered if "/tests/" not in f and not f.startswith(other_topologies)}
    assert unmounted == set(), f"generated but not mounted by docker-compose.yml: {sorted(unmounted)}"


def _container_files(generated: Path) -> dict[str, str]:
    """Container path -> generated repo path, for every file compose mounts."""
    out = {}
    for repo, (_, target) in COMPOSE_MOUNTS.items():
        src = generated / repo if (generated / repo).exists() else ROOT / repo
        if src.is_file():
            out[target] = repo
        else:
            for f in src.rglob("*"):
                if f.is_file():
                    out[f"{target}/{f.relative_to(src).as_posix()}"] = f"{repo}/{f.relative_to(src).as_posix()}"
    return out


def _service_addresses() -> set[str]:
    return {f"{name}:{port}" for name, svc in SERVICES.items() for port in (svc.port, *svc.extra_ports.values())}


def test_generated_configs_reach_the_compose_services_and_mounted_paths(generated: Path) -> None:
    services = _service_addresses()
    in_container = _container_files(generated)

    prom = _load(generated / "prometheus/prometheus.yml")
    prom_dir = PurePosixPath(COMPOSE_MOUNTS["prometheus/prometheus.yml"][1]).parent
    for job in prom["scrape_configs"]:
        for sc in job.get("static_configs", []):
            for target in sc["targets"]:
                assert target in services or target == f"localhost:{SERVICES['prometheus'].port}", target
    for am in prom["alerting"]["alertmanagers"]:
        for sc in am["static_configs"]:
            assert set(sc["targets"]) <= services
    for pattern in prom["rule_files"]:
        full = str(prom_dir / pattern)
        matched = [p for p in in_container if fnmatch(p, full)]
        assert matched, f"rule_files {pattern!r} matches no mounted file"
    assert any(p.startswith("/etc/prometheus/rules/") for p in in_container)

    am = _load(generated / "alertmanager/alertmanager.yml")
    am_dir = PurePosixPath(COMPOSE_MOUNTS["alertmanager/alertmanager.yml"][1]).parent
    for pattern in am.get("templates", []):
        full = pattern if pattern.startswith("/") else str(am_dir / pattern)
        assert [p for p in in_container if fnmatch(p, full)], f"templates {pattern!r} matches no mounted file"
    hosts = []
    for receiver in am["receivers"]:
        hosts += [c["smarthost"] for c in receiver.get("email_configs", [])]
        hosts += [
            re.sub(r"^https?://([^/]+).*$", r"\1", c["url"]) for c in receiver.get("webhook_configs", []) if "url" in c
        ]
    assert hosts, "the default Alertmanager config should deliver somewhere"
    default_hosts = [h for h in hosts if not h.startswith(("127.", "localhost"))]
    assert set(default_hosts) <= services, f"receivers point at hosts compose does not run: {default_hosts}"
    assert f"mailpit:{SERVICES['mailpit'].extra_ports['smtp']}" in hosts, "notifications must reach mailpit"

    provisioning = generated / "grafana/provisioning"
    urls, paths = [], []
    for f in provisioning.rglob("*.y*ml"):
        data = _load(f)
        urls += [d.get("url", "") for d in data.get("datasources", [])]
        paths += [p.get("options", {}).get("path", "") for p in data.get("providers", [])]
    assert f"http://prometheus:{SERVICES['prometheus'].port}" in urls
    dash_root = COMPOSE_MOUNTS["grafana/dashboards"][1]
    assert paths and all(p == dash_root or p.startswith(dash_root + "/") for p in paths), paths
    assert any(p.startswith(dash_root + "/") and p.endswith(".json") for p in in_container)


# --- house rules of the compose file ----------------------------------------------------------------------------------
def test_compose_file_has_no_keys_docker_compose_1_29_rejects_or_warns_about() -> None:
    for path in (BASE, DEMO):
        data = _load(path)
        assert "version" not in data and "name" not in data


def test_images_are_pinned_and_ports_bound_to_loopback() -> None:
    compose = _compose()
    for name, svc in compose["services"].items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"
        if "build" not in svc:
            assert re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: pin an exact version ({image})"
        for port in svc.get("ports", []):
            assert _interpolate(str(port)).startswith("127.0.0.1:"), f"{name}: publish {port} on 127.0.0.1 only"


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    compose = _compose()
    for name, svc in compose["services"].items():
        if name in ONE_SHOTS:
            # a one-shot is done when it exits; the next one waits for its success, not its health
            assert svc["healthcheck"] == {"disable": True} and svc["restart"] == "no", name
            assert svc["profiles"] == ["backfill"], f"{name} must not run with a plain `docker compose up`"
            for dep, cond in (svc.get("depends_on") or {}).items():
                want = "service_completed_successfully" if dep in ONE_SHOTS else "service_healthy"
                assert cond == {"condition": want}, f"{name} -> {dep}"
            continue
        hc = svc.get("healthcheck")
        assert hc and hc["test"], f"{name} has no healthcheck"
        assert {"interval", "timeout", "retries", "start_period"} <= set(hc), f"{name}: set the healthcheck timings"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}"
            assert dep in compose["services"]
    deps = {n: set(s.get("depends_on") or {}) for n, s in compose["services"].items()}
    assert deps["prometheus"] >= {"exporter", "alertmanager"}
    assert deps["grafana"] >= {"prometheus"}
    assert deps["alertmanager"] >= {"mailpit"}
    assert deps["exporter"] >= {"simulator"}  # from the demo overlay only
    assert "depends_on" not in _load(BASE)["services"]["exporter"]


def test_exporter_and_simulator_are_hardened() -> None:
    compose = _compose()
    for name in ("exporter", "simulator", *ONE_SHOTS):
        svc = compose["services"][name]
        assert svc["read_only"] is True
        assert "/tmp" in svc["tmpfs"]
        assert svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]


def test_state_lives_in_named_volumes() -> None:
    compose = _compose()
    named = set(compose["volumes"])
    for service, target in (
        ("prometheus", "/prometheus"),
        ("grafana", "/var/lib/grafana"),
        ("alertmanager", "/alertmanager"),
    ):
        vols = [v.split(":") for v in compose["services"][service]["volumes"]]
        assert any(src in named and dst == target for src, dst, *_ in vols), f"{service}: {target} not a volume"


def test_grafana_admin_password_is_never_the_default() -> None:
    grafana = _compose()["services"]["grafana"]
    env = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env  # only from .env or generated, never a literal
    script = "\n".join(grafana["command"])
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in script and "/dev/urandom" in script
    assert script.rstrip().endswith("exec /run.sh")
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"


def test_every_variable_the_compose_files_read_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    used = set()
    for path in (BASE, DEMO):
        used |= {m.group("name") for m in _VAR.finditer(path.read_text())}
    assert used - documented == set()
    assert {"COMPOSE_FILE", "LLMPULSE_CONFIG"} <= documented  # the two switches to real keys


# --- Dockerfile -------------------------------------------------------------------------------------------------------
def test_dockerfile_builds_a_small_non_root_image_without_secrets() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.replace("\\\n", " ").splitlines() if ln.strip() and not ln.startswith("#")]
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1)), "pin the slim Python base"
    assert sum(ln.startswith("FROM ") for ln in lines) == 2, "multi-stage: build, then runtime"
    user = [ln for ln in lines if ln.startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("0", "root")
    assert any(ln.startswith("HEALTHCHECK ") and "/-/healthy" in text for ln in lines)
    assert 'ENTRYPOINT ["llmpulse"]' in lines
    for ln in lines:
        if ln.startswith(("ENV ", "ARG ")):
            assert not re.search(r"(KEY|TOKEN|SECRET|PASSWORD)\w*=", ln), f"no secrets in the image: {ln}"


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    rules = [
        ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert rules[0] == "*", "deny by default: .env, secrets/ and .git stay out of the build context"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = set()
    for ln in (ROOT / "Dockerfile").read_text().splitlines():
        if ln.startswith("COPY ") and "--from" not in ln:
            copied |= {s.rstrip("/") for s in ln.split()[1:-1]}
    assert copied <= allowed
    missing = sorted(c for c in copied if not (ROOT / c).exists())
    assert not missing, f"the image build copies files the repository lacks: {missing}"


# --- example configs --------------------------------------------------------------------------------------------------
def test_demo_config_is_generated_valid_and_polls_the_compose_simulator() -> None:
    text = (ROOT / DEMO_CONFIG_PATH).read_text()
    assert text == stack_files()[DEMO_CONFIG_PATH], "examples/demo.yml is stale: run llmpulse generate"
    assert text.startswith("# GENERATED")
    data = yaml.safe_load(text)
    env_before = dict(os.environ)
    os.environ.update(DEMO_ENV)
    try:
        config = parse_config(data, DEMO_CONFIG_PATH)
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    sim = f"http://simulator:{SERVICES['simulator'].port}"
    assert config.sources and all(s.base_url.startswith(sim) for s in config.sources)
    assert all(p.base_url.startswith(sim) for p in config.probes)
    # The compose exporter has every variable the demo config reads.
    exporter_env = _compose()["services"]["exporter"]["environment"]
    for var in re.findall(r"(?:api_key_env|token_env): (\S+)", text):
        assert exporter_env.get(var) == DEMO_ENV[var]


def test_real_keys_example_is_valid_and_its_variables_reach_the_container(monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "examples/real.yml"
    text = path.read_text()
    variables = set(re.findall(r"(?:api_key_env|token_env): (\S+)", text))
    assert variables
    for var in variables:
        monkeypatch.setenv(var, "dummy-value-for-validation")
    config = parse_config(yaml.safe_load(text), str(path))
    assert config.sources and config.probes and config.events
    exporter_env = _compose()["services"]["exporter"]["environment"]
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    for var in variables:
        assert exporter_env.get(var) == f"${{{var}:-}}", f"{var} is not passed to the exporter container"
        assert var in documented, f"{var} is not documented in .env.example"


def test_every_service_has_memory_and_pids_limits() -> None:
    """A flood or a leak in one container is stopped by the kernel instead of taking the host down."""
    for name, svc in _compose()["services"].items():
        assert svc.get("mem_limit"), f"{name}: no mem_limit"
        assert isinstance(svc.get("pids_limit"), int) and 0 < svc["pids_limit"] <= 1024, f"{name}: pids_limit"


def test_prometheus_lifecycle_api_is_off() -> None:
    """--web.enable-lifecycle lets anything that reaches the port POST /-/quit; reload with SIGHUP instead."""
    command = _compose()["services"]["prometheus"]["command"]
    assert not any("enable-lifecycle" in str(arg) for arg in command)


def test_the_exporter_keeps_its_state_in_a_named_volume() -> None:
    compose = _compose()
    exporter_svc = compose["services"]["exporter"]
    command = exporter_svc["command"]
    state_dir = command[command.index("--state-dir") + 1]
    vols = [v.split(":") for v in exporter_svc["volumes"]]
    assert any(src in compose["volumes"] and dst == state_dir for src, dst, *_ in vols)
    assert "/var/lib/llmpulse" in (ROOT / "Dockerfile").read_text()


def test_the_dockerfile_docker_run_examples_run(tmp_path: Path) -> None:
    """Each `docker run ... llmpulse:local [ARGS]` example of the Dockerfile, run as the image would run it (the
    entrypoint is `llmpulse`, no arguments means the CMD), becomes ready; only the listen ports are free ones."""
    text = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    examples = [shlex.split(m) for m in re.findall(r"^#\s+(docker run .*)$", text, re.M)]
    assert len(examples) == 2
    config = tmp_path / "config.yml"
    config.write_text("sources:\n  - {type: statuspage, name: s, base_url: 'http://127.0.0.1:9'}\n")
    for example in examples:
        args = example[example.index("llmpulse:local") + 1 :] or list(cmd)
        port = free_port()
        args = [f"0.0.0.0:{port}" if a == "0.0.0.0:9877" else a for a in args]
        args = [str(config) if a == "/etc/llmpulse/config.yml" else a for a in args]
        if "--demo" in args:
            args += ["--simulator-listen", "127.0.0.1:0"]  # the container's own 9878, a free one here
        log = tmp_path / f"llmpulse-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "exporter", *args], cwd=tmp_path, stdout=out, stderr=out)
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/-/healthy", proc, 30, " ".join(args), log.read_text)
        finally:
            stop_process(proc)
