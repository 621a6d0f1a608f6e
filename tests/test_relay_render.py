"""Pure functions of the relay: reading Alertmanager payloads and shaping chat messages (the exporter-level
behaviour is in test_relay_bots.py)."""

from __future__ import annotations

import json
import re

import pytest

from exporter.config import RelayBotConfig
from exporter.relay import InvalidPayload, bot_error, dingtalk_message, parse_payload, signed_request, wecom_message


def _payload(alerts: list[dict], **extra: object) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "alerts": alerts,
            "commonLabels": {"alertname": "LLMBalanceLow", "provider": "deepseek"},
            **extra,
        }
    ).encode()


def _alert(status: str, model: str) -> dict:
    return {
        "status": status,
        "labels": {
            "alertname": "LLMBalanceLow",
            "severity": "warning",
            "provider": "deepseek",
            "model": model,
            "job": "llmpulse",
        },
        "annotations": {"summary": "A prepaid LLM balance is low.", "description": f"d-{model}"},
        "startsAt": "2026-03-01T08:30:00.123+08:00",
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"status": "firing"}', "missing 'alerts'"),
        (b'{"alerts": [1]}', "alerts[0] must be an object"),
        (b'{"alerts": [{"labels": []}]}', "labels must be"),
    ],
)
def test_payloads_that_are_not_from_alertmanager_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=re.escape(reason)):
        parse_payload(body, 10)


def test_firing_alerts_come_first_and_the_rest_is_counted() -> None:
    alerts = [_alert("resolved", "r1"), _alert("firing", "f1"), _alert("firing", "f2"), _alert("resolved", "r2")]
    n = parse_payload(_payload(alerts), 3)
    assert [a.status for a in n.alerts] == ["firing", "firing", "resolved"]
    assert (n.firing, n.resolved, n.omitted) == (2, 2, 1)
    assert n.title == "[FIRING:2] LLMBalanceLow · deepseek"
    assert n.alerts[0].where == "model=f1 provider=deepseek"  # alertname, severity, job are said elsewhere
    assert n.alerts[0].since == "2026-03-01 08:30:00 +08:00"


def _bot(kind: str, secret: str = "") -> RelayBotConfig:
    bot = RelayBotConfig.model_construct(name="b", type=kind, mention_all=True)
    bot._webhook_url = type("S", (), {"get_secret_value": lambda self: "https://bot.example/hook?access_token=t"})()
    bot._secret = type("S", (), {"get_secret_value": lambda self: secret})() if secret else None
    return bot


def test_only_a_firing_critical_group_mentions_everyone() -> None:
    critical = parse_payload(
        _payload(
            [{**_alert("firing", "m"), "labels": {"severity": "critical"}}],
            commonLabels={"alertname": "X", "severity": "critical"},
        ),
        10,
    )
    warning = parse_payload(_payload([_alert("firing", "m")], commonLabels={"severity": "warning"}), 10)
    assert dingtalk_message(critical, _bot("dingtalk"))["at"] == {"isAtAll": True}
    assert dingtalk_message(warning, _bot("dingtalk"))["at"] == {"isAtAll": False}
    assert "<@all>" in wecom_message(critical, _bot("wecom"))["markdown"]["content"]


def test_signing_adds_the_platforms_fields_and_nothing_without_a_secret() -> None:
    msg = {"msgtype": "markdown"}
    url, body = signed_request("dingtalk", _bot("dingtalk", "SECx"), msg, now=1_700_000_000.5)
    assert url.startswith("https://bot.example/hook?access_token=t&timestamp=1700000000500&sign=")
    assert body == msg
    url, body = signed_request("feishu", _bot("feishu", "s"), msg, now=1_700_000_000.5)
    assert body["timestamp"] == "1700000000" and body["sign"] and url == "https://bot.example/hook?access_token=t"
    assert signed_request("feishu", _bot("feishu"), msg) == ("https://bot.example/hook?access_token=t", msg)


@pytest.mark.parametrize(
    ("target", "answer", "code"),
    [
        ("feishu", {"code": 0, "msg": "success"}, 0),
        ("feishu", {"StatusCode": 0}, 0),
        ("feishu", {"code": 19021, "msg": "sign"}, 19021),
        ("dingtalk", {"errcode": 310000}, 310000),
        ("wecom", {"errcode": 0, "errmsg": "ok"}, 0),
        ("wecom", "oops", -1),
    ],
)
def test_bot_answers_are_read_per_platform(target: str, answer: object, code: int) -> None:
    assert bot_error(target, answer)[0] == code
