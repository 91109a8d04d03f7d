'use strict';
// Loads the native addon that `npm install` (scripts/install.js) or `npm run build` put beside package.json.
//
// npm may not have run the install script: `--ignore-scripts`, or npm 12's default of blocking dependency
// install scripts until the project's `allowScripts` approves them (npm 11 only warns). Then the first
// require builds the addon the same way, once, in the foreground (cargo's progress on stderr), so the package
// works whatever the install-script policy; POTOK_NODE_NO_BUILD=1 turns that off and fails with the commands
// to run instead.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const file = path.join(root, 'potok.node');

function missingHint() {
  return (
    'the native addon is not built: npm did not run its install script (--ignore-scripts, or an install-script ' +
    'policy such as npm 12 blocking dependency scripts until allowScripts approves them). Approve it ' +
    '(`npm install-scripts approve`, then `npm rebuild potok`), or build it: `node ' +
    path.join(root, 'scripts', 'install.js') +
    '` (needs cargo)'
  );
}

function buildNow() {
  process.stderr.write('potok: the native addon is not built yet (npm skipped its install script); building it now\n');
  const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'install.js')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return result.status === 0 && fs.existsSync(file);
}

let native;
try {
  native = require(file);
} catch (error) {
  const missing = error && error.code === 'MODULE_NOT_FOUND' && !fs.existsSync(file);
  if (missing && process.env.POTOK_NODE_NO_BUILD !== '1' && buildNow()) {
    native = require(file);
  } else {
    const hint = missing ? missingHint() : 'the native addon failed to load';
    throw new Error(`potok: ${hint} (${file})`, { cause: error });
  }
}
module.exports = native;
