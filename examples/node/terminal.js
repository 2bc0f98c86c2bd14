// SPDX-License-Identifier: MIT
// docs/node.md's terminal example as a whole program: a shell on a terminal through
// uvreap/pty, node-pty's API — what a web terminal's back-end does with each session.
'use strict';

const pty = require('uvreap/pty');  // was: require('node-pty')

const term = pty.spawn('/bin/sh', [], { name: 'xterm-256color', cols: 80, rows: 24, env: process.env });
let screen = '';
term.onData((data) => { screen += data; });  // to the browser, in a real back-end
term.onExit(({ exitCode, signal }) => {  // after the last byte of output
  console.log(`${JSON.stringify(screen.match(/size \d+ \d+/g))} exit ${exitCode} signal ${signal}`);
});
term.resize(100, 40);  // the browser's window changed
term.write('echo size $(stty size)\r');
term.write('exit 4\r');
