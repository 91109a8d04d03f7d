'use strict';
// The developer build: builds the addon (debug, or --release) with plain cargo, as the workspace build does, so
// it reuses the workspace's target directory and profile instead of compiling every dependency again for an
// explicit target triple (what `napi build` does), and has napi-derive write its type definitions on the way.
// The addon is copied to potok.node, and native.d.ts is generated from those definitions by @napi-rs/cli's
// generateTypeDef, then either written (default) or compared with the committed one (--check: exits 1 with a
// diff when it is stale, which the test command relies on).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { buildAddon } = require('./install');

const root = path.join(__dirname, '..');
const check = process.argv.includes('--check');
const release = process.argv.includes('--release');

async function main() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'potok-napi-'));
  try {
    const typeDefDir = path.join(out, 'type-def');
    fs.mkdirSync(typeDefDir);
    // napi-derive writes potok-node's definitions while the crate compiles: a fresh folder and the force-build
    // variable napi-build watches make cargo compile that one crate again (its dependencies stay built).
    await buildAddon({
      release,
      env: { NAPI_TYPE_DEF_TMP_FOLDER: typeDefDir, NAPI_FORCE_BUILD_POTOK_NODE: String(Date.now()) },
      // The test command sets this after building the workspace (see install.js).
      workspace: process.env.POTOK_NODE_BUILD_WORKSPACE === '1',
    });
    // Built with the workspace's package selection, napi-derive writes each definition twice (the crate is
    // compiled for two units): keep one of each, in order.
    for (const name of fs.readdirSync(typeDefDir)) {
      const file = path.join(typeDefDir, name);
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      fs.writeFileSync(file, [...new Set(lines)].join('\n'));
    }
    // generateTypeDef is part of @napi-rs/cli's API.
    const cliPath = require.resolve('@napi-rs/cli', { paths: [root] });
    const { generateTypeDef } = require(cliPath);
    const { dts } = await generateTypeDef({ typeDefDir, cwd: root, declareBindingTarget: false });
    const generatedPath = path.join(out, 'native.d.ts');
    fs.writeFileSync(generatedPath, dts);
    const committedPath = path.join(root, 'native.d.ts');
    const committed = fs.existsSync(committedPath) ? fs.readFileSync(committedPath, 'utf8') : '';
    if (check) {
      if (dts !== committed) {
        spawnSync('diff', ['-u', committedPath, generatedPath], { stdio: 'inherit' });
        process.stderr.write('potok: native.d.ts is stale; run `npm run build:debug` in bindings-node and commit it\n');
        process.exit(1);
      }
      process.stdout.write('potok: native.d.ts is up to date\n');
    } else if (dts !== committed) {
      fs.writeFileSync(committedPath, dts);
      process.stdout.write('potok: wrote native.d.ts\n');
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`potok: ${error.message}\n`);
  process.exit(1);
});
