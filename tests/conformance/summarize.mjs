// Reads the result folders that `conformance server -o DIR` wrote (one `server-<scenario>-<time>`
// folder per scenario, each with checks.json) and prints one JSON object {scenario: "pass"|"fail"},
// keys sorted. A scenario fails when any of its checks has status FAILURE, the rule the suite's
// own summary uses; WARNING checks do not fail it, and are listed on stderr with the failures.
//
// Usage: node summarize.mjs DIR

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: summarize.mjs DIR\n");
  process.exit(2);
}
const NAME = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
const result = {};
for (const entry of readdirSync(dir).sort()) {
  const m = NAME.exec(entry);
  if (!m) continue;
  const checks = JSON.parse(readFileSync(join(dir, entry, "checks.json"), "utf8"));
  const failed = checks.filter((c) => c.status === "FAILURE");
  const warned = checks.filter((c) => c.status === "WARNING");
  result[m[1]] = failed.length === 0 ? "pass" : "fail";
  for (const c of failed) process.stderr.write(`${m[1]}: FAILURE ${c.id}: ${c.errorMessage ?? c.description}\n`);
  for (const c of warned) process.stderr.write(`${m[1]}: WARNING ${c.id}: ${c.errorMessage ?? c.description}\n`);
}
if (Object.keys(result).length === 0) {
  process.stderr.write(`summarize: no scenario results under ${dir}\n`);
  process.exit(1);
}
const sorted = Object.fromEntries(Object.keys(result).sort().map((k) => [k, result[k]]));
process.stdout.write(JSON.stringify(sorted) + "\n");
