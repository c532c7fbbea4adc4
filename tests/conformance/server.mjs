#!/usr/bin/env node
// A small MCP test upstream (legacy era, Streamable HTTP at /mcp) built on the TypeScript SDK
// 1.x, carrying exactly the tools, resources and prompts that the conformance suite 0.1.x's
// `server` scenarios call, so that every active scenario passes when run against it directly.
// Gatehouse's end-to-end tests put the gateway in front of it and require the same result.
//
// Usage: node22 tests/conformance/server.mjs --port N [--host 127.0.0.1]
// Node 22 is needed because the SDK's dependencies require it (tests/peers/bin/node22).
//
// It validates Host and Origin against localhost names (the suite's dns-rebinding-protection
// scenario), keeps one SDK Server per session, and stores every SSE event so that a client can
// resume a closed stream with Last-Event-ID (the test_reconnection tool closes one on purpose).

import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";

const peers = new URL("../peers/", import.meta.url);
const requireFromPeers = createRequire(new URL("package.json", peers));
const sdk = (path) =>
  import(new URL(`node_modules/@modelcontextprotocol/sdk/dist/esm/${path}`, peers));

let express;
try {
  express = requireFromPeers("express");
} catch (err) {
  process.stderr.write(
    `conformance server: cannot load the test peers' packages (${err.message}); ` +
      "run scripts/install-test-deps.sh first\n",
  );
  process.exit(1);
}
const { Server } = await sdk("server/index.js");
const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
const types = await sdk("types.js");

function usage(msg) {
  process.stderr.write(`conformance server: ${msg}\nusage: server.mjs --port N [--host 127.0.0.1]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { host: "127.0.0.1", port: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port") opts.port = argv[++i];
    else if (a === "--host") opts.host = argv[++i];
    else if (a === "-h" || a === "--help") usage("help requested");
    else usage(`unknown argument '${a}'`);
  }
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage("--port must be an integer 0..65535");
  return { host: opts.host, port };
}

// 1x1 red PNG and a minimal WAV, both valid files.
const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";
const LOCAL_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ type: "text", text: t });
const noArgs = { type: "object", properties: {} };

const TOOLS = [
  { name: "test_simple_text", description: "Returns one text block", inputSchema: noArgs },
  { name: "test_image_content", description: "Returns a PNG image block", inputSchema: noArgs },
  { name: "test_audio_content", description: "Returns a WAV audio block", inputSchema: noArgs },
  { name: "test_embedded_resource", description: "Returns an embedded text resource", inputSchema: noArgs },
  { name: "test_multiple_content_types", description: "Returns text, image and resource blocks", inputSchema: noArgs },
  { name: "test_tool_with_logging", description: "Sends three info log messages while running", inputSchema: noArgs },
  { name: "test_tool_with_progress", description: "Reports progress 0, 50, 100 of 100", inputSchema: noArgs },
  { name: "test_error_handling", description: "Always fails with isError: true", inputSchema: noArgs },
  {
    name: "test_sampling",
    description: "Asks the client for an LLM completion (sampling/createMessage)",
    inputSchema: { type: "object", properties: { prompt: { type: "string" } }, required: ["prompt"] },
  },
  {
    name: "test_elicitation",
    description: "Asks the user for input (elicitation/create)",
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  },
  { name: "test_elicitation_sep1034_defaults", description: "Elicitation with defaults for every primitive type", inputSchema: noArgs },
  { name: "test_elicitation_sep1330_enums", description: "Elicitation with the five enum schema variants", inputSchema: noArgs },
  { name: "test_reconnection", description: "Closes its SSE stream mid-call; the result arrives after the client resumes", inputSchema: noArgs },
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: {
        address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } },
      },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false,
    },
  },
];

const RESOURCES = [
  { uri: "test://static-text", name: "static-text", description: "A static text resource", mimeType: "text/plain" },
  { uri: "test://static-binary", name: "static-binary", description: "A static PNG resource", mimeType: "image/png" },
  { uri: "test://watched-resource", name: "watched-resource", description: "A resource to subscribe to", mimeType: "text/plain" },
];
const TEMPLATE = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = [
  { name: "test_simple_prompt", description: "A prompt without arguments" },
  {
    name: "test_prompt_with_arguments",
    description: "A prompt with two arguments",
    arguments: [
      { name: "arg1", description: "First test argument", required: true },
      { name: "arg2", description: "Second test argument", required: true },
    ],
  },
  {
    name: "test_prompt_with_embedded_resource",
    description: "A prompt embedding a resource",
    arguments: [{ name: "resourceUri", description: "URI of the resource to embed", required: true }],
  },
  { name: "test_prompt_with_image", description: "A prompt with an image" },
];

/** Elicitation schema with defaults for each primitive type (SEP-1034). */
const SEP1034_SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string", description: "User name", default: "John Doe" },
    age: { type: "integer", description: "User age", default: 30 },
    score: { type: "number", description: "User score", default: 95.5 },
    status: { type: "string", description: "User status", enum: ["active", "inactive", "pending"], default: "active" },
    verified: { type: "boolean", description: "Verification status", default: true },
  },
};

/** Elicitation schema with the five enum variants (SEP-1330). */
const SEP1330_SCHEMA = {
  type: "object",
  properties: {
    untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
    titledSingle: {
      type: "string",
      oneOf: [
        { const: "value1", title: "First Option" },
        { const: "value2", title: "Second Option" },
        { const: "value3", title: "Third Option" },
      ],
    },
    legacyEnum: {
      type: "string",
      enum: ["opt1", "opt2", "opt3"],
      enumNames: ["Option One", "Option Two", "Option Three"],
    },
    untitledMulti: { type: "array", items: { type: "string", enum: ["option1", "option2", "option3"] } },
    titledMulti: {
      type: "array",
      items: {
        anyOf: [
          { const: "value1", title: "First Choice" },
          { const: "value2", title: "Second Choice" },
          { const: "value3", title: "Third Choice" },
        ],
      },
    },
  },
};

async function callTool(name, args, extra) {
  switch (name) {
    case "test_simple_text":
      return { content: [text("This is a simple text response for testing.")] };
    case "test_image_content":
      return { content: [{ type: "image", data: PNG, mimeType: "image/png" }] };
    case "test_audio_content":
      return { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] };
    case "test_embedded_resource":
      return {
        content: [
          {
            type: "resource",
            resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." },
          },
        ],
      };
    case "test_multiple_content_types":
      return {
        content: [
          text("Multiple content types test:"),
          { type: "image", data: PNG, mimeType: "image/png" },
          {
            type: "resource",
            resource: {
              uri: "test://mixed-content-resource",
              mimeType: "application/json",
              text: JSON.stringify({ test: "data", value: 123 }),
            },
          },
        ],
      };
    case "test_tool_with_logging": {
      const steps = ["Tool execution started", "Tool processing data", "Tool execution completed"];
      for (let i = 0; i < steps.length; i++) {
        if (i > 0) await sleep(50);
        await extra.sendNotification({
          method: "notifications/message",
          params: { level: "info", logger: "conformance-server", data: steps[i] },
        });
      }
      return { content: [text("Tool with logging executed successfully")] };
    }
    case "test_tool_with_progress": {
      const token = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progress > 0) await sleep(50);
        if (token !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress, total: 100 },
          });
        }
      }
      return { content: [text("Tool with progress executed successfully")] };
    }
    case "test_error_handling":
      return { isError: true, content: [text("This tool intentionally returns an error for testing")] };
    case "test_sampling": {
      if (typeof args.prompt !== "string") return { isError: true, content: [text("argument 'prompt' (string) is required")] };
      const result = await extra.sendRequest(
        {
          method: "sampling/createMessage",
          params: { messages: [{ role: "user", content: text(args.prompt) }], maxTokens: 100 },
        },
        types.CreateMessageResultSchema,
      );
      const reply = result.content?.type === "text" ? result.content.text : JSON.stringify(result.content);
      return { content: [text(`LLM response: ${reply}`)] };
    }
    case "test_elicitation": {
      if (typeof args.message !== "string") return { isError: true, content: [text("argument 'message' (string) is required")] };
      const result = await extra.sendRequest(
        {
          method: "elicitation/create",
          params: {
            message: args.message,
            requestedSchema: {
              type: "object",
              properties: {
                username: { type: "string", description: "User's response" },
                email: { type: "string", description: "User's email address" },
              },
              required: ["username", "email"],
            },
          },
        },
        types.ElicitResultSchema,
      );
      return { content: [text(`User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)] };
    }
    case "test_elicitation_sep1034_defaults":
    case "test_elicitation_sep1330_enums": {
      const sep1034 = name === "test_elicitation_sep1034_defaults";
      const result = await extra.sendRequest(
        {
          method: "elicitation/create",
          params: {
            message: sep1034 ? "Please review the fields (defaults filled in)" : "Please choose options",
            requestedSchema: sep1034 ? SEP1034_SCHEMA : SEP1330_SCHEMA,
          },
        },
        types.ElicitResultSchema,
      );
      return {
        content: [text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)],
      };
    }
    case "test_reconnection":
      // Close this request's SSE stream; the client resumes with Last-Event-ID and gets the
      // result from the event store (SEP-1699).
      extra.closeSSEStream?.();
      await sleep(100);
      return { content: [text("Reconnection test completed: the result arrived after the stream was resumed.")] };
    case "json_schema_2020_12_tool":
      return { content: [text(`Received: ${JSON.stringify(args)}`)] };
    default:
      throw new types.McpError(types.ErrorCode.InvalidParams, `Unknown tool: ${name}`);
  }
}

function readResource(uri) {
  if (uri === "test://static-text")
    return [{ uri, mimeType: "text/plain", text: "This is the content of the static text resource." }];
  if (uri === "test://static-binary") return [{ uri, mimeType: "image/png", blob: PNG }];
  if (uri === "test://watched-resource") return [{ uri, mimeType: "text/plain", text: "Watched resource content" }];
  const m = TEMPLATE.exec(uri);
  if (m) {
    const id = decodeURIComponent(m[1]);
    return [{ uri, mimeType: "application/json", text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }];
  }
  throw new types.McpError(-32002, `Resource not found: ${uri}`, { uri });
}

function getPrompt(name, args) {
  switch (name) {
    case "test_simple_prompt":
      return { messages: [{ role: "user", content: text("This is a simple prompt for testing.") }] };
    case "test_prompt_with_arguments":
      return {
        messages: [{ role: "user", content: text(`Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'`) }],
      };
    case "test_prompt_with_embedded_resource":
      return {
        messages: [
          {
            role: "user",
            content: {
              type: "resource",
              resource: { uri: args.resourceUri, mimeType: "text/plain", text: "Embedded resource content for testing." },
            },
          },
          { role: "user", content: text("Please process the embedded resource above.") },
        ],
      };
    case "test_prompt_with_image":
      return {
        messages: [
          { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
          { role: "user", content: text("Please analyze the image above.") },
        ],
      };
    default:
      throw new types.McpError(types.ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  }
}

const COMPLETIONS = {
  arg1: ["paris", "park", "party", "test", "testValue1"],
  arg2: ["world", "wonder", "testValue2"],
};

/** One SDK Server per session: handlers are plain functions over the tables above. */
function createServer() {
  const server = new Server(
    { name: "gatehouse-conformance-server", version: "1.0.0" },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const subscriptions = new Set();
  server.setRequestHandler(types.ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(types.CallToolRequestSchema, async (req, extra) =>
    callTool(req.params.name, req.params.arguments ?? {}, extra),
  );
  server.setRequestHandler(types.ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
  server.setRequestHandler(types.ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [
      {
        uriTemplate: "test://template/{id}/data",
        name: "template",
        description: "A resource template with one parameter",
        mimeType: "application/json",
      },
    ],
  }));
  server.setRequestHandler(types.ReadResourceRequestSchema, async (req) => ({ contents: readResource(req.params.uri) }));
  server.setRequestHandler(types.SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    return {};
  });
  server.setRequestHandler(types.UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });
  server.setRequestHandler(types.ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  server.setRequestHandler(types.GetPromptRequestSchema, async (req) => getPrompt(req.params.name, req.params.arguments ?? {}));
  server.setRequestHandler(types.CompleteRequestSchema, async (req) => {
    const { ref, argument } = req.params;
    const pool = ref.type === "ref/prompt" && ref.name === "test_prompt_with_arguments" ? COMPLETIONS[argument.name] ?? [] : [];
    const values = pool.filter((v) => v.startsWith(argument.value));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}

/** Event store for resumable SSE streams: ids are `<stream>::<sequence>`. */
function createEventStore() {
  const events = [];
  let seq = 0;
  return {
    async storeEvent(streamId, message) {
      const eventId = `${streamId}::${String(++seq).padStart(12, "0")}`;
      events.push({ eventId, streamId, message });
      return eventId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const at = events.findIndex((e) => e.eventId === lastEventId);
      if (at < 0) throw new Error(`unknown Last-Event-ID ${lastEventId}`);
      const { streamId } = events[at];
      for (const e of events.slice(at + 1)) {
        if (e.streamId === streamId && Object.keys(e.message).length > 0) await send(e.eventId, e.message);
      }
      return streamId;
    },
  };
}

/** Reject requests whose Host or Origin is not a localhost name (DNS rebinding protection). */
function localhostOnly(req, res, next) {
  const bad = (what) =>
    res.status(403).json({ jsonrpc: "2.0", error: { code: -32000, message: `Forbidden: ${what}` }, id: null });
  let host;
  try {
    host = new URL(`http://${req.headers.host ?? ""}`).hostname;
  } catch {
    return bad(`invalid Host header '${req.headers.host}'`);
  }
  if (!LOCAL_NAMES.has(host)) return bad(`Host '${req.headers.host}' is not a localhost name`);
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let oh;
    try {
      oh = new URL(origin).hostname;
    } catch {
      return bad(`invalid Origin header '${origin}'`);
    }
    if (!LOCAL_NAMES.has(oh)) return bad(`Origin '${origin}' is not a localhost origin`);
  }
  next();
}

const rpcError = (res, status, code, message) => res.status(status).json({ jsonrpc: "2.0", error: { code, message }, id: null });

function main() {
  const { host, port } = parseArgs(process.argv.slice(2));
  const transports = new Map();
  const app = express();
  app.use(localhostOnly);
  app.use(express.json({ limit: "4mb" }));

  app.post("/mcp", async (req, res) => {
    const sid = req.headers["mcp-session-id"];
    try {
      if (sid) {
        const t = transports.get(sid);
        if (!t) return rpcError(res, 404, -32001, "Session not found");
        return await t.handleRequest(req, res, req.body);
      }
      if (!types.isInitializeRequest(req.body))
        return rpcError(res, 400, -32000, "Bad Request: no Mcp-Session-Id header and not an initialize request");
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: createEventStore(),
        retryInterval: 500,
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await createServer().connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      process.stderr.write(`conformance server: POST failed: ${err?.stack ?? err}\n`);
      if (!res.headersSent) rpcError(res, 500, -32603, "Internal server error");
    }
  });

  const bySession = async (req, res) => {
    const sid = req.headers["mcp-session-id"];
    if (!sid) return rpcError(res, 400, -32000, "Bad Request: Mcp-Session-Id header is required");
    const t = transports.get(sid);
    if (!t) return rpcError(res, 404, -32001, "Session not found");
    try {
      await t.handleRequest(req, res);
    } catch (err) {
      process.stderr.write(`conformance server: ${req.method} failed: ${err?.stack ?? err}\n`);
      if (!res.headersSent) rpcError(res, 500, -32603, "Internal server error");
    }
  };
  app.get("/mcp", bySession);
  app.delete("/mcp", bySession);

  const listener = app.listen(port, host, () => {
    const addr = listener.address();
    process.stderr.write(`conformance server listening on http://${host}:${addr.port}/mcp\n`);
  });
  listener.on("error", (err) => {
    process.stderr.write(`conformance server: cannot listen on ${host}:${port}: ${err.message}\n`);
    process.exit(1);
  });
  const stop = async () => {
    for (const t of transports.values()) await t.close().catch(() => {});
    listener.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main();
