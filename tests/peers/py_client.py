"""A real MCP client (PyPI `mcp` 2.x) that runs one fixed scenario and prints ONE normalized JSON
object on stdout. Gatehouse's end-to-end tests run it against a server directly and through the
gateway and require byte-identical output.

Usage:
  python py_client.py [--mode legacy] --url URL [--token T]     vs server-everything (HTTP)
  python py_client.py [--mode legacy] --stdio -- CMD ARGS...     vs server-everything (stdio)
  python py_client.py --mode 2026-07-28 --url URL [--token T]    vs tests/peers/current_server.py

Legacy scenario (initialize handshake, as ts-client.mjs): initialize; tools/list; echo;
resources/list + read; prompts/list + get; a long-running tool with a progress token; a call
cancelled after its first progress notification (the SDK sends notifications/cancelled), then
ping and echo on the same session; sampling requested by the server and answered with a fixed
message; session end (DELETE on HTTP).

2026-07-28 scenario (stateless, no handshake): server/discover; tools/list; echo; add;
big_text (1 KB); resources/list + read; prompts/list + get; count with progress; ask_llm, whose
sampling arrives as an `input_required` result and is answered by retrying the call; a sleep
call cancelled by closing its stream, confirmed by asking the server (sleep_status); ping.

The output holds no session ids, timestamps or random ids and does not name the transport. Any
failure exits 1 with a message on stderr; bad usage exits 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
import warnings
from contextlib import AsyncExitStack
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, MCPDeprecationWarning, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

SAMPLING_REPLY = "Gatehouse test client: fixed sampling reply"
ECHO_TEXT = "hello through gatehouse"
LEGACY_READ_URI = "demo://resource/static/document/instructions.md"
CURRENT_READ_URI = "current://readme"
MODERN = "2026-07-28"
WATCHDOG_SECONDS = 90


class ScenarioError(Exception):
    """A check of the scenario failed: the message says which."""


def check(cond: bool, what: str) -> None:
    if not cond:
        raise ScenarioError(f"scenario check failed: {what}")


def canonical(value: Any) -> Any:
    """Sorted keys at every level, and integral floats as ints, so equal values print equal."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def dump(model: Any) -> Any:
    """A pydantic model (or list of them) as wire JSON, without unset fields."""
    if isinstance(model, list):
        return [dump(m) for m in model]
    if hasattr(model, "model_dump"):
        return model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return model


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def digest(value: Any) -> str:
    return sha256(json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def texts(content: list[Any] | None) -> list[str]:
    return [c.text for c in content or [] if isinstance(c, types.TextContent)]


class Sampler:
    """Answers every sampling request with the same fixed message and records what was asked."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, _ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.requests.append(
            {
                "maxTokens": params.max_tokens,
                "messages": [
                    {"role": m.role, "text": m.content.text if isinstance(m.content, types.TextContent) else None}
                    for m in params.messages
                ],
                "systemPrompt": params.system_prompt,
            }
        )
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=SAMPLING_REPLY),
            model="gatehouse-test-model",
            stop_reason="endTurn",
        )


async def cancel_after_first_progress(client: Client, name: str, arguments: dict[str, Any]) -> tuple[bool, bool]:
    """Start a tool call, cancel it once its first progress notification arrives.

    Returns (started, cancelled): whether progress arrived, and whether the call was cut off
    (rather than finishing). The SDK sends notifications/cancelled in the legacy era and closes
    the request's stream in 2026-07-28.
    """
    started = anyio.Event()
    scope = anyio.CancelScope()
    finished = False

    async def on_progress(_p: float, _t: float | None, _m: str | None) -> None:
        started.set()

    async def run() -> None:
        nonlocal finished
        with scope:
            await client.call_tool(name, arguments, progress_callback=on_progress)
            finished = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.move_on_after(15):
            await started.wait()
        scope.cancel()
    return started.is_set(), scope.cancelled_caught and not finished


async def legacy_scenario(client: Client, sampler: Sampler) -> dict[str, Any]:
    out: dict[str, Any] = {}
    info = client.server_info
    out["initialize"] = {
        "capabilities": canonical(dump(client.server_capabilities)),
        "instructionsSha256": None if client.instructions is None else sha256(client.instructions),
        "protocolVersion": client.protocol_version,
        "serverInfo": {"name": info.name if info else None, "version": info.version if info else None},
    }

    tools = (await client.list_tools()).tools
    names = sorted(t.name for t in tools)
    out["toolsList"] = {"digest": digest(dump(sorted(tools, key=lambda t: t.name))), "names": names}
    for needed in ("echo", "trigger-long-running-operation", "trigger-sampling-request"):
        check(needed in names, f"tools/list has '{needed}'")

    echo = await client.call_tool("echo", {"message": ECHO_TEXT})
    out["echo"] = {"isError": bool(echo.is_error), "text": texts(echo.content)}
    check(ECHO_TEXT in "".join(out["echo"]["text"]), "echo returned the message")

    resources = (await client.list_resources()).resources
    uris = sorted(str(r.uri) for r in resources)
    check(LEGACY_READ_URI in uris, f"resources/list has {LEGACY_READ_URI}")
    first = (await client.read_resource(LEGACY_READ_URI)).contents[0]
    text = getattr(first, "text", "") or ""
    out["resources"] = {
        "listDigest": digest(dump(sorted(resources, key=lambda r: str(r.uri)))),
        "read": {"mimeType": first.mime_type, "textLength": len(text), "textSha256": sha256(text), "uri": str(first.uri)},
        "uris": uris,
    }

    prompts = (await client.list_prompts()).prompts
    simple = await client.get_prompt("simple-prompt")
    with_args = await client.get_prompt("args-prompt", {"city": "Lisbon", "state": "Lisboa"})
    out["prompts"] = {
        "argsPrompt": canonical(dump(with_args.messages)),
        "names": sorted(p.name for p in prompts),
        "simplePrompt": canonical(dump(simple.messages)),
    }

    progress: list[dict[str, Any]] = []

    async def on_progress(p: float, t: float | None, _m: str | None) -> None:
        progress.append({"progress": p, "total": t})

    long = await client.call_tool(
        "trigger-long-running-operation", {"duration": 1, "steps": 4}, progress_callback=on_progress
    )
    out["progress"] = {"count": len(progress), "notifications": canonical(progress), "result": texts(long.content)}
    check(len(progress) == 4, f"4 progress notifications (got {len(progress)})")

    started, cancelled = await cancel_after_first_progress(
        client, "trigger-long-running-operation", {"duration": 20, "steps": 20}
    )
    check(started, "the cancelled call started (sent progress) before it was cancelled")
    check(cancelled, "the call was cancelled before it finished")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)  # ping is legacy-only, which this is
        ping = await client.send_ping()
    after = await client.call_tool("echo", {"message": "after cancel"})
    out["cancellation"] = {
        "cancelled": cancelled,
        "followUpEcho": texts(after.content),
        "followUpPing": canonical(dump(ping)),
        "startedBeforeCancel": started,
    }

    sampling = await client.call_tool("trigger-sampling-request", {"prompt": "Say hello to Gatehouse", "maxTokens": 64})
    sampling_text = "\n".join(texts(sampling.content))
    out["sampling"] = {
        "requestsReceived": sampler.requests,
        "resultContainsReply": SAMPLING_REPLY in sampling_text,
        "resultText": sampling_text,
    }
    check(out["sampling"]["resultContainsReply"], "sampling tool result contains the client's reply")
    return out


async def current_scenario(client: Client, sampler: Sampler) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # A real server/discover round trip (the pinned mode adopts a synthesized result without one).
    try:
        raw = await client.session.send_discover(MODERN)
    except MCPError as exc:
        raise ScenarioError(f"server/discover at {MODERN} failed ({exc}): is this a current-era server?") from exc
    discovered = types.DiscoverResult.model_validate(raw)
    client.session.adopt(discovered)
    info = client.server_info
    out["discover"] = {
        "capabilities": canonical(dump(discovered.capabilities)),
        "instructionsSha256": None if discovered.instructions is None else sha256(discovered.instructions),
        "protocolVersion": client.protocol_version,
        "serverInfo": {"name": info.name if info else None, "version": info.version if info else None},
        "supportedVersions": sorted(discovered.supported_versions),
    }
    check(client.protocol_version == MODERN, f"negotiated {MODERN} (got {client.protocol_version})")

    tools = (await client.list_tools()).tools
    names = sorted(t.name for t in tools)
    out["toolsList"] = {"digest": digest(dump(sorted(tools, key=lambda t: t.name))), "names": names}
    for needed in ("echo", "add", "big_text", "count", "ask_llm", "sleep", "sleep_status"):
        check(needed in names, f"tools/list has '{needed}'")

    echo = await client.call_tool("echo", {"message": ECHO_TEXT})
    out["echo"] = {"isError": bool(echo.is_error), "text": texts(echo.content)}
    check(out["echo"]["text"] == [f"Echo: {ECHO_TEXT}"], "echo returned the message")

    added = await client.call_tool("add", {"a": 2, "b": 40})
    out["add"] = {"structured": canonical(added.structured_content), "text": texts(added.content)}
    check(canonical(added.structured_content) == {"result": 42}, "add(2, 40) is 42")

    big = await client.call_tool("big_text", {})
    big_text = "".join(texts(big.content))
    out["bigText"] = {"length": len(big_text), "sha256": sha256(big_text)}
    check(len(big_text) == 1024, f"big_text is 1024 characters (got {len(big_text)})")

    resources = (await client.list_resources()).resources
    first = (await client.read_resource(CURRENT_READ_URI)).contents[0]
    out["resources"] = {
        "read": {"mimeType": first.mime_type, "text": getattr(first, "text", None), "uri": str(first.uri)},
        "uris": sorted(str(r.uri) for r in resources),
    }

    prompts = (await client.list_prompts()).prompts
    greet = await client.get_prompt("greet", {"name": "Ada"})
    out["prompts"] = {"greet": canonical(dump(greet.messages)), "names": sorted(p.name for p in prompts)}

    progress: list[dict[str, Any]] = []

    async def on_progress(p: float, t: float | None, _m: str | None) -> None:
        progress.append({"progress": p, "total": t})

    counted = await client.call_tool("count", {"steps": 3}, progress_callback=on_progress)
    out["progress"] = {"count": len(progress), "notifications": canonical(progress), "result": texts(counted.content)}
    check(len(progress) == 3, f"3 progress notifications (got {len(progress)})")

    asked = await client.call_tool("ask_llm", {"prompt": "Say hello to Gatehouse"})
    asked_text = "\n".join(texts(asked.content))
    out["inputRequired"] = {
        "requestsReceived": sampler.requests,
        "resultContainsReply": SAMPLING_REPLY in asked_text,
        "resultText": asked_text,
    }
    check(out["inputRequired"]["resultContainsReply"], "ask_llm result contains the client's sampling reply")

    tag = uuid.uuid4().hex  # never printed: it only keeps concurrent runs apart on a shared server
    started, cancelled = await cancel_after_first_progress(client, "sleep", {"seconds": 20, "tag": tag})
    check(started, "the sleep call started (sent progress) before it was cancelled")
    check(cancelled, "the sleep call was cancelled before it finished")
    server_saw = "unknown"
    with anyio.move_on_after(10):
        while True:
            status = await client.call_tool("sleep_status", {"tag": tag})
            server_saw = "".join(texts(status.content))
            if server_saw != "started":
                break
            await anyio.sleep(0.1)
    check(server_saw == "cancelled", f"the server saw the sleep call cancelled (it says '{server_saw}')")
    # ping is gone in 2026-07-28: the follow-up is an ordinary call.
    after = await client.call_tool("echo", {"message": "after cancel"})
    out["cancellation"] = {
        "cancelled": cancelled,
        "followUpEcho": texts(after.content),
        "serverSaw": server_saw,
        "startedBeforeCancel": started,
    }
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    stdio_cmd: list[str] | None = None
    if "--stdio" in argv:
        at = argv.index("--stdio")
        if at + 1 >= len(argv) or argv[at + 1] != "--" or at + 2 >= len(argv):
            print("py_client: --stdio must be followed by -- CMD ARGS...", file=sys.stderr)
            sys.exit(2)
        stdio_cmd = argv[at + 2 :]
        argv = argv[:at]
    parser = argparse.ArgumentParser(description="Gatehouse test MCP client (Python SDK)")
    parser.add_argument("--mode", choices=["legacy", MODERN], default="legacy")
    parser.add_argument("--url", help="Streamable HTTP endpoint")
    parser.add_argument("--token", help="bearer token sent with every HTTP request")
    args = parser.parse_args(argv)
    args.stdio = stdio_cmd
    if (args.url is None) == (stdio_cmd is None):
        parser.error("give exactly one of --url URL or --stdio -- CMD ARGS...")
    if args.token is not None and args.url is None:
        parser.error("--token only applies to --url")
    if args.mode == MODERN and stdio_cmd is not None:
        parser.error(f"--mode {MODERN} runs over --url (the current-era test server is HTTP)")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sampler = Sampler()
    async with AsyncExitStack() as stack:
        if args.url is not None:
            headers = {"Authorization": f"Bearer {args.token}"} if args.token is not None else None
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            server: Any = streamable_http_client(args.url, http_client=http)
        else:
            server = StdioServerParameters(command=args.stdio[0], args=args.stdio[1:])
        client = Client(
            server,
            mode=args.mode,
            sampling_callback=sampler,
            client_info=types.Implementation(name="gatehouse-py-test-client", version="1.0.0"),
            cache=None,
        )
        async with client:
            out = await (legacy_scenario if args.mode == "legacy" else current_scenario)(client, sampler)
        # Leaving the client ended the session: DELETE on legacy HTTP, the child's exit on stdio.
        out["sessionEnd"] = "ok"
        return out


async def guarded(args: argparse.Namespace) -> dict[str, Any]:
    with anyio.fail_after(WATCHDOG_SECONDS):
        return await run(args)


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The real errors inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
    return [exc]


def main() -> int:
    args = parse_args(sys.argv[1:])
    try:
        out = anyio.run(guarded, args)
    except TimeoutError:
        print(f"py_client: scenario did not finish within {WATCHDOG_SECONDS}s", file=sys.stderr)
        return 1
    except BaseException as exc:  # report every failure as one line per cause, then exit 1
        if isinstance(exc, KeyboardInterrupt):
            raise
        for leaf in leaf_errors(exc):
            print(f"py_client: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        return 1
    print(json.dumps(canonical(out), sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
