"""Coze account benefits: ``GET /v1/commerce/benefit/benefits/get`` (api.coze.cn; global api.coze.com), Bearer
personal access token.

What an account source can read from Coze (coze-py ``cozepy/benefits``): the plan level
(``data.basic_info.user_level``: free, pro_personal, team, enterprise...), the plan's API QPS per resource
(``benefit_type_list=api_run_qps&resource_id=chat|workflow|plugin``; ``effective`` is what applies now, basic plus
any extra capacity bought) and the paid-plugin call allowance through MCP (``benefit_type_list=call_tool_limit``:
``total`` and ``used`` under strategy ``by_quota``, over ``start_at``..``end_at``). Items look like ``{"basic" |
"effective": {"item_info": {"strategy": "unlimit" | "forbidden" | "by_quota", "total", "used", "start_at",
"end_at"}, "status"}}``. Only ``by_quota`` items are quotas: ``unlimit`` and ``forbidden`` export no ratio.

Coze has **no analytics API** (provider-apis.md 3.1): bot traffic comes from the Coze bot probe, from ``/events``
posted by a workflow node or webhook, or from an ``http_json`` source. Envelope: HTTP 200 with ``code: 0``; any
other code is an error (4100/4101, a token for the other region or without the permission, count as 4xx).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter import contract
from exporter.config import CozeSource
from exporter.http import ApiClient, ApiError
from exporter.providers.base import ProviderBase, json_object, number, require
from exporter.providers.plan import epoch_seconds, label_value, set_plan, set_quota
from exporter.samples import MetricSet

PATH = "/v1/commerce/benefit/benefits/get"
AUTH_CODES = frozenset({4100, 4101})
QPS_RESOURCES = ("chat", "workflow", "plugin")


def _envelope(data: Any, where: str) -> dict[str, Any]:
    data = json_object(data, where)
    code = data.get("code")
    if code != 0:
        detail = str(data.get("msg") or "")[:120]
        reason = "http_4xx" if code in AUTH_CODES else "invalid_response"
        raise ApiError(reason, f"{where}: Coze answered code {code!r} {detail}".rstrip())
    body: dict[str, Any] = require(data, "data", dict, where)
    return body


def _item(benefit: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The item that applies now: ``effective`` when present, else ``basic``."""
    for part in ("effective", "basic"):
        status = benefit.get(part)
        if isinstance(status, dict) and isinstance(status.get("item_info"), dict):
            info: dict[str, Any] = status["item_info"]
            return info
    return None


def _benefits(body: dict[str, Any], where: str) -> list[dict[str, Any]]:
    items = body.get("benefit_info") or []
    if not isinstance(items, list) or not all(isinstance(b, dict) for b in items):
        raise ApiError("invalid_response", f"{where}: benefit_info is not a list of objects")
    return items


def parse_plan(body: dict[str, Any], ms: MetricSet, where: str) -> None:
    basic = body.get("basic_info")
    if isinstance(basic, dict) and basic.get("user_level"):
        set_plan(ms, label_value(basic["user_level"], f"{where}: basic_info.user_level").lower())


def parse_call_tool(data: Any, ms: MetricSet) -> None:
    where = f"{PATH}?benefit_type_list=call_tool_limit"
    body = _envelope(data, where)
    parse_plan(body, ms, where)
    for i, benefit in enumerate(_benefits(body, where)):
        if benefit.get("benefit_type") != "call_tool_limit":
            continue
        info = _item(benefit, f"{where}: benefit_info[{i}]")
        if info is None or info.get("strategy") != "by_quota":
            continue  # unlimited or not in the plan: not a quota
        at = f"{where}: benefit_info[{i}].item_info"
        total = number(require(info, "total", (int, float, str), at), f"{at}: total")
        used = number(info.get("used") or 0, f"{at}: used")
        if total < 0 or used < 0:
            raise ApiError("invalid_response", f"{at}: negative total or used")
        ratio = max(0.0, (total - used) / total) if total > 0 else 0.0
        set_quota(ms, "call_tool", "plan", ratio, epoch_seconds(info.get("end_at"), f"{at}: end_at"))


def parse_qps(data: Any, resource: str, ms: MetricSet) -> None:
    where = f"{PATH}?benefit_type_list=api_run_qps&resource_id={resource}"
    body = _envelope(data, where)
    parse_plan(body, ms, where)
    for i, benefit in enumerate(_benefits(body, where)):
        if benefit.get("benefit_type") != "api_run_qps":
            continue
        info = _item(benefit, f"{where}: benefit_info[{i}]")
        if info is None or info.get("strategy") == "unlimit":
            continue
        at = f"{where}: benefit_info[{i}].item_info"
        qps = 0.0 if info.get("strategy") == "forbidden" else number(require(info, "total", (int, float, str), at), at)
        ms.set(contract.PLAN_API_QPS_LIMIT, qps, resource=resource)


class CozeProvider(ProviderBase[CozeSource]):
    def poll(self, client: ApiClient, now: datetime) -> MetricSet:
        ms = MetricSet()
        parse_call_tool(client.get_json(PATH, params={"benefit_type_list": "call_tool_limit"}), ms)
        for resource in self.config.qps_resources:
            params = {"benefit_type_list": "api_run_qps", "resource_id": resource}
            parse_qps(client.get_json(PATH, params=params), resource, ms)
        return ms


PROVIDER = CozeProvider
