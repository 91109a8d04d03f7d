'use strict';
// Loads the native addon that `npm install` (scripts/install.js) or `npm run build` put beside package.json.
const path = require('node:path');

const file = path.join(__dirname, '..', 'potok.node');
let native;
try {
  native = require(file);
} catch (error) {
  const hint =
    error && error.code === 'MODULE_NOT_FOUND'
      ? 'the native addon is not built; run `npm install` (or `npm run build`) in bindings-node, which needs cargo'
      : 'the native addon failed to load';
  throw new Error(`potok: ${hint} (${file})`, { cause: error });
}
module.exports = native;
