// SPDX-License-Identifier: MIT
// The addon's Reaper under both policies: statuses, errors, time limits, storms,
// child_process beside it, close, watch, pipes — and no zombie after any of it.
'use strict';

const assert = require('node:assert/strict');
const { once } = require('node:events');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe, test, afterEach } = require('node:test');
const { uvreap, zombies, exists, fdCount, within, POLICIES } = require('./helpers');

const { Reaper } = uvreap;
const LONG = 120_000;  // a deadline that fails a test on a slow machine instead of hanging it

function sh(reaper, script, options = {}) {
  return reaper.spawn('/bin/sh', ['-c', script], { stdio: 'ignore', ...options });
}

async function readAll(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

for (const policy of POLICIES) {
  describe(`policy ${policy}`, () => {
    let reaper;
    afterEach(async () => {
      if (reaper) await within(LONG, reaper.close({ killChildren: true, grace: 0 }), 'close');
      reaper = null;
      assert.deepEqual(zombies(), [], 'no zombie left');
    });

    test('close() releases every fd before garbage collection', async () => {
      const before = fs.readdirSync('/proc/self/fd').length;
      const kept = [];
      for (let i = 0; i < 8; ++i) kept.push(new Reaper({ policy }));
      await Promise.all(kept.map((r) => within(LONG, r.close(), 'close')));
      assert.equal(fs.readdirSync('/proc/self/fd').length, before);
    });

    test('reports the policy in effect, refuses others', () => {
      reaper = new Reaper({ policy });
      assert.equal(reaper.policy, policy);
      assert.throws(() => new Reaper({ policy: 'all' }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => new Reaper(42), { code: 'ERR_INVALID_ARG_TYPE' });
    });

    test('exit codes 0-255, each once, with its pid and rusage', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const children = [];
      for (let code = 0; code < 256; ++code) children.push([code, sh(reaper, `exit ${code}`)]);
      const exits = new Map();
      for (const [, child] of children) child.on('exit', () => exits.set(child.pid, (exits.get(child.pid) ?? 0) + 1));
      for (const [code, child] of children) {
        const s = await within(LONG, child.exited, `exit ${code}`);
        assert.equal(s.pid, child.pid);
        assert.equal(s.code, code);
        assert.equal(s.signal, null);
        assert.equal(s.lost, false);
        assert.equal(s.deadlineFired, false);
        assert.equal(child.exitCode, code);
        assert.ok(s.rusage.maxRSS > 0, 'maxRSS from wait4');
        assert.ok(s.rusage.userCPU >= 0 && s.rusage.systemCPU >= 0);
      }
      assert.equal(exits.size, 256);
      for (const n of exits.values()) assert.equal(n, 1, "one 'exit' per child");
      assert.equal(reaper.size, 0);
      assert.equal(reaper.stats().exitsReaped, 256);
    });

    test('a signal ends a child: its name, no code', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      for (const sig of ['SIGTERM', 'SIGKILL', 'SIGUSR1', 'SIGHUP']) {
        const child = sh(reaper, `kill -${sig.slice(3)} $$`);
        const [code, signal] = await within(LONG, new Promise((r) => child.on('exit', (c, s) => r([c, s]))), sig);
        assert.equal(code, null);
        assert.equal(signal, sig);
        assert.equal(child.signalCode, sig);
      }
      const sleeper = reaper.spawn('sleep', ['1000'], { stdio: 'ignore' });
      assert.equal(sleeper.kill('SIGINT'), true);
      assert.equal(sleeper.killed, true);
      const s = await within(LONG, sleeper.exited, 'sleep');
      assert.equal(s.signal, 'SIGINT');
      assert.equal(sleeper.kill(), false, 'a reaped child is never signalled');
      assert.throws(() => sleeper.kill('SIGNOPE'), { code: 'ERR_UNKNOWN_SIGNAL' });
    });

    test('ENOENT, EACCES and a bad cwd throw like child_process, with no child and no fd left', () => {
      reaper = new Reaper({ policy });
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uvreap-node-'));
      const plain = path.join(tmp, 'not-executable');
      fs.writeFileSync(plain, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
      const before = fdCount();
      try {
        assert.throws(() => reaper.spawn('/no/such/program', ['a'], { stdio: 'pipe' }), {
          code: 'ENOENT', errno: -os.constants.errno.ENOENT, syscall: 'spawn /no/such/program',
          path: '/no/such/program', message: 'spawn /no/such/program ENOENT',
        });
        assert.throws(() => reaper.spawn('uvreap-no-such-program-anywhere', [], { stdio: 'ignore' }), { code: 'ENOENT' });
        assert.throws(() => reaper.spawn(plain, [], { stdio: 'pipe' }), { code: 'EACCES', errno: -os.constants.errno.EACCES });
        assert.throws(() => reaper.spawn('/bin/true', [], { cwd: path.join(tmp, 'missing'), stdio: 'pipe' }), { code: 'ENOENT' });
        assert.throws(() => reaper.spawn('/bin/true', ['a\0b']), { code: 'ERR_INVALID_ARG_VALUE' });
        assert.throws(() => reaper.spawn('/bin/true', [], { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
        assert.throws(() => reaper.spawn('/bin/true', [], { stdio: ['pipe', 'bogus'] }), { code: 'ERR_INVALID_ARG_VALUE' });
        assert.throws(() => reaper.spawn('/bin/true', [], { killSignal: 'SIGNOPE', timeout: 10 }), { code: 'ERR_UNKNOWN_SIGNAL' });
      } finally {
        fs.rmSync(tmp, { recursive: true });
      }
      assert.equal(fdCount(), before, 'no fd of a failed spawn stays open');
      assert.equal(reaper.size, 0);
    });

    test('timeout: SIGTERM, then SIGKILL after killGrace, deadlineFired', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      // A shell that ignores SIGTERM and blocks reading its stdin (a pipe nobody writes).
      const stubborn = reaper.spawn('/bin/sh', ['-c', 'trap "" TERM; read line'], {
        stdio: ['pipe', 'ignore', 'ignore'], timeout: 50, killGrace: 100,
      });
      const polite = reaper.spawn('sleep', ['1000'], { stdio: 'ignore', timeout: 50, killSignal: 'SIGUSR2' });
      const quick = reaper.spawn('/bin/true', [], { stdio: 'ignore', timeout: 60_000 });
      const [a, b, c] = await within(LONG, Promise.all([stubborn.exited, polite.exited, quick.exited]), 'time limits');
      assert.deepEqual([a.signal, a.deadlineFired], ['SIGKILL', true]);
      assert.deepEqual([b.signal, b.deadlineFired], ['SIGUSR2', true]);
      assert.deepEqual([c.code, c.deadlineFired], [0, false]);
      assert.equal(reaper.stats().deadlinesFired, 2);
    });

    test('5,000 children at once: every exit exactly once, right code', { timeout: 600_000 }, async () => {
      reaper = new Reaper({ policy });
      const N = 5000;
      const seen = new Map();
      const done = [];
      for (let i = 0; i < N; ++i) {
        const code = i % 256;
        const child = reaper.spawn('/bin/sh', ['-c', `exit ${code}`], { stdio: 'ignore' });
        child.on('exit', (c) => seen.set(i, [...(seen.get(i) ?? []), c]));
        done.push(child.exited.then((s) => assert.equal(s.code, code, `child ${i}`)));
      }
      await within(500_000, Promise.all(done), 'storm');
      assert.equal(seen.size, N);
      for (const [i, codes] of seen) assert.deepEqual(codes, [i % 256], `child ${i}: one exit`);
      assert.equal(reaper.stats().exitsReaped, N);
      assert.equal(reaper.stats().lost, 0);
      assert.equal(reaper.size, 0);
    });

    test('1,000 background children, churn of 1,000 more', { timeout: 600_000 }, async () => {
      reaper = new Reaper({ policy });
      const background = [];
      for (let i = 0; i < 1000; ++i) background.push(reaper.spawn('sleep', ['1000'], { stdio: 'ignore' }));
      for (let round = 0; round < 10; ++round) {
        const batch = [];
        for (let i = 0; i < 100; ++i) batch.push(sh(reaper, `exit ${(round * 100 + i) % 256}`));
        const statuses = await within(LONG, Promise.all(batch.map((c) => c.exited)), `churn ${round}`);
        statuses.forEach((s, i) => assert.equal(s.code, (round * 100 + i) % 256));
      }
      assert.equal(reaper.size, 1000);
      if (policy === 'pidfd') assert.equal(reaper.stats().fallbackScans, 0);
      for (const c of background) assert.equal(c.kill('SIGKILL'), true);
      const ends = await within(LONG, Promise.all(background.map((c) => c.exited)), 'background');
      for (const s of ends) assert.equal(s.signal, 'SIGKILL');
    });

    test('child_process works beside it: both at once, every exit right', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const ours = [];
      const theirs = [];
      for (let i = 0; i < 200; ++i) {
        ours.push(sh(reaper, `exit ${i % 100}`).exited.then((s) => [i % 100, s.code]));
        const cp = childProcess.spawn('/bin/sh', ['-c', `exit ${100 + (i % 100)}`], { stdio: 'ignore' });
        theirs.push(new Promise((resolve, reject) => {
          cp.on('error', reject);
          cp.on('exit', (code) => resolve([100 + (i % 100), code]));
        }));
      }
      const results = await within(LONG, Promise.all([...ours, ...theirs]), 'both spawners');
      for (const [want, got] of results) assert.equal(got, want);
      assert.equal(reaper.stats().lost, 0);
      // execFileSync waits with libuv's own reaping while ours holds a live child.
      const sleeper = reaper.spawn('sleep', ['1000'], { stdio: 'ignore' });
      assert.equal(childProcess.execFileSync('/bin/sh', ['-c', 'echo hi']).toString(), 'hi\n');
      sleeper.kill();
      assert.equal((await within(LONG, sleeper.exited, 'sleeper')).signal, 'SIGTERM');
    });

    test('close with live children: killChildren reaps them, leave-running does not', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const doomed = [];
      for (let i = 0; i < 20; ++i) doomed.push(sh(reaper, 'trap "" TERM; while :; do :; done'));
      const late = [];
      for (const c of doomed) c.on('exit', () => late.push(c.pid));
      await within(LONG, reaper.close({ killChildren: true, grace: 100 }), 'close');
      for (const c of doomed) assert.equal(exists(c.pid), false, `child ${c.pid} reaped`);
      assert.deepEqual(late, [], "no 'exit' after close");
      assert.equal(reaper.close(), reaper.close(), 'close is idempotent');
      assert.throws(() => reaper.spawn('/bin/true'), { code: 'ESTALE' });

      // Left running, a child can be adopted by another reaper (watch).
      const first = new Reaper({ policy });
      const survivor = sh(first, 'read line; exit 7', { stdio: ['pipe', 'ignore', 'ignore'] });
      await first.close();
      assert.equal(exists(survivor.pid), true, 'left running');
      reaper = new Reaper({ policy });
      const adopted = reaper.watch(survivor.pid);
      assert.throws(() => reaper.watch(survivor.pid), { code: 'EBUSY' });
      survivor.stdin.end('go\n');
      const s = await within(LONG, adopted.exited, 'adopted');
      assert.deepEqual([s.pid, s.code], [survivor.pid, 7]);
    });

    test('watch refuses what is not an unreaped child', () => {
      reaper = new Reaper({ policy });
      assert.throws(() => reaper.watch(process.ppid), { code: 'ECHILD', syscall: 'watch' });
      assert.throws(() => reaper.watch(0), { code: 'EINVAL' });
      assert.throws(() => reaper.watch(1.5), { code: 'ERR_INVALID_ARG_TYPE' });
      // child_process' argument rules and error classes; nothing silently ignored.
      assert.throws(() => reaper.spawn('/bin/true', 'a string'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => reaper.spawn('/bin/true', [], 'a string'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => reaper.spawn('/bin/true', 5), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => reaper.spawn('/bin/true', [], { uid: '0' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      // A C int on the native side: nothing may wrap into another pid or fd.
      assert.throws(() => reaper.watch(2 ** 32 + process.pid), { code: 'ERR_OUT_OF_RANGE' });
      for (const fd of [2 ** 32 - 3, 2 ** 40 + 1, 2 ** 31]) {
        assert.throws(() => reaper.spawn('/bin/true', [], { stdio: ['ignore', fd, 'ignore'] }), { code: 'ERR_OUT_OF_RANGE' });
      }
    });

    test("stdio 'pipe': Node streams both ways, 'close' after exit and EOF", { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const before = fdCount();
      const child = reaper.spawn('/bin/sh', ['-c', 'tr a-z A-Z; echo done >&2; exit 3']);
      const out = readAll(child.stdout);
      const err = readAll(child.stderr);
      const closed = new Promise((r) => child.on('close', (code) => r(code)));
      child.stdin.end('hello pipes\n');
      assert.equal(await within(LONG, out, 'stdout'), 'HELLO PIPES\n');
      assert.equal(await within(LONG, err, 'stderr'), 'done\n');
      assert.equal(await within(LONG, closed, "'close'"), 3);
      assert.equal(fdCount(), before, 'the pipes are closed');
      // An extra fd (3) as a pipe, and env/cwd/argv0 as child_process has them.
      const extra = reaper.spawn('/bin/sh', ['-c', 'echo "$0 $FOO $(pwd)" >&3'], {
        stdio: ['ignore', 'ignore', 'inherit', 'pipe'], env: { FOO: 'bar', PATH: process.env.PATH }, cwd: '/tmp', argv0: 'named',
      });
      assert.equal(await within(LONG, readAll(extra.stdio[3]), 'fd 3'), 'named bar /tmp\n');
      assert.equal((await within(LONG, extra.exited, 'extra')).code, 0);
    });

    test("async: 'spawn' with the pid, then 'exit'; a failed start is 'error' then 'close'", { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const child = reaper.spawn('/bin/sh', ['-c', 'echo async out; exit 6'], { async: true, stdio: ['ignore', 'pipe', 'inherit'] });
      assert.equal(child.pid, undefined);  // not started yet
      const events = [];
      child.on('spawn', () => events.push(['spawn', child.pid]));
      child.on('exit', (code) => events.push(['exit', code]));
      const out = readAll(child.stdout);
      const [code] = await within(LONG, once(child, 'close'), "'close'");
      assert.equal(code, 6);
      assert.equal(await within(LONG, out, 'stdout'), 'async out\n');
      assert.equal(events.length, 2);
      assert.equal(events[0][0], 'spawn');
      assert.ok(events[0][1] > 0);
      assert.deepEqual(events[1], ['exit', 6]);
      assert.equal((await child.exited).pid, events[0][1]);

      // Not found: the shape and events of child_process.
      const theirs = childProcess.spawn('/nonexistent/program', ['a']);
      const theirErr = await within(LONG, once(theirs, 'error'), "child_process 'error'");
      const bad = reaper.spawn('/nonexistent/program', ['a'], { async: true });
      const seen = [];
      bad.on('spawn', () => seen.push('spawn'));
      bad.on('exit', () => seen.push('exit'));
      const [err] = await within(LONG, once(bad, 'error'), "'error'");
      for (const k of ['code', 'errno', 'syscall', 'path', 'message']) assert.equal(err[k], theirErr[0][k], k);
      assert.deepEqual(err.spawnargs, ['a']);
      const closed = await within(LONG, once(bad, 'close'), "'close'");
      assert.deepEqual(closed.slice(0, 2), [-2, null]);
      assert.deepEqual(seen, []);
      assert.equal(bad.pid, undefined);
      assert.equal(bad.kill(), false);
      assert.equal((await bad.exited).error, err);
      assert.throws(() => reaper.spawn('/bin/true', [], { async: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
    });

    test("sync spawn emits 'spawn' too, before 'exit'", { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const child = sh(reaper, 'exit 0');
      const order = [];
      child.on('spawn', () => order.push('spawn'));
      child.on('exit', () => order.push('exit'));
      await within(LONG, child.exited, 'exit');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(order, ['spawn', 'exit']);
    });

    test("shell: child_process' rule (/bin/sh -c, or the shell named)", { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      for (const shell of [true, '/bin/bash']) {
        const args = ['$0', '"$((6 * 7))"', "'$HOME'"];
        const theirs = childProcess.spawnSync('echo', args, { shell, encoding: 'utf8' }).stdout;
        const child = reaper.spawn('echo', args, { shell, stdio: ['ignore', 'pipe', 'inherit'] });
        const ours = await within(LONG, readAll(child.stdout), 'stdout');
        assert.equal(ours, theirs, `shell ${shell}`);
        assert.equal(ours, `${shell === true ? '/bin/sh' : shell} 42 $HOME\n`);
        assert.equal((await within(LONG, child.exited, 'exit')).code, 0);
      }
      assert.throws(() => reaper.spawn('echo', [], { shell: 42 }), { code: 'ERR_INVALID_ARG_TYPE' });
    });

    test('signal: an abort kills with killSignal and emits an AbortError', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const ac = new AbortController();
      const child = sh(reaper, 'exec sleep 1000', { signal: ac.signal });
      const error = new Promise((r) => child.once('error', r));
      ac.abort('enough');
      const e = await within(LONG, error, "'error'");
      assert.deepEqual([e.name, e.code, e.message, e.cause], ['AbortError', 'ABORT_ERR', 'The operation was aborted', 'enough']);
      assert.equal((await within(LONG, child.exited, 'exit')).signal, 'SIGTERM');
      assert.equal(child.killed, true);

      // Aborted before the spawn: the child starts, then gets killSignal on the next tick.
      const early = sh(reaper, 'exec sleep 1000', { signal: AbortSignal.abort(), killSignal: 'SIGKILL' });
      const earlyError = new Promise((r) => early.once('error', r));
      assert.equal((await within(LONG, earlyError, "'error'")).name, 'AbortError');
      assert.equal((await within(LONG, early.exited, 'exit')).signal, 'SIGKILL');

      // Aborted after the exit: nothing to kill, no 'error' (abort listeners run at once).
      const late = new AbortController();
      const done = sh(reaper, 'exit 4', { signal: late.signal });
      let errors = 0;
      done.on('error', () => ++errors);
      assert.equal((await within(LONG, done.exited, 'exit')).code, 4);
      late.abort();
      assert.equal(errors, 0);
      assert.throws(() => sh(reaper, 'true', { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
    });

    test('timeout with detached ends the whole group, grandchildren too', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const child = reaper.spawn('/bin/sh', ['-c', 'sleep 1000 & echo $!; wait'], {
        detached: true, timeout: 100, stdio: ['ignore', 'pipe', 'ignore'],
      });
      const line = await within(LONG, new Promise((r) => child.stdout.once('data', r)), 'the pid');
      const grandchild = Number(String(line).trim());
      assert.ok(grandchild > 0);
      try {
        const s = await within(LONG, child.exited, 'exit');
        assert.deepEqual([s.signal, s.deadlineFired], ['SIGTERM', true]);
        // The grandchild got the signal too: it ends (re-parented; its reaper is init).
        const deadline = Date.now() + LONG;
        const alive = () => {
          try {
            const stat = fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8');
            return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
          } catch {
            return false;
          }
        };
        while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(alive(), false, `grandchild ${grandchild} ended`);
      } finally {
        try { process.kill(grandchild, 'SIGKILL'); } catch { /* gone, as it should be */ }
        child.stdout.destroy();
      }
    });

    test('run() collects stdout, stderr and the exit, execFile-style', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const ok = await within(LONG, reaper.run('/bin/sh', ['-c', 'cat; echo err >&2'], { input: 'in put' }), 'run');
      assert.equal(ok.stdout, 'in put');
      assert.equal(ok.stderr, 'err\n');
      assert.equal(ok.status.code, 0);
      assert.notEqual(ok.status.tree.applied, 'none');  // 'auto' by default
      const bytes = await within(LONG, reaper.run('/bin/sh', ['-c', 'printf abcdef'], { encoding: 'buffer', maxBuffer: 4 }), 'run');
      assert.deepEqual([bytes.stdout, bytes.stdoutTruncated], [Buffer.from('abcd'), true]);
      await assert.rejects(within(LONG, reaper.run('/bin/sh', ['-c', 'echo out; echo bad >&2; exit 3']), 'run'),
        (e) => e.code === 3 && e.stdout === 'out\n' && e.stderr === 'bad\n' && e.signal === null &&
          e.killed === false && /Command failed: \/bin\/sh -c/.test(e.message));
      await assert.rejects(reaper.run('/nonexistent/program'), { code: 'ENOENT' });
      assert.throws(() => reaper.run('/bin/sh', ['-c', 'true'], { tree: 'forest' }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => reaper.run('/bin/sh', ['-c', 'true'], { input: 42 }), { code: 'ERR_INVALID_ARG_TYPE' });
    });

    test('a timeout ends the whole tree: a grandchild holding stdout does not hold "close"', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const child = reaper.spawn('/bin/sh', ['-c', 'sleep 1000 & echo $!; exec sleep 1000'],
        { stdio: ['ignore', 'pipe', 'ignore'], timeout: 300, tree: 'auto' });
      let grandchild = 0;
      child.stdout.on('data', (d) => { grandchild = grandchild || Number.parseInt(d.toString(), 10); });
      const [code, signal, status] = await within(LONG, once(child, 'close'), 'close');
      assert.deepEqual([code, signal, status.deadlineFired], [null, 'SIGTERM', true]);
      assert.ok(grandchild > 0, 'the grandchild said its pid');
      assert.notEqual(status.tree.applied, 'none');
      // With a cgroup the callback waited for it; a group's SIGKILL is on its way.
      const gone = () => {
        try {
          const stat = fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8');
          return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
        } catch {
          return true;
        }
      };
      const deadline = Date.now() + LONG;
      while (!gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(gone(), `grandchild ${grandchild} ended`);
    });

    test('killTree() reaches the whole tree; a child without one refuses it', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const child = sh(reaper, 'sleep 1000 & exec sleep 1000', { tree: 'process-group' });
      assert.equal(child.killTree('SIGKILL'), true);
      const s = await within(LONG, child.exited, 'exit');
      assert.deepEqual([s.signal, s.tree.applied], ['SIGKILL', 'process-group']);
      assert.equal(child.killTree('SIGKILL'), false);
      const plain = sh(reaper, 'exec sleep 1000');
      assert.throws(() => plain.killTree('SIGTERM'), { code: 'EINVAL' });
      plain.kill('SIGKILL');
      await within(LONG, plain.exited, 'exit');
    });

    test('close() rejects a run still going', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const rejected = assert.rejects(reaper.run('/bin/sh', ['-c', 'exec sleep 1000']), { code: 'ESTALE' });
      await within(LONG, reaper.close({ killChildren: true, grace: 0 }), 'close');
      await rejected;
    });

    test('Windows-only options are accepted and mean nothing; unsupported ones throw', { timeout: LONG }, async () => {
      reaper = new Reaper({ policy });
      const child = sh(reaper, 'exit 6', { windowsHide: true, windowsVerbatimArguments: false });
      assert.equal((await within(LONG, child.exited, 'exit')).code, 6);
      assert.throws(() => sh(reaper, 'true', { windowsHide: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => sh(reaper, 'true', { serialization: 'advanced' }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => sh(reaper, 'true', { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => sh(reaper, 'true', { killSignal: 'SIGNOPE' }), { code: 'ERR_UNKNOWN_SIGNAL' });
    });
  });
}
