"""The stack's own generated files and the one table of its services, shared by docker compose and the native stack.

Why a table in code: ``docker-compose.yml`` (hand-written, because people read and adapt it) and ``llmpulse stack``
(which runs the same services from local binaries) must agree on service names, ports and where each generated
directory is mounted. :mod:`exporter.bundle.topology` turns this table into the addresses and paths each form of the
stack generates its configs with, and a test checks that ``docker-compose.yml`` mounts exactly the paths listed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_CONFIG_PATH = "examples/demo.yml"


@dataclass(frozen=True)
class Service:
    """One service of the stack: its compose name (also its host name in the compose network) and port."""

    name: str
    port: int
    health_path: str
    role: str
    #: the page a person opens (the exporter's landing page, Grafana...), relative to the service URL
    open_path: str = "/"
    #: further ports by role, e.g. mailpit's SMTP port; the native stack names them ``<service>_<role>``
    extra_ports: dict[str, int] = field(default_factory=dict)

    def port_names(self) -> dict[str, int]:
        """Every port of the service by its key in a ports mapping: ``name`` and ``name_<role>``."""
        return {self.name: self.port, **{f"{self.name}_{role}": p for role, p in self.extra_ports.items()}}


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("simulator", 9878, "/_sim/health", "simulated provider APIs (demo data, faults)", "/_sim/state"),
        Service("exporter", 9877, "/-/ready", "llmpulse exporter (/metrics, landing page)"),
        Service(
            "mailpit",
            8025,
            "/readyz",
            "mail catcher: where Alertmanager's notifications arrive (web UI)",
            extra_ports={"smtp": 1025},
        ),
        Service("alertmanager", 9093, "/-/ready", "Alertmanager (routing, grouping, silences)"),
        Service("prometheus", 9090, "/-/ready", "Prometheus (scrapes the exporter, evaluates rules)", "/alerts"),
        Service("grafana", 3000, "/api/health", "Grafana (dashboards)", "/dashboards"),
    )
}

#: Start order (each service's dependencies come first); shutdown runs in reverse.
START_ORDER = ("simulator", "exporter", "mailpit", "alertmanager", "prometheus", "grafana")

#: Where docker-compose.yml mounts each generated repo path (read-only) inside the containers. The native stack
#: generates these paths as files in its working directory instead (see exporter.bundle.topology).
COMPOSE_MOUNTS: dict[str, tuple[str, str]] = {
    # repo path: (service, container path)
    DEMO_CONFIG_PATH: ("exporter", "/etc/llmpulse/config.yml"),
    "prometheus/prometheus.yml": ("prometheus", "/etc/prometheus/prometheus.yml"),
    "prometheus/rules": ("prometheus", "/etc/prometheus/rules"),
    "alertmanager/alertmanager.yml": ("alertmanager", "/etc/alertmanager/alertmanager.yml"),
    "alertmanager/templates": ("alertmanager", "/etc/alertmanager/templates"),
    "grafana/provisioning": ("grafana", "/etc/grafana/provisioning"),
    "grafana/dashboards": ("grafana", "/var/lib/grafana/dashboards"),
}

#: The exporter config's directory inside the container (relative api_key_file paths resolve against it).
EXPORTER_CONFIG_DIR = "/etc/llmpulse"


def all_ports() -> dict[str, int]:
    """Every port of every service by key (``exporter``, ``mailpit``, ``mailpit_smtp``...)."""
    return {key: port for svc in SERVICES.values() for key, port in svc.port_names().items()}


def service_url(name: str) -> str:
    """The URL of a service inside the compose network, e.g. ``http://simulator:9878``."""
    svc = SERVICES[name]
    return f"http://{svc.name}:{svc.port}"
