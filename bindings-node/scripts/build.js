'use strict';
// The developer build: `napi build` (debug, or --release) generates the addon and its TypeScript declarations
// into a temporary directory; the addon is copied to potok.node, and native.d.ts is either written (default)
// or compared with the committed one (--check: exits 1 with a diff when it is stale, which the test command
// relies on). One cargo build serves both, so the check costs nothing extra.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const check = process.argv.includes('--check');
const release = process.argv.includes('--release');

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'potok-napi-'));
try {
  // The package's exports hide its bin script; it sits beside its package.json.
  const cliPackage = require.resolve('@napi-rs/cli/package.json', { paths: [root] });
  const napi = path.join(path.dirname(cliPackage), require(cliPackage).bin.napi);
  const args = [napi, 'build', '--output-dir', out, '--dts', 'native.d.ts', '--manifest-path', path.join(root, 'Cargo.toml'), '--package-json-path', path.join(root, 'package.json')];
  if (release) {
    args.push('--release');
  }
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`potok: napi build failed (exit ${result.status ?? result.signal})\n`);
    process.exit(1);
  }
  const addon = path.join(root, 'potok.node');
  const partial = `${addon}.${process.pid}.tmp`;
  fs.copyFileSync(path.join(out, 'potok.node'), partial);
  fs.renameSync(partial, addon);

  const generated = fs.readFileSync(path.join(out, 'native.d.ts'), 'utf8');
  const committedPath = path.join(root, 'native.d.ts');
  const committed = fs.existsSync(committedPath) ? fs.readFileSync(committedPath, 'utf8') : '';
  if (check) {
    if (generated !== committed) {
      spawnSync('diff', ['-u', committedPath, path.join(out, 'native.d.ts')], { stdio: 'inherit' });
      process.stderr.write('potok: native.d.ts is stale; run `npm run build` in bindings-node and commit it\n');
      process.exit(1);
    }
    process.stdout.write('potok: native.d.ts is up to date\n');
  } else if (generated !== committed) {
    fs.writeFileSync(committedPath, generated);
    process.stdout.write('potok: wrote native.d.ts\n');
  }
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
