#!/usr/bin/env node
// A real MCP client signing in unaided with the TypeScript SDK's OAuth client flow
// (@modelcontextprotocol/sdk client/auth.js through StreamableHTTPClientTransport's
// authProvider): 401 -> protected-resource metadata -> authorization-server metadata ->
// dynamic client registration -> authorization URL with PKCE and `resource` -> (the
// "browser": a scripted one that clicks Allow on Gatehouse's consent page and signs in at
// the identity provider's dev login, or, in Gatehouse's dev mode, picks a [dev] user) -> code -> token -> tools/list and tools/call.
//
// Usage: node mcp-oauth-client.mjs --url URL --user NAME [--redirect-port N]
// Prints ONE JSON object: what the client saw (tools, echo text, token facts, the
// authorization response's iss). Any failure exits 1 with the reason on stderr.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0 || i + 1 >= args.length) {
    if (dflt !== undefined) return dflt;
    process.stderr.write(`usage: mcp-oauth-client.mjs --url URL --user NAME [--redirect-port N] (missing ${name})\n`);
    process.exit(2);
  }
  return args[i + 1];
};
const url = new URL(arg("--url"));
const user = arg("--user");
const redirectUrl = `http://127.0.0.1:${arg("--redirect-port", "38181")}/callback`;

/** A browser's cookie jar, per host, enough for the sign-in's redirects. */
const jar = new Map();
function remember(target, res) {
  const host = new URL(target).host;
  const cookies = jar.get(host) ?? new Map();
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(";");
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
    if (expired || value === "") cookies.delete(name);
    else cookies.set(name, value);
  }
  jar.set(host, cookies);
}
function cookieHeader(target) {
  const cookies = jar.get(new URL(target).host);
  return cookies ? [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") : "";
}
async function go(target, init = {}) {
  const res = await fetch(target, {
    ...init,
    redirect: "manual",
    headers: { ...(init.headers ?? {}), cookie: cookieHeader(target) },
  });
  remember(target, res);
  return res;
}
const attr = (html, needle) => html.split(needle)[1]?.split('"')[0];

/** What the person does in the browser: consent at Gatehouse, log in at the provider. */
async function browse(start, seen) {
  let at = start.toString();
  let shown = null; // a page a form post answered with directly (no redirect)
  for (let i = 0; i < 30; i++) {
    if (at.startsWith(redirectUrl)) return new URL(at);
    const res = shown ?? (await go(at));
    shown = null;
    const loc = res.headers.get("location");
    if (loc) {
      at = new URL(loc, at).toString();
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`${at} answered ${res.status}: ${html.slice(0, 300)}`);
    const action = attr(html, 'action="');
    if (!action) throw new Error(`no form at ${at}: ${html.slice(0, 300)}`);
    let form;
    if (action === "/oauth/authorize/consent") {
      seen.consentPage = {
        client: attr(html, '<span class="client">')?.split("<")[0] ?? html.split('<span class="client">')[1]?.split("<")[0],
        redirectHost: html.split('<strong class="redirect-host">')[1]?.split("<")[0],
        frameOptions: res.headers.get("x-frame-options"),
        csp: res.headers.get("content-security-policy"),
      };
      form = { request: attr(html, 'name="request" value="'), decision: "allow" };
    } else if (action === "/auth/dev-login") {
      // Dev mode (gatehouse demo, serve --dev): no identity provider, pick a [dev] user.
      form = { user, return_to: attr(html, 'name="return_to" value="'), request: attr(html, 'name="request" value="') };
    } else {
      const prompt = attr(html, 'name="prompt" value="') ?? "";
      form = prompt === "login" ? { prompt, login: user, password: "any" } : { prompt };
    }
    const post = await go(new URL(action, at).toString(), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });
    const next = post.headers.get("location");
    if (!next && post.status === 200) {
      shown = post;
      continue;
    }
    if (!next) throw new Error(`the form at ${at} did not redirect (${post.status}): ${(await post.text()).slice(0, 300)}`);
    at = new URL(next, at).toString();
  }
  throw new Error("the sign-in never came back to the client");
}

/** The SDK's OAuthClientProvider, in memory (a real client would persist these). */
class Provider {
  constructor() {
    this.info = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.authorizationUrl = undefined;
  }
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: "Gatehouse e2e SDK client",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(t) {
    this.saved = t;
  }
  redirectToAuthorization(u) {
    this.authorizationUrl = u;
  }
  saveCodeVerifier(v) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

async function main() {
  const watchdog = setTimeout(() => {
    process.stderr.write("mcp-oauth-client: did not finish within 60 s\n");
    process.exit(1);
  }, 60_000);
  const provider = new Provider();
  const clientInfo = { name: "gatehouse-oauth-e2e", version: "1.0.0" };
  let transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  let client = new Client(clientInfo);
  let unauthorized = false;
  try {
    await client.connect(transport);
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    unauthorized = true;
  }
  if (!unauthorized || !provider.authorizationUrl) throw new Error("the gateway let an unsigned client in");
  const authUrl = provider.authorizationUrl;
  const seen = {};
  const back = await browse(authUrl, seen);
  const code = back.searchParams.get("code");
  if (!code) throw new Error(`no code in ${back}: ${back.searchParams.get("error_description")}`);
  if (back.searchParams.get("state") !== authUrl.searchParams.get("state")) throw new Error("state did not round-trip");
  await transport.finishAuth(code);

  transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  client = new Client(clientInfo);
  await client.connect(transport);
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  const echo = await client.callTool({ name: "echo", arguments: { message: "signed in unaided" } });
  await transport.terminateSession();
  await client.close();

  const payload = JSON.parse(Buffer.from(provider.saved.access_token.split(".")[1], "base64url").toString());
  clearTimeout(watchdog);
  process.stdout.write(
    JSON.stringify({
      authorizationRequest: {
        codeChallengeMethod: authUrl.searchParams.get("code_challenge_method"),
        resource: authUrl.searchParams.get("resource"),
        scope: authUrl.searchParams.get("scope"),
        endpoint: `${authUrl.origin}${authUrl.pathname}`,
      },
      authorizationResponseIss: back.searchParams.get("iss"),
      consentPage: seen.consentPage,
      registeredClientId: provider.info?.client_id ?? null,
      token: {
        aud: payload.aud,
        sub: payload.sub,
        groups: payload.groups,
        lifetime: payload.exp - payload.iat,
        hasRefresh: Boolean(provider.saved.refresh_token),
      },
      tools,
      echo: echo.content.filter((c) => c.type === "text").map((c) => c.text),
    }) + "\n",
  );
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`mcp-oauth-client: ${err?.stack ?? err}\n`);
  process.exit(1);
});
