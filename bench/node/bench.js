#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// child_process.spawn against the uvreap addon (policies pidfd and own), side by side in
// one run, repetitions interleaved: one child at a time, and a stream of children with
// `--concurrency` in flight, each with K long-lived children of the same spawner alive.
//
// Latency is the child's own exit stamp (CLOCK_MONOTONIC, written by uvreap-bench-child
// into a shared file just before _exit) to the JavaScript 'exit' listener
// (process.hrtime, the same clock). CPU is this process's user+sys (process.cpuUsage)
// during the measurement, per child: spawning included, as in uvreap-bench's stream.
//
//   node bench/node/bench.js --addon DIR --child PATH [--background 0,1000,10000]
//        [--children 2000] [--single 300] [--concurrency 64] [--repeat 3]
//        [--strategies child_process,pidfd,own] [--json FILE]
'use strict';

const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HEADER = 64;  // bench/shared_area.hpp: header and slots are 64-byte lines
const SLOT = 64;
const EXIT_NS = 8;  // offset of slot::exit_ns
const ROLE_BACKGROUND = 2;
const ROLE_AT_ONCE = 3;

function usage(message) {
  if (message) process.stderr.write(`bench.js: ${message}\n`);
  process.stderr.write('usage: bench.js --addon DIR --child PATH [--background LIST] [--children N] ' +
    '[--single N] [--concurrency N] [--repeat N] [--strategies LIST] [--json FILE]\n');
  process.exit(message ? 2 : 0);
}

function parseArgs(argv) {
  const cfg = {
    addon: null, child: null, background: [0, 1000, 10000], children: 2000, single: 300,
    concurrency: 64, repeat: 3, strategies: ['child_process', 'pidfd', 'own'], json: null,
  };
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
      case '--addon': cfg.addon = v; break;
      case '--child': cfg.child = v; break;
      case '--background': cfg.background = v.split(',').map((k) => count(flag, k, 0, 100000)); break;
      case '--children': cfg.children = count(flag, v, 1, 1000000); break;
      case '--single': cfg.single = count(flag, v, 0, 1000000); break;
      case '--concurrency': cfg.concurrency = count(flag, v, 1, 10000); break;
      case '--repeat': cfg.repeat = count(flag, v, 1, 100); break;
      case '--json': cfg.json = v; break;
      case '--strategies':
        cfg.strategies = v.split(',');
        for (const s of cfg.strategies) if (!['child_process', 'pidfd', 'own'].includes(s)) usage(`unknown strategy ${s}`);
        break;
      default: usage(`unknown option ${flag}`);
    }
  }
  if (!cfg.addon || !cfg.child) usage('--addon and --child are required');
  if (cfg.json && cfg.json !== '-' && !fs.existsSync(path.dirname(path.resolve(cfg.json)))) usage(`no directory for ${cfg.json}`);
  return cfg;
}

/** One spawner: child_process, or a uvreap Reaper of a policy. Same stdio, same child. */
function spawner(strategy, uvreap) {
  if (strategy === 'child_process') {
    return {
      spawn: (args, onExit) => {
        const c = childProcess.spawn(args[0], args.slice(1), { stdio: 'ignore' });
        c.on('exit', (code, signal) => onExit(code, signal));
        return c;
      },
      kill: (c) => c.kill('SIGKILL'),
      stats: () => null,
      close: async () => {},
    };
  }
  const reaper = new uvreap.Reaper({ policy: strategy });
  return {
    spawn: (args, onExit) => {
      const c = reaper.spawn(args[0], args.slice(1), { stdio: 'ignore' });
      c.on('exit', (code, signal) => onExit(code, signal));
      return c;
    },
    kill: (c) => c.kill('SIGKILL'),
    stats: () => reaper.stats(),
    close: () => reaper.close(),
  };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(cfg, uvreap, file, strategy, k, shape) {
  const n = shape === 'single' ? cfg.single : cfg.children;
  // Zero every word (in place: the file stays mapped by children) before anyone maps it.
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.alloc(fs.fstatSync(fd).size), 0, undefined, 0);
  fs.closeSync(fd);
  const sp = spawner(strategy, uvreap);
  // K long-lived children of the same spawner, blocked until killed.
  const background = [];
  let backgroundLeft = k;
  const backgroundGone = new Promise((resolve) => { if (k === 0) resolve(); else background.resolve = resolve; });
  for (let i = 0; i < k; ++i) {
    background.push(sp.spawn([cfg.child, file, String(ROLE_BACKGROUND), '0'], () => {
      if (--backgroundLeft === 0) background.resolve();
    }));
  }
  await new Promise((r) => setImmediate(r));

  const callbackNs = new Array(n).fill(0n);
  const codes = new Array(n).fill(-1);
  let calls = 0;
  let wrong = 0;
  let duplicated = 0;
  const stats0 = sp.stats();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => {
    let started = 0;
    let finished = 0;
    const inFlight = shape === 'single' ? 1 : cfg.concurrency;
    const start = () => {
      const i = started++;
      sp.spawn([cfg.child, file, String(ROLE_AT_ONCE), String(i)], (code) => {
        callbackNs[i] = process.hrtime.bigint();
        if (codes[i] !== -1) ++duplicated;
        if (code !== i % 128) ++wrong;
        codes[i] = code;
        ++calls;
        if (++finished === n) resolve();
        else if (started < n) start();
      });
    };
    for (let j = 0; j < Math.min(inFlight, n); ++j) start();
  });
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  const stats1 = sp.stats();

  for (const c of background) sp.kill(c);
  await backgroundGone;
  await sp.close();

  const shared = fs.readFileSync(file);
  const latencies = [];
  for (let i = 0; i < n; ++i) {
    const stamp = shared.readBigUInt64LE(HEADER + SLOT * i + EXIT_NS);
    if (stamp === 0n || callbackNs[i] === 0n) continue;
    latencies.push(Number(callbackNs[i] - stamp) / 1000);
  }
  latencies.sort((a, b) => a - b);
  const seconds = Number(t1 - t0) / 1e9;
  return {
    strategy, background: k, shape, children: n,
    p50_us: percentile(latencies, 0.5), p99_us: percentile(latencies, 0.99),
    children_per_s: n / seconds,
    cpu_us_per_child: (cpu.user + cpu.system) / n,
    reap_syscalls_per_exit: stats1 ? (stats1.reapSyscalls - stats0.reapSyscalls) / n : null,
    lost: n - calls + duplicated, duplicated, wrong,
  };
}

function table(cfg, results) {
  const rows = [];
  const fmt = (x, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const head = ['strategy', 'K', 'shape', 'p50 us', 'p99 us', 'children/s', 'cpu us/child', 'sc/exit', 'lost', 'wrong'];
  rows.push(head);
  const groups = new Map();
  for (const r of results) {
    const key = `${r.shape}|${r.background}|${r.strategy}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const medians = new Map();
  for (const shape of ['single', 'stream']) {
    for (const k of cfg.background) {
      for (const s of cfg.strategies) {
        const rs = groups.get(`${shape}|${k}|${s}`);
        if (!rs) continue;
        const m = {};
        for (const f of ['p50_us', 'p99_us', 'children_per_s', 'cpu_us_per_child']) m[f] = median(rs.map((r) => r[f]));
        m.sc = rs[0].reap_syscalls_per_exit === null ? null : median(rs.map((r) => r.reap_syscalls_per_exit));
        m.lost = rs.reduce((a, r) => a + r.lost, 0);
        m.wrong = rs.reduce((a, r) => a + r.wrong, 0);
        medians.set(`${shape}|${k}|${s}`, m);
        const range = (f) => `${Math.min(...rs.map((r) => r[f])).toFixed(0)}-${Math.max(...rs.map((r) => r[f])).toFixed(0)}`;
        rows.push([s, String(k), shape, fmt(m.p50_us), fmt(m.p99_us), fmt(m.children_per_s, 0), fmt(m.cpu_us_per_child),
          fmt(m.sc, 2), String(m.lost), String(m.wrong)]);
        rows.push(['', '', '', range('p50_us'), range('p99_us'), range('children_per_s'), range('cpu_us_per_child'), '', '', '']);
      }
    }
  }
  const widths = head.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const out = [`bench/node: node ${process.version}, libuv ${process.versions.uv}, ${os.cpus().length} cpus; ` +
    `single=${cfg.single} stream=${cfg.children} (concurrency ${cfg.concurrency}) background=${cfg.background.join(',')} repeat=${cfg.repeat}`,
  'medians over repeats; second line: min-max. latency = child\'s exit stamp to the JS \'exit\' listener; ' +
    'cpu = this process\'s user+sys per child, spawning included'];
  for (const r of rows) out.push(r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  // The ratios docs/benchmarks.md quotes: child_process over pidfd, in this run.
  for (const shape of ['single', 'stream']) {
    for (const k of cfg.background) {
      const cp = medians.get(`${shape}|${k}|child_process`);
      const pf = medians.get(`${shape}|${k}|pidfd`);
      if (!cp || !pf) continue;
      out.push(`${shape} K=${k}: child_process / pidfd = ${(cp.cpu_us_per_child / pf.cpu_us_per_child).toFixed(2)}x cpu, ` +
        `${(cp.p50_us / pf.p50_us).toFixed(2)}x p50 latency`);
    }
  }
  return out.join('\n') + '\n';
}

async function main() {
  const cfg = parseArgs(process.argv);
  const uvreap = require(path.resolve(cfg.addon));
  const file = path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), `uvreap-node-bench-${process.pid}`);
  const results = [];
  fs.writeFileSync(file, Buffer.alloc(HEADER + SLOT * Math.max(cfg.children, cfg.single)));
  try {
    for (let rep = 0; rep < cfg.repeat; ++rep) {
      for (const k of cfg.background) {
        for (const shape of ['single', 'stream']) {
          if (shape === 'single' && cfg.single === 0) continue;
          for (const s of cfg.strategies) {
            if (process.stderr.isTTY) process.stderr.write(`\rrep ${rep + 1}/${cfg.repeat} K=${k} ${shape} ${s}        `);
            results.push({ repetition: rep, ...await run(cfg, uvreap, file, s, k, shape) });
          }
        }
      }
    }
  } finally {
    fs.rmSync(file, { force: true });
  }
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const text = table(cfg, results);
  const json = JSON.stringify({ node: process.version, libuv: process.versions.uv, kernel: os.release(), config: cfg, results }, null, 1);
  if (cfg.json === '-') {
    process.stderr.write(text);
    process.stdout.write(json + '\n');
  } else {
    process.stdout.write(text);
    if (cfg.json) fs.writeFileSync(cfg.json, json + '\n');
  }
  const bad = results.filter((r) => r.lost || r.wrong || r.duplicated);
  if (bad.length) {
    process.stderr.write(`FAIL: ${bad.length} runs lost, duplicated or misreported exits\n`);
    process.exitCode = 1;
  }
}

main().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
