// SPDX-License-Identifier: MIT
// uvreap/pty: node-pty's API (spawn → IPty) over uvreap's terminals, so that a terminal
// back-end switches by changing its require('node-pty') to require('uvreap/pty').
//
// What differs: no helper process and no thread per child (exits come through the
// reaper on Node's own loop); every byte the child wrote reaches onData before onExit
// fires (the exit is held until the terminal's stream has ended); Linux only.
'use strict';

const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const { Reaper, foregroundGroup } = require('./index.js');

const DEFAULT_NAME = 'xterm';
const DEFAULT_COLS = 80;
const DEFAULT_ROWS = 24;
// What node-pty leaves out of the child's environment: the parent's multiplexer and size.
const DROPPED_ENV = ['TMUX', 'TMUX_PANE', 'STY', 'WINDOW', 'WINDOWID', 'TERMCAP', 'COLUMNS', 'LINES'];

// One reaper for the module, made at the first spawn. It keeps Node's loop alive only
// while it has children.
let shared = null;
function reaper() {
  if (!shared) shared = new Reaper();
  return shared;
}

// node-pty's IEvent: subscribe with a listener, get back something to dispose().
function event(emitter, name) {
  return (listener) => {
    emitter.on(name, listener);
    return { dispose: () => emitter.removeListener(name, listener) };
  };
}

class Terminal extends EventEmitter {
  constructor(file, args, options) {
    super();
    const opt = options || {};
    if (!Array.isArray(args)) args = args === undefined || args === null ? [] : [String(args)];
    const env = { ...(opt.env || process.env) };
    for (const name of DROPPED_ENV) delete env[name];
    env.TERM = opt.name || env.TERM || DEFAULT_NAME;
    this._cols = opt.cols ?? DEFAULT_COLS;
    this._rows = opt.rows ?? DEFAULT_ROWS;
    this._file = file;
    this.handleFlowControl = Boolean(opt.handleFlowControl);
    this._flowPause = opt.flowControlPause || '\x13';
    this._flowResume = opt.flowControlResume || '\x11';
    const spawnOptions = {
      env, cwd: opt.cwd || process.cwd(), terminal: { cols: this._cols, rows: this._rows },
    };
    if (opt.uid !== undefined) spawnOptions.uid = opt.uid;
    if (opt.gid !== undefined) spawnOptions.gid = opt.gid;
    this._child = reaper().spawn(file, args, spawnOptions);
    this.pid = this._child.pid;
    this._stream = this._child.terminal;
    const encoding = opt.encoding === undefined ? 'utf8' : opt.encoding;
    if (encoding !== null) this._stream.setEncoding(encoding);

    // onExit comes once the child has exited and its terminal's stream has ended, so
    // that every byte it wrote has gone to onData first.
    let exit = null;
    let ended = false;
    const maybeExit = () => {
      if (!exit || !ended || this._exited) return;
      this._exited = true;
      this.emit('exit', exit.exitCode, exit.signal);
      this.emit('exit-event', exit);
    };
    this._stream.on('data', (data) => this.emit('data', data));
    this._stream.once('close', () => { ended = true; maybeExit(); });
    this._stream.on('error', (err) => this.emit('error', err));
    this._child.once('exit', (code, signal) => {
      exit = { exitCode: code ?? 0, signal: signal ? os.constants.signals[signal] : 0 };
      maybeExit();
    });
    this.onData = event(this, 'data');
    this.onExit = event(this, 'exit-event');
  }

  get cols() { return this._cols; }
  get rows() { return this._rows; }

  /** The name of the terminal's foreground process (its argv[0], as node-pty reports). */
  get process() {
    const group = this._stream && !this._stream.destroyed ? foregroundGroup(this._stream.fd) : -1;
    if (group > 0) {
      try {
        const argv0 = fs.readFileSync(`/proc/${group}/cmdline`, 'utf8').split('\0')[0];
        if (argv0) return argv0;
      } catch {
        // gone meanwhile: the program started
      }
    }
    return this._file;
  }

  write(data) {
    if (this.handleFlowControl) {
      if (data === this._flowPause) { this.pause(); return; }
      if (data === this._flowResume) { this.resume(); return; }
    }
    this._stream.write(data);
  }

  resize(cols, rows) {
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 ||
        cols > 65535 || rows > 65535) {
      throw new Error('resizing must be done using positive cols and rows');
    }
    this._child.resize(cols, rows);
    this._cols = cols;
    this._rows = rows;
  }

  /** Windows-only in node-pty; nothing to do here. */
  clear() {}

  /** Sends `signal` (default SIGHUP, as node-pty) to the child. */
  kill(signal) {
    this._child.kill(signal || 'SIGHUP');
  }

  pause() { this._stream.pause(); }
  resume() { this._stream.resume(); }

  /** Hangs the terminal up (closing its master): the child's session gets SIGHUP. */
  destroy() { this._stream.destroy(); }
}

/** node-pty's spawn: `file` with `args` on a new terminal of `options.cols` x `options.rows`. */
function spawn(file, args, options) {
  return new Terminal(file, args, options);
}

module.exports = { spawn, Terminal };
