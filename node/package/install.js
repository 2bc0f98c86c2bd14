// SPDX-License-Identifier: MIT
// `npm install`'s step for uvreap: keep the prebuilt uvreap.node when it loads on this
// machine; otherwise (or with `npm install --build-from-source`, or
// UVREAP_BUILD_FROM_SOURCE=1) build it from src/ with node-gyp, against the headers of
// the node that runs this script. Nothing is fetched from the network.
'use strict';

const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const tag = `${process.platform}-${process.arch}`;
const prebuild = path.join(__dirname, 'prebuilds', tag, 'uvreap.node');

function fail(message) {
  console.error(`uvreap: ${message}`);
  process.exit(1);
}

function truthy(v) {
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

function prebuildProblem() {
  if (!fs.existsSync(prebuild)) return `no prebuilt uvreap.node for ${tag}`;
  try {
    require(prebuild);
    return null;
  } catch (e) {
    return `the prebuilt uvreap.node for ${tag} does not load here (${e.message})`;
  }
}

if (process.platform !== 'linux') fail(`Linux only (this is ${process.platform})`);
const wanted = truthy(process.env.npm_config_build_from_source) || truthy(process.env.UVREAP_BUILD_FROM_SOURCE);
const problem = wanted ? 'building from source as asked' : prebuildProblem();
if (problem === null) process.exit(0);
console.error(`uvreap: ${problem}; building uvreap.node from src/ with node-gyp`);

// Node's own headers (node_api.h, uv.h, common.gypi) next to the running node, unless
// npm's --nodedir names others. With them node-gyp downloads nothing.
const nodedir = process.env.npm_config_nodedir || path.resolve(process.execPath, '..', '..');
for (const f of ['node_api.h', 'uv.h', 'common.gypi']) {
  if (!fs.existsSync(path.join(nodedir, 'include', 'node', f))) {
    fail(`no ${f} in ${path.join(nodedir, 'include', 'node')}: install node's headers ` +
         '(Debian: libnode-dev) or name their prefix with --nodedir');
  }
}

// npm gives its node-gyp to install scripts; else the one npm carries, else one installed.
const candidates = [process.env.npm_config_node_gyp];
if (process.env.npm_execpath) {
  candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
}
try {
  candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
} catch {
  // not installed on its own
}
const nodeGyp = candidates.find((c) => c && fs.existsSync(c));
if (!nodeGyp) fail('node-gyp not found (it comes with npm; or npm install -g node-gyp)');

const r = childProcess.spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'], {
  cwd: __dirname,
  stdio: 'inherit',
});
if (r.error) fail(`node-gyp: ${r.error.message}`);
process.exit(r.status === null ? 1 : r.status);
