// SPDX-License-Identifier: MIT
// The addon inside a whole node process: the loop is not kept alive without children,
// process.exit() and worker threads do not crash it, an exception in an 'exit' listener
// is Node's to report, and the addon brings no libuv of its own.
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const { addonDir, zombies, POLICIES } = require('./helpers');

const LONG = 120_000;

/** Runs `source` in a fresh node with the addon at hand; its status and output. */
function runNode(source, flags = []) {
  const r = childProcess.spawnSync(process.execPath, [...flags, '-e', source], {
    env: { ...process.env, UVREAP_NODE_DIR: addonDir },
    encoding: 'utf8',
    timeout: LONG,  // fails the test on a hung process instead of hanging it
  });
  assert.equal(r.error, undefined, `node ran: ${r.error}`);
  return r;
}

const prologue = "const { Reaper } = require(process.env.UVREAP_NODE_DIR);";

test('the addon links no libuv: uv_* comes from node itself', () => {
  const elf = fs.readFileSync(path.join(addonDir, 'uvreap.node'));
  assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.equal(elf.includes('libuv.so'), false, 'no DT_NEEDED on libuv');
  assert.match(runNode(`${prologue} console.log(require(process.env.UVREAP_NODE_DIR).libuvVersion === process.versions.uv)`).stdout, /true/);
});

for (const policy of POLICIES) {
  test(`${policy}: a reaper with no children does not keep node alive; one with a child does`, () => {
    const idle = runNode(`${prologue} globalThis.r = new Reaper({ policy: '${policy}' }); console.log('idle');`);
    assert.equal(idle.status, 0, idle.stderr);
    assert.equal(idle.stdout, 'idle\n');
    const busy = runNode(`${prologue}
      const r = new Reaper({ policy: '${policy}' });
      r.spawn('/bin/sh', ['-c', 'sleep 0.2; exit 5'], { stdio: 'ignore' })
        .on('exit', (code) => { console.log('exit', code); r.spawn('/bin/true', [], { stdio: 'ignore' }).on('exit', (c) => console.log('second', c)); });`);
    assert.equal(busy.status, 0, busy.stderr);
    assert.equal(busy.stdout, 'exit 5\nsecond 0\n');
  });

  test(`${policy}: process.exit() with live children exits cleanly; they keep running`, () => {
    const r = runNode(`${prologue}
      const r = new Reaper({ policy: '${policy}' });
      const c = r.spawn('sleep', ['1000'], { stdio: 'ignore' });
      console.log(c.pid);
      setImmediate(() => process.exit(7));`);
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.signal, null);
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 0);
    // Re-parented to init, still running, as a child_process child would be.
    assert.doesNotThrow(() => process.kill(pid, 0));
    process.kill(pid, 'SIGKILL');
  });

  test(`${policy}: an exception in an 'exit' listener reaches 'uncaughtException'; the batch goes on`, () => {
    const r = runNode(`${prologue}
      const r = new Reaper({ policy: '${policy}' });
      let n = 0;
      process.on('uncaughtException', (e) => console.log('caught', e.message));
      for (let i = 0; i < 3; ++i) {
        r.spawn('/bin/true', [], { stdio: 'ignore' }).on('exit', () => { ++n; if (i === 1) throw new Error('boom'); });
      }
      process.on('exit', () => console.log('exits', n));`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'caught boom\nexits 3\n');
  });

  test(`${policy}: worker threads each have their own reaper; terminate() with a live child`, { timeout: LONG }, () => {
    const r = runNode(`${prologue}
      const { Worker } = require('node:worker_threads');
      const body = \`
        const { parentPort, workerData } = require('node:worker_threads');
        const { Reaper } = require(process.env.UVREAP_NODE_DIR);
        const r = new Reaper({ policy: '${policy}' });
        const codes = [];
        let left = 50;
        for (let i = 0; i < 50; ++i) r.spawn('/bin/sh', ['-c', 'exit ' + (workerData + i)], { stdio: 'ignore' })
          .exited.then((s) => { codes.push(s.code); if (--left === 0) {
            const sleeper = r.spawn('sleep', ['1000'], { stdio: 'ignore' });
            parentPort.postMessage({ codes: codes.sort((a, b) => a - b), sleeper: sleeper.pid });
          } });
      \`;
      const main = new Reaper({ policy: '${policy}' });
      const mine = [];
      for (let i = 0; i < 50; ++i) mine.push(main.spawn('/bin/sh', ['-c', 'exit ' + (200 + i % 50)], { stdio: 'ignore' }).exited);
      const workers = [0, 100].map((base) => new Promise((resolve, reject) => {
        const w = new Worker(body, { eval: true, workerData: base });
        w.on('error', reject);
        w.on('message', async (m) => { await w.terminate(); resolve([base, m]); });
      }));
      Promise.all([Promise.all(workers), Promise.all(mine)]).then(([done, statuses]) => {
        for (const [base, m] of done) {
          const want = Array.from({ length: 50 }, (_, i) => base + i);
          if (JSON.stringify(m.codes) !== JSON.stringify(want)) throw new Error('worker ' + base + ': ' + m.codes);
          process.kill(m.sleeper, 'SIGKILL');
        }
        const codes = statuses.map((s) => s.code).sort((a, b) => a - b);
        if (codes[0] !== 200 || codes[49] !== 249) throw new Error('main: ' + codes);
        console.log('ok');
      });`);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
  });
}

test('garbage collection: an unreachable reaper still delivers its exits; an idle one is freed', () => {
  const r = runNode(`${prologue}
    let finalized = 0;
    const registry = new FinalizationRegistry(() => ++finalized);
    (function () {
      for (const policy of ['pidfd', 'own']) {
        const r = new Reaper({ policy });
        registry.register(r, policy);
        r.spawn('/bin/sh', ['-c', 'sleep 0.3; exit 9'], { stdio: 'ignore' }).on('exit', (c) => console.log(policy, c));
        registry.register(new Reaper({ policy }), 'idle ' + policy);
      }
    })();
    const collect = setInterval(() => gc(), 10).unref();
    process.once('beforeExit', () => { clearInterval(collect); gc(); setImmediate(() => console.log('finalized', finalized > 0)); });
    setTimeout(() => {}, 100);`, ['--expose-gc']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').sort();
  assert.deepEqual(lines, ['finalized true', 'own 9', 'pidfd 9']);
});

test("README's example (examples/node/hello.js) runs as a user would: require('uvreap')", () => {
  const r = childProcess.spawnSync(process.execPath, [path.resolve(__dirname, '..', '..', 'examples', 'node', 'hello.js')], {
    env: { ...process.env, NODE_PATH: process.env.UVREAP_NODE_PATH || '' },
    encoding: 'utf8',
    timeout: LONG,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^hello from the child\npid \d+: code 3, signal null, deadline false, \d+ us of CPU\n$/);
});

test("docs/node.md's terminal example (examples/node/terminal.js) runs: require('uvreap/pty')", () => {
  const r = childProcess.spawnSync(process.execPath, [path.resolve(__dirname, '..', '..', 'examples', 'node', 'terminal.js')], {
    env: { ...process.env, NODE_PATH: process.env.UVREAP_NODE_PATH || '' },
    encoding: 'utf8',
    timeout: LONG,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '["size 40 100"] exit 4 signal 0\n');
});

test('no zombie of this test process', () => {
  assert.deepEqual(zombies(), []);
});
