// SPDX-License-Identifier: MIT
// Shared by the addon's tests: where the built addon is, and what the kernel says about
// this process's children.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const addonDir = process.env.UVREAP_NODE_DIR || path.resolve(__dirname, '..', '..', 'build', 'node');
const uvreap = require(addonDir);

/** Children of this process in state Z (zombies), from /proc. */
function zombies() {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;  // gone meanwhile
    }
    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' && Number(fields[1]) === process.pid) out.push(Number(name));
  }
  return out;
}

/** Whether `pid` still exists as a process (a zombie counts). */
function exists(pid) {
  return fs.existsSync(`/proc/${pid}`);
}

/** Open fds of this process. */
function fdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Resolves when `promise` does; rejects after `ms` so that a lost exit fails, not hangs. */
function within(ms, promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const POLICIES = ['pidfd', 'own'];

module.exports = { uvreap, addonDir, zombies, exists, fdCount, within, POLICIES };
