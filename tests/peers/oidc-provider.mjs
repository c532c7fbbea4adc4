// A real OpenID provider (npm `oidc-provider`) for Gatehouse's identity tests.
//
// Usage: node oidc-provider.mjs --port N --resource URL [--web-client ID:SECRET:REDIRECT_URI]
//                               [--native-client ID]
// Issues RS256 JWT access tokens for the resource URL (RFC 8707 resource indicators) to
// static confidential clients by the client-credentials grant. Each client stands for a
// workload with groups, which the tokens carry in a `groups` claim:
//   ci-engineer / secret-engineer  -> groups [engineers]
//   ci-sales    / secret-sales     -> groups [sales]
// With --web-client, people sign in too (Authorization Code + PKCE, any password: the
// provider's dev login form) as one of these test users, whose ID tokens carry `groups`:
//   ann -> [auditors], bob -> [approvers], root -> [gatehouse-admins], eve -> [engineers]
// With --people-file PATH, people's groups are read from that JSON file ({"eve": ["sales"]})
// at every sign-in and refresh, so a test can change them, or disable a person (null).
// With --native-client, an installed app (the tray) signs people in too: a public client
// (no secret, PKCE required) whose loopback redirect http://127.0.0.1/callback matches any
// port (RFC 8252), with refresh tokens (offline_access); its access tokens carry the
// person's groups.
// Prints "listening on PORT" on stderr when ready.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(name);
  if (i < 0 || i + 1 >= args.length) {
    console.error(`usage: oidc-provider.mjs --port N --resource URL (missing ${name})`);
    process.exit(2);
  }
  return args[i + 1];
};
const port = Number(arg("--port"));
const resource = arg("--resource");
const issuer = `http://127.0.0.1:${port}`;
const groups = { "ci-engineer": ["engineers"], "ci-sales": ["sales"] };
const people = { ann: ["auditors"], bob: ["approvers"], root: ["gatehouse-admins"], eve: ["engineers"] };
const webIndex = args.indexOf("--web-client");
const web = webIndex >= 0 ? args[webIndex + 1] : null;
const webClient = (() => {
  if (!web) return null;
  // ID:SECRET:REDIRECT_URI (the URI itself contains colons).
  const [id, secret, ...rest] = web.split(":");
  return {
    client_id: id,
    client_secret: secret,
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    redirect_uris: [rest.join(":")],
    token_endpoint_auth_method: "client_secret_basic",
  };
})();

const nativeIndex = args.indexOf("--native-client");
const nativeClient = nativeIndex >= 0 && nativeIndex + 1 < args.length
  ? {
      client_id: args[nativeIndex + 1],
      application_type: "native",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: ["http://127.0.0.1/callback"],
      token_endpoint_auth_method: "none",
    }
  : null;

const provider = new Provider(issuer, {
  clients: [
    ...Object.keys(groups).map((id) => ({
      client_id: id,
      client_secret: `secret-${id.slice(3)}`,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
    })),
    ...(webClient ? [webClient] : []),
    ...(nativeClient ? [nativeClient] : []),
  ],
  // People's claims: groups ride in the ID token for the default sign-in scopes.
  claims: { openid: ["sub"], profile: ["preferred_username", "groups"], email: ["email"] },
  conformIdTokenClaims: false,
  findAccount: (_ctx, id) => {
    const file = args.indexOf("--people-file") >= 0 ? args[args.indexOf("--people-file") + 1] : null;
    const current = file ? { ...people, ...JSON.parse(readFileSync(file, "utf8")) } : people;
    if (current[id] === null) return undefined; // disabled at the provider
    return {
      accountId: id,
      claims: () => ({ sub: id, preferred_username: id, email: `${id}@example.test`, groups: current[id] ?? [] }),
    };
  },
  features: {
    devInteractions: { enabled: Boolean(webClient || nativeClient) },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
        return { scope: "mcp", audience: resource, accessTokenFormat: "jwt", accessTokenTTL: 300 };
      },
    },
  },
  extraTokenClaims: (_ctx, token) => ({
    groups: token.accountId ? (people[token.accountId] ?? []) : (groups[token.clientId] ?? []),
    ...(token.accountId ? { preferred_username: token.accountId } : {}),
  }),
});
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => console.error(`listening on ${port}`));
