// The dashboard end to end: the real gatehouse binary (serving ui/dist), the real OpenID
// provider, a real MCP client making calls, and Debian's Chromium driven by playwright-core.
// Run with tests/browser/run.sh. Screenshots of every page go to tests/browser/screenshots/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  MASK_TOKEN,
  POLICY_V1,
  apiFromPage,
  clientToken,
  freePort,
  launchBrowser,
  mcpCall,
  newPage,
  preflight,
  setDemoVariant,
  shot,
  signIn,
  sleep,
  startGatehouse,
  startProvider,
  stopAll,
  writeConfig,
} from "./lib.mjs";

let browser;
let base;
let mcpUrl;
let token;

before(async () => {
  preflight();
  const gatePort = await freePort();
  const opPort = await freePort();
  const gatehouseBase = `http://127.0.0.1:${gatePort}`;
  mcpUrl = `${gatehouseBase}/mcp/customers`;
  const op = await startProvider({ port: opPort, resource: mcpUrl, gatehouseBase });
  const config = writeConfig({ port: gatePort, issuer: op.issuer });
  ({ base } = await startGatehouse({ port: gatePort, config }));
  token = await clientToken(op.issuer, mcpUrl);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopAll();
});

const call = (tool, args) => mcpCall({ url: mcpUrl, token, tool, args });
/** Clicks an item of the left navigation. */
const goTo = (page, item) =>
  page.getByRole("complementary", { name: "Main navigation" }).getByRole("link", { name: item, exact: true }).click();

describe("dashboard", { concurrency: 1 }, () => {
  test("an auditor signs in, finds the session and sees its masked result highlighted", async () => {
    const r = await call("query", { sql: "SELECT * FROM customers" }).done;
    assert.equal(r.ok, true, JSON.stringify(r));
    const answer = r.text.join("\n");
    assert.match(answer, MASK_TOKEN, "the client itself only gets masked values");
    assert.doesNotMatch(answer, /ada\.lovelace@example\.com|4111 1111 1111 1111/);

    const { context, page } = await newPage(browser);
    const who = await signIn(page, base, "ann", { screenshot: "01-sign-in" });
    assert.match(who, /ann/);
    assert.match(who, /auditor/);

    await goTo(page, "Overview");
    await page.getByRole("heading", { name: "Calls per day by server" }).waitFor();
    await shot(page, "02-overview");

    // Filter the sessions through the form; the filters land in the URL (shareable).
    await goTo(page, "Sessions");
    await page.getByLabel("Person").fill("ci-engineer");
    await page.getByLabel("Had masked data").check();
    await page.getByLabel("Tool").fill("query");
    await page.getByLabel("Tool").press("Enter");
    await page.waitForURL(/\/sessions\?.*user=ci-engineer/);
    assert.match(page.url(), /masked=true/);
    assert.match(page.url(), /tool=query/);
    const row = page.getByTestId("session-row").filter({ hasText: "ci-engineer" }).first();
    await row.waitFor();
    assert.match(await row.innerText(), /customers/);
    for (const text of await page.getByTestId("session-row").allInnerTexts()) {
      assert.match(text, /ci-engineer/, "only the filtered person's sessions are listed");
    }
    await shot(page, "03-sessions-filtered");

    // A shared link opens the same filtered list in a fresh page.
    const shared = page.url();
    const other = await context.newPage();
    await other.setViewportSize({ width: 1280, height: 800 });
    await other.goto(shared);
    await other.getByTestId("session-row").first().waitFor();
    assert.equal(await other.getByLabel("Person").inputValue(), "ci-engineer");
    await other.close();

    await row.getByRole("link").first().click();
    await page.waitForURL(/\/sessions\/[^/?]+$/);
    const callCard = page.locator('[data-testid="call"][data-tool="query"]').first();
    const result = callCard.getByTestId("masked-result");
    await result.waitFor();
    const marks = result.locator("mark.masked");
    assert.ok((await marks.count()) > 0, "masked tokens are highlighted");
    const token0 = await marks.first().innerText();
    assert.match(token0, new RegExp(`^${MASK_TOKEN.source}$`));
    assert.ok(await marks.first().isVisible());
    const text = await result.innerText();
    assert.doesNotMatch(text, /ada\.lovelace@example\.com|4111 1111 1111 1111/, "no raw value on the page");
    // The call shows its decision with rule and policy version, and its timings.
    assert.match(await callCard.innerText(), /Allowed[\s\S]*engineers-use-customers[\s\S]*policy/);
    assert.match(await callCard.innerText(), /requested .* UTC/);
    await result.scrollIntoViewIfNeeded();
    await shot(page, "04-session-masked");
    await page.getByRole("heading", { name: /Transcript/ }).scrollIntoViewIfNeeded();
    await page.getByRole("button", { name: "Payload" }).last().click();
    const payload = page.getByLabel(/^Payload of event/).last();
    await payload.scrollIntoViewIfNeeded();
    assert.match(await payload.innerText(), MASK_TOKEN, "the recorded response is masked too");
    await shot(page, "05-session-transcript");
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test("an approver approves a held call live and the client's call completes", async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, base, "bob");
    await goTo(page, "Approvals");
    await page.getByText("Live: this list updates by itself.").waitFor();
    await page.getByText("Nothing is waiting for a decision").waitFor();

    // The client's call is held by the policy; the queue shows it without a reload.
    const held = call("delete_customer", { id: 3 });
    const card = page.getByTestId("approval").filter({ hasText: "delete_customer" });
    await card.waitFor({ timeout: 20_000 });
    assert.match(await card.innerText(), /ci-engineer/);
    assert.match(await card.innerText(), /delete-needs-approval/);
    assert.equal(held.finished(), false, "the call is still held");
    await shot(page, "06-approvals-queue");

    // A reason is required.
    await card.getByRole("button", { name: "Approve" }).click();
    await card.getByRole("alert").waitFor();
    assert.match(await card.getByRole("alert").innerText(), /reason/i);
    await card.getByLabel(/Reason/).fill("browser test: verified with the customer");
    await card.getByRole("button", { name: "Approve" }).click();

    const r = await held.done;
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.match(r.text.join(" "), /3|deleted/i);
    await page.getByText("Nothing is waiting for a decision").waitFor({ timeout: 10_000 });

    await page.getByRole("tab", { name: "History" }).click();
    const row = page.getByTestId("approval-history-row").filter({ hasText: "delete_customer" }).first();
    await row.waitFor();
    const rowText = await row.innerText();
    assert.match(rowText, /bob/);
    assert.match(rowText, /browser test: verified with the customer/);
    assert.match(rowText, /Approved|Used/);
    await shot(page, "07-approvals-history");
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test("an admin publishes a policy in the editor and the next call obeys it", async () => {
    const before = await call("describe_table", { table: "customers" }).done;
    assert.equal(before.ok, true, `allowed before the new policy: ${JSON.stringify(before)}`);

    const { context, page } = await newPage(browser);
    await signIn(page, base, "root");
    await goTo(page, "Policies");
    await page.getByRole("link", { name: "Edit and publish…" }).click();
    const editor = page.getByLabel("Policy document");
    await editor.waitFor();
    assert.equal(await editor.inputValue(), POLICY_V1, "the editor starts from the version in force");

    // Validation as you type: a bad effect is reported with line:column.
    const bad = `${POLICY_V1}\n  - name: broken\n    effect: maybe\n`;
    await editor.fill(bad);
    const problems = page.getByTestId("problems");
    await problems.waitFor({ timeout: 10_000 });
    assert.match(await problems.innerText(), /^\d+:\d+ /m);
    assert.ok(await page.getByRole("button", { name: "Publish new version" }).isDisabled());
    await shot(page, "08-policy-editor-errors");

    const v2 = `${POLICY_V1}
  - name: no-describe
    description: Table definitions are off limits (published by the browser test).
    servers: [customers]
    methods: [tools/call]
    tools: [describe_table]
    effect: deny
    message: describe_table is switched off by policy
`;
    await editor.fill(v2);
    await page.getByTestId("check-status").filter({ hasText: "Valid" }).waitFor({ timeout: 10_000 });
    assert.ok(await page.getByRole("button", { name: "Publish new version" }).isDisabled(), "dry run first");
    await page.getByRole("button", { name: "Run dry run" }).click();
    const dry = page.getByTestId("dry-run");
    await dry.waitFor();
    assert.match(await dry.innerText(), /would be decided differently/);
    assert.match(await dry.innerText(), /describe_table/, "the earlier describe_table call would now be denied");
    await shot(page, "09-policy-editor-dry-run");
    await page.getByRole("button", { name: "Publish new version" }).click();
    await page.getByText(/Published v\d+/).waitFor();

    // Gateways apply a new version within a second.
    let after;
    for (let i = 0; i < 20; i++) {
      after = await call("describe_table", { table: "customers" }).done;
      if (!after.ok) break;
      await sleep(250);
    }
    assert.equal(after.ok, false, `denied after publishing: ${JSON.stringify(after)}`);
    assert.match(JSON.stringify(after), /describe_table is switched off by policy/);

    // History lists the new version with its author, and the diff shows the added rule.
    await page.getByRole("link", { name: "← Policies" }).click();
    const current = page.getByRole("navigation", { name: "Policy versions" }).getByRole("link").first();
    await current.waitFor();
    assert.match(await current.innerText(), /in force[\s\S]*by root/);
    await page.getByRole("tab", { name: "Changes" }).click();
    await page.getByRole("region", { name: /Changes from v\d+ to v\d+/ }).waitFor();
    assert.match(await page.getByRole("region", { name: /Changes from/ }).innerText(), /\+\s*- name: no-describe/);
    await shot(page, "10-policies-diff");
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test("an auditor cannot reach admin actions: the UI hides them and the API refuses", async () => {
    // The upstream changes a tool's description (a rug pull): the gateway blocks the tool
    // until an admin reviews the change.
    setDemoVariant("poisoned");
    const blocked = await call("delete_customer", { id: 4 }).done;
    assert.equal(blocked.ok, false, `a changed tool is blocked: ${JSON.stringify(blocked)}`);

    const { context, page } = await newPage(browser);
    await signIn(page, base, "ann");
    const nav = page.getByRole("navigation").first();
    for (const item of ["Overview", "Sessions", "Approvals", "Policies", "Audit integrity", "Servers & agents"]) {
      assert.ok(await nav.getByRole("link", { name: item }).isVisible(), `${item} is in the auditor's nav`);
    }

    await goTo(page, "Policies");
    await page.getByRole("navigation", { name: "Policy versions" }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Edit and publish…" }).count(), 0);
    await shot(page, "11-policies-auditor");
    await page.goto(`${base}/policies/edit`);
    await page.getByText("The policy editor is not available to you").waitFor();
    await shot(page, "12-editor-refused");

    await goTo(page, "Servers & agents");
    await page.getByRole("heading", { name: "Servers", exact: true }).waitFor();
    const alert = page.getByTestId("pin-alert").filter({ hasText: "delete_customer" });
    await alert.waitFor();
    assert.match(await alert.innerText(), /An admin must review it/);
    assert.equal(await page.getByRole("button", { name: /Accept new definition|Reject/ }).count(), 0);
    await shot(page, "13-servers-auditor");

    await goTo(page, "Audit integrity");
    await page.getByRole("button", { name: "Verify now" }).click();
    await page.getByText("The log is intact.").waitFor({ timeout: 30_000 });
    const link = await page.getByTestId("evidence-link").getAttribute("href");
    assert.match(link, /^\/api\/v1\/evidence\?since=\d{4}-\d\d-\d\d&until=\d{4}-\d\d-\d\d$/);
    const bundle = await page.evaluate(async (href) => {
      const r = await fetch(href, { credentials: "same-origin" });
      return { status: r.status, disposition: r.headers.get("content-disposition"), bytes: (await r.arrayBuffer()).byteLength };
    }, link);
    assert.equal(bundle.status, 200);
    assert.match(bundle.disposition ?? "", /attachment/);
    assert.ok(bundle.bytes > 100, "an evidence bundle, not an empty file");
    await shot(page, "14-audit");

    // The API refuses the same actions, even with the cookie and the CSRF header.
    const publish = await apiFromPage(page, "POST", "/api/v1/policies", POLICY_V1, "text/plain; charset=utf-8");
    assert.equal(publish.status, 403, publish.body);
    assert.match(JSON.parse(publish.body).error, /./);
    const pin = await apiFromPage(page, "POST", "/api/v1/pins/customers/delete_customer/accept", "{}");
    assert.equal(pin.status, 403, pin.body);
    // ...and without the CSRF header nothing unsafe is accepted at all.
    const noCsrf = await page.evaluate(
      async () => (await fetch("/api/v1/audit/verify", { method: "POST", credentials: "same-origin" })).status,
    );
    assert.equal(noCsrf, 403);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Sign in with your company account" }).waitFor();
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test("an admin reviews the changed tool definition and accepts it", async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, base, "root");
    await goTo(page, "Servers & agents");
    const alert = page.getByTestId("pin-alert").filter({ hasText: "delete_customer" });
    await alert.waitFor();
    // The diff shows what changed in the definition.
    const diff = alert.getByRole("region", { name: /Definition change of delete_customer/ });
    assert.match(await diff.innerText(), /\+.*api_keys/);
    await shot(page, "15-servers-pin-review");
    await alert.getByRole("button", { name: "Accept new definition" }).click();
    await page.getByText("Accepted the new definition of customers/delete_customer.").waitFor();
    await alert.waitFor({ state: "detached" });
    const servers = JSON.parse((await apiFromPage(page, "GET", "/api/v1/servers")).body);
    const customers = servers.servers.find((x) => x.name === "customers");
    assert.deepEqual(customers.pending_pins, []);
    await shot(page, "16-servers-pin-accepted");
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test("an engineer sees only their own sessions and requests", async () => {
    const { context, page } = await newPage(browser);
    const who = await signIn(page, base, "eve");
    assert.match(who, /eve/);
    assert.doesNotMatch(who, /auditor|approver|admin/);
    await page.waitForURL(/\/sessions$/);
    const nav = page.getByRole("complementary", { name: "Main navigation" });
    assert.deepEqual(await nav.getByRole("link").allInnerTexts(), ["Gatehouse", "Sessions", "Approvals", "Access"]);
    await page.getByText("No sessions recorded yet").waitFor();
    assert.equal(await page.getByTestId("session-row").count(), 0, "ci-engineer's sessions are not eve's");
    await shot(page, "17-engineer-sessions");
    const overview = await apiFromPage(page, "GET", "/api/v1/overview");
    assert.equal(overview.status, 403, overview.body);
    const others = await apiFromPage(page, "GET", "/api/v1/sessions?user=ci-engineer");
    assert.deepEqual(JSON.parse(others.body).sessions, []);
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  // Before the time-boxed access scenario: eve must not have used `customers` yet
  // (that scenario gives her a grant and a session).
  test("an auditor starts an access review, the owner decides every entry, the auditor closes it", async () => {
    // ann (auditor) starts a review of this quarter.
    const auditor = await newPage(browser);
    await signIn(auditor.page, base, "ann");
    await goTo(auditor.page, "Access reviews");
    await auditor.page.getByLabel(/^Period/).waitFor();
    await auditor.page.getByRole("button", { name: "Start review" }).click();
    await auditor.page.waitForURL(/\/access-reviews\/[0-9a-f]+$/);
    const reviewUrl = auditor.page.url();
    const entries = auditor.page.getByTestId("review-entry");
    await entries.first().waitFor();
    const used = entries.filter({ hasText: "ci-engineer" });
    assert.match(await used.innerText(), /engineers-use-customers \(group:engineers\)[\s\S]*\d+ sessions, \d+ calls/);
    const unused = entries.filter({ hasText: /^#\d+ eve on customers/ });
    assert.match(await unused.innerText(), /never used[\s\S]*none \(a candidate for removal\)/);
    // Closing with undecided entries is refused, and says why.
    await auditor.page.getByTestId("close-review").click();
    assert.match(await auditor.page.getByRole("alert").innerText(), /cannot close: \d+ of \d+ entries are undecided/);

    // bob owns customers: he keeps the engineer who uses it and revokes the one who never did.
    const owner = await newPage(browser);
    await signIn(owner.page, base, "bob");
    await owner.page.goto(reviewUrl);
    const cards = owner.page.getByTestId("review-entry");
    await cards.first().waitFor();
    const count = await cards.count();
    for (let i = 0; i < count; i++) {
      const card = cards.nth(i);
      const never = /never used/.test(await card.innerText());
      await card.getByLabel(/^Comment/).fill(never ? "never used it this quarter" : "works on customer support");
      await card.getByRole("button", { name: never ? "Revoke" : "Keep" }).click();
      await card.getByText(/bob decided to (keep|revoke)/).waitFor();
    }
    const revoked = cards.filter({ hasText: /^#\d+ eve on customers/ });
    assert.match(await revoked.innerText(), /To do: remove eve from the identity provider group engineers/);
    await owner.page.getByTestId("policy-draft").waitFor();
    assert.match(await owner.page.getByTestId("policy-draft").innerText(), /principals: \{users: \["eve"\]\}/);
    assert.equal(await owner.page.getByTestId("close-review").count(), 0, "owners do not close reviews");
    assert.deepEqual(owner.page.errors, []);
    await owner.context.close();

    // ann closes it: the result is signed into the audit log.
    await auditor.page.reload();
    await auditor.page.getByTestId("review-progress").filter({ hasText: `${count} of ${count} entries decided` }).waitFor();
    await auditor.page.getByTestId("close-review").click();
    await auditor.page.getByText(/Closed by ann/).waitFor();
    await auditor.page.getByRole("heading", { name: /^Access review / }).scrollIntoViewIfNeeded();
    await shot(auditor.page, "18-access-review-closed");
    await goTo(auditor.page, "Access reviews");
    const row = auditor.page.getByTestId("access-review-row").first();
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(`closed[\\s\\S]*${count} / ${count}[\\s\\S]*ann`));
    await shot(auditor.page, "19-access-reviews-list");
    assert.deepEqual(auditor.page.errors, []);
    await auditor.context.close();
  });

  test("an engineer asks for time-boxed access, an approver grants it, the engineer ends it early", async () => {
    const eve = await newPage(browser);
    await signIn(eve.page, base, "eve");
    await goTo(eve.page, "Access");
    const form = eve.page.getByTestId("access-request-form");
    await form.getByLabel("Server").fill("customers");
    await form.getByLabel("Role").fill("dba-write");
    await form.getByLabel("For").fill("5h");
    await form.getByLabel(/Reason/).fill("INC-4411: customer data fix");
    await form.getByRole("button", { name: "Ask for access" }).click();
    await form.getByRole("alert").waitFor();
    assert.match(await form.getByRole("alert").innerText(), /at most 4h/, "longer than the rule allows");
    await form.getByLabel("For").fill("2h");
    await shot(eve.page, "20-access-request-form");
    await form.getByRole("button", { name: "Ask for access" }).click();
    await eve.page.getByText(/Requested role dba-write on customers for 2h/).waitFor();
    const own = eve.page.getByTestId("access-request").filter({ hasText: "INC-4411" });
    assert.match(await own.innerText(), /your own request/);

    const bob = await newPage(browser);
    await signIn(bob.page, base, "bob");
    await goTo(bob.page, "Access");
    const card = bob.page.getByTestId("access-request").filter({ hasText: "INC-4411" });
    await card.waitFor();
    assert.match(await card.innerText(), /eve asks for role dba-write on customers for 2h/i);
    await shot(bob.page, "21-access-request-to-approve");
    await card.getByLabel(/Reason/).fill("on call for INC-4411");
    await card.getByRole("button", { name: "Approve" }).click();
    await bob.page.getByText(/Approved eve's request for role dba-write/).waitFor();
    // Approvers see their own grants; the engineer sees the new one.

    await eve.page.reload();
    const mine = eve.page.getByTestId("grant-row").filter({ hasText: "INC-4411" }).first();
    await mine.waitFor();
    assert.equal(await mine.getAttribute("data-state"), "live");
    await shot(eve.page, "22-access-grant-live");
    await mine.getByRole("button", { name: "End now" }).click();
    await eve.page.getByText(/Ended grant/).waitFor();
    const ended = eve.page.locator('[data-testid="grant-row"][data-state="revoked"]').filter({ hasText: "INC-4411" }).first();
    await ended.waitFor();
    assert.match(await ended.innerText(), /revoked by eve/);
    await shot(eve.page, "23-access-grant-ended");
    assert.deepEqual(eve.page.errors, []);
    assert.deepEqual(bob.page.errors, []);
    await eve.context.close();
    await bob.context.close();
  });

  test("an approver reads a held SQL call: masked arguments and the statement pretty-printed", async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, base, "bob");
    await goTo(page, "Approvals");
    await page.getByText("Live: this list updates by itself.").waitFor();
    const sql =
      "update customers set email = 'ada.lovelace@example.com', notes = '" + "x".repeat(600) + "' where id = 3 and plan = 'gold'";
    const held = call("query", { sql });
    const card = page.getByTestId("approval").filter({ hasText: "writes-need-approval" });
    await card.waitFor({ timeout: 20_000 });
    const text = await card.innerText();
    assert.match(text, /ci-engineer wants to call query on customers/);
    assert.match(text, /Held because: .*not a read-only/);
    assert.doesNotMatch(text, /ada\.lovelace@example\.com/, "masked for the approver");
    assert.match(text, /more characters/, "a long value is cut");
    const statement = await card.getByTestId("approval-statement").innerText();
    assert.match(statement, /UPDATE customers/);
    assert.match(statement, /\n\s*WHERE/, "one clause a line");
    await shot(page, "24-approval-card-sql");
    await card.getByRole("button", { name: /Show all/ }).click();
    await card.getByText(/x{600}/).first().waitFor();
    await card.getByLabel(/Reason/).fill("no writes during the freeze");
    await card.getByRole("button", { name: "Deny" }).click();
    const r = await held.done;
    assert.equal(r.ok, false, "denied");
    assert.deepEqual(page.errors, []);
    await context.close();
  });

});
