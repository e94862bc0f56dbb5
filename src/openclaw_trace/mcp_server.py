"""``openclaw-trace mcp``: the read layer as MCP tools over stdio, so an agent can ask what it cost.

Built on the official ``mcp`` SDK (an optional extra: ``pip install
'openclaw-trace[mcp]'``). Each tool is one query of ``read.catalog`` with the
parameters of the read API, answered with the read API's JSON; a bad
parameter or an unknown id is a tool error naming it. Every call opens a
read-only connection with a time limit, so the server never writes and
never holds the database.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from openclaw_trace import __version__
from openclaw_trace.read import catalog
from openclaw_trace.read.problems import ReadProblem
from openclaw_trace.read.reader import open_reader, time_limit

QUERY_TIME_LIMIT_S = 10.0
INSTRUCTIONS = (
    "Read-only tools over openclaw-trace, the observability sidecar of this OpenClaw gateway: what the agent's "
    "model calls cost (by model, agent, channel, session, day or hour), what failed and why, which sessions are "
    "expensive. Windows: since/until as 15m, 24h, 7d, today, month, a date or Unix ms. Money in USD; calls "
    "without a known price are counted as unpriced_calls, never as $0."
)


def build_server(db_path: str) -> MCPServer:
    """An MCP server whose tools read ``db_path``."""
    server = MCPServer(name="openclaw-trace", version=__version__, instructions=INSTRUCTIONS)

    def answer(name: str, **given: Any) -> str:
        params = {key: str(value) for key, value in given.items() if value is not None}
        try:
            query = catalog.build(name, params)
            conn = open_reader(db_path)
            try:
                with time_limit(conn, QUERY_TIME_LIMIT_S):
                    return json.dumps(query(conn), ensure_ascii=False)
            finally:
                conn.close()
        except ReadProblem as exc:
            raise ToolError(str(exc)) from None

    @server.tool(description="Calls, tokens, cost (priced and unpriced apart), errors and latency of a window, "
                 "with today's, 7 days' and 30 days' cost.")  # fmt: skip
    def summary(since: str = "24h", until: str | None = None, provider: str | None = None, model: str | None = None,
                agent: str | None = None, channel: str | None = None, tz: str | None = None) -> str:  # fmt: skip
        return answer("summary", since=since, until=until, provider=provider, model=model, agent=agent,
                      channel=channel, tz=tz)  # fmt: skip

    @server.tool(description="Cost and calls grouped by one or two keys: model, provider, agent, channel, "
                 "session, day, hour (e.g. by='day,model'). Most expensive first.")  # fmt: skip
    def cost(by: str = "model", since: str = "24h", until: str | None = None, provider: str | None = None,
             model: str | None = None, agent: str | None = None, channel: str | None = None,
             limit: int | None = None, tz: str | None = None) -> str:  # fmt: skip
        return answer("cost", by=by, since=since, until=until, provider=provider, model=model, agent=agent,
                      channel=channel, limit=limit, tz=tz)  # fmt: skip

    @server.tool(description="Model calls, newest first (without their text); page with next_cursor.")
    def traces(since: str = "24h", until: str | None = None, model: str | None = None, agent: str | None = None,
               session: str | None = None, status: str | None = None, limit: int = 20,
               cursor: str | None = None) -> str:  # fmt: skip
        return answer("traces", since=since, until=until, model=model, agent=agent, session=session, status=status,
                      limit=limit, cursor=cursor)  # fmt: skip

    @server.tool(description="One model call whole: prompt and answer text, tokens, cost, metadata.")
    def trace(id: str) -> str:
        return answer("trace", id=id)

    @server.tool(description="Errors, newest first, or counted by='category' (or type, severity, model). "
                 "type is llm_error, crash or system_error.")  # fmt: skip
    def errors(since: str = "24h", until: str | None = None, by: str | None = None, type: str | None = None,
               category: str | None = None, model: str | None = None, limit: int = 20) -> str:  # fmt: skip
        return answer("errors", since=since, until=until, by=by, type=type, category=category, model=model,
                      limit=limit)  # fmt: skip

    @server.tool(description="Sessions with their calls, cost and failures; sort='cost' (default) or 'recent'.")
    def sessions(since: str = "24h", until: str | None = None, agent: str | None = None, sort: str = "cost",
                 limit: int = 20) -> str:  # fmt: skip
        return answer("sessions", since=since, until=until, agent=agent, sort=sort, limit=limit)

    @server.tool(description="One session's timeline (found within since..until, default the last 24 h): "
                 "its model calls, errors and the gateway's events.")  # fmt: skip
    def session(id: str, since: str = "24h", until: str | None = None, limit: int = 100) -> str:
        return answer("session", id=id, since=since, until=until, limit=limit)

    return server


def run(db_path: str) -> int:
    """Serves MCP on stdin/stdout until the client closes it."""
    build_server(db_path).run("stdio")
    return 0
