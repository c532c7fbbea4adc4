#!/usr/bin/env node
// A real MCP client (TypeScript SDK) for the agent tests: connects to a Streamable HTTP
// endpoint (through the gateway), lists the tools, runs the `query` tool of
// @modelcontextprotocol/server-postgres with one SQL statement, and prints ONE JSON object:
// {"tools": [...sorted names], "isError": bool, "text": "<the tool's text result>"}.
// A JSON-RPC error from the gateway is printed as {"error": {"code": N, "message": "..."}}
// with exit 0, so a test can check the error a person would see.
//
// Usage: node pg-client.mjs --url URL --token T --sql "SELECT ..."
// Bad usage exits 2; a failure to connect exits 1 with the reason on stderr.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

function usage(msg) {
  process.stderr.write(`pg-client: ${msg}\nusage: pg-client.mjs --url URL --token T --sql SQL\n`);
  process.exit(2);
}

const o = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i];
  if (!["--url", "--token", "--sql"].includes(k) || argv[i + 1] === undefined) usage(`bad argument '${k}'`);
  o[k.slice(2)] = argv[++i];
}
if (!o.url || !o.token || !o.sql) usage("--url, --token and --sql are required");

const watchdog = setTimeout(() => {
  process.stderr.write("pg-client: no result within 60 s\n");
  process.exit(1);
}, 60_000);

const transport = new StreamableHTTPClientTransport(new URL(o.url), {
  requestInit: { headers: { Authorization: `Bearer ${o.token}` } },
});
const client = new Client({ name: "gatehouse-pg-client", version: "1.0.0" });
try {
  await client.connect(transport);
} catch (e) {
  process.stderr.write(`pg-client: cannot connect: ${e.message}\n`);
  process.exit(1);
}
const out = {};
try {
  const tools = await client.listTools();
  out.tools = tools.tools.map((t) => t.name).sort();
  const r = await client.callTool({ name: "query", arguments: { sql: o.sql } }, undefined, { timeout: 55_000 });
  out.isError = Boolean(r.isError);
  out.text = r.content.map((c) => c.text ?? "").join("");
} catch (e) {
  out.error = { code: e.code ?? null, message: String(e.message) };
}
process.stdout.write(JSON.stringify(out) + "\n");
clearTimeout(watchdog);
try {
  await transport.terminateSession();
} catch {}
process.exit(0);
