// A real SAML 2.0 identity provider (npm `samlify`) for Gatehouse's SAML tests.
//
// Usage: node saml-idp.mjs --port N --sp-entity ID --acs URL
// Signs responses and assertions (RSA-SHA256) with a key and self-signed certificate made
// at start (openssl CLI). Endpoints:
//   GET /metadata                      IdP metadata (entity, SSO URL, signing certificate)
//   GET /sso?SAMLRequest&RelayState&user=NAME[&mode=M]
//        answers as the auto-submitting HTML form a browser would post to the ACS, signed
//        in as NAME with `groups` from: ann -> [auditors], root -> [gatehouse-admins], eve -> [engineers].
//        mode: `tamper` (NameID changed after signing), `audience` (for another SP),
//        `expired` (validity ended an hour ago), anything else a correct answer.
// Prints "listening on PORT" on stderr when ready.
import * as samlify from "samlify";
import http from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(name);
  if (i < 0 || i + 1 >= args.length) {
    console.error(`usage: saml-idp.mjs --port N --sp-entity ID --acs URL (missing ${name})`);
    process.exit(2);
  }
  return args[i + 1];
};
const port = Number(arg("--port"));
const spEntity = arg("--sp-entity");
const acs = arg("--acs");
const base = `http://127.0.0.1:${port}`;
const people = { ann: ["auditors"], root: ["gatehouse-admins"], eve: ["engineers"] };

// The IdP never parses XML it did not make; schema validation is for the SP (Gatehouse).
samlify.setSchemaValidator({ validate: async () => "skipped" });

const dir = mkdtempSync(join(tmpdir(), "saml-idp-"));
execFileSync("openssl", [
  "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=gatehouse-test-idp",
  "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
], { stdio: "ignore" });
const privateKey = readFileSync(join(dir, "key.pem"), "utf8");
const signingCert = readFileSync(join(dir, "cert.pem"), "utf8");

const idp = samlify.IdentityProvider({
  entityID: `${base}/metadata`,
  privateKey,
  signingCert,
  requestSignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  singleSignOnService: [{ Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Location: `${base}/sso` }],
  nameIDFormat: ["urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"],
});
const spFor = (entityID) =>
  samlify.ServiceProvider({
    entityID,
    assertionConsumerService: [{ Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: acs }],
    wantAssertionsSigned: true,
    wantMessageSigned: true,
  });

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The AuthnRequest's ID (HTTP-Redirect binding: base64 of raw DEFLATE). */
function requestId(samlRequest) {
  if (!samlRequest) return "";
  const xml = inflateRawSync(Buffer.from(samlRequest, "base64")).toString("utf8");
  const m = xml.match(/\sID="([^"]+)"/);
  return m ? m[1] : "";
}

async function loginResponse(user, inResponseTo, mode) {
  const sp = spFor(mode === "audience" ? "https://another-service.example/saml" : spEntity);
  const shift = mode === "expired" ? -3600_000 : 0;
  const at = (ms) => new Date(Date.now() + shift + ms).toISOString();
  const attributes = (people[user] ?? [])
    .map((g) => `<saml:AttributeValue xsi:type="xs:string">${escape(g)}</saml:AttributeValue>`)
    .join("");
  const { context } = await idp.createLoginResponse(sp, null, "post", { email: user }, (template) => {
    const id = `_${crypto.randomUUID()}`;
    const values = {
      ID: id,
      AssertionID: `_${crypto.randomUUID()}`,
      Destination: acs,
      Audience: sp.entityMeta.getEntityID(),
      SubjectRecipient: acs,
      Issuer: `${base}/metadata`,
      IssueInstant: at(0),
      StatusCode: "urn:oasis:names:tc:SAML:2.0:status:Success",
      ConditionsNotBefore: at(-60_000),
      ConditionsNotOnOrAfter: at(300_000),
      SubjectConfirmationDataNotOnOrAfter: at(300_000),
      NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
      NameID: user,
      InResponseTo: inResponseTo,
    };
    // The statements are XML, which replaceTagsByValue would escape: put them in first.
    const withStatements = template
      .replace("{AuthnStatement}", `<saml:AuthnStatement AuthnInstant="${at(0)}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`)
      .replace("{AttributeStatement}", `<saml:AttributeStatement><saml:Attribute Name="groups">${attributes}</saml:Attribute></saml:AttributeStatement>`);
    return { id, context: samlify.default.SamlLib.replaceTagsByValue(withStatements, values) };
  });
  if (mode !== "tamper") return context;
  const xml = Buffer.from(context, "base64").toString("utf8");
  return Buffer.from(xml.replace(`>${user}</saml:NameID>`, ">root</saml:NameID>")).toString("base64");
}

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, base);
    try {
      if (url.pathname === "/metadata") {
        res.writeHead(200, { "content-type": "application/samlmetadata+xml" });
        return res.end(idp.getMetadata());
      }
      if (url.pathname === "/sso") {
        const user = url.searchParams.get("user") ?? "";
        const response = await loginResponse(
          user,
          requestId(url.searchParams.get("SAMLRequest") ?? ""),
          url.searchParams.get("mode") ?? "",
        );
        const relay = url.searchParams.get("RelayState") ?? "";
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end(
          `<!doctype html><form method="post" action="${escape(acs)}">` +
            `<input type="hidden" name="SAMLResponse" value="${escape(response)}">` +
            `<input type="hidden" name="RelayState" value="${escape(relay)}">` +
            `<noscript><button>Continue</button></noscript></form><script>document.forms[0].submit()</script>`,
        );
      }
      res.writeHead(404).end();
    } catch (e) {
      console.error(e);
      res.writeHead(500, { "content-type": "text/plain" }).end(String(e));
    }
  })
  .listen(port, "127.0.0.1", () => console.error(`listening on ${port}`));
