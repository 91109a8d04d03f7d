'use strict';
// `npm install ./bindings-node` runs this: builds the native addon from source with cargo (release) and puts
// it at potok.node. It needs only cargo, not the package's devDependencies: npm does not install those for a
// package installed from a folder, so @napi-rs/cli (used by `npm run build` to regenerate native.d.ts) is not
// available here. native.d.ts is committed, so nothing else has to be generated.
//
// npm shows an install script's output only when it fails (or with --foreground-scripts), so progress goes to
// the terminal itself (/dev/tty) when there is one: which crate cargo is compiling, how many are done, and the
// time taken. Should npm not run this script at all (--ignore-scripts, or npm 12's default of blocking
// dependency install scripts until `allowScripts` approves them), lib/native.js runs it on first use instead.
//
// POTOK_NODE_PROFILE=debug builds a debug addon; POTOK_NODE_SKIP_BUILD=1 skips the build (for a CI step that
// builds the addon itself). CARGO_TARGET_DIR is honoured, as cargo does.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function fail(message) {
  process.stderr.write(`potok: ${message}\n`);
  process.exit(1);
}

/** Where progress goes: stderr when it is a terminal, else the terminal npm runs in, else nowhere. */
function progressStream() {
  if (process.stderr.isTTY) {
    return { write: (text) => process.stderr.write(text), tty: true, close() {} };
  }
  try {
    const fd = fs.openSync('/dev/tty', 'w');
    return { write: (text) => fs.writeSync(fd, text), tty: true, close: () => fs.closeSync(fd) };
  } catch {
    // No terminal (CI, a service): cargo's own lines still reach stderr, which npm shows on failure.
    return { write() {}, tty: false, close() {} };
  }
}

/**
 * Builds the addon with cargo and copies it to potok.node. `env` adds to cargo's environment (build.js asks
 * napi-derive for type definitions through it). Resolves with the path of potok.node.
 */
function buildAddon({ release, env = {}, workspace = false }) {
  // `workspace` builds with the package selection of `cargo build --workspace --all-targets`: cargo unifies
  // dependency features over the packages it builds, so after that build (the test command's) the addon's
  // dependencies are reused as compiled rather than compiled again with this crate's narrower feature set.
  const selection = workspace ? ['--workspace', '--all-targets'] : ['--manifest-path', path.join(root, 'Cargo.toml'), '--lib'];
  const args = ['build', ...selection, '--message-format=json-render-diagnostics'];
  if (release) {
    args.push('--release');
  }
  const progress = progressStream();
  const started = Date.now();
  const profile = release ? 'release' : 'debug';
  progress.write(`potok: building the native addon with cargo (${profile}; a few minutes the first time)\n`);
  return new Promise((resolve, reject) => {
    const child = spawn('cargo', args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let library;
    let compiled = 0;
    let pending = '';
    let errors = '';
    child.on('error', (error) => {
      reject(new Error(`cannot run cargo (${error.message}); potok's Node package is built from source and needs Rust's cargo`));
    });
    // cargo's human-readable lines (Compiling ..., warnings, errors) are kept for a failure report and, without
    // a terminal to draw on, passed through so npm can show them.
    child.stderr.on('data', (chunk) => {
      errors = (errors + chunk.toString()).slice(-64 * 1024);
      if (!progress.tty) {
        process.stderr.write(chunk);
      }
    });
    child.stdout.on('data', (chunk) => {
      pending += chunk.toString();
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (!line.startsWith('{')) {
          continue;
        }
        const message = JSON.parse(line);
        if (message.reason !== 'compiler-artifact') {
          continue;
        }
        compiled += 1;
        const seconds = Math.round((Date.now() - started) / 1000);
        progress.write(`\r\x1b[Kpotok: ${compiled} crates compiled (${seconds} s), last ${message.target.name}`);
        // With the workspace's selection cargo reports potok_node twice, in either order, and only one of the
        // two units is the loadable library: keep the one that is, whichever comes last.
        if (message.target.name === 'potok_node' && message.target.kind.includes('cdylib')) {
          library = message.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) ?? library;
        }
      }
    });
    child.on('close', (status) => {
      progress.write('\n');
      progress.close();
      if (status !== 0) {
        process.stderr.write(errors);
        reject(new Error(`cargo build failed (exit ${status})`));
        return;
      }
      if (!library) {
        reject(new Error('cargo did not report the potok_node library it built'));
        return;
      }
      // Copied beside package.json under a temporary name first, so a loaded addon is never half-overwritten.
      const target = path.join(root, 'potok.node');
      const partial = `${target}.${process.pid}.tmp`;
      fs.copyFileSync(library, partial);
      fs.renameSync(partial, target);
      resolve(target);
    });
  });
}

module.exports = { buildAddon };

if (require.main === module) {
  if (process.env.POTOK_NODE_SKIP_BUILD === '1') {
    process.exit(0);
  }
  buildAddon({ release: process.env.POTOK_NODE_PROFILE !== 'debug' }).then(
    (target) => process.stdout.write(`potok: built ${target}\n`),
    (error) => fail(error.message),
  );
}
