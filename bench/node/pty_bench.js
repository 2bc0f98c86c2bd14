#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Terminal children: node-pty against uvreap/pty (the same API), side by side in one
// run, repetitions interleaved. Per child, one after another: spawn → first byte of
// output (`/bin/echo ready`) → onExit, and this process's CPU
// (process.cpuUsage, user + sys) per child. Then `--alive` children (cat) alive at once
// on their terminals: threads of this process (/proc/self/task) and its RSS, before and
// with them alive.
//
//   node bench/node/pty_bench.js --uvreap DIR --node-pty DIR [--children 200]
//        [--alive 1000] [--repeat 5] [--json FILE]
'use strict';

const fs = require('node:fs');
const path = require('node:path');

function usage(message) {
  if (message) process.stderr.write(`pty_bench.js: ${message}\n`);
  process.stderr.write('usage: pty_bench.js --uvreap DIR --node-pty DIR [--children N] [--alive N] ' +
    '[--repeat N] [--json FILE]\n');
  process.exit(message ? 2 : 0);
}

function parseArgs(argv) {
  const cfg = { uvreap: null, nodePty: null, children: 200, alive: 1000, repeat: 5, json: null };
  const count = (flag, v, min, max) => {
    if (!/^\d+$/.test(v ?? '') || Number(v) < min || Number(v) > max) usage(`${flag} takes a number from ${min} to ${max}`);
    return Number(v);
  };
  for (let i = 2; i < argv.length; ++i) {
    const flag = argv[i];
    if (flag === '-h' || flag === '--help') usage();
    const v = argv[++i];
    if (v === undefined) usage(`missing value after ${flag}`);
    switch (flag) {
      case '--uvreap': cfg.uvreap = v; break;
      case '--node-pty': cfg.nodePty = v; break;
      case '--children': cfg.children = count(flag, v, 1, 100000); break;
      case '--alive': cfg.alive = count(flag, v, 0, 10000); break;
      case '--repeat': cfg.repeat = count(flag, v, 1, 100); break;
      case '--json': cfg.json = v; break;
      default: usage(`unknown flag ${flag}`);
    }
  }
  if (!cfg.uvreap || !cfg.nodePty) usage('--uvreap and --node-pty are required');
  return cfg;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const cpuUs = () => { const c = process.cpuUsage(); return c.user + c.system; };
const threads = () => fs.readdirSync('/proc/self/task').length;
const rssKib = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);

// One child at a time: spawn → first byte → exit.
function one(pty) {
  return new Promise((resolve, reject) => {
    const t0 = nowUs();
    let first = 0;
    const term = pty.spawn('/bin/echo', ['ready'], { name: 'xterm', cols: 80, rows: 24, cwd: '/', env: process.env });
    const spawned = nowUs();
    term.onData(() => { if (!first) first = nowUs(); });
    term.onExit((e) => {
      const end = nowUs();
      if (e.exitCode !== 0) reject(new Error(`exit ${JSON.stringify(e)}`));
      else resolve({ spawn: spawned - t0, first: (first || end) - t0, exit: end - t0 });
    });
  });
}

async function batch(pty, n) {
  const c0 = cpuUs();
  const rows = [];
  for (let i = 0; i < n; ++i) rows.push(await one(pty));
  const cpu = (cpuUs() - c0) / n;
  return {
    cpuPerChildUs: cpu,
    spawnUs: median(rows.map((r) => r.spawn)),
    firstByteUs: median(rows.map((r) => r.first)),
    exitUs: median(rows.map((r) => r.exit)),
  };
}

// `n` children alive at once: threads and RSS with them, then all hung up and gone.
async function alive(pty, n) {
  const threadsBefore = threads();
  const rssBefore = rssKib();
  const terms = [];
  const exits = [];
  for (let i = 0; i < n; ++i) {
    const t = pty.spawn('/bin/cat', [], { name: 'xterm', cols: 80, rows: 24, cwd: '/', env: process.env });
    t.onData(() => {});
    exits.push(new Promise((resolve) => t.onExit(resolve)));
    terms.push(t);
  }
  // node-pty starts its waiter threads as it spawns; give them a turn of the loop.
  await new Promise((resolve) => setImmediate(resolve));
  const result = { threadsAdded: threads() - threadsBefore, rssAddedKib: rssKib() - rssBefore };
  for (const t of terms) t.kill('SIGKILL');
  await Promise.all(exits);
  return result;
}

async function main() {
  const cfg = parseArgs(process.argv);
  const impls = [
    { name: 'node-pty', pty: require(path.resolve(cfg.nodePty)) },
    { name: 'uvreap/pty', pty: require(path.join(path.resolve(cfg.uvreap), 'pty.js')) },
  ];
  for (const impl of impls) await batch(impl.pty, Math.min(20, cfg.children));  // warm-up
  const runs = Object.fromEntries(impls.map((i) => [i.name, []]));
  for (let r = 0; r < cfg.repeat; ++r) {
    for (const impl of (r % 2 ? [...impls].reverse() : impls)) runs[impl.name].push(await batch(impl.pty, cfg.children));
  }
  const aliveRows = {};
  if (cfg.alive > 0) for (const impl of impls) aliveRows[impl.name] = await alive(impl.pty, cfg.alive);

  const out = { children: cfg.children, repeat: cfg.repeat, alive: cfg.alive, results: {} };
  const line = (cells) => cells.map((c, i) => String(c).padStart(i ? 14 : 12)).join('');
  console.log(`terminal children: ${cfg.children} one after another, ${cfg.repeat} interleaved repetitions (medians)`);
  console.log(line(['', 'CPU/child µs', 'spawn µs', 'first byte µs', 'exit µs', 'threads', 'RSS KiB']));
  for (const impl of impls) {
    const rs = runs[impl.name];
    const m = (k) => median(rs.map((x) => x[k]));
    const a = aliveRows[impl.name] || { threadsAdded: '-', rssAddedKib: '-' };
    out.results[impl.name] = {
      cpuPerChildUs: m('cpuPerChildUs'), spawnUs: m('spawnUs'), firstByteUs: m('firstByteUs'), exitUs: m('exitUs'),
      threadsAddedWithAlive: a.threadsAdded, rssAddedKibWithAlive: a.rssAddedKib, runs: rs,
    };
    console.log(line([impl.name, m('cpuPerChildUs').toFixed(0), m('spawnUs').toFixed(0), m('firstByteUs').toFixed(0),
      m('exitUs').toFixed(0), a.threadsAdded, a.rssAddedKib]));
  }
  const [np, uv] = impls.map((i) => out.results[i.name]);
  console.log(`ratio uvreap/node-pty: CPU ${(uv.cpuPerChildUs / np.cpuPerChildUs).toFixed(2)}x, ` +
    `first byte ${(uv.firstByteUs / np.firstByteUs).toFixed(2)}x, exit ${(uv.exitUs / np.exitUs).toFixed(2)}x` +
    (cfg.alive ? `; threads added with ${cfg.alive} alive: node-pty ${np.threadsAddedWithAlive}, uvreap ${uv.threadsAddedWithAlive}` : ''));
  if (cfg.json) fs.writeFileSync(cfg.json, JSON.stringify(out, null, 2));
}

main().catch((e) => { console.error(e); process.exit(1); });
