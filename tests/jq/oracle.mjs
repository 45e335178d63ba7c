// jq 1.8 semantics over libjq 1.6, checked expression by expression against jq 1.8.1 itself:
// jq-wasm@1.1.0-jq-1.8.1 from npm (jq 1.8.1 compiled to WebAssembly; pinned in
// tests/browser/package-lock.json, installed by scripts/setup). Each case of jq18_table.json runs on
// both; outputs must be the same JSON values, or both must fail. A case marked `known` is a
// difference docs/mapping.md names: oceand's answer is pinned (`oceand`) and jq 1.8.1 must still
// differ from it, so the table says when a difference goes away.
//
//   node tests/jq/oracle.mjs <oceand_jq_eval>
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../browser/package.json"));
const jq = require("jq-wasm");

const evaluator = process.argv[2];
if (!evaluator) {
  console.error("usage: oracle.mjs <oceand_jq_eval>");
  process.exit(2);
}
const version = await jq.version();
if (!version.startsWith("jq-1.8.1")) {
  console.error(`oracle: jq-wasm reports ${version}, not jq 1.8.1 (npm's latest tag is an older build: pin 1.1.0-jq-1.8.1)`);
  process.exit(1);
}

const table = JSON.parse(readFileSync(join(here, "jq18_table.json"), "utf8")).cases;

function parseLines(text) {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

async function oracle(c) {
  const r = await jq.raw(c.input_text ?? JSON.stringify(c.input), c.expr, ["-c"]);
  const outputs = parseLines(r.stdout);
  return r.exitCode === 0 ? { outputs } : { outputs, error: r.stderr.trim() };
}

const ours = spawnSync(evaluator, [], {
  input: table.map((c) => JSON.stringify({ expr: c.expr, input: c.input, input_text: c.input_text })).join("\n") + "\n",
  maxBuffer: 64 << 20,
});
if (ours.status !== 0) {
  console.error(`oracle: ${evaluator} exited ${ours.status}: ${ours.stderr}`);
  process.exit(1);
}
const answers = parseLines(ours.stdout.toString());
if (answers.length !== table.length) {
  console.error(`oracle: ${answers.length} answers for ${table.length} cases`);
  process.exit(1);
}

const same = (a, b) =>
  Boolean(a.error) === Boolean(b.error) && isDeepStrictEqual(a.outputs ?? [], b.outputs ?? []);
const show = (r) => (r.error ? `error ${JSON.stringify(r.error)} after ${JSON.stringify(r.outputs ?? [])}` : JSON.stringify(r.outputs));

let agree = 0, known = 0;
const failures = [];
for (let i = 0; i < table.length; ++i) {
  const c = table[i];
  const mine = answers[i];
  const theirs = await oracle(c);
  if (c.known) {
    const pinned = c.oceand;
    if (!same(mine, pinned)) failures.push(`${c.why}: ${c.expr}\n    oceand ${show(mine)}, pinned ${show(pinned)}`);
    else if (same(mine, theirs)) failures.push(`${c.why}: ${c.expr}\n    now agrees with jq 1.8.1 (${show(theirs)}): drop "known" from the case and docs/mapping.md`);
    else ++known;
    continue;
  }
  if (same(mine, theirs)) ++agree;
  else failures.push(`${c.why}: ${c.expr}  input ${JSON.stringify(c.input)}\n    jq 1.8.1 ${show(theirs)}\n    oceand   ${show(mine)}`);
}
for (const f of failures) console.error("DIFFERS " + f);
console.log(`${agree} expressions agree with ${version}; ${known} known differences hold; ${failures.length} failures`);
if (agree < 60) {
  console.error("oracle: fewer than 60 agreeing expressions");
  process.exit(1);
}
process.exit(failures.length ? 1 : 0);
