#!/usr/bin/env node
// A real MCP client (TypeScript SDK 1.x, @modelcontextprotocol/sdk) that runs one fixed scenario
// against @modelcontextprotocol/server-everything and prints ONE normalized JSON object on
// stdout. Gatehouse's end-to-end tests run it once against the server directly and once through
// the gateway and require byte-identical output.
//
// Usage:
//   node ts-client.mjs --url URL [--token T]      Streamable HTTP (T is sent as a bearer token)
//   node ts-client.mjs --stdio -- CMD ARGS...      stdio: spawns CMD ARGS as the server
//
// Scenario: initialize; tools/list; tools/call echo; resources/list + resources/read;
// prompts/list + prompts/get; a long-running tool with a progress token (progress counted);
// a call cancelled with an AbortSignal after its first progress notification, then ping and a
// tool call on the same connection; a tool that makes the server send sampling/createMessage to
// this client, answered with a fixed message; session end (DELETE on HTTP, process exit on stdio).
//
// The output holds no session ids, timestamps or random ids, and no field that names the
// transport, so stdio-direct and HTTP-through-the-gateway runs compare equal too. Any failure
// exits 1 with a message on stderr; bad usage exits 2.

import { createHash } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const SAMPLING_REPLY = "Gatehouse test client: fixed sampling reply";
const ECHO_TEXT = "hello through gatehouse";
const READ_URI = "demo://resource/static/document/instructions.md";
const WATCHDOG_MS = 90_000;

function usage(msg) {
  process.stderr.write(
    `ts-client: ${msg}\nusage: ts-client.mjs --url URL [--token T]\n       ts-client.mjs --stdio -- CMD ARGS...\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { url: undefined, token: undefined, stdio: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--url") o.url = argv[++i];
    else if (a === "--token") o.token = argv[++i];
    else if (a === "--stdio") {
      if (argv[i + 1] !== "--") usage("--stdio must be followed by -- CMD ARGS...");
      o.stdio = argv.slice(i + 2);
      break;
    } else usage(`unknown argument '${a}'`);
  }
  if ((o.url === undefined) === (o.stdio === undefined)) usage("give exactly one of --url URL or --stdio -- CMD");
  if (o.stdio !== undefined && o.stdio.length === 0) usage("--stdio needs a command after --");
  if (o.url !== undefined) {
    try {
      new URL(o.url);
    } catch {
      usage(`--url '${o.url}' is not a URL`);
    }
  }
  if (o.token !== undefined && o.url === undefined) usage("--token only applies to --url");
  return o;
}

/** JSON with object keys sorted at every level, so equal values print equal. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical(value[k])]),
    );
  }
  return value;
}
const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const digest = (v) => sha256(JSON.stringify(canonical(v)));
const texts = (content) => (content ?? []).filter((c) => c.type === "text").map((c) => c.text);

function check(cond, what) {
  if (!cond) throw new Error(`scenario check failed: ${what}`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    process.stderr.write(`ts-client: scenario did not finish within ${WATCHDOG_MS / 1000}s\n`);
    process.exit(1);
  }, WATCHDOG_MS);

  let transport;
  if (opts.url !== undefined) {
    const headers = opts.token !== undefined ? { Authorization: `Bearer ${opts.token}` } : {};
    transport = new StreamableHTTPClientTransport(new URL(opts.url), { requestInit: { headers } });
  } else {
    const [command, ...args] = opts.stdio;
    transport = new StdioClientTransport({ command, args, stderr: "inherit" });
  }
  // The SDK hands the negotiated version to transports that want it; stdio does not, so record it here.
  let negotiated;
  const setVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (v) => {
    negotiated = v;
    setVersion?.(v);
  };

  const client = new Client(
    { name: "gatehouse-ts-test-client", version: "1.0.0" },
    { capabilities: { sampling: {} } },
  );
  const samplingRequests = [];
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const p = req.params;
    samplingRequests.push({
      maxTokens: p.maxTokens,
      messages: p.messages.map((m) => ({ role: m.role, text: m.content?.text })),
      systemPrompt: p.systemPrompt,
    });
    return {
      role: "assistant",
      content: { type: "text", text: SAMPLING_REPLY },
      model: "gatehouse-test-model",
      stopReason: "endTurn",
    };
  });
  // Progress for an abandoned (cancelled) request may still arrive; the SDK reports it here.
  client.onerror = (err) => {
    if (!/unknown token/i.test(String(err?.message ?? err))) process.stderr.write(`ts-client: ${err}\n`);
  };

  const out = {};
  await client.connect(transport);
  // Progress notifications are counted as they come off the wire: the SDK runs notification
  // handlers a tick after response handlers, so an onprogress callback can miss the last
  // notification when it arrives in the same read as the result (seen on stdio).
  const wireProgress = [];
  const deliver = transport.onmessage;
  transport.onmessage = (msg, ...rest) => {
    if (msg?.method === "notifications/progress") wireProgress.push(msg.params);
    deliver?.(msg, ...rest);
  };
  const info = client.getServerVersion();
  out.initialize = {
    capabilities: canonical(client.getServerCapabilities() ?? {}),
    instructionsSha256: client.getInstructions() === undefined ? null : sha256(client.getInstructions()),
    protocolVersion: negotiated ?? null,
    serverInfo: { name: info?.name, version: info?.version },
  };
  check(out.initialize.protocolVersion, "initialize negotiated a protocol version");

  const tools = (await client.listTools()).tools;
  out.toolsList = {
    digest: digest([...tools].sort((a, b) => a.name.localeCompare(b.name))),
    names: tools.map((t) => t.name).sort(),
  };
  for (const needed of ["echo", "trigger-long-running-operation", "trigger-sampling-request"]) {
    check(out.toolsList.names.includes(needed), `tools/list has '${needed}'`);
  }

  const echo = await client.callTool({ name: "echo", arguments: { message: ECHO_TEXT } });
  out.echo = { isError: echo.isError ?? false, text: texts(echo.content) };
  check(out.echo.text.join("").includes(ECHO_TEXT), "echo returned the message");

  const resources = (await client.listResources()).resources;
  const uris = resources.map((r) => r.uri).sort();
  check(uris.includes(READ_URI), `resources/list has ${READ_URI}`);
  const read = await client.readResource({ uri: READ_URI });
  const first = read.contents[0];
  out.resources = {
    listDigest: digest([...resources].sort((a, b) => a.uri.localeCompare(b.uri))),
    read: { mimeType: first.mimeType, textLength: first.text?.length ?? 0, textSha256: sha256(first.text ?? ""), uri: first.uri },
    uris,
  };

  const prompts = (await client.listPrompts()).prompts;
  const simple = await client.getPrompt({ name: "simple-prompt" });
  const withArgs = await client.getPrompt({ name: "args-prompt", arguments: { city: "Lisbon", state: "Lisboa" } });
  out.prompts = {
    argsPrompt: canonical(withArgs.messages),
    names: prompts.map((p) => p.name).sort(),
    simplePrompt: canonical(simple.messages),
  };

  const seenBefore = wireProgress.length;
  let callbacks = 0;
  const long = await client.callTool(
    { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 4 } },
    undefined,
    { onprogress: () => callbacks++ },
  );
  const progress = wireProgress.slice(seenBefore);
  check(callbacks > 0, "the onprogress callback ran");
  check(new Set(progress.map((p) => JSON.stringify(p.progressToken))).size === 1, "all progress carried one token");
  out.progress = {
    count: progress.length,
    notifications: progress.map((p) => ({ progress: p.progress, total: p.total })),
    result: texts(long.content),
  };
  check(progress.length === 4, `4 progress notifications (got ${progress.length})`);

  // Cancellation: start a 20 s operation, abort after its first progress notification.
  const abort = new AbortController();
  let started = false;
  let cancelError;
  try {
    await client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 20 } },
      undefined,
      {
        signal: abort.signal,
        onprogress: () => {
          if (!started) {
            started = true;
            abort.abort("cancelled by gatehouse test client");
          }
        },
      },
    );
  } catch (err) {
    cancelError = err;
  }
  check(started, "the cancelled call started (sent progress) before it was cancelled");
  check(cancelError !== undefined, "the cancelled call was rejected");
  const pingAfter = await client.ping();
  const echoAfter = await client.callTool({ name: "echo", arguments: { message: "after cancel" } });
  out.cancellation = {
    cancelled: true,
    error: String(cancelError?.message ?? cancelError),
    followUpEcho: texts(echoAfter.content),
    followUpPing: canonical(pingAfter),
    startedBeforeCancel: started,
  };

  const sampling = await client.callTool({
    name: "trigger-sampling-request",
    arguments: { prompt: "Say hello to Gatehouse", maxTokens: 64 },
  });
  const samplingText = texts(sampling.content).join("\n");
  out.sampling = {
    requestsReceived: samplingRequests,
    resultContainsReply: samplingText.includes(SAMPLING_REPLY),
    resultText: samplingText,
  };
  check(out.sampling.resultContainsReply, "sampling tool result contains the client's reply");

  if (transport instanceof StreamableHTTPClientTransport) await transport.terminateSession();
  await client.close();
  out.sessionEnd = "ok";

  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify(canonical(out)) + "\n");
  // The stdio child and HTTP keep-alive sockets are closed; exit explicitly in case a timer lingers.
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`ts-client: ${err?.stack ?? err}\n`);
  process.exit(1);
});
