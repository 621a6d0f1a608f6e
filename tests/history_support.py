"""Support of the history tests: TSDB blocks made with promtool and a real Prometheus started on them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from e2e_support import Prom
from helpers import free_port, stop_process, wait_http_ok


def build_blocks(om_text: str, out: Path) -> Path:
    """TSDB blocks from an OpenMetrics text (promtool, as an operator would run it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("needs promtool (apt install prometheus)")
    source = out / "input.om"
    out.mkdir(parents=True, exist_ok=True)
    source.write_text(om_text)
    blocks = out / "blocks"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(blocks)],
        check=True,
        capture_output=True,
    )
    return blocks


@contextmanager
def prometheus_on_blocks(tmp: Path, blocks: Path) -> Iterator[Prom]:
    """A Prometheus on a free loopback port whose data directory starts with ``blocks`` (retention one year)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("needs prometheus (apt install prometheus)")
    data = tmp / "prom-data"
    shutil.copytree(blocks, data)
    conf = tmp / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    log_path = tmp / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={conf}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=1y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/-/ready", proc, 120, "prometheus", log_path.read_text)
        yield Prom(url)
    finally:
        stop_process(proc)
