"""A current-era (MCP 2026-07-28, stateless) test upstream for Gatehouse's end-to-end tests.

Built on PyPI `mcp` 2.x (`MCPServer`), served over Streamable HTTP at `http://HOST:PORT/mcp`.
By default it speaks 2026-07-28 only: a legacy `initialize` is refused with JSON-RPC error
-32022 (unsupported protocol version, naming the versions it does support), as a server of
the new era alone would. `--dual` also accepts the legacy handshake (the SDK serves both).

Tools (all deterministic, so runs through the gateway compare equal to direct runs):
  echo(message)          -> "Echo: <message>"
  add(a, b)              -> the sum, as text and as structured content {"result": n}
  big_text()             -> a 1024-character text block (the benchmark's ~1 KB result)
  count(steps)           -> reports progress 1..steps (notifications on the request's stream)
  ask_llm(prompt)        -> asks the client's LLM (sampling): an `input_required` round trip
                            in 2026-07-28, a sampling/createMessage request in the legacy era
  sleep(seconds, tag)    -> sleeps, reporting progress 0 first; records whether it completed or
                            was cancelled (the client closed the stream) under `tag`
  sleep_status(tag)      -> "started" | "completed" | "cancelled" | "unknown"
Also one resource (`current://readme`) and one prompt (`greet(name)`).

Usage: python current_server.py --port N [--host 127.0.0.1] [--dual]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Annotated, Any

import anyio
import mcp_types as types
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Resolve, Sample
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

BIG_TEXT = "".join(f"line {i:02d}: gatehouse benchmark payload".ljust(63, ".") + "\n" for i in range(16))
assert len(BIG_TEXT) == 1024, len(BIG_TEXT)

_sleep_state: dict[str, str] = {}


def _ask(prompt: str) -> Sample:
    """Resolver for ask_llm: the sampling request the server makes of the client."""
    return Sample(
        [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))],
        max_tokens=64,
    )


def build_server() -> MCPServer:
    """The MCPServer with this upstream's tools, resource and prompt."""
    mcp = MCPServer(
        name="gatehouse-current-server",
        version="1.0.0",
        instructions="Current-era (2026-07-28) test upstream for Gatehouse.",
    )

    @mcp.tool(description="Echoes the message back")
    async def echo(message: str) -> str:
        return f"Echo: {message}"

    @mcp.tool(description="Adds two numbers")
    async def add(a: float, b: float) -> float:
        return a + b

    @mcp.tool(description="Returns a 1024-character text block")
    async def big_text() -> str:
        return BIG_TEXT

    @mcp.tool(description="Counts to `steps`, reporting progress at each step")
    async def count(steps: int, ctx: Context) -> str:
        if not 1 <= steps <= 100:
            raise ValueError("steps must be between 1 and 100")
        for i in range(1, steps + 1):
            await anyio.sleep(0.05)
            await ctx.report_progress(i, steps)
        return f"Counted to {steps}"

    @mcp.tool(description="Asks the client's LLM (sampling) and returns its answer")
    async def ask_llm(prompt: str, reply: Annotated[types.CreateMessageResult, Resolve(_ask)]) -> str:
        content = reply.content
        answer = content.text if isinstance(content, types.TextContent) else json.dumps(content.model_dump())
        return f"LLM answered: {answer}"

    @mcp.tool(description="Sleeps, reporting progress 0 at the start; records completion or cancellation")
    async def sleep(seconds: float, tag: str, ctx: Context) -> str:
        _sleep_state[tag] = "started"
        try:
            await ctx.report_progress(0, seconds)
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            _sleep_state[tag] = "cancelled"
            raise
        _sleep_state[tag] = "completed"
        return f"Slept {seconds} seconds"

    @mcp.tool(description="What happened to the sleep call with this tag")
    async def sleep_status(tag: str) -> str:
        return _sleep_state.get(tag, "unknown")

    @mcp.resource("current://readme", name="readme", description="About this server", mime_type="text/plain")
    def readme() -> str:
        return "Gatehouse current-era test upstream. Tools: echo, add, big_text, count, ask_llm, sleep."

    @mcp.prompt(description="Greets someone")
    def greet(name: str) -> str:
        return f"Please greet {name} warmly."

    return mcp


class ModernOnly:
    """ASGI wrapper that refuses the legacy `initialize` handshake with -32022.

    A 2026-07-28-only server has no handshake; answering `initialize` with "unsupported
    protocol version" and the supported list is what lets clients (and the gateway) tell.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("method") == "initialize":
            requested = (parsed.get("params") or {}).get("protocolVersion")
            error = {
                "jsonrpc": "2.0",
                "id": parsed.get("id"),
                "error": {
                    "code": types.UNSUPPORTED_PROTOCOL_VERSION,
                    "message": "Unsupported protocol version: this server speaks only "
                    + ", ".join(MODERN_PROTOCOL_VERSIONS)
                    + " (no initialize handshake; use server/discover)",
                    "data": {"supported": list(MODERN_PROTOCOL_VERSIONS), "requested": requested},
                },
            }
            payload = json.dumps(error).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return

        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def main() -> int:
    parser = argparse.ArgumentParser(description="Current-era (2026-07-28) MCP test upstream for Gatehouse")
    parser.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--dual", action="store_true", help="also accept the legacy initialize handshake")
    args = parser.parse_args()
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")

    mcp = build_server()
    app: Any = mcp.streamable_http_app(host=args.host)
    if not args.dual:
        app = ModernOnly(app)
    era = "2026-07-28 and legacy" if args.dual else "2026-07-28 only"
    print(f"current_server: serving {era} on http://{args.host}:{args.port}/mcp", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
