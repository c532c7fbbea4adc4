// Harness for the dashboard's browser tests: starts the real pieces (OpenID provider,
// gatehouse, an MCP client) and drives the real Debian Chromium with playwright-core.
// Every process it starts is killed by stopAll(); logs go to tests/browser/.work/RUN/.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../..");
export const GATEHOUSE_BIN =
  process.env.GATEHOUSE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? "/work/target", "debug/gatehouse");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const NODE22 = path.join(REPO, "tests/peers/bin/node22");
export const SHOTS = path.join(HERE, "screenshots");
export const VIEWPORT = { width: 1280, height: 800 };

/** The masked-token regex from the API contract. */
export const MASK_TOKEN = /\[[A-Z][A-Z0-9_]*(?: \*{4}[A-Za-z0-9]{4}|:hmac:[0-9a-f]+)?\]/;

export function preflight() {
  const missing = [];
  if (!fs.existsSync(GATEHOUSE_BIN))
    missing.push(`${GATEHOUSE_BIN} (build it: cargo build -p gatehouse-cli, or set GATEHOUSE_BIN)`);
  if (!fs.existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  if (!fs.existsSync(path.join(REPO, "tests/peers/node_modules/oidc-provider")))
    missing.push("tests/peers/node_modules (run scripts/install-test-deps.sh)");
  if (!fs.existsSync(path.join(REPO, "ui/dist/index.html")))
    missing.push("ui/dist (run npm ci && npm run build in ui/ before building gatehouse)");
  if (missing.length) throw new Error(`cannot run the browser tests, missing:\n  ${missing.join("\n  ")}`);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = new Set();
let runDir;
export function workDir() {
  if (!runDir) {
    runDir = path.join(HERE, ".work", new Date().toISOString().replace(/[:.]/g, "-"));
    fs.mkdirSync(runDir, { recursive: true });
  }
  return runDir;
}

/** Starts a long-running process with its output in .work/RUN/NAME.log. */
export function startProcess(name, cmd, args, opts = {}) {
  const log = fs.openSync(path.join(workDir(), `${name}.log`), "a");
  const child = spawn(cmd, args, {
    stdio: ["ignore", log, log],
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd ?? workDir(),
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.logFile = path.join(workDir(), `${name}.log`);
  return child;
}

export function logTail(child, lines = 30) {
  try {
    return fs.readFileSync(child.logFile, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export async function stopAll() {
  for (const c of [...children]) {
    c.kill("SIGTERM");
  }
  const deadline = Date.now() + 5000;
  while (children.size && Date.now() < deadline) await sleep(50);
  for (const c of [...children]) c.kill("SIGKILL");
}

/** Polls `url` until it answers `want` (a status), or fails with the process's log. */
export async function waitForHttp(url, { want = 200, child, timeoutMs = 30_000, what = url } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}:\n${logTail(child)}`);
    try {
      const r = await fetch(url);
      if (r.status === want) return r;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s (${last})${child ? `:\n${logTail(child)}` : ""}`);
}

/** The real OpenID provider with the dashboard's web client (see dashboard-api-requests.md R1). */
export async function startProvider({ port, resource, gatehouseBase }) {
  const child = startProcess("oidc-provider", NODE22, [
    path.join(REPO, "tests/peers/oidc-provider.mjs"),
    "--port",
    String(port),
    "--resource",
    resource,
    "--web-client",
    `gatehouse-web:secret-web:${gatehouseBase}/auth/callback`,
  ]);
  await waitForHttp(`http://127.0.0.1:${port}/.well-known/openid-configuration`, { child, what: "the OpenID provider" });
  return { child, issuer: `http://127.0.0.1:${port}` };
}

/** The policy the tests start from: engineers use `customers`; deleting waits for an approver. */
export const POLICY_V1 = `version: 1
default: deny

rules:
  - name: engineers-use-customers
    description: Engineers may use the customer database.
    principals: {groups: [engineers]}
    servers: [customers]
    effect: allow

  - name: delete-needs-approval
    description: Deleting a customer waits for an approver.
    principals: {groups: [engineers]}
    servers: [customers]
    methods: [tools/call]
    tools: [delete_customer]
    effect: require_approval
    approval:
      approvers: [approvers]
      quorum: 1
      ttl: 10m
      mode: hold

  - name: writes-need-approval
    description: SQL that changes data waits for an approver.
    principals: {groups: [engineers]}
    servers: [customers]
    tools: [query]
    arguments: [{pointer: /sql, sql: {dialect: postgres, read_only: true}}]
    effect: require_approval
    approval: {approvers: [approvers], quorum: 1, ttl: 10m, mode: hold}

  - name: dba-write-on-request
    description: Engineers may ask for time-boxed write access to the customer database.
    principals:
      groups: [engineers]
      request: {role: dba-write, max: 4h, approval: {approvers: [approvers], quorum: 1, ttl: 30m}}
    servers: [customers]
    tools: [delete_customer]
    effect: allow
`;

/** gatehouse.toml for the tests (keys for browser sign-in and roles: dashboard-api-requests.md R2). */
export function writeConfig({ port, issuer, database }) {
  const dir = workDir();
  setDemoVariant("normal");
  const policy = path.join(dir, "policy.yaml");
  fs.writeFileSync(policy, POLICY_V1);
  const file = path.join(dir, "gatehouse.toml");
  fs.writeFileSync(
    file,
    `listen = "127.0.0.1:${port}"
public_url = "http://127.0.0.1:${port}"
database = "${database ?? `sqlite://${path.join(dir, "gatehouse.db")}`}"
durability = "os"
policy_file = "${policy}"
admin_groups = ["gatehouse-admins"]

[[servers]]
name = "customers"
command = "${GATEHOUSE_BIN}"
args = ["demo-server"]
pin_tools = true
owners = ["bob"]
env = { GATEHOUSE_DEMO_VARIANT = "file:${path.join(dir, "demo-variant")}" }

[oidc]
issuer = "${issuer}"
client_id = "gatehouse-web"
client_secret = "secret-web"

[roles]
auditor_groups = ["auditors"]
approver_groups = ["approvers"]
`,
  );
  return file;
}

/**
 * The demo server reads its variant at each start: "poisoned" changes delete_customer's
 * description (a rug pull), which the gateway must notice against its pinned definition.
 */
export function setDemoVariant(variant) {
  fs.writeFileSync(path.join(workDir(), "demo-variant"), variant);
}

export async function startGatehouse({ port, config }) {
  const child = startProcess("gatehouse", GATEHOUSE_BIN, ["serve", "--config", config], {
    env: { RUST_LOG: process.env.RUST_LOG ?? "info" },
  });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/readyz`, { child, what: "gatehouse serve" });
  return { child, base };
}

/** An access token for an MCP client (client-credentials grant; ci-engineer is in [engineers]). */
export async function clientToken(issuer, resource, client = "ci-engineer", secret = "secret-engineer") {
  const r = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", resource, scope: "mcp" }),
  });
  const body = await r.json();
  if (!body.access_token) throw new Error(`no access token from ${issuer}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Starts the real MCP client for one tool call; `.done` resolves to its JSON output. */
export function mcpCall({ url, token, tool, args = {} }) {
  const child = spawn(
    process.execPath,
    [path.join(HERE, "mcp-call.mjs"), "--url", url, "--token", token, "--tool", tool, "--args", JSON.stringify(args)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.add(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  child.done = new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      children.delete(child);
      if (code !== 0) reject(new Error(`mcp-call ${tool} exited ${code}: ${err.trim()}`));
      else {
        try {
          resolve(JSON.parse(out));
        } catch {
          reject(new Error(`mcp-call ${tool} printed no JSON: ${out} ${err}`));
        }
      }
    });
  });
  child.finished = () => child.exitCode !== null;
  return child;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** A fresh browser context (its own cookies) and page at 1280×800; page errors fail loudly. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  return { context, page };
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/**
 * Signs in through the dashboard's sign-in screen and the provider's login form (any
 * password), confirming consent if asked, and waits for the dashboard shell.
 */
export async function signIn(page, base, login, { screenshot } = {}) {
  await page.goto(`${base}/`);
  const button = page.getByRole("link", { name: "Sign in with your company account" });
  await button.waitFor();
  if (screenshot) await shot(page, screenshot);
  await button.click();
  await page.locator('input[name="login"]').waitFor({ timeout: 15_000 });
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "any-password");
  await page.click('button[type="submit"]');
  const shell = page.getByTestId("signed-in-as");
  for (let i = 0; i < 3; i++) {
    const consent = page.getByRole("button", { name: "Continue" });
    const which = await Promise.race([
      shell.waitFor({ timeout: 15_000 }).then(() => "in"),
      consent.waitFor({ timeout: 15_000 }).then(() => "consent"),
    ]);
    if (which === "in") break;
    await consent.click();
  }
  await shell.waitFor();
  return shell.innerText();
}

/** A same-origin API request from inside the signed-in page (cookie + CSRF header). */
export function apiFromPage(page, method, urlPath, body, contentType = "application/json") {
  return page.evaluate(
    async ({ method, urlPath, body, contentType }) => {
      const r = await fetch(urlPath, {
        method,
        credentials: "same-origin",
        headers: { "X-Gatehouse-Request": "1", "Content-Type": contentType },
        body,
      });
      return { status: r.status, body: await r.text() };
    },
    { method, urlPath, body, contentType },
  );
}
