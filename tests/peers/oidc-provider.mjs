// A real OpenID provider (npm `oidc-provider`) for Gatehouse's identity tests.
//
// Usage: node oidc-provider.mjs --port N --resource URL
// Issues RS256 JWT access tokens for the resource URL (RFC 8707 resource indicators) to
// static confidential clients by the client-credentials grant. Each client stands for a
// workload with groups, which the tokens carry in a `groups` claim:
//   ci-engineer / secret-engineer  -> groups [engineers]
//   ci-sales    / secret-sales     -> groups [sales]
// Prints "listening on PORT" on stderr when ready.
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

const provider = new Provider(issuer, {
  clients: Object.keys(groups).map((id) => ({
    client_id: id,
    client_secret: `secret-${id.slice(3)}`,
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
  })),
  features: {
    devInteractions: { enabled: false },
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
  extraTokenClaims: (_ctx, token) => ({ groups: groups[token.clientId] ?? [] }),
});
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => console.error(`listening on ${port}`));
