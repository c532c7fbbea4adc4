#!/usr/bin/env node
// A real MCP client (TypeScript SDK, Streamable HTTP) that makes ONE tool call through the
// gateway and prints ONE JSON line: {"ok":true,"text":[...],"result":{...}} or
// {"ok":false,"error":{"code","message"}} when the gateway or server refused the call.
// Exit 0 in both cases; exit 1 when it cannot connect at all; exit 2 on bad usage.
//
//   node mcp-call.mjs --url URL --token T --tool NAME [--args JSON]
// Like real clients, it lists the tools first (the gateway pins their definitions then).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  if (i + 1 >= argv.length) usage(`${name} needs a value`);
  return argv[i + 1];
};
function usage(msg) {
  process.stderr.write(`mcp-call: ${msg}\nusage: mcp-call.mjs --url URL --token T --tool NAME [--args JSON]\n`);
  process.exit(2);
}
const url = opt("--url") ?? usage("--url is required");
const token = opt("--token") ?? usage("--token is required");
const tool = opt("--tool") ?? usage("--tool is required");
let args;
try {
  args = JSON.parse(opt("--args", "{}"));
} catch (e) {
  usage(`--args is not JSON: ${e.message}`);
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "gatehouse-browser-test-client", version: "1.0.0" });
try {
  await client.connect(transport);
} catch (e) {
  process.stderr.write(`mcp-call: cannot connect to ${url}: ${e.message}\n`);
  process.exit(1);
}
let out;
try {
  await client.listTools();
  // Held calls wait for a human: allow up to 5 minutes, and keep the request open meanwhile.
  const result = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 300_000 });
  const text = (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text);
  out = { ok: !result.isError, text, result };
} catch (e) {
  out = { ok: false, error: { code: e.code ?? null, message: String(e.message ?? e) } };
}
process.stdout.write(`${JSON.stringify(out)}\n`);
await client.close().catch(() => {});
process.exit(0);
