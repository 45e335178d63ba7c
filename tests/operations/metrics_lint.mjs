// /metrics passes Debian's `promtool check metrics` with no lint, and every metric the Grafana
// dashboard (config/grafana/oceand-dashboard.json) queries is one oceand exposes (issue 21).
// Starts the real oceand on the example plugin, sends traffic that fills the families (accepted,
// refused, a reload), scrapes, and checks.
//
// usage: node metrics_lint.mjs <oceand> <example.so> <source dir>
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startOceand, until as wait } from '../node/oceand.mjs';

const [oceand, example, source] = process.argv.slice(2);
assert.ok(oceand && example && source, 'usage: node metrics_lint.mjs <oceand> <example.so> <source>');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oceand-metrics-'));
fs.mkdirSync(path.join(dir, 'plugins'), { mode: 0o700 });
fs.copyFileSync(example, path.join(dir, 'plugins', 'example.so'));
fs.writeFileSync(path.join(dir, 'oceand.yaml'), `server: {host: 127.0.0.1, port: 0}
admin: {listen: "127.0.0.1:0"}
plugins: {dir: ${dir}/plugins, cache_dir: ${dir}/cache}
queue: {backend: sqlite, path: ${dir}/queue.db}
port: {applier: local, local_db: ${dir}/entities.db}
integrations:
  example: {plugin: example, mapping: ${source}/config/example/port-app-config.yaml}
`);
let oceand_;
const until = (what, fn) => wait(what, fn, oceand_ ? oceand_.log : []);

try {
  oceand_ = await startOceand(oceand, path.join(dir, 'oceand.yaml'));
  const { main, admin } = oceand_;
  const post = (url, body, type = 'application/json') =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': type }, body });
  for (let i = 1; i <= 5; ++i)
    assert.equal((await post(`${main}/integration/example/webhook`, JSON.stringify({ id: i }))).status, 200);
  assert.equal((await post(`${main}/integration/example/webhook`, '<x/>', 'text/xml')).status, 415);
  assert.equal((await post(`${main}/integration/nobody/webhook`, '{}')).status, 404);
  assert.equal((await post(`${admin}/admin/reload`, '')).status, 200);
  const metric = async (name) => {
    const text = await (await fetch(`${admin}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  };
  await until('five processed events', async () => (await metric('oceand_events_processed_total')) === 5);
  const scraped = await (await fetch(`${admin}/metrics`)).text();

  // promtool: exit 0 and not one lint line.
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: scraped, encoding: 'utf8' });
  assert.equal(lint.error, undefined, `promtool: ${lint.error}`);
  assert.equal(lint.status, 0, `promtool check metrics failed:\n${lint.stdout}${lint.stderr}`);
  assert.equal((lint.stdout + lint.stderr).trim(), '', `promtool lint:\n${lint.stdout}${lint.stderr}`);

  // The dashboard asks only for families oceand has: scraped now, or registered in the source
  // (families with no sample yet are not printed, e.g. Port's, with the local catalog).
  const dashboard = JSON.parse(fs.readFileSync(path.join(source, 'config/grafana/oceand-dashboard.json'), 'utf8'));
  const exprs = [];
  const walk = (node) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') exprs.push(v);
        else walk(v);
      }
    }
  };
  walk(dashboard);
  assert.ok(exprs.length > 10, 'the dashboard has queries');
  const names = new Set();
  for (const e of exprs)
    for (const m of e.matchAll(/\b((?:oceand|process)_[a-z0-9_]+)/g))
      names.add(m[1].replace(/_(bucket|sum|count)$/, ''));
  const families = new Set(scraped.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
  const sources = [];
  const read = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) read(p);
      else if (/\.(cpp|hpp)$/.test(entry.name)) sources.push(fs.readFileSync(p, 'utf8'));
    }
  };
  read(path.join(source, 'host'));
  read(path.join(source, 'plugins'));
  const registered = sources.join('\n');
  const missing = [...names].filter((n) => {
    if (families.has(n)) return false;
    if (registered.includes(`"${n}"`)) return false;
    // Plugin counters: oceand_plugin_<name>_total from metric_add/count_event("<name>").
    const plugin = /^oceand_plugin_(.+)_total$/.exec(n);
    return !(plugin && (registered.includes(`"${plugin[1]}"`) || n.includes('.+')));
  });
  assert.deepEqual(missing, [], `the dashboard queries metrics oceand does not have: ${missing}`);
  console.log(`metrics: promtool clean on ${families.size} families; the dashboard's ${names.size} metrics exist`);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (oceand_) await oceand_.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
