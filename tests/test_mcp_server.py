"""openclaw-trace mcp through the official SDK's own stdio client, as an agent would call it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.read.conftest import HOUR_MS, Store


async def session_calls(db_path: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OCT_")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "openclaw_trace", "mcp", "--db", db_path], env=env
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return tools, results


def text(result: Any) -> str:
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")


def test_an_agent_asks_what_it_spent_and_what_failed(tmp_path: Path) -> None:
    now = time.time_ns() // 1_000_000
    store = Store(tmp_path / "oct.db")
    store.call(now - HOUR_MS, model="gpt-4o", cost_usd=1.25, cost_source="reported", session_id="s1")
    store.call(now - HOUR_MS, model="claude", cost_usd=0.5, cost_source="reported", session_id="s1")
    store.error(now - HOUR_MS, category="rate_limit")
    store.conn.close()
    calls = [
        ("summary", {"since": "2h"}),
        ("cost", {"by": "model", "since": "24h"}),
        ("errors", {"by": "category"}),
        ("session", {"id": "s1"}),
        ("cost", {"by": "colour"}),
        ("trace", {"id": "nope"}),
    ]
    tools, results = asyncio.run(session_calls(store.path, calls))
    assert sorted(tools) == ["cost", "errors", "session", "sessions", "summary", "trace", "traces"]
    summary, by_model, by_category, timeline, bad_key, unknown = results
    assert (json.loads(text(summary))["calls"], json.loads(text(summary))["cost_usd"]) == (2, 1.75)
    assert [(row["model"], row["cost_usd"]) for row in json.loads(text(by_model))] == [
        ("gpt-4o", 1.25),
        ("claude", 0.5),
    ]
    assert json.loads(text(by_category))[0]["category"] == "rate_limit"
    assert json.loads(text(timeline))["calls"] == 2
    assert bad_key.is_error and "by: unknown key 'colour'" in text(bad_key)
    assert unknown.is_error and "no trace 'nope'" in text(unknown)
