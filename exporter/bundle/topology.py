"""Where the stack's services are and where its generated files are read from: what the bundle is generated for.

The bundle names other services in several places (Prometheus' scrape targets and Alertmanager, Alertmanager's mail
smarthost and the relay's URL, Grafana's datasources and dashboard directory, the demo config's simulator). Those
names depend on how the stack runs: in docker compose the services reach each other by service name
(``exporter:9877``) and read the files where compose mounts them (``/var/lib/grafana/dashboards``); the native
stack (``llmpulse stack up``) runs them on loopback ports it chose and reads the files from its working directory;
a Kubernetes deployment has its own service names. The generators ask a :class:`Topology` for each address and path
they write, so each form gets its files generated for it instead of rewritten after the fact.

Addresses a user writes into the ``bundle:`` settings are kept as written, except the defaults' compose addresses
(``exporter:9877``, ``mailpit:1025``, Prometheus' ``localhost:9090`` self-scrape), which every topology names its
own way (:meth:`Topology.localize`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from exporter.bundle.stackfiles import COMPOSE_MOUNTS, SERVICES, all_ports

#: How Prometheus scrapes itself in the compose topology (the settings' default ``self_target``).
COMPOSE_SELF_SCRAPE = f"localhost:{SERVICES['prometheus'].port}"


def _compose_addresses() -> dict[str, str]:
    """Every port key (``exporter``, ``mailpit_smtp``...) -> its address in the compose network."""
    return {key: f"{svc.name}:{port}" for svc in SERVICES.values() for key, port in svc.port_names().items()}


def _service_of_key() -> dict[str, str]:
    return {key: svc.name for svc in SERVICES.values() for key in svc.port_names()}


@dataclass(frozen=True)
class Topology:
    """The addresses and file paths the generated configs use, and which services run."""

    name: str
    #: port key -> ``host:port`` as the other services reach it
    addresses: Mapping[str, str]
    #: generated repo path (``grafana/dashboards``) -> the path the service reads it from
    mounts: Mapping[str, str]
    #: how Prometheus reaches itself
    self_scrape: str
    #: the services that run; scrape targets of the others are left out
    running: frozenset[str] = field(default_factory=lambda: frozenset(SERVICES))

    def address(self, key: str) -> str:
        return self.addresses[key]

    def url(self, key: str) -> str:
        return f"http://{self.addresses[key]}"

    def mount(self, repo_path: str) -> str:
        return self.mounts[repo_path]

    def _key_of(self, compose_address: str) -> str | None:
        for key, address in _compose_addresses().items():
            if address == compose_address:
                return key
        return None

    def localize(self, value: str) -> str:
        """An address (``exporter:9877``) or URL (``http://exporter:9877/relay``) as this topology names it: a
        compose service address becomes this topology's, anything else stays as written."""
        if value == COMPOSE_SELF_SCRAPE:
            return self.self_scrape
        if "://" in value:
            parts = urlsplit(value)
            key = self._key_of(parts.netloc)
            return value if key is None else value.replace(parts.netloc, self.addresses[key], 1)
        key = self._key_of(value)
        return value if key is None else self.addresses[key]

    def runs(self, value: str) -> bool:
        """False for the compose address of a service this topology does not run (its targets are dropped)."""
        key = self._key_of(value)
        return key is None or _service_of_key()[key] in self.running

    def targets(self, values: Iterable[str]) -> list[str]:
        """Scrape targets as this topology names them, without those of services that do not run."""
        return [self.localize(v) for v in values if self.runs(v)]


#: The docker compose stack (docker-compose.yml): what the committed bundle is generated for.
COMPOSE = Topology(
    name="compose",
    addresses=_compose_addresses(),
    mounts={repo: container for repo, (_, container) in COMPOSE_MOUNTS.items()},
    self_scrape=COMPOSE_SELF_SCRAPE,
)


def native(ports: Mapping[str, int], etc_dir: Path, running: Iterable[str]) -> Topology:
    """The native stack: every service on 127.0.0.1 at its chosen port, files read from ``etc_dir``."""
    unknown = set(ports) - set(all_ports())
    if unknown:
        raise ValueError(f"unknown port name(s): {', '.join(sorted(unknown))}")
    chosen = all_ports() | dict(ports)
    return Topology(
        name="native",
        addresses={key: f"127.0.0.1:{port}" for key, port in chosen.items()},
        mounts={repo: str(etc_dir / repo) for repo in COMPOSE_MOUNTS},
        self_scrape=f"127.0.0.1:{chosen['prometheus']}",
        running=frozenset(running),
    )
