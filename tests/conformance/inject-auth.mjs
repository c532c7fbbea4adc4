// Preloaded with `node --import` by run.sh when a bearer token is given: the conformance suite
// 0.1.x has no option to send HTTP headers, so this installs a process-wide undici dispatcher
// that adds `Authorization: Bearer <token>` to every request bound for the target origin.
// Node's built-in fetch (the SDK client transport, raw fetch calls) and the suite's own
// `undici.request` (dns-rebinding-protection) both go through that global dispatcher.
// Requests that already carry an Authorization header are left alone.
//
// Environment: GATEHOUSE_CONFORMANCE_TOKEN (the token), GATEHOUSE_CONFORMANCE_URL (the target).

import { createRequire } from "node:module";

const token = process.env.GATEHOUSE_CONFORMANCE_TOKEN;
const target = process.env.GATEHOUSE_CONFORMANCE_URL;
if (!token || !target) {
  process.stderr.write("inject-auth: GATEHOUSE_CONFORMANCE_TOKEN and GATEHOUSE_CONFORMANCE_URL must both be set\n");
  process.exit(2);
}
const origin = new URL(target).origin;

// The suite's own undici (7.x), so its `request` and Node's fetch share this dispatcher.
const requireFromSuite = createRequire(
  new URL("../peers/node_modules/@modelcontextprotocol/conformance/package.json", import.meta.url),
);
const { Agent, setGlobalDispatcher } = requireFromSuite("undici");

function hasAuthorization(headers) {
  if (!headers) return false;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === "authorization") return true;
    return false;
  }
  if (typeof headers.has === "function") return headers.has("authorization");
  return Object.keys(headers).some((k) => k.toLowerCase() === "authorization");
}

function withAuthorization(headers) {
  const value = `Bearer ${token}`;
  if (!headers) return { authorization: value };
  if (Array.isArray(headers)) return [...headers, "authorization", value];
  if (typeof headers.entries === "function") return { ...Object.fromEntries(headers.entries()), authorization: value };
  return { ...headers, authorization: value };
}

const addAuth = (dispatch) => (opts, handler) => {
  const reqOrigin = typeof opts.origin === "string" ? opts.origin : opts.origin?.origin;
  if (reqOrigin === origin && !hasAuthorization(opts.headers)) {
    return dispatch({ ...opts, headers: withAuthorization(opts.headers) }, handler);
  }
  return dispatch(opts, handler);
};

setGlobalDispatcher(new Agent().compose(addAuth));

// Some scenarios (malformed-header checks) bypass fetch and call node:http directly with
// an options object; add the header there too, for requests to the target only.
import http from "node:http";
const targetUrl = new URL(target);
const originalRequest = http.request;
http.request = function patchedRequest(options, ...rest) {
  if (options && typeof options === "object" && !(options instanceof URL)) {
    const host = options.hostname ?? options.host;
    const port = String(options.port ?? (targetUrl.protocol === "https:" ? 443 : 80));
    const sameTarget = (host === targetUrl.hostname || (host === "localhost" && targetUrl.hostname === "127.0.0.1")) && port === (targetUrl.port || port);
    if (sameTarget && !hasAuthorization(options.headers)) {
      options = { ...options, headers: withAuthorization(options.headers) };
    }
  }
  return originalRequest.call(this, options, ...rest);
};
