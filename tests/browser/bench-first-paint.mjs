#!/usr/bin/env node
// Bench: time to first meaningful paint of the Sessions page (the first session row painted)
// with 100,000 sessions in the store, on loopback, in the real Chromium, against the real
// gatehouse binary. Prints a small table of medians over N cold page loads (fresh browser
// context each run: no HTTP cache, no JS heap), after one warm-up load.
//
//   node tests/browser/bench-first-paint.mjs [--runs 9] [--count 100000]
//        [--db FILE.db]            use an already seeded SQLite store (skips seeding)
//        [--seed-cmd "CMD {db} {count}"]  how to seed (default: SEED_CMD below)
//
// Needs the same pieces as the browser tests (gatehouse binary with the UI embedded,
// Chromium, tests/peers installed). Not a test: it asserts nothing about speed.
import { execSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  GATEHOUSE_BIN,
  freePort,
  launchBrowser,
  preflight,
  signIn,
  startGatehouse,
  startProvider,
  stopAll,
  workDir,
  writeConfig,
  VIEWPORT,
} from "./lib.mjs";

// How the store gets its sessions (dashboard-api-requests.md R4). {db} = SQLite file, {count} = N.
const SEED_CMD = `"${GATEHOUSE_BIN}" sessions seed --count {count} --database "sqlite://{db}"`;

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const runs = Number(opt("--runs", "9"));
const count = Number(opt("--count", "100000"));
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(count) || count < 1) {
  console.error("usage: bench-first-paint.mjs [--runs N] [--count N] [--db FILE] [--seed-cmd CMD]");
  process.exit(2);
}

const CASES = [
  { name: "newest first, no filter", path: "/sessions" },
  { name: "had masked data", path: "/sessions?masked=true" },
  {
    name: "denied, last 7 days",
    path: () => `/sessions?decision=denied&since=${new Date(Date.now() - 7 * 86400_000).toISOString().replace(/\.\d+Z$/, "Z")}`,
  },
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => (x === null || Number.isNaN(x) ? "—" : x.toFixed(0).padStart(6));

/** Marks, inside the page, when the first session row is in the DOM and when it was painted. */
function probe() {
  const seen = () => {
    if (window.__firstRow !== undefined || !document.querySelector('[data-testid="session-row"]')) return false;
    window.__firstRow = performance.now();
    requestAnimationFrame(() => setTimeout(() => (window.__firstRowPainted = performance.now()), 0));
    return true;
  };
  new MutationObserver((_, obs) => seen() && obs.disconnect()).observe(document, { childList: true, subtree: true });
}

async function measure(browser, state, url) {
  const context = await browser.newContext({ viewport: VIEWPORT, storageState: state });
  await context.addInitScript(probe);
  const page = await context.newPage();
  await page.goto(url, { waitUntil: "commit" });
  await page.waitForFunction(() => window.__firstRowPainted !== undefined, null, { timeout: 60_000 });
  const m = await page.evaluate(() => {
    const api = performance.getEntriesByType("resource").find((e) => e.name.includes("/api/v1/sessions"));
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    return {
      firstRow: window.__firstRowPainted,
      api: api ? api.responseEnd - api.requestStart : NaN,
      fcp: fcp ? fcp.startTime : NaN,
      rows: document.querySelectorAll('[data-testid="session-row"]').length,
    };
  });
  await context.close();
  return m;
}

async function main() {
  preflight();
  let db = opt("--db");
  if (!db) {
    db = path.join(workDir(), "bench.db");
    const cmd = opt("--seed-cmd", SEED_CMD).replaceAll("{db}", db).replaceAll("{count}", String(count));
    const t = Date.now();
    console.error(`seeding ${count} sessions: ${cmd}`);
    execSync(cmd, { stdio: "inherit" });
    console.error(`seeded in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } else if (!fs.existsSync(db)) throw new Error(`--db ${db} does not exist`);

  const gatePort = await freePort();
  const opPort = await freePort();
  const base = `http://127.0.0.1:${gatePort}`;
  const op = await startProvider({ port: opPort, resource: `${base}/mcp/customers`, gatehouseBase: base });
  const config = writeConfig({ port: gatePort, issuer: op.issuer, database: `sqlite://${db}` });
  await startGatehouse({ port: gatePort, config });
  const browser = await launchBrowser();
  try {
    const ctx = await browser.newContext({ viewport: VIEWPORT });
    const page = await ctx.newPage();
    await signIn(page, base, "ann");
    const state = await ctx.storageState();
    await ctx.close();

    const rows = [];
    for (const c of CASES) {
      const url = base + (typeof c.path === "function" ? c.path() : c.path);
      const warm = await measure(browser, state, url);
      const ms = [];
      for (let i = 0; i < runs; i++) ms.push(await measure(browser, state, url));
      rows.push({ c, warm, ms });
    }
    console.log(
      `\nSessions page, ${count.toLocaleString("en-US")} sessions in the store (${db.endsWith(".db") ? "SQLite" : "store"}), loopback, Chromium ${browser.version()}, ${VIEWPORT.width}×${VIEWPORT.height}`,
    );
    console.log(`median of ${runs} cold page loads (fresh context each), after 1 warm-up; milliseconds from navigation start\n`);
    console.log("case                         first row painted   API /sessions   first contentful paint   rows");
    for (const { c, ms } of rows) {
      console.log(
        `${c.name.padEnd(28)} ${fmt(median(ms.map((m) => m.firstRow))).padStart(17)}   ${fmt(median(ms.map((m) => m.api))).padStart(13)}   ${fmt(
          median(ms.map((m) => m.fcp)),
        ).padStart(22)}   ${String(ms[0].rows).padStart(4)}`,
      );
    }
    const spread = rows.map(
      ({ c, ms }) =>
        `${c.name}: ${fmt(Math.min(...ms.map((m) => m.firstRow))).trim()}–${fmt(Math.max(...ms.map((m) => m.firstRow))).trim()} ms`,
    );
    console.log(`\nfirst-row range (min–max): ${spread.join("; ")}`);
  } finally {
    await browser.close();
    await stopAll();
  }
}

main().catch(async (e) => {
  console.error(e.stack ?? String(e));
  await stopAll();
  process.exit(1);
});
