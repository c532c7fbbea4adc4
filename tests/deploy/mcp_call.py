"""One MCP tool call through the gateway, as a client would make it (standard library only).

Usage: mcp_call.py URL TOKEN TOOL JSON_ARGS
Prints the call's JSON-RPC result on stdout; exits 1 with the reason otherwise.
"""

import json
import sys
import urllib.request


def post(url, token, body, session=None):
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if session:
        headers["Mcp-Session-Id"] = session
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
        session = resp.headers.get("Mcp-Session-Id", session)
    # Either one JSON answer or an SSE stream whose `data:` lines carry the answer.
    messages = []
    if text.lstrip().startswith("{"):
        messages.append(json.loads(text))
    else:
        messages += [json.loads(l[5:]) for l in text.splitlines() if l.startswith("data:") and l[5:].strip()]
    answer = next((m for m in messages if m.get("id") == body.get("id")), None)
    return answer, session


def main():
    url, token, tool, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "gatehouse-image-test", "version": "1"},
        },
    }
    answer, session = post(url, token, init)
    if not answer or "result" not in answer:
        sys.exit(f"initialize failed: {answer}")
    post(url, token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    answer, _ = post(url, token, call, session)
    if not answer or "result" not in answer:
        sys.exit(f"tools/call {tool} failed: {answer}")
    print(json.dumps(answer["result"]))


if __name__ == "__main__":
    main()
