// The status page in a real browser (issue 21): Debian's chromium, driven by playwright-core.
// Starts the real oceand on a scripted plugin whose events fail into dead letters, loads
// GET / on the admin listener, replays one dead letter and deletes another by clicking, and
// checks each leaves the list; then reloads by clicking. Exits non-zero on any failure.
//
// usage: node status_page.mjs <oceand binary> <scripted.so> [screenshot.png]
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startOceand, until as wait } from '../node/oceand.mjs';

const [oceand, scripted, screenshot] = process.argv.slice(2);
assert.ok(oceand && scripted, 'usage: node status_page.mjs <oceand> <scripted.so> [screenshot]');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oceand-status-'));
fs.mkdirSync(path.join(dir, 'plugins'), { mode: 0o700 });
fs.copyFileSync(scripted, path.join(dir, 'plugins', 'scripted.so'));
fs.writeFileSync(path.join(dir, 'mapping.yaml'), `resources:
  - kind: thing
    selector: {query: 'true'}
    port:
      entity:
        mappings: {identifier: '.id | tostring', blueprint: '"thing"', properties: {}}
`);
fs.writeFileSync(path.join(dir, 'oceand.yaml'), `server: {host: 127.0.0.1, port: 0}
admin: {listen: "127.0.0.1:0"}
plugins: {dir: ${dir}/plugins, cache_dir: ${dir}/cache}
queue: {backend: memory}
port: {applier: local, local_db: ${dir}/entities.db}
integrations:
  scripted: {plugin: scripted, mapping: ${dir}/mapping.yaml, config: {region: one}}
`);

let oceand_, browser;
const until = (what, fn) => wait(what, fn, oceand_ ? oceand_.log : []);
const cleanup = async () => {
  if (oceand_) await oceand_.stop();
  fs.rmSync(dir, { recursive: true, force: true });
};

try {
  oceand_ = await startOceand(oceand, path.join(dir, 'oceand.yaml'), { OCEAN__LOG_LEVEL: 'info' });
  const webhook = `${oceand_.main}/integration/scripted/webhook`;
  const admin = oceand_.admin;
  // Three events that fail for good: three dead letters.
  for (const id of [1, 2, 3]) {
    const r = await fetch(webhook, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id, mode: 'throw' }),
    });
    assert.equal(r.status, 200);
  }
  const letters = async () => (await (await fetch(`${admin}/admin/dead-letters`)).json());
  await until('three dead letters', async () => (await letters()).total === 3);
  const ids = (await letters()).dead_letters.map((d) => d.id);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const page = await browser.newPage();
  const scriptErrors = [];
  page.on('pageerror', (e) => scriptErrors.push(String(e)));
  const loaded = await page.goto(`${admin}/`);
  assert.equal(loaded.status(), 200);
  assert.equal(await page.title(), 'oceand status');
  assert.match(await page.innerText('#readiness'), /^ready/);
  assert.match(await page.innerText('#integrations'), /scripted\s+scripted\s+loaded/);
  assert.match(await page.innerText('#plugins'), /scripted\.so/);
  assert.equal((await page.innerText('#dead-letter-count')).trim(), '3');
  for (const id of ids) assert.equal(await page.locator(`#dead-letter-${id}`).count(), 1);
  assert.match(await page.innerText('#failures'), /failed/);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  // Replay by clicking: the page comes back with a notice and without that letter.
  const replayed = ids[0];
  await Promise.all([
    page.waitForURL(/done=replayed/),
    page.click(`#dead-letter-${replayed} button[name="replay-${replayed}"]`),
  ]);
  assert.match(await page.innerText('.notice'), new RegExp(`Replayed dead letter ${replayed} as event`));
  assert.equal(await page.locator(`#dead-letter-${replayed}`).count(), 0);
  // The replayed event really ran again (and, still throwing, failed into a new letter).
  await until('the replay to fail again', async () =>
    (await letters()).dead_letters.some((d) => !ids.includes(d.id)));

  // Delete by clicking.
  const deleted = ids[1];
  await Promise.all([
    page.waitForURL(/done=deleted/),
    page.click(`#dead-letter-${deleted} button[name="delete-${deleted}"]`),
  ]);
  assert.equal(await page.locator(`#dead-letter-${deleted}`).count(), 0);
  assert.ok(!(await letters()).dead_letters.some((d) => d.id === deleted));

  // Reload by clicking.
  await Promise.all([page.waitForURL(/done=reloaded/), page.click('button[name="reload"]')]);
  assert.match(await page.innerText('#plugins'), /Last reload .* ok/);

  // The buttons refuse another site's form posts.
  const forged = await fetch(`${admin}/status/dead-letters/${ids[2]}/delete`, {
    method: 'POST',
    headers: { Origin: 'http://evil.example' },
    redirect: 'manual',
  });
  assert.equal(forged.status, 403);
  assert.ok((await letters()).dead_letters.some((d) => d.id === ids[2]));
  assert.deepEqual(scriptErrors, []);
  console.log('status page: loaded, replayed, deleted and reloaded by clicking in chromium');
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  await cleanup();
}
