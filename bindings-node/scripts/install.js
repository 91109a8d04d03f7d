'use strict';
// `npm install ./bindings-node` runs this: builds the native addon from source with cargo (release) and puts
// it at potok.node. It needs only cargo, not the package's devDependencies: npm does not install those for a
// package installed from a folder, so @napi-rs/cli (used by `npm run build` to regenerate native.d.ts) is not
// available here. native.d.ts is committed, so nothing else has to be generated.
//
// POTOK_NODE_PROFILE=debug builds a debug addon; POTOK_NODE_SKIP_BUILD=1 skips the build (for a CI step that
// builds the addon itself). CARGO_TARGET_DIR is honoured, as cargo does.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function fail(message) {
  process.stderr.write(`potok: ${message}\n`);
  process.exit(1);
}

function buildAddon({ release }) {
  const args = ['build', '--manifest-path', path.join(root, 'Cargo.toml'), '--lib', '--message-format=json-render-diagnostics'];
  if (release) {
    args.push('--release');
  }
  const result = spawnSync('cargo', args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) {
    fail(`cannot run cargo (${result.error.message}); potok's Node package is built from source and needs Rust's cargo`);
  }
  if (result.status !== 0) {
    fail(`cargo build failed (exit ${result.status})`);
  }
  let library;
  for (const line of result.stdout.split('\n')) {
    if (!line.startsWith('{')) {
      continue;
    }
    const message = JSON.parse(line);
    if (message.reason === 'compiler-artifact' && message.target.name === 'potok_node' && message.target.kind.includes('cdylib')) {
      library = message.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
    }
  }
  if (!library) {
    fail('cargo did not report the potok_node library it built');
  }
  // Copied beside package.json under a temporary name first, so a loaded addon is never half-overwritten.
  const target = path.join(root, 'potok.node');
  const partial = `${target}.${process.pid}.tmp`;
  fs.copyFileSync(library, partial);
  fs.renameSync(partial, target);
  return target;
}

module.exports = { buildAddon };

if (require.main === module) {
  if (process.env.POTOK_NODE_SKIP_BUILD === '1') {
    process.exit(0);
  }
  const target = buildAddon({ release: process.env.POTOK_NODE_PROFILE !== 'debug' });
  process.stdout.write(`potok: built ${target}\n`);
}
