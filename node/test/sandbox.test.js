// SPDX-License-Identifier: MIT
// A sandbox per child from Node: reaper.spawn/run(..., { sandbox }) — files read and
// written as the rules say, TCP refused with network: false, no_new_privs, the filter's
// added syscalls, the status's report, bad options refused, this process unaffected.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { describe, test, before, after, afterEach } = require('node:test');
const { uvreap, zombies, within, POLICIES } = require('./helpers');

const { Reaper } = uvreap;
const LONG = 120_000;
const RUNTIME = ['/usr', '/lib', '/lib64', '/etc', '/proc'].filter((p) => fs.existsSync(p));


for (const policy of POLICIES) {
  describe(`sandbox, policy ${policy}`, { skip: uvreap.landlockAbi() >= 4 ? false : `SKIP: Landlock ABI 4 is not here (${uvreap.landlockAbi()})` }, () => {
    let reaper;
    let dir;
    let server;
    let port;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvreap-node-sandbox-'));
      for (const d of ['allowed', 'writable', 'outside']) {
        fs.mkdirSync(path.join(dir, d));
        fs.writeFileSync(path.join(dir, d, 'file'), 'data\n');
      }
      server = net.createServer((s) => s.destroy());
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = server.address().port;
    });
    after(() => {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    afterEach(async () => {
      if (reaper) await within(LONG, reaper.close({ killChildren: true, grace: 0 }), 'close');
      reaper = null;
      assert.deepEqual(zombies(), [], 'no zombie left');
    });

    async function code(script, sandbox) {
      const child = reaper.spawn('/bin/bash', ['-c', script], { stdio: 'ignore', sandbox });
      const status = await within(LONG, child.exited, 'exit');
      return status;
    }

    test('read and write paths allow what they should and nothing else', async () => {
      reaper = new Reaper({ policy });
      const at = (p) => path.join(dir, p);
      const sandbox = { read: [...RUNTIME, at('allowed')], write: [at('writable')] };
      let s = await code(`read x < ${at('allowed/file')}`, sandbox);
      assert.equal(s.code, 0);
      assert.deepEqual(s.sandbox.filesystem, true);
      assert.equal((await code(`read x < ${at('outside/file')}`, sandbox)).code, 1);
      assert.equal((await code(`echo > ${at('allowed/new')}`, sandbox)).code, 1);
      assert.equal((await code(`echo > ${at('writable/new')}`, sandbox)).code, 0);
      assert.equal(fs.existsSync(at('writable/new')), true);
      assert.equal(fs.existsSync(at('allowed/new')), false);
      s = await code('true', undefined);
      assert.equal(s.sandbox, null);
    });

    test('network: false refuses TCP connect; no_new_privs is on; the filter refuses what is added', async () => {
      reaper = new Reaper({ policy });
      const connect = `exec 3<>/dev/tcp/127.0.0.1/${port}`;
      const closed = await code(connect, { read: RUNTIME, network: false });
      assert.notEqual(closed.code, 0);
      assert.equal(closed.sandbox.network, true);
      assert.equal((await code(connect, { read: RUNTIME })).code, 0);
      assert.equal((await code('grep -q "NoNewPrivs:.*1" /proc/self/status', { read: RUNTIME })).code, 0);
      assert.equal((await code('grep -q "NoNewPrivs:.*0" /proc/self/status', undefined)).code, 0);
      // bash forks for a pipeline: with fork (57) and clone (56) refused it cannot.
      const noFork = await code('true | true', { read: RUNTIME, seccomp: ['clone', 'fork', 57] });
      assert.notEqual(noFork.code, 0);
      assert.equal(noFork.sandbox.seccomp, true);
    });

    test('run() takes a sandbox; bad options are refused; this process is not confined', async () => {
      reaper = new Reaper({ policy });
      const err = await reaper.run('/bin/cat', [path.join(dir, 'outside/file')], { sandbox: { read: RUNTIME } })
        .then(() => null, (e) => e);
      assert.equal(err.code, 1);
      assert.match(err.stderr, /Permission denied/);
      assert.throws(() => reaper.spawn('true', [], { sandbox: { read: ['/nonexistent/uvreap'] } }), { code: 'ENOENT' });
      assert.throws(() => reaper.spawn('true', [], { sandbox: { read: 'usr' } }), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => reaper.spawn('true', [], { sandbox: { seccomp: ['no-such-call'] } }), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => reaper.spawn('true', [], { sandbox: { seccomp: [4096] } }), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(reaper.size, 0);
      assert.equal(fs.readFileSync(path.join(dir, 'outside/file'), 'utf8'), 'data\n');
      fs.writeFileSync(path.join(dir, 'outside/written'), 'x');
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
      socket.destroy();
    });
  });
}
