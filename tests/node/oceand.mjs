// The real oceand for the Node-driven tests (tests/browser, tests/operations): started on a
// config, its log kept, its listeners' ports read from the log as ops read them.
import { spawn } from 'node:child_process';

// Polls `fn` every 50 ms until it returns something truthy (returned), or throws after `ms` with
// `log` (the process's output so far).
export async function until(what, fn, log = [], ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    let value;
    try {
      value = await fn();
    } catch {
      value = undefined;  // e.g. a fetch refused while oceand starts: try again
    }
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${log.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Starts `binary --config config` and waits for both listeners: { child, log, main, admin } with
// main and admin as base URLs.
export async function startOceand(binary, config, env = {}) {
  const log = [];
  // The ports are read from text log lines, whatever the caller's environment says.
  const child = spawn(binary, ['--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OCEAN__LOG_FORMAT: 'text', ...env },
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stderr.on('data', (chunk) => log.push(chunk.toString()));
  child.stdout.on('data', (chunk) => log.push(chunk.toString()));
  try {
    const ports = await until('the listeners', () => {
      const text = log.join('');
      const main = /\] listening on [0-9.]+:([0-9]+)/.exec(text);
      const admin = /admin listening on [^ \n]+:([0-9]+)/.exec(text);
      return main && admin ? { main: main[1], admin: admin[1] } : null;
    }, log);
    return {
      child,
      log,
      // Kills it and waits until it is gone (so its files can be removed).
      stop: async () => {
        child.kill('SIGKILL');
        await exited;
      },
      main: `http://127.0.0.1:${ports.main}`,
      admin: `http://127.0.0.1:${ports.admin}`,
    };
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
}
