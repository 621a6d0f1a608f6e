"""``http``: a plain GET of ``base_url`` + ``path`` (default ``/v1/models``), a free liveness check.

Success is a status in ``expected_status`` (default ``[200]``); redirects are not followed (a 301 is reported as
code 301 unless expected). A configured key is sent as ``Authorization: Bearer`` or, with ``auth: x-api-key``,
as Anthropic's ``x-api-key`` plus ``anthropic-version``. The body is read in full so ``transfer`` is measured;
rate-limit headers are read if the endpoint sends them.
"""

from __future__ import annotations

from exporter.config import HttpProbeConfig
from exporter.probes.base import Call, Probe, http_error


class HttpProbe(Probe[HttpProbeConfig]):
    kind = "http"

    def default_path(self) -> str:
        return "/v1/models"

    def headers(self) -> dict[str, str]:
        out = {"Accept": "application/json", **super().headers()}
        key = self.config.api_key
        if key and self.config.auth == "x-api-key":
            out.update({"x-api-key": key, "anthropic-version": self.config.anthropic_version})
        elif key:
            out["Authorization"] = f"Bearer {key}"
        return out

    def measure(self, call: Call) -> None:
        exchange = call.request("GET", self.path)
        try:
            if exchange.status not in self.config.expected_status:
                raise http_error(exchange)
            exchange.read_body()
        finally:
            exchange.close()
