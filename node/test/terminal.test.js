// SPDX-License-Identifier: MIT
// Terminals from Node: reaper.spawn(..., { terminal }) → child.terminal and child.resize,
// and uvreap/pty in node-pty's shape — size, resize and SIGWINCH, Ctrl-C, the output
// written just before exit all read, a thousand terminals with no thread added, close.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, test, afterEach } = require('node:test');
const { uvreap, addonDir, zombies, fdCount, within, POLICIES } = require('./helpers');

const pty = require(path.join(addonDir, 'pty.js'));
const { Reaper } = uvreap;
const LONG = 120_000;

function threads() {
  return fs.readdirSync('/proc/self/task').length;
}

// What a terminal stream gives until its end, as text.
function collect(stream) {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  const ended = new Promise((resolve, reject) => {
    stream.once('close', () => resolve(Buffer.concat(chunks).toString()));
    stream.once('error', reject);
  });
  return { text: () => Buffer.concat(chunks).toString(), ended };
}

// Resolves once `has()` is true, checked on every chunk of `stream`.
function waitFor(stream, has, what) {
  return within(LONG, new Promise((resolve) => {
    const look = () => { if (has()) { stream.removeListener('data', look); resolve(); } };
    stream.on('data', look);
    look();
  }), what);
}

for (const policy of POLICIES) {
  describe(`terminals, policy ${policy}`, () => {
    let reaper;
    afterEach(async () => {
      if (reaper) await within(LONG, reaper.close({ killChildren: true, grace: 0 }), 'close');
      reaper = null;
      assert.deepEqual(zombies(), [], 'no zombie left');
    });

    test('the child sees its own terminal of the size given; its output ends the stream', async () => {
      reaper = new Reaper({ policy });
      const child = reaper.spawn('/bin/sh', ['-c', 'tty; stty size'], { terminal: { cols: 100, rows: 30 } });
      assert.equal(child.stdin, null);
      const out = collect(child.terminal);
      const [status, text] = await within(LONG, Promise.all([child.exited, out.ended]), 'exit and end');
      assert.equal(status.code, 0);
      assert.match(text, /^\/dev\/pts\/\d+\r\n30 100\r\n$/);
    });

    test('resize sends SIGWINCH with the new size; Ctrl-C ends the foreground group', async () => {
      reaper = new Reaper({ policy });
      // The shell's trap exits once it has printed the new size.
      const child = reaper.spawn('/bin/bash', ['-c', "trap 'stty size; exit 3' WINCH; echo ready; while :; do sleep 0.05; done"],
        { terminal: true });
      const out = collect(child.terminal);
      await waitFor(child.terminal, () => out.text().includes('ready'), 'ready');
      assert.equal(child.resize(132, 43), true);
      const status = await within(LONG, child.exited, 'exit');
      assert.equal(status.code, 3);
      assert.match(await within(LONG, out.ended, 'end'), /43 132/);
      assert.equal(child.resize(80, 24), false);  // reaped
      assert.throws(() => child.resize(0, 24), { code: 'ERR_OUT_OF_RANGE' });

      // The spawn returns once sleep runs on its terminal: the keystroke's SIGINT finds it
      // in the foreground (a shell loop could miss it between two of its children).
      const sleeper = reaper.spawn('sleep', ['100'], { terminal: true });
      const echo = collect(sleeper.terminal);
      sleeper.terminal.write('\x03');
      const s = await within(LONG, sleeper.exited, 'exit');
      assert.equal(s.signal, 'SIGINT');
      assert.match(await within(LONG, echo.ended, 'end'), /\^C/);
    });

    test('300,000 bytes written just before exit all arrive, and then the end', async () => {
      reaper = new Reaper({ policy });
      const children = [];
      for (let i = 0; i < 8; ++i) {
        const child = reaper.spawn('/bin/sh', ['-c', "head -c 300000 /dev/zero | tr '\\0' x"], { terminal: {} });
        children.push({ child, out: collect(child.terminal) });
      }
      for (const { child, out } of children) {
        const [status, text] = await within(LONG, Promise.all([child.exited, out.ended]), 'exit and end');
        assert.equal(status.code, 0);
        assert.equal(text.length, 300000);
        assert.equal(/^x*$/.test(text), true);
      }
    });

    test('bad terminal options are refused', () => {
      reaper = new Reaper({ policy });
      for (const terminal of [{ cols: 0 }, { rows: 65536 }, { cols: 1.5 }, { cols: -1 }]) {
        assert.throws(() => reaper.spawn('cat', [], { terminal }), { code: 'ERR_OUT_OF_RANGE' });
      }
      assert.throws(() => reaper.spawn('cat', [], { terminal: {}, stdio: 'pipe' }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => reaper.spawn('cat', [], { terminal: {}, async: true }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.equal(reaper.size, 0);
      const plain = reaper.spawn('true', [], { stdio: 'ignore' });
      assert.throws(() => plain.resize(80, 24), { code: 'ENOTTY' });
    });

    test('close with terminals alive ends the children and their streams', async () => {
      reaper = new Reaper({ policy });
      const children = [1, 2, 3].map(() => reaper.spawn('cat', [], { terminal: {} }));
      const ends = children.map((c) => collect(c.terminal).ended);
      await within(LONG, reaper.close({ killChildren: true, grace: 0 }), 'close');
      reaper = null;
      await within(LONG, Promise.all(ends), 'the streams end');
    });
  });
}

describe('uvreap/pty in node-pty\'s shape', () => {
  test('spawn, onData, onExit, resize, write, process, kill', async () => {
    const term = pty.spawn('/bin/bash', ['-c', "trap 'stty size' WINCH; echo $TERM; stty size; read x; echo got-$x; exec sleep 100"],
      { name: 'xterm-256color', cols: 90, rows: 33, cwd: '/', env: { PATH: process.env.PATH } });
    assert.equal(typeof term.pid, 'number');
    assert.equal(term.cols, 90);
    let out = '';
    term.onData((d) => { out += d; });
    const exited = new Promise((resolve) => term.onExit(resolve));
    await within(LONG, new Promise((resolve) => {
      const d = term.onData(() => { if (out.includes('33 90')) { d.dispose(); resolve(); } });
    }), 'size');
    assert.match(out, /^xterm-256color\r\n33 90\r\n/);
    assert.equal(term.process, '/bin/bash');  // the terminal's foreground process
    term.resize(100, 40);
    assert.equal(term.cols, 100);
    term.write('hello\r');
    await within(LONG, new Promise((resolve) => {
      const d = term.onData(() => { if (out.includes('got-hello')) { d.dispose(); resolve(); } });
    }), 'echo');
    term.kill();  // SIGHUP, as node-pty
    const e = await within(LONG, exited, 'exit');
    assert.deepEqual(e, { exitCode: 0, signal: 1 });
    assert.throws(() => term.resize(0, 1));
  });

  test('every byte reaches onData before onExit', async () => {
    for (let i = 0; i < 5; ++i) {
      const term = pty.spawn('/bin/sh', ['-c', "head -c 200000 /dev/zero | tr '\\0' y; exit 3"], {});
      let n = 0;
      term.onData((d) => { n += d.length; });
      const e = await within(LONG, new Promise((resolve) => term.onExit(resolve)), 'exit');
      assert.deepEqual(e, { exitCode: 3, signal: 0 });
      assert.equal(n, 200000);
    }
  });

  test('a thousand terminals alive add no thread, and hang up when destroyed', async () => {
    const before = threads();
    const fdsBefore = fdCount();
    const terms = [];
    for (let i = 0; i < 1000; ++i) terms.push(pty.spawn('cat', [], {}));
    assert.equal(threads(), before);
    const exits = terms.map((t) => new Promise((resolve) => t.onExit(resolve)));
    for (const t of terms) t.destroy();
    const all = await within(LONG, Promise.all(exits), 'a thousand exits');
    // SIGHUP, or the end of its input when cat's read woke before the signal came.
    assert.equal(all.every((e) => e.signal === 1 || e.signal === 0), true, JSON.stringify(all.slice(0, 5)));
    assert.equal(threads(), before);
    assert.ok(fdCount() <= fdsBefore + 2, `fds: ${fdCount()} after, ${fdsBefore} before`);
  });
});
