"""Time the "make something happen" recipe of docs/stack.md against a running native stack.

Why: the times the docs state for each alert (fires after, keeps firing, resolves after the reset) should be measured,
not derived from rule windows. This script applies the recipe's breaks to a stack started with ``llmpulse stack up``,
polls Prometheus (``/api/v1/alerts``: pending, firing) and Alertmanager (``/api/v2/alerts``: active, suppressed)
every few seconds, heals with ``POST /_sim/reset`` once every expected alert has fired and held for ``--hold``
seconds (or at ``--heal-after``), and prints, per alert and labels, when it went pending, fired, was resolved, and
how many times it fired (more than once is flapping). It also counts the notifications in the stack's mail inbox.

Bounded: it stops after ``--max-seconds`` whatever happens. Not part of the test suite.

    llmpulse stack up --workdir /tmp/demo --free-ports
    python benchmarks/demo_alert_timeline.py --workdir /tmp/demo --breaks faults,balance,usage
    llmpulse stack down --workdir /tmp/demo
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, cast

#: The recipe's breaks, exactly as docs/stack.md prints them (path, body).
BREAKS: dict[str, tuple[str, dict[str, object]]] = {
    "faults": (
        "/_sim/faults",
        {
            "openai_chat": {"error_rate": 0.2, "slow_rate": 0.5, "slow_latency": 3},
            "anthropic_messages": {"error_rate": 0.2, "slow_rate": 0.5, "slow_latency": 3},
        },
    ),
    "balance": ("/_sim/balances", {"deepseek": {"total": 0}}),
    "usage": ("/_sim/usage", {"multiplier": 25}),
}

#: The alerts each break is documented to fire.
EXPECTED: dict[str, tuple[str, ...]] = {
    "faults": ("LLMAPIHighErrorRate", "LLMAPIHighLatencyP99"),
    "balance": ("LLMBalanceExhausted",),
    "usage": ("LLMBudgetExceeded",),
}

#: Labels that are no part of an alert's identity in the printout (every other label is: two rules of one name,
#: such as the error-budget burn's windows, differ only in labels like ``long``).
NOISE_LABELS = ("alertname", "instance", "job", "pod")


@dataclass
class Timeline:
    """What one alert (name + identifying labels) did, in seconds since the break."""

    pending_at: float | None = None
    firing_at: list[float] = field(default_factory=list)
    resolved_at: list[float] = field(default_factory=list)
    am_active_at: float | None = None
    am_suppressed_at: float | None = None
    state: str = "inactive"


class Alert(TypedDict):
    """The part of an alert that Prometheus' ``/api/v1/alerts`` and Alertmanager's ``/api/v2/alerts`` share."""

    labels: dict[str, str]


class PromAlert(Alert):
    state: str  # pending | firing


class AmStatus(TypedDict):
    state: str  # active | suppressed
    inhibitedBy: list[str]


class AmAlert(Alert):
    status: AmStatus


class PromAlerts(TypedDict):
    alerts: list[PromAlert]


class PromAnswer(TypedDict):
    data: PromAlerts


class Mail(TypedDict):
    Subject: str


class Mails(TypedDict):
    messages: list[Mail]


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def _post(url: str, body: dict[str, object] | None) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


def _key(labels: dict[str, str]) -> str:
    parts = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in NOISE_LABELS]
    return f"{labels.get('alertname', '?')}{{{','.join(parts)}}}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True, type=Path, help="the stack's --workdir")
    ap.add_argument("--breaks", default="faults,balance,usage", help="comma-separated: " + ",".join(BREAKS))
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    ap.add_argument("--hold", type=float, default=180.0, help="seconds every expected alert fires before the reset")
    ap.add_argument("--heal-after", type=float, default=1500.0, help="reset at the latest this long after the break")
    ap.add_argument("--after-heal", type=float, default=1800.0, help="seconds to keep watching after the reset")
    ap.add_argument("--max-seconds", type=float, default=3600.0, help="hard limit for the whole run")
    ap.add_argument(
        "--already-broken", type=float, metavar="SECONDS", help="do not break: the breaks were made SECONDS ago"
    )
    ap.add_argument("--no-heal", action="store_true", help="never reset (watch only)")
    args = ap.parse_args()

    ports = json.loads((args.workdir / "run" / "stack.json").read_text())["ports"]
    sim = f"http://127.0.0.1:{ports['simulator']}"
    prom = f"http://127.0.0.1:{ports['prometheus']}"
    am = f"http://127.0.0.1:{ports['alertmanager']}"
    inbox = f"http://127.0.0.1:{ports['mailpit']}"
    breaks = [b.strip() for b in args.breaks.split(",") if b.strip()]
    expected = {name for b in breaks for name in EXPECTED[b]}

    start = time.monotonic() - (args.already_broken or 0.0)
    for b in breaks if args.already_broken is None else ():
        path, body = BREAKS[b]
        _post(sim + path, body)
    print(
        f"t={time.monotonic() - start:.0f} broke: {', '.join(breaks)} (at {time.strftime('%H:%M:%S', time.gmtime())} UTC)",
        flush=True,
    )

    alerts: dict[str, Timeline] = {}
    healed_at: float | None = None
    all_fired_at: float | None = None
    while True:
        now = time.monotonic() - start
        if now > args.max_seconds:
            print(f"t={now:.0f} hard limit reached", flush=True)
            break
        try:
            prom_alerts = cast(PromAnswer, _get(prom + "/api/v1/alerts"))["data"]["alerts"]
            am_alerts = cast(list[AmAlert], _get(am + "/api/v2/alerts"))
        except OSError as exc:
            print(f"t={now:.0f} poll failed: {exc}", flush=True)
            time.sleep(args.interval)
            continue
        seen: set[str] = set()
        for a in prom_alerts:
            k = _key(a["labels"])
            if a["labels"].get("alertname") == "Watchdog":
                continue
            seen.add(k)
            tl = alerts.setdefault(k, Timeline())
            if a["state"] == "pending" and tl.state != "pending":
                if tl.pending_at is None:
                    tl.pending_at = now
                print(f"t={now:.0f} {k} pending", flush=True)
            if a["state"] == "firing" and tl.state != "firing":
                tl.firing_at.append(now)
                print(f"t={now:.0f} {k} FIRING (#{len(tl.firing_at)})", flush=True)
            tl.state = a["state"]
        for k, tl in alerts.items():
            if k not in seen and tl.state != "inactive":
                if tl.state == "firing":
                    tl.resolved_at.append(now)
                    print(f"t={now:.0f} {k} resolved", flush=True)
                else:
                    print(f"t={now:.0f} {k} pending -> inactive", flush=True)
                tl.state = "inactive"
        for am_alert in am_alerts:
            k = _key(am_alert["labels"])
            tl = alerts.setdefault(k, Timeline())
            st = am_alert["status"]["state"]
            if st == "active" and tl.am_active_at is None:
                tl.am_active_at = now
                print(f"t={now:.0f} {k} active in Alertmanager", flush=True)
            if st == "suppressed" and tl.am_suppressed_at is None:
                tl.am_suppressed_at = now
                print(f"t={now:.0f} {k} suppressed in Alertmanager by {am_alert['status']['inhibitedBy']}", flush=True)

        firing_names = {k.split("{")[0] for k, tl in alerts.items() if tl.state == "firing"}
        if all_fired_at is None and expected <= firing_names:
            all_fired_at = now
            print(f"t={now:.0f} every expected alert fires: {sorted(expected)}", flush=True)
        held = all_fired_at is not None and now - all_fired_at >= args.hold
        if healed_at is None and not args.no_heal and (held or now >= args.heal_after):
            _post(sim + "/_sim/reset", None)
            healed_at = now
            print(f"t={now:.0f} healed: POST /_sim/reset", flush=True)
        if healed_at is not None and now - healed_at > args.after_heal:
            break
        if healed_at is not None and all(tl.state == "inactive" for tl in alerts.values()):
            print(f"t={now:.0f} every alert resolved", flush=True)
            break
        time.sleep(args.interval)

    mails = cast(Mails, _get(inbox + "/api/v1/messages"))
    print("\nnotifications in the inbox:")
    for m in mails["messages"]:
        print("  ", m["Subject"])
    print("\nalert (labels)                                    pending  fired(s)        resolved(s)   after reset")
    for k, tl in sorted(alerts.items()):
        after = ", ".join(f"{r - healed_at:.0f}" for r in tl.resolved_at) if healed_at is not None else "-"
        fired = ", ".join(f"{f:.0f}" for f in tl.firing_at) or "-"
        resolved = ", ".join(f"{r:.0f}" for r in tl.resolved_at) or "-"
        pend = f"{tl.pending_at:.0f}" if tl.pending_at is not None else "-"
        print(f"{k:50} {pend:>7}  {fired:15} {resolved:13} {after}  (now {tl.state})")
    if healed_at is not None:
        print(f"reset at t={healed_at:.0f}")


if __name__ == "__main__":
    main()
