"""The Kubernetes manifests (deploy/kubernetes, deploy/kube-prometheus-stack) validated without a cluster.

- ``kubectl kustomize`` builds the base and the kube-prometheus-stack overlay (the kubectl on these machines
  embeds kustomize; it runs offline).
- ``kubernetes-validate`` (the Kubernetes OpenAPI schemas, strict: no unknown field) accepts every core object.
- The ServiceMonitor, PrometheusRule and AlertmanagerConfig validate against the Prometheus Operator's published
  CRD schemas (the npm package ``@kubernetes-models/prometheus-operator``, run by tests/k8s/validate-crds.mjs).
- The PrometheusRule holds exactly the generated rules: equal groups, ``promtool check rules`` and every generated
  rule unit test pass against it.
- Each dashboard ConfigMap carries the very JSON of grafana/, with the sidecar's label and folder annotation.
- ``generate --config`` moves namespace, image, labels and job name.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helpers import ROOT, run_cli

from exporter.bundle.kubernetes.kustomize import BASE_DIR, CONFIG_FILE, OVERLAY_DIR
from exporter.bundle.rules import ALERTS_FILE, RULES_FILE

KUBECTL = shutil.which("kubectl")
PROMTOOL = shutil.which("promtool")
NODE = shutil.which("node")
CRD_CHECK = ROOT / "tests" / "k8s"
#: The Kubernetes minor whose schemas the core objects must satisfy (kubernetes-validate ships them).
KUBERNETES_VERSION = "1.29"

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) is not installed")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")
needs_crd_schemas = pytest.mark.skipif(
    NODE is None or not (CRD_CHECK / "node_modules" / "@kubernetes-models" / "prometheus-operator").is_dir(),
    reason="the Operator's schemas are not installed (npm ci --prefix tests/k8s; .ci/run does it)",
)


class _KustomizeLoader(yaml.SafeLoader):
    """kustomize prints ``matchType: =`` unquoted, which YAML 1.1 (PyYAML) reads as the obscure ``!!value`` tag;
    Go's YAML (kubectl) reads a string. Read it as the string it is."""


_KustomizeLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def kustomize(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.load_all(result.stdout, Loader=_KustomizeLoader) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl (with kustomize) is not installed")
    return kustomize(ROOT / BASE_DIR)


@pytest.fixture(scope="module")
def operator_install() -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl (with kustomize) is not installed")
    return kustomize(ROOT / OVERLAY_DIR)


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


# --- kustomize and the core schemas -------------------------------------------------------------------------------
@needs_kubectl
def test_base_holds_core_objects_only_and_the_overlay_adds_the_operator_resources(
    base: list[dict[str, Any]], operator_install: list[dict[str, Any]]
) -> None:
    core = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"}
    assert {o["kind"] for o in base} == core
    assert {o["kind"] for o in operator_install} == core | {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}
    assert all(o["metadata"]["namespace"] == "monitoring" for o in operator_install)
    assert not [o for o in base if o["apiVersion"].startswith("monitoring.coreos.com")]


@needs_kubectl
def test_every_core_object_validates_against_the_kubernetes_schemas(base: list[dict[str, Any]]) -> None:
    for obj in base:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    # The validator is strict: an unknown field is refused (so the loop above can fail).
    deployment = json.loads(json.dumps(_one(base, "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@needs_kubectl
def test_the_deployment_is_hardened_probed_and_configured(base: list[dict[str, Any]]) -> None:
    deployment = _one(base, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["envFrom"] == [{"secretRef": {"name": "llmpulse-keys", "optional": True}}]
    # The config volume is the ConfigMap kustomize generated from config.yml (its name carries the content hash).
    (config_map,) = [c for c in by_kind(base, "ConfigMap") if c["metadata"]["name"].startswith("llmpulse-config-")]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert config_map["data"]["config.yml"] == (ROOT / CONFIG_FILE).read_text()
    # Every mount that is written to is an emptyDir (the root filesystem is read-only).
    for mount in container["volumeMounts"]:
        assert mount.get("readOnly") or "emptyDir" in volumes[mount["name"]], mount


def test_the_starter_config_is_a_valid_exporter_config() -> None:
    result = run_cli("check-config", str(ROOT / CONFIG_FILE))
    assert result.returncode == 0, result.stderr


@needs_kubectl
def test_service_pdb_and_network_policy_select_the_pods(base: list[dict[str, Any]]) -> None:
    pod_labels = _one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service = _one(base, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert _one(base, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    policy = _one(base, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    # Scrapes from Prometheus pods and /events from pods: both rules open the exporter's port and nothing else.
    assert len(policy["spec"]["ingress"]) == 2
    assert all(rule["ports"] == [{"port": "http", "protocol": "TCP"}] for rule in policy["spec"]["ingress"])


# --- the Operator's resources -------------------------------------------------------------------------------------
def _validate_crds(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(NODE), str(CRD_CHECK / "validate-crds.mjs")],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@needs_kubectl
@needs_crd_schemas
def test_operator_resources_validate_against_the_operator_schemas(operator_install: list[dict[str, Any]]) -> None:
    crds = [o for o in operator_install if o["apiVersion"].startswith("monitoring.coreos.com")]
    assert {o["kind"] for o in crds} == {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}
    # A broken copy of each proves the schemas bite.
    broken = json.loads(json.dumps(crds))
    for obj in broken:
        if obj["kind"] == "ServiceMonitor":
            obj["spec"]["endpoints"][0]["interval"] = "every minute"
        elif obj["kind"] == "PrometheusRule":
            obj["spec"]["groups"][0]["rules"][0]["for"] = "soon"
        else:
            obj["spec"]["route"]["groupWait"] = "later"
    results = _validate_crds(crds + broken)
    assert [r["error"] for r in results[: len(crds)]] == [None] * len(crds), results
    assert all(r["error"] for r in results[len(crds) :]), results


@needs_kubectl
def test_service_monitor_scrapes_the_service_with_the_rules_job_label(operator_install: list[dict[str, Any]]) -> None:
    monitor = _one(operator_install, "ServiceMonitor")
    service = _one(operator_install, "Service")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert {"action": "replace", "targetLabel": "job", "replacement": "llmpulse"} in endpoint["relabelings"]


def _rule_file_groups(*paths: str) -> list[dict[str, Any]]:
    return [group for path in paths for group in yaml.safe_load((ROOT / path).read_text())["groups"]]


@needs_kubectl
def test_prometheus_rule_holds_exactly_the_generated_rules(operator_install: list[dict[str, Any]]) -> None:
    rule = _one(operator_install, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"]["groups"] == _rule_file_groups(RULES_FILE, ALERTS_FILE)


@needs_kubectl
@needs_promtool
def test_prometheus_rule_groups_pass_promtool_and_the_rule_unit_tests(
    operator_install: list[dict[str, Any]], tmp_path: Path
) -> None:
    rules = tmp_path / "rules" / "prometheusrule.yml"
    rules.parent.mkdir()
    rules.write_text(yaml.safe_dump({"groups": _one(operator_install, "PrometheusRule")["spec"]["groups"]}))
    check = subprocess.run([str(PROMTOOL), "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    test_files = sorted((ROOT / "prometheus" / "tests").glob("*.yml"))
    assert test_files
    for path in test_files:
        data = yaml.safe_load(path.read_text())
        data["rule_files"] = ["../rules/prometheusrule.yml"]
        (tests_dir / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    result = subprocess.run(
        [str(PROMTOOL), "test", "rules", *sorted(str(p) for p in tests_dir.glob("*.yml"))],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


@needs_kubectl
def test_alertmanager_config_has_the_bundles_routes_and_inhibitions(operator_install: list[dict[str, Any]]) -> None:
    alertmanager = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    spec = _one(operator_install, "AlertmanagerConfig")["spec"]
    assert [r["receiver"] for r in spec["route"]["routes"]] == [r["receiver"] for r in alertmanager["route"]["routes"]]
    assert spec["route"]["groupBy"] == alertmanager["route"]["group_by"]
    assert len(spec["inhibitRules"]) == len(alertmanager["inhibit_rules"])
    assert {r["name"] for r in spec["receivers"]} == {r["name"] for r in alertmanager["receivers"]}
    matchers = [
        f'{m["name"]}{m["matchType"]}"{m["value"]}"' for route in spec["route"]["routes"] for m in route["matchers"]
    ]
    assert matchers == [m for route in alertmanager["route"]["routes"] for m in route["matchers"]]


# --- dashboards ---------------------------------------------------------------------------------------------------
@needs_kubectl
def test_each_dashboard_config_map_carries_the_grafana_json(base: list[dict[str, Any]]) -> None:
    boards = sorted((ROOT / "grafana" / "dashboards" / "llmpulse").glob("*.json"))
    maps = [c for c in by_kind(base, "ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(maps) == len(boards) > 0
    carried = {}
    for config_map in maps:
        assert config_map["metadata"]["annotations"]["grafana_folder"] == "llmpulse"
        ((name, text),) = config_map["data"].items()
        carried[name] = text
    for board in boards:
        assert carried[board.name] == board.read_text(), f"{board.name} differs from its ConfigMap"
        json.loads(carried[board.name])


# --- customisation ------------------------------------------------------------------------------------------------
@needs_kubectl
def test_generate_config_moves_namespace_image_labels_and_job(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    bundle = {
        "prometheus": {"job": "llm-exporter"},
        "kubernetes": {
            "namespace": "observability",
            "image": "registry.example.com/llmpulse:1.2.3",
            "replicas": 3,
            "labels": {"team": "platform"},
            "monitor_labels": {"release": "prom"},
        },
    }
    config.write_text(yaml.safe_dump({"bundle": bundle}))
    out = tmp_path / "out"
    result = run_cli("generate", "--config", str(config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    objects = kustomize(out / OVERLAY_DIR)
    assert {o["metadata"]["namespace"] for o in objects} == {"observability"}
    assert all(o["metadata"]["labels"]["team"] == "platform" for o in objects)
    deployment = _one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/llmpulse:1.2.3"
    monitor = _one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["relabelings"][0]["replacement"] == "llm-exporter"
    exprs = [r["expr"] for g in _one(objects, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]
    assert any('up{job="llm-exporter"}' in expr for expr in exprs)


def test_a_bad_kubernetes_setting_is_refused_with_its_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"bundle": {"kubernetes": {"namespace": "Not_A_Namespace"}}}))
    result = run_cli("generate", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "bundle.kubernetes.namespace" in result.stderr
    assert not (tmp_path / "out").exists()


def test_alertmanager_config_takes_webhooks_and_relay_bots_with_tokens_from_a_secret() -> None:
    from exporter.bundle.kubernetes.amconfig import alertmanager_config
    from exporter.bundle.settings import BundleConfig

    settings = BundleConfig.model_validate(
        {
            "receivers": {
                "webhooks": [
                    {"name": "hook", "url": "https://hooks.example.com/x", "bearer_token_file": "/run/s/hook-token"}
                ],
                "relay": {"bots": [{"name": "ops", "target": "feishu", "severities": ["critical"]}]},
                "watchdog_url": "https://hc.example.com/ping",
            }
        }
    )
    receivers = {r["name"]: r for r in alertmanager_config(settings)["spec"]["receivers"]}
    critical = receivers["critical"]["webhookConfigs"]
    assert critical[0]["url"] == "https://hooks.example.com/x"
    assert critical[0]["httpConfig"]["authorization"]["credentials"] == {
        "name": "llmpulse-alertmanager",
        "key": "hook-token",
    }
    # The default relay URL (compose's exporter:9877) becomes the exporter's Service in the cluster.
    assert critical[1]["url"] == "http://llmpulse.monitoring.svc:9877/relay/feishu/ops"
    assert [h["url"] for h in receivers["warning"]["webhookConfigs"]] == ["https://hooks.example.com/x"]
    assert receivers["watchdog"]["webhookConfigs"] == [{"url": "https://hc.example.com/ping", "sendResolved": False}]


@needs_promtool
def test_remote_write_snippets_in_the_docs_pass_promtool(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "kubernetes.md").read_text()
    snippets = re.findall(r"<!-- promtool check config -->\n```yaml\n(.*?)```", doc, flags=re.S)
    assert len(snippets) == 3, "Mimir, Thanos and VictoriaMetrics"
    for i, snippet in enumerate(snippets):
        assert "remote_write" in snippet
        path = tmp_path / f"snippet{i}.yml"
        path.write_text(snippet)
        result = subprocess.run(
            [str(PROMTOOL), "check", "config", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"snippet {i}:\n{snippet}\n{result.stdout}{result.stderr}"


def test_events_senders_can_be_narrowed_to_namespaces() -> None:
    from exporter.bundle.kubernetes.settings import KubernetesSettings
    from exporter.bundle.kubernetes.workload import network_policy

    policy = network_policy(KubernetesSettings(events_from_namespaces=["apps", "monitoring"]))
    (sender,) = policy["spec"]["ingress"][1]["from"]
    assert sender["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["apps", "monitoring"]}
    ]
    kubernetes_validate.validate(policy, KUBERNETES_VERSION, strict=True)
    with pytest.raises(ValueError, match="not a namespace name"):
        KubernetesSettings(events_from_namespaces=["Apps!"])


def test_the_containers_arguments_are_what_serve_accepts() -> None:
    """The Deployment's command line parses with the real `serve` command (the mounted config replaced by the file
    the ConfigMap is made from), so a renamed or removed option cannot ship."""
    import click

    from exporter.bundle.kubernetes.settings import KubernetesSettings
    from exporter.bundle.kubernetes.workload import CONFIG_DIR, deployment
    from exporter.cli import main

    (container,) = deployment(KubernetesSettings())["spec"]["template"]["spec"]["containers"]
    command, *args = container["args"]
    assert command == "serve"
    args = [str(ROOT / CONFIG_FILE) if a == f"{CONFIG_DIR}/config.yml" else a for a in args]
    serve = main.get_command(click.Context(main), command)
    assert serve is not None
    params = serve.make_context(command, args).params
    assert params["config_path"] == ROOT / CONFIG_FILE
    assert params["listen"] == "0.0.0.0:9877"


@needs_kubectl
def test_the_documented_overlay_replaces_config_and_image(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "kubernetes.md").read_text()
    (overlay,) = re.findall(r"```yaml\n# my-llmpulse/kustomization.yaml\n(.*?)```", doc, flags=re.S)
    shutil.copytree(ROOT / "deploy", tmp_path / "llmpulse" / "deploy")
    mine = tmp_path / "my-llmpulse"
    mine.mkdir()
    (mine / "kustomization.yaml").write_text(overlay)
    (mine / "config.yml").write_text((ROOT / "examples" / "real.yml").read_text())
    objects = kustomize(mine)
    (config_map,) = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"].startswith("llmpulse-config-")]
    assert config_map["data"]["config.yml"] == (ROOT / "examples" / "real.yml").read_text()
    pod = _one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example.com/llmpulse:0.1.0"
    assert {v["name"]: v for v in pod["volumes"]}["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert _one(objects, "PrometheusRule")
