'use strict';
// The playground as a learner gets it: `potok playground` serving the files built into the potok binary, opened
// in Debian's Chromium and Firefox (`scripts/wasm.sh browser` installs both; nothing downloads a browser),
// driven through puppeteer-core (Chromium over the DevTools protocol, Firefox over WebDriver BiDi).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.join(__dirname, '..', '..');

/** The browsers to test in: name → executable (POTOK_CHROMIUM / POTOK_FIREFOX override the paths). */
const BROWSERS = {
  chromium: process.env.POTOK_CHROMIUM || '/usr/bin/chromium',
  firefox: process.env.POTOK_FIREFOX || '/usr/bin/firefox-esr',
};

/** The potok binary: POTOK_BIN, or the debug build in the cargo target dir. */
function potokBinary() {
  if (process.env.POTOK_BIN) return process.env.POTOK_BIN;
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
  return path.join(target, 'debug', 'potok');
}

/**
 * Starts `potok playground --port 0` and resolves with { base, stop() } once it prints its address (within
 * 20 s). The binary must have been built after `scripts/wasm.sh pkg`, which its error says.
 */
function startPlayground() {
  const bin = potokBinary();
  if (!fs.existsSync(bin)) throw new Error(`no potok binary at ${bin} (cargo build -p potok-cli, or set POTOK_BIN)`);
  const child = spawn(bin, ['playground', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', d => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill(); reject(new Error(`potok playground did not start in 20 s: ${stderr}`)); }, 20000);
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`potok playground exited (${code}): ${stderr}`)); });
    readline.createInterface({ input: child.stdout }).on('line', line => {
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({
        base: `http://127.0.0.1:${m[1]}`,
        stop: () => new Promise(done => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', done);
          child.kill();
        }),
      });
    });
  });
}

/** Launches a headless browser by name ('chromium' or 'firefox'). */
async function launch(name) {
  const puppeteer = require('puppeteer-core');
  if (name === 'chromium') {
    return puppeteer.launch({
      browser: 'chrome',
      executablePath: BROWSERS.chromium,
      headless: true,
      timeout: 60000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
  }
  return puppeteer.launch({ browser: 'firefox', executablePath: BROWSERS.firefox, headless: true, timeout: 60000 });
}

/** Why a browser's tests are skipped (its executable is missing), or false. */
function missing(name) {
  return !fs.existsSync(BROWSERS[name]) && `no ${BROWSERS[name]} (scripts/wasm.sh browser installs it)`;
}

module.exports = { BROWSERS, startPlayground, launch, missing };
