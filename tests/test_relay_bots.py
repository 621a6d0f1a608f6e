"""The relay in the real exporter process, posting to fake Feishu, DingTalk and WeCom bots on loopback that check
requests the way the platforms do (signature, timestamp window, access token in the URL)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from helpers import ROOT, ExporterProcess, exporter, free_port, run_cli

from exporter.httpserver import Request, Response, Router, Server

FEISHU_TOKEN = "fs-hook-token-7d1f2c"
DINGTALK_TOKEN = "dt-access-token-93ab4e"
WECOM_KEY = "wc-robot-key-5e6f70"
FEISHU_SECRET = "feishu-sign-secret-1a2b"
DINGTALK_SECRET = "SECdingtalk-sign-secret-3c4d"
SECRETS = (FEISHU_TOKEN, DINGTALK_TOKEN, WECOM_KEY, FEISHU_SECRET, DINGTALK_SECRET)


class FakeBots:
    """Feishu, DingTalk and WeCom webhook endpoints that verify what they receive like the real ones."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.mode = "ok"  # ok | fail | throttle | slow
        self.lock = threading.Lock()
        router = Router()
        router.add("POST", "/open-apis/bot/v2/hook/{token}", self.feishu)
        router.add("POST", "/robot/send", self.dingtalk)
        router.add("POST", "/cgi-bin/webhook/send", self.wecom)
        self.server = Server(router, "127.0.0.1", 0).start()
        self.url = self.server.url

    def _special(self, throttled: dict[str, Any]) -> Response | None:
        if self.mode == "fail":
            return Response.json({"error": "internal"}, 500)
        if self.mode == "throttle":
            return Response.json(throttled)
        if self.mode == "slow":
            time.sleep(3)
        return None

    def _record(self, platform: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.received.append((platform, body))

    def feishu(self, req: Request) -> Response:
        # Feishu custom bot security "signature verification": HMAC-SHA256 keyed with "timestamp\nsecret" over an
        # empty message, base64; the timestamp (seconds) must be within an hour of the server's clock.
        body = req.json()
        if req.params["token"] != FEISHU_TOKEN:
            return Response.json({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"})
        ts = str(body.get("timestamp", ""))
        expected = base64.b64encode(hmac.new(f"{ts}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()).decode()
        if not ts.isdigit() or abs(time.time() - int(ts)) > 3600 or body.get("sign") != expected:
            return Response.json({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
        special = self._special({"code": 9499, "msg": "too many request"})
        if special:
            return special
        self._record("feishu", body)
        return Response.json({"code": 0, "msg": "success", "data": {}})

    def dingtalk(self, req: Request) -> Response:
        # DingTalk custom robot "加签": sign = urlencode(base64(HMAC-SHA256 keyed with the secret over
        # "timestamp\nsecret")), timestamp in milliseconds within an hour, both as query parameters.
        if req.arg("access_token") != DINGTALK_TOKEN:
            return Response.json({"errcode": 300001, "errmsg": "token is not exist"})
        ts = req.arg("timestamp") or ""
        expected = base64.b64encode(
            hmac.new(DINGTALK_SECRET.encode(), f"{ts}\n{DINGTALK_SECRET}".encode(), hashlib.sha256).digest()
        ).decode()
        if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 3_600_000 or req.arg("sign") != expected:
            return Response.json({"errcode": 310000, "errmsg": "sign not match"})
        special = self._special({"errcode": 130101, "errmsg": "send too fast"})
        if special:
            return special
        self._record("dingtalk", req.json())
        return Response.json({"errcode": 0, "errmsg": "ok"})

    def wecom(self, req: Request) -> Response:
        if req.arg("key") != WECOM_KEY:
            return Response.json({"errcode": 93000, "errmsg": "invalid webhook url"})
        body = req.json()
        content = body.get("markdown", {}).get("content", "")
        if body.get("msgtype") != "markdown" or len(content.encode()) > 4096:
            return Response.json({"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"})
        special = self._special({"errcode": 45009, "errmsg": "api freq out of limit"})
        if special:
            return special
        self._record("wecom", body)
        return Response.json({"errcode": 0, "errmsg": "ok"})

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def bots() -> Iterator[FakeBots]:
    fake = FakeBots()
    try:
        yield fake
    finally:
        fake.stop()


def relay_env(url: str, *, feishu_secret: str = FEISHU_SECRET) -> dict[str, str]:
    return {
        "T_FEISHU_URL": f"{url}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
        "T_FEISHU_SECRET": feishu_secret,
        "T_DINGTALK_URL": f"{url}/robot/send?access_token={DINGTALK_TOKEN}",
        "T_DINGTALK_SECRET": DINGTALK_SECRET,
        "T_WECOM_URL": f"{url}/cgi-bin/webhook/send?key={WECOM_KEY}",
        "T_RELAY_TOKEN": "relay-bearer-token-42",
    }


def relay_config(*, token: bool = False, timeout: str = "2s") -> dict[str, Any]:
    relay: dict[str, Any] = {
        "timeout": timeout,
        "max_alerts": 5,
        "bots": [
            {
                "name": "oncall",
                "type": "feishu",
                "webhook_url_env": "T_FEISHU_URL",
                "secret_env": "T_FEISHU_SECRET",
                "mention_all": True,
            },
            {
                "name": "ops",
                "type": "dingtalk",
                "webhook_url_env": "T_DINGTALK_URL",
                "secret_env": "T_DINGTALK_SECRET",
                "mention_all": True,
            },
            {"name": "team", "type": "wecom", "webhook_url_env": "T_WECOM_URL"},
        ],
    }
    if token:
        relay["token_env"] = "T_RELAY_TOKEN"
    else:
        relay["allow_unauthenticated"] = True  # the delivery tests post without a token; see test_relay_needs_a_token
    return {"relay": relay}


def payload(severity: str = "warning", n_alerts: int = 2) -> dict[str, Any]:
    """The generated template fixture (an Alertmanager webhook payload), optionally with more alerts."""
    data = json.loads((ROOT / "alertmanager" / "tests" / "template-data.json").read_text())
    data.pop("_comment")
    base = data["alerts"][0]
    data["alerts"] = [data["alerts"][0], data["alerts"][1]] + [
        {**base, "labels": {**base["labels"], "model": f"model-{i}"}} for i in range(max(0, n_alerts - 2))
    ]
    for alert in data["alerts"]:
        alert["labels"]["severity"] = severity
    data["commonLabels"]["severity"] = severity
    return data


def post(proc: ExporterProcess, path: str, body: Any, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{proc.url}{path}", json=body, headers=headers, timeout=15)


def relayed(proc: ExporterProcess, target: str, outcome: str) -> float:
    return proc.metrics().value("llmpulse_relay_notifications_total", target=target, outcome=outcome)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_feishu_gets_a_signed_card_with_what_where_how_bad_and_links(tmp_path: Path, bots: FakeBots) -> None:
    with exporter(relay_config(), tmp_path, env=relay_env(bots.url)) as proc:
        resp = post(proc, "/relay/feishu/oncall", payload("critical"))
        assert resp.status_code == 200, resp.text
        assert [p for p, _ in bots.received] == ["feishu"]
        card = bots.received[0][1]["card"]
        assert card["header"]["template"] == "red"
        assert card["header"]["title"]["content"] == "[FIRING:1] LLMAPIHighErrorRate · openai (critical)"
        text = json.dumps(card, ensure_ascii=False)
        assert "<at id=all></at>" in text  # mention_all on a firing critical group
        assert "LLM API calls are failing at a high rate." in text and "7.5% of calls to openai" in text
        assert "model=gpt-4o-mini provider=openai source=openai-probe" in text
        assert "RESOLVED" in text and "#llmapihigherrorrate" in text
        assert relayed(proc, "feishu", "success") == 1
        assert_no_secret(resp.text, proc.log())


def test_dingtalk_gets_signed_markdown_and_wecom_gets_markdown(tmp_path: Path, bots: FakeBots) -> None:
    with exporter(relay_config(), tmp_path, env=relay_env(bots.url)) as proc:
        assert post(proc, "/relay/dingtalk/ops", payload("warning")).status_code == 200
        assert post(proc, "/relay/wecom/team", payload("warning")).status_code == 200
        (_, ding), (_, wecom) = bots.received
        assert ding["msgtype"] == "markdown" and ding["at"] == {"isAtAll": False}  # warning: no @all
        assert ding["markdown"]["title"] == "[FIRING:1] LLMAPIHighErrorRate · openai (warning)"
        assert "> **FIRING** LLM API calls are failing at a high rate." in ding["markdown"]["text"]
        assert "[Runbook](https://" in ding["markdown"]["text"]
        assert wecom["markdown"]["content"].startswith('## <font color="warning">[FIRING:1] LLMAPIHighErrorRate')
        assert relayed(proc, "dingtalk", "success") == 1 and relayed(proc, "wecom", "success") == 1


def test_long_groups_are_cut_to_max_alerts_and_wecom_size(tmp_path: Path, bots: FakeBots) -> None:
    with exporter(relay_config(), tmp_path, env=relay_env(bots.url)) as proc:
        big = payload("warning", n_alerts=40)
        for alert in big["alerts"]:
            alert["annotations"]["description"] = "x" * 300
        assert post(proc, "/relay/wecom/team", big).status_code == 200
        content = bots.received[0][1]["markdown"]["content"]
        assert len(content.encode()) <= 4096
        assert "... and 35 more" in content or "(truncated)" in content


def test_a_rejected_signature_is_reported_counted_and_keeps_secrets_out(tmp_path: Path, bots: FakeBots) -> None:
    env = relay_env(bots.url, feishu_secret="not-the-right-secret")
    with exporter(relay_config(), tmp_path, env=env) as proc:
        resp = post(proc, "/relay/feishu/oncall", payload())
        assert resp.status_code == 502  # Alertmanager retries: a fixed secret then delivers
        assert "code 19021" in resp.json()["message"]
        assert bots.received == []
        assert relayed(proc, "feishu", "rejected") == 1 and relayed(proc, "feishu", "success") == 0
        assert_no_secret(resp.text, proc.log(), proc.metrics().text)
        assert "not-the-right-secret" not in proc.log()


@pytest.mark.parametrize(
    ("mode", "status", "outcome"), [("fail", 502, "error"), ("throttle", 503, "error"), ("slow", 502, "error")]
)
def test_bot_failures_make_alertmanager_retry(
    tmp_path: Path, bots: FakeBots, mode: str, status: int, outcome: str
) -> None:
    bots.mode = mode
    with exporter(relay_config(timeout="1s"), tmp_path, env=relay_env(bots.url)) as proc:
        for target, name in (("feishu", "oncall"), ("dingtalk", "ops"), ("wecom", "team")):
            resp = post(proc, f"/relay/{target}/{name}", payload())
            assert resp.status_code == status, (target, resp.text)
            assert relayed(proc, target, outcome) == 1
            assert_no_secret(resp.text)
        assert_no_secret(proc.log())


def test_an_unreachable_bot_is_an_error_without_the_url(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with exporter(relay_config(), tmp_path, env=relay_env(closed)) as proc:
        resp = post(proc, "/relay/feishu/oncall", payload())
        assert resp.status_code == 502 and "unreachable (connection)" in resp.json()["message"]
        assert relayed(proc, "feishu", "error") == 1
        assert_no_secret(resp.text, proc.log())


def test_bad_requests_are_refused_and_counted(tmp_path: Path, bots: FakeBots) -> None:
    with exporter(relay_config(token=True), tmp_path, env=relay_env(bots.url)) as proc:
        token = "relay-bearer-token-42"
        assert post(proc, "/relay/feishu/oncall", payload()).status_code == 401
        assert post(proc, "/relay/feishu/oncall", payload(), token="wrong").status_code == 401
        assert relayed(proc, "feishu", "unauthorized") == 2
        resp = post(proc, "/relay/feishu/nobody", payload(), token=token)
        assert resp.status_code == 404 and "configured: oncall" in resp.text
        assert relayed(proc, "feishu", "unknown_bot") == 1
        assert post(proc, "/relay/slack/oncall", payload(), token=token).status_code == 404
        assert post(proc, "/relay/feishu/oncall", {"hello": "world"}, token=token).status_code == 400
        bad = requests.post(
            f"{proc.url}/relay/feishu/oncall", data=b"\xff{", timeout=5, headers={"Authorization": f"Bearer {token}"}
        )
        assert bad.status_code == 400 and "not JSON" in bad.text
        huge = requests.post(
            f"{proc.url}/relay/feishu/oncall",
            data=b'{"alerts": [' + b" " * (5 << 20) + b"]}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert huge.status_code == 413
        assert relayed(proc, "feishu", "invalid_payload") == 3
        assert bots.received == []
        assert post(proc, "/relay/feishu/oncall", payload(), token=token).status_code == 200
        assert len(bots.received) == 1
        assert "relay-bearer-token-42" not in proc.log()


def test_without_a_relay_section_nothing_is_served(tmp_path: Path) -> None:
    # Something to monitor (an empty config is refused), but no relay: section.
    status_page = {"type": "statuspage", "name": "s", "base_url": f"http://127.0.0.1:{free_port()}"}
    with exporter({"sources": [status_page]}, tmp_path) as proc:
        assert post(proc, "/relay/feishu/oncall", payload()).status_code == 404
        assert "llmpulse_relay_notifications_total" not in proc.metrics().names()


def test_relay_config_errors_name_the_key_and_never_the_url(tmp_path: Path) -> None:
    from helpers import run_cli

    config = tmp_path / "c.yml"
    config.write_text(
        json.dumps(
            {
                "relay": {
                    "bots": [
                        {
                            "name": "x",
                            "type": "wecom",
                            "webhook_url_env": "T_WECOM_URL",
                            "secret_env": "T_FEISHU_SECRET",
                        },
                        {"name": "y", "type": "feishu", "webhook_url_env": "T_BAD_URL"},
                    ]
                }
            }
        )
    )
    result = run_cli(
        "check-config", str(config), env={**relay_env("http://127.0.0.1:1"), "T_BAD_URL": f"not a url {FEISHU_TOKEN}"}
    )
    assert result.returncode == 2
    assert "relay.bots[0]: WeCom group bots have no signing secret" in result.stderr
    assert "relay.bots[1]: webhook_url_env/webhook_url_file must hold" in result.stderr
    assert_no_secret(result.stderr)
    assert urllib.parse.quote(FEISHU_TOKEN) not in result.stderr


def test_relay_needs_a_token_unless_the_config_says_otherwise(tmp_path: Path) -> None:
    """Without a token anyone who reaches the exporter could post into the ops chats: that is refused at start,
    with the key path and the way out, unless the config says allow_unauthenticated: true."""
    config = relay_config()
    del config["relay"]["allow_unauthenticated"]
    path = tmp_path / "relay.yml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli("check-config", str(path), env=relay_env("http://127.0.0.1:1"))
    assert result.returncode == 2
    assert f"{path}: relay: missing token: set token_env or token_file" in result.stderr
    assert "allow_unauthenticated: true" in result.stderr
    config["relay"]["allow_unauthenticated"] = True
    path.write_text(yaml.safe_dump(config))
    assert run_cli("check-config", str(path), env=relay_env("http://127.0.0.1:1")).returncode == 0
