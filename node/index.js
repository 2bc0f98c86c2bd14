// SPDX-License-Identifier: MIT
// uvreap for Node.js: spawn or adopt children on Node's own libuv loop and get each exit
// exactly once, at a cost that does not grow with the number of children alive.
'use strict';

const { EventEmitter } = require('node:events');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Duplex } = require('node:stream');
const tty = require('node:tty');
const util = require('node:util');

// uvreap.node: built from source at install (build/Release), built by meson beside this
// file (the build tree, `meson install`), or the prebuild for this platform.
function loadBinding() {
  if (process.platform !== 'linux') throw new Error(`uvreap runs on Linux only (this is ${process.platform})`);
  const tag = `${process.platform}-${process.arch}`;
  const tried = [];
  for (const file of [path.join(__dirname, 'build', 'Release', 'uvreap.node'),
    path.join(__dirname, 'uvreap.node'), path.join(__dirname, 'prebuilds', tag, 'uvreap.node')]) {
    try {
      return { binding: require(file), addonPath: file };
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') tried.push(`${file}: ${e.message}`);
    }
  }
  throw new Error(`uvreap: no uvreap.node for ${tag} loads from ${__dirname}` +
    (tried.length ? ` (${tried.join('; ')})` : '') +
    '; build one with `npm rebuild uvreap --build-from-source`');
}
const { binding, addonPath } = loadBinding();

const signals = os.constants.signals;
// First name wins for a number (SIGABRT, not SIGIOT), as child_process reports them.
const signalNames = new Map();
for (const [name, number] of Object.entries(signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name);
}

// Codes the native side takes for a stdio entry that is not an fd number.
const STDIO = { ignore: -1, inherit: -2, pipe: -3, closed: -4 };
const DEFAULT_GRACE_MS = 2000;
// run(): how long output pipes may outlive a tree (only a process-group tree can leave a
// holder behind) before they are closed.
const DEFAULT_DRAIN_MS = 500;

function typeError(code, message) {
  const e = new TypeError(message);
  e.code = code;
  return e;
}

function rangeError(code, message) {
  const e = new RangeError(message);
  e.code = code;
  return e;
}

function toSignal(sig, name) {
  if (typeof sig === 'string') {
    const n = signals[sig];
    if (n === undefined) throw typeError('ERR_UNKNOWN_SIGNAL', `Unknown signal: ${sig}`);
    return n;
  }
  if (Number.isInteger(sig) && sig >= 0 && sig <= 64) return sig;
  throw typeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be a signal name or number`);
}

function toMilliseconds(value, name, { allowZero }) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0) ||
      value > 2 ** 53) {
    throw rangeError('ERR_OUT_OF_RANGE',
      `The value of "${name}" is out of range. It must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds. Received ${value}`);
  }
  return Math.ceil(value);
}

function toId(value, name) {
  if (typeof value !== 'number') {
    throw typeError('ERR_INVALID_ARG_TYPE', `The "options.${name}" property must be of type number. Received type ${typeof value}`);
  }
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw rangeError('ERR_OUT_OF_RANGE', `The value of "${name}" must be an integer from 0 to 4294967295. Received ${value}`);
  }
  return value;
}

function checkString(value, name) {
  if (typeof value !== 'string') throw typeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type string`);
  if (value.includes('\0')) throw typeError('ERR_INVALID_ARG_VALUE', `The argument '${name}' must be a string without null bytes`);
  return value;
}

// The native side takes an fd as a C int: a larger number would wrap into another fd
// (2**40 + 1 into fd 1) or into one of the codes above.
const INT32_MAX = 2 ** 31 - 1;
function checkFd(n, fd) {
  if (n > INT32_MAX) {
    throw rangeError('ERR_OUT_OF_RANGE', `The value of "stdio[${fd}]" is out of range. It must be an fd from 0 to ${INT32_MAX}. Received ${n}`);
  }
  return n;
}

function stdioEntry(entry, fd) {
  if (entry === 'pipe' || entry === 'overlapped') return STDIO.pipe;
  if (entry === 'inherit') return STDIO.inherit;
  // child_process opens /dev/null for 'ignore' on fds 0-2 and leaves higher fds closed.
  if (entry === 'ignore') return fd <= 2 ? STDIO.ignore : STDIO.closed;
  if (entry === null || entry === undefined) return fd <= 2 ? STDIO.pipe : STDIO.closed;
  if (Number.isInteger(entry) && entry >= 0) return checkFd(entry, fd);
  if (entry && typeof entry === 'object') {
    const handleFd = entry._handle && entry._handle.fd;
    if (Number.isInteger(handleFd) && handleFd >= 0) return checkFd(handleFd, fd);
    if (Number.isInteger(entry.fd) && entry.fd >= 0) return checkFd(entry.fd, fd);
  }
  throw typeError('ERR_INVALID_ARG_VALUE',
    `stdio[${fd}] must be 'pipe', 'inherit', 'ignore', an fd, or a stream with an fd; ` +
    `received ${typeof entry === 'string' ? `'${entry}'` : typeof entry}`);
}

function stdioCodes(stdio) {
  if (stdio === undefined || stdio === null) stdio = 'pipe';
  if (typeof stdio === 'string') {
    if (stdio !== 'pipe' && stdio !== 'inherit' && stdio !== 'ignore' && stdio !== 'overlapped') {
      throw typeError('ERR_INVALID_ARG_VALUE', `The argument 'stdio' is invalid. Received '${stdio}'`);
    }
    stdio = [stdio, stdio, stdio];
  }
  if (!Array.isArray(stdio)) throw typeError('ERR_INVALID_ARG_TYPE', 'The "stdio" option must be a string or an array');
  const codes = stdio.map(stdioEntry);
  while (codes.length < 3) codes.push(STDIO.pipe);
  return codes;
}

function envArray(env) {
  if (env === undefined || env === null) return null;
  if (typeof env !== 'object') throw typeError('ERR_INVALID_ARG_TYPE', 'The "env" option must be an object');
  const out = [];
  for (const key of Object.keys(env)) {
    const value = env[key];
    if (value === undefined) continue;
    out.push(checkString(`${key}=${value}`, 'env'));
  }
  return out;
}

/** A spawn error as child_process shapes it: `spawn <file> ENOENT`, code, errno, syscall,
 *  path, spawnargs. */
function shapeSpawnError(e, file, args) {
  e.message = `spawn ${file} ${e.code}`;
  e.syscall = `spawn ${file}`;
  e.path = file;
  e.spawnargs = args.slice();
  return e;
}

function spawnError(errno, file, args) {
  const code = util.getSystemErrorName(errno);
  const e = new Error(code);
  e.errno = errno;
  e.code = code;
  return shapeSpawnError(e, file, args);
}

/** child_process' AbortError: what `'error'` carries when `options.signal` aborts. */
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    super(message, options);
    this.code = 'ABORT_ERR';
    this.name = 'AbortError';
  }
}

/**
 * `options.signal` as child_process has it: on abort (or at once, on the next tick, when
 * it was aborted already) the child gets `killSignal` and, when the signal was sent,
 * emits `'error'` with an AbortError whose `cause` is the signal's reason.
 */
function watchAbort(child, abortSignal, killSignal) {
  const onAbort = () => {
    try {
      if (child.kill(killSignal)) child.emit('error', new AbortError(undefined, { cause: abortSignal.reason }));
    } catch (err) {
      child.emit('error', err);
    }
  };
  if (abortSignal.aborted) {
    process.nextTick(onAbort);
    return;
  }
  abortSignal.addEventListener('abort', onAbort, { once: true });
  child.once('exit', () => abortSignal.removeEventListener('abort', onAbort));
}

/** The record of one exit, as the `exited` promise resolves to. */
const TREE_NAMES = ['none', 'cgroup', 'process-group'];

function exitRecord(pid, kind, code, sig, core, deadline, userUs, sysUs, rssKib,
  treeApplied, descendants, treeCpuUs, memoryPeak, sandboxBits, landlockAbi) {
  return {
    pid,
    code: kind === 0 ? code : null,
    signal: kind === 1 ? (signalNames.get(sig) ?? sig) : null,
    coreDumped: core === 1,
    deadlineFired: deadline === 1,
    lost: kind === 2,
    rusage: { userCPU: userUs, systemCPU: sysUs, maxRSS: rssKib },
    // What held the child's tree; with a cgroup, what it held (-1 where unknown).
    tree: {
      applied: TREE_NAMES[treeApplied] ?? 'none',
      descendantsAtExit: descendants,
      cpu: treeCpuUs,
      memoryPeak,
    },
    // What confined it (null without a sandbox): each rule applied or not.
    sandbox: sandboxBits ? {
      landlockAbi,
      noNewPrivs: true,
      filesystem: (sandboxBits & 2) !== 0,
      truncate: (sandboxBits & 4) !== 0,
      network: (sandboxBits & 8) !== 0,
      scopes: (sandboxBits & 16) !== 0,
      seccomp: (sandboxBits & 32) !== 0,
    } : null,
  };
}

// The `sandbox` option as the native side takes it: [read, write, flags, deny] or null.
// Syscalls to deny may be numbers or the names of SYSCALLS.
const SYSCALLS = {  // x86-64
  read: 0, write: 1, open: 2, socket: 41, connect: 42, accept: 43, bind: 49, listen: 50,
  clone: 56, fork: 57, vfork: 58, execve: 59, kill: 62, ptrace: 101, getppid: 110,
  setuid: 105, setgid: 106, chroot: 161, mount: 165, unshare: 272, setns: 308, execveat: 322,
  bpf: 321, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
};
function sandboxArgs(value) {
  if (value === undefined || value === null || value === false) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError('ERR_INVALID_ARG_TYPE', 'The "options.sandbox" property must be an object');
  }
  const paths = (list, name) => {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) {
      throw typeError('ERR_INVALID_ARG_TYPE', `The "options.sandbox.${name}" property must be an array of strings`);
    }
    return list.map((p) => checkString(p, `options.sandbox.${name}`));
  };
  let flags = 0;
  if (value.network === false) flags |= 1;
  const scope = value.scope ?? {};
  if (scope.abstractUnix) flags |= 2;
  if (scope.signals) flags |= 4;
  let deny = [];
  const seccomp = value.seccomp;
  if (seccomp === true) {
    flags |= 8;
  } else if (seccomp !== undefined && seccomp !== null && seccomp !== false) {
    flags |= 8;
    deny = (Array.isArray(seccomp) ? seccomp : seccomp.deny ?? []).map((s) => {
      const nr = typeof s === 'string' && process.arch === 'x64' ? SYSCALLS[s] : s;
      if (!Number.isInteger(nr) || nr < 0 || nr > 1023) {
        throw rangeError('ERR_OUT_OF_RANGE', `The syscall ${s} in "options.sandbox.seccomp" is not known or out of range (0-1023)`);
      }
      return nr;
    });
  }
  if (value.bestEffort) flags |= 16;
  return [paths(value.read, 'read'), paths(value.write, 'write'), flags, deny];
}

/** The `tree` option: undefined/'none', 'cgroup', 'process-group' or 'auto'. */
function treeCode(value, fallback = 0) {
  if (value === undefined || value === null) return fallback;
  const code = { none: 0, cgroup: 1, 'process-group': 2, auto: 3 }[value];
  if (code === undefined) {
    throw typeError('ERR_INVALID_ARG_VALUE', `The "options.tree" property must be 'cgroup', 'process-group', 'auto' or 'none'. Received ${util.inspect(value)}`);
  }
  return code;
}

/**
 * What spawn() and run() read the same way: the AbortSignal, the file and its args (run
 * through the shell when `shell` says), argv0, cwd, and the time limit with its signal.
 */
function command(file, args, options) {
  const abortSignal = options.signal;
  if (abortSignal !== undefined &&
      (abortSignal === null || typeof abortSignal !== 'object' || !('aborted' in abortSignal))) {
    throw typeError('ERR_INVALID_ARG_TYPE', 'The "options.signal" property must be an instance of AbortSignal');
  }
  checkString(file, 'file');
  if (file.length === 0) throw typeError('ERR_INVALID_ARG_VALUE', "The argument 'file' cannot be empty");
  args.forEach((a, i) => checkString(a, `args[${i}]`));
  const shell = options.shell;
  if (shell !== undefined && shell !== null && shell !== false) {
    // child_process' rule: the command and its arguments joined by spaces, run by
    // `/bin/sh -c` (or the shell named), which is also argv[0] unless `argv0` says.
    if (shell !== true && typeof shell !== 'string') {
      throw typeError('ERR_INVALID_ARG_TYPE', `The "options.shell" property must be of type boolean or string. Received type ${typeof shell}`);
    }
    const line = [file, ...args].join(' ');
    file = shell === true ? '/bin/sh' : checkString(shell, 'options.shell');
    args = ['-c', line];
  }
  const argv0 = options.argv0 === undefined ? file : checkString(options.argv0, 'options.argv0');
  const cwd = options.cwd === undefined || options.cwd === null ? '' : checkString(String(options.cwd), 'options.cwd');
  const killSignal = toSignal(options.killSignal ?? 'SIGTERM', 'killSignal');
  let limit = null;
  if (options.timeout !== undefined && options.timeout !== null && options.timeout !== 0) {
    // A detached child leads its own group: the limit ends the whole group (or its tree).
    limit = [toMilliseconds(options.timeout, 'timeout', { allowZero: false }), killSignal,
      toMilliseconds(options.killGrace ?? DEFAULT_GRACE_MS, 'killGrace', { allowZero: true })];
  }
  return { abortSignal, file, args, argv0, cwd, killSignal, limit };
}

/** The uid and gid options. */
command.ids = (options) => ({
  uid: options.uid === undefined ? null : toId(options.uid, 'uid'),
  gid: options.gid === undefined ? null : toId(options.gid, 'gid'),
});

// The size of a terminal: whole numbers from 1 to 65535, as TIOCSWINSZ takes them.
function terminalSize(value, name, fallback) {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw rangeError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be an integer from 1 to 65535. Received ${value}`);
  }
  return value;
}

/**
 * A child's terminal as a Duplex: what it writes comes out, what is written goes to it
 * as keystrokes ('\x03' is Ctrl-C through its line discipline). The pty master reports
 * EIO once the child (and all else holding the terminal) is gone and everything it wrote
 * has been read — uvreap keeps the terminal open until then, so no byte is lost: here
 * that is the end of the stream ('end', then 'close'), not an error.
 */
class TerminalStream extends Duplex {
  constructor(fd) {
    super({ allowHalfOpen: false, decodeStrings: true });
    this.fd = fd;
    this.isTTY = true;
    this._socket = new tty.ReadStream(fd);  // libuv's uv_tty_t on the master: reads and writes
    this._socket.on('data', (chunk) => { if (!this.push(chunk)) this._socket.pause(); });
    this._socket.on('end', () => this.push(null));
    this._socket.on('error', (err) => {
      if (err.code === 'EIO') this.push(null);  // the end of a terminal's stream
      else this.destroy(err);
    });
    this._socket.on('close', () => { if (!this.destroyed && this.readableEnded) this.destroy(); });
    this.once('end', () => { if (!this.destroyed) this.destroy(); });
  }

  _read() { this._socket.resume(); }

  _write(chunk, encoding, callback) {
    if (this._socket.destroyed) { callback(); return; }  // a terminal gone: keystrokes go nowhere
    this._socket.write(chunk, callback);
  }

  _destroy(err, callback) {
    this._socket.destroy();
    callback(err);
  }
}

/** A child owned by a Reaper: `pid`, `kill()`, `exited`, an 'exit' event and stdio streams. */
class ReapedChild extends EventEmitter {
  constructor(reaper, pid) {
    super();
    this.pid = pid;
    this.exitCode = null;
    this.signalCode = null;
    this.killed = false;
    this.stdin = null;
    this.stdout = null;
    this.stderr = null;
    this.stdio = [];
    this.terminal = null;
    this._reaper = reaper;
    this._status = null;
    this._openStreams = 0;
    this.exited = new Promise((resolve) => { this._resolve = resolve; });
  }

  /** Sends `signal` (default SIGTERM); false once the child has been reaped (or, with
   *  `async`, before its 'spawn' and after a failed start). */
  kill(signal = 'SIGTERM') {
    const number = toSignal(signal, 'signal');
    if (this._status || this.pid === undefined) return false;
    const sent = this._reaper._native.kill(this.pid, number);
    if (sent && signal !== 0) this.killed = true;
    return sent;
  }

  /** Sends `signal` (default SIGTERM) to the child's whole tree (spawned with `tree`):
   *  SIGKILL through the cgroup, another signal to every member, or to the process
   *  group. False once the tree is gone (its 'exit' came). Throws EINVAL for a child
   *  spawned without a tree. */
  killTree(signal = 'SIGTERM') {
    const number = toSignal(signal, 'signal');
    if (this._status || this.pid === undefined) return false;
    const sent = this._reaper._native.killTree(this.pid, number);
    if (sent && signal !== 0) this.killed = true;
    return sent;
  }

  /** Sets the size of the child's terminal (spawned with `terminal`); its foreground
   *  group gets SIGWINCH. False once the child has been reaped. */
  resize(cols, rows) {
    cols = terminalSize(cols, 'cols');
    rows = terminalSize(rows, 'rows');
    if (!this.terminal) throw Object.assign(new Error('resize: the child has no terminal'), { code: 'ENOTTY' });
    if (this._status || this.pid === undefined) return false;
    return this._reaper._native.resize(this.pid, cols, rows);
  }

  _attach(streams, terminal) {
    this.stdio = streams;
    [this.stdin, this.stdout, this.stderr] = streams;
    const waited = streams.slice(1);
    if (terminal) {
      this.terminal = terminal;
      waited.push(terminal);
    }
    for (const s of waited) {
      if (!s) continue;
      ++this._openStreams;
      s.once('close', () => this._streamClosed());
    }
  }

  _streamClosed() {
    --this._openStreams;
    this._maybeClose();
  }

  _maybeClose() {
    if (this._status && this._openStreams === 0 && !this._closeEmitted) {
      this._closeEmitted = true;
      this.emit('close', this.exitCode, this.signalCode, this._status);
    }
  }

  /** An {async: true} start that failed: 'error', then 'close' with (errno, null) once the
   *  streams are closed, as child_process does; `exited` resolves with the error. */
  _failStart(err) {
    this.exitCode = err.errno;
    this._status = {
      pid: undefined, code: null, signal: null, coreDumped: false, deadlineFired: false,
      lost: false, error: err, rusage: { userCPU: 0, systemCPU: 0, maxRSS: 0 },
    };
    this._resolve(this._status);
    this.emit('error', err);
    for (const s of this.stdio) if (s) s.destroy();
    this._maybeClose();
  }

  _finish(status) {
    this._status = status;
    this.exitCode = status.code;
    this.signalCode = status.signal;
    if (this.stdin) this.stdin.destroy();
    this._resolve(status);
    this.emit('exit', status.code, status.signal, status);
    this._maybeClose();
  }
}

/**
 * Reaps children on Node's own event loop. Policy 'pidfd' (the default) watches one
 * pidfd per child in one epoll set; 'own' uses SIGCHLD. Both take only the children given
 * to them, so child_process keeps working beside them.
 */
class Reaper {
  constructor(options = {}) {
    if (options === null || typeof options !== 'object') {
      throw typeError('ERR_INVALID_ARG_TYPE', 'The "options" argument must be an object');
    }
    const policy = options.policy ?? 'pidfd';
    if (policy !== 'pidfd' && policy !== 'own') {
      throw typeError('ERR_INVALID_ARG_VALUE', `The "policy" option must be 'pidfd' or 'own'. Received '${policy}'`);
    }
    this._children = new Map();  // id -> ReapedChild; an id is never reused, a pid may be
    this._nextId = 1;
    this._closed = null;
    this._native = new binding.NativeReaper(policy);
    this._native._onstarted = (id, pid, errno) => {
      const child = this._children.get(id);
      if (!child) return;
      if (errno === 0) {
        child.pid = pid;
        child.emit('spawn');
        return;
      }
      this._children.delete(id);
      child._failStart(spawnError(errno, child._file, child._args));
    };
    this._runs = new Map();  // id -> { finish, closed } of a run()
    this._native._onrun = (id, ...rest) => {
      const pending = this._runs.get(id);
      if (!pending) return;
      this._runs.delete(id);
      const status = exitRecord(...rest.slice(0, 15));
      const [out, err, outCut, errCut, cut, inputErrno] = rest.slice(15);
      pending.finish(status, out, err, outCut === 1, errCut === 1, cut === 1, inputErrno);
    };
    this._native._onexit = (id, ...status) => {
      const child = this._children.get(id);
      if (!child) return;
      this._children.delete(id);
      child._finish(exitRecord(...status));
    };
  }

  /** The policy in effect ('pidfd' runs as 'own' on a kernel without pidfd_open). */
  get policy() { return this._native.policy(); }

  /** Children owned and not yet reaped. */
  get size() { return this._native.size(); }

  /** Counters since construction: sweeps, exits, reaping syscalls, ... */
  stats() { return this._native.stats(); }

  /**
   * Starts `file` with `args` (child_process.spawn's signature). Options: env, cwd,
   * stdio, argv0, detached, uid, gid, shell, signal (an AbortSignal), timeout (ms; the
   * whole group when detached) with killSignal and killGrace (ms until SIGKILL, default
   * 2000); windowsHide and windowsVerbatimArguments are accepted and mean nothing here.
   * With `async: true` it returns before the child starts (its clone and exec happen off
   * Node's thread): `pid` is set and 'spawn' emitted once it runs, or 'error' (then
   * 'close') comes when it cannot start. Without it a failed start throws at once. Throws at once when the child cannot be started: ENOENT,
   * EACCES, a bad cwd, EAGAIN, ... as `err.code`.
   */
  spawn(file, args, options) {
    // child_process.spawn's argument rules: args an array (or left out), options an object.
    if (Array.isArray(args)) {
      args = args.slice();
    } else if (args === undefined || args === null) {
      args = [];
    } else if (typeof args !== 'object') {
      throw typeError('ERR_INVALID_ARG_TYPE', `The "args" argument must be of type object. Received type ${typeof args}`);
    } else {
      if (options !== undefined) throw typeError('ERR_INVALID_ARG_TYPE', 'The "args" argument must be an instance of Array');
      options = args;
      args = [];
    }
    if (options === undefined || options === null) options = {};
    if (typeof options !== 'object' || Array.isArray(options)) {
      throw typeError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received type ${typeof options}`);
    }
    // 'advanced' serialization needs an IPC channel, which this does not open: refused,
    // never silently ignored.
    if (options.serialization !== undefined && options.serialization !== 'json') {
      throw typeError('ERR_INVALID_ARG_VALUE', 'The option "serialization" is not supported by uvreap\'s spawn');
    }
    // Windows-only options mean nothing here; child_process checks their type all the same.
    for (const name of ['windowsHide', 'windowsVerbatimArguments']) {
      if (options[name] !== undefined && options[name] !== null && typeof options[name] !== 'boolean') {
        throw typeError('ERR_INVALID_ARG_TYPE', `The "options.${name}" property must be of type boolean. Received type ${typeof options[name]}`);
      }
    }
    const cmd = command(file, args, options);
    ({ file, args } = cmd);
    const { abortSignal, argv0, cwd, killSignal, limit } = cmd;
    if (options.async !== undefined && typeof options.async !== 'boolean') {
      throw typeError('ERR_INVALID_ARG_TYPE', `The "options.async" property must be of type boolean. Received type ${typeof options.async}`);
    }
    const startAsync = options.async === true;
    const { uid, gid } = command.ids(options);
    let stdio;
    let terminal = null;
    if (options.terminal !== undefined && options.terminal !== null && options.terminal !== false) {
      const t = options.terminal === true ? {} : options.terminal;
      if (typeof t !== 'object') throw typeError('ERR_INVALID_ARG_TYPE', 'The "options.terminal" property must be an object');
      if (options.stdio !== undefined) throw typeError('ERR_INVALID_ARG_VALUE', 'The options "terminal" and "stdio" cannot be used together: fds 0-2 are the terminal');
      if (startAsync) throw typeError('ERR_INVALID_ARG_VALUE', 'The options "terminal" and "async" cannot be used together');
      terminal = [terminalSize(t.cols, 'terminal.cols', 80), terminalSize(t.rows, 'terminal.rows', 24)];
      stdio = [STDIO.inherit, STDIO.inherit, STDIO.inherit];  // each the terminal
    } else {
      stdio = stdioCodes(options.stdio);
    }
    const tree = treeCode(options.tree);
    const id = this._nextId++;
    let result;
    try {
      result = this._native.spawn(id, file, [argv0, ...args], envArray(options.env), cwd, stdio, limit,
        Boolean(options.detached), uid, gid, startAsync, tree, terminal, sandboxArgs(options.sandbox));
    } catch (e) {
      if (e.errno !== undefined) shapeSpawnError(e, file, args);
      throw e;
    }
    const child = new ReapedChild(this, startAsync ? undefined : result[0]);
    child._file = file;
    child._args = args.slice();
    const streams = terminal ? [null, null, null] : stdio.map((code, fd) => {
      const parentFd = result[fd + 1];
      if (code !== STDIO.pipe || parentFd < 0) return null;
      return new net.Socket({ fd: parentFd, readable: fd !== 0, writable: fd === 0 || fd > 2 });
    });
    child._attach(streams, terminal ? new TerminalStream(result[stdio.length + 1]) : null);
    this._children.set(id, child);
    if (abortSignal) watchAbort(child, abortSignal, killSignal);
    if (!startAsync) process.nextTick(() => child.emit('spawn'));  // as child_process does
    return child;
  }

  /**
   * Runs `file` with `args` and collects it: util.promisify(execFile)'s shape. Resolves
   * with { stdout, stderr, status, stdoutTruncated, stderrTruncated, outputCut } when it
   * exits with code 0; otherwise rejects with an Error carrying code, signal, killed (its
   * time limit fired), cmd, stdout, stderr and status — or with the spawn error (ENOENT,
   * ...). Its whole tree is contained (`tree`, default 'auto'): the promise settles once
   * everything it started is gone, so a grandchild holding stdout cannot keep it waiting,
   * and `timeout` ends the whole tree. Options: cwd, env, argv0, shell, uid, gid, timeout,
   * killSignal, killGrace, tree, input (string or Buffer, written to stdin), maxBuffer
   * (bytes kept of each output, default 1 MiB: the rest is read and dropped, and
   * stdoutTruncated / stderrTruncated say so; the child is not killed for it), encoding
   * ('utf8' by default, 'buffer' for Buffers), signal (an AbortSignal: the tree gets
   * killSignal).
   */
  run(file, args, options) {
    if (!Array.isArray(args)) {
      if (args !== undefined && args !== null && typeof args === 'object' && options === undefined) {
        options = args;
      } else if (args !== undefined && args !== null) {
        throw typeError('ERR_INVALID_ARG_TYPE', 'The "args" argument must be an instance of Array');
      }
      args = [];
    } else {
      args = args.slice();
    }
    if (options === undefined || options === null) options = {};
    if (typeof options !== 'object' || Array.isArray(options)) {
      throw typeError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received type ${typeof options}`);
    }
    const cmd = command(file, args, options);
    ({ file, args } = cmd);
    const { abortSignal, argv0, cwd, killSignal, limit } = cmd;
    const { uid, gid } = command.ids(options);
    const tree = treeCode(options.tree, 3);
    let input = null;
    if (options.input !== undefined && options.input !== null) {
      if (typeof options.input === 'string') {
        input = Buffer.from(options.input);
      } else if (ArrayBuffer.isView(options.input)) {
        input = Buffer.from(options.input.buffer, options.input.byteOffset, options.input.byteLength);
      } else {
        throw typeError('ERR_INVALID_ARG_TYPE', 'The "options.input" property must be of type string or an instance of Buffer, TypedArray, or DataView');
      }
    }
    const maxBuffer = options.maxBuffer ?? 1024 * 1024;
    if (typeof maxBuffer !== 'number' || !(maxBuffer >= 0)) {
      throw rangeError('ERR_OUT_OF_RANGE', `The value of "options.maxBuffer" is out of range. It must be a positive number. Received ${util.inspect(maxBuffer)}`);
    }
    const encoding = options.encoding ?? 'utf8';
    if (encoding !== 'buffer' && !Buffer.isEncoding(encoding)) {
      throw typeError('ERR_INVALID_ARG_VALUE', `The argument 'encoding' is invalid encoding. Received ${util.inspect(encoding)}`);
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      let pid;
      try {
        pid = this._native.run(id, file, [argv0, ...args], envArray(options.env), cwd, limit, uid, gid,
          tree, input, Math.min(maxBuffer, Number.MAX_SAFE_INTEGER), DEFAULT_DRAIN_MS,
          sandboxArgs(options.sandbox));
      } catch (e) {
        if (e.errno !== undefined) shapeSpawnError(e, file, args);
        reject(e);
        return;
      }
      let aborted = false;
      let onAbort = null;
      if (abortSignal) {
        onAbort = () => {
          aborted = true;
          this._native.killTree(pid, killSignal);
        };
        if (abortSignal.aborted) {
          process.nextTick(onAbort);
        } else {
          abortSignal.addEventListener('abort', onAbort, { once: true });
        }
      }
      const decode = (b) => (encoding === 'buffer' ? b : b.toString(encoding));
      const finish = (status, out, err, outCut, errCut, cut, inputErrno) => {
        if (onAbort) abortSignal.removeEventListener('abort', onAbort);
        const stdout = decode(out);
        const stderr = decode(err);
        const extra = { status, stdoutTruncated: outCut, stderrTruncated: errCut, outputCut: cut };
        if (inputErrno !== 0) extra.inputError = util.getSystemErrorName(inputErrno);
        if (status.code === 0 && !aborted) {
          resolve({ stdout, stderr, ...extra });
          return;
        }
        const cmd = [file, ...args].join(' ');
        const error = aborted
          ? new AbortError(undefined, { cause: abortSignal.reason })
          : new Error(`Command failed: ${cmd}\n${typeof stderr === 'string' ? stderr : ''}`);
        Object.assign(error, {
          code: status.code ?? null, killed: status.deadlineFired || aborted,
          signal: status.signal, cmd, stdout, stderr, ...extra,
        });
        if (aborted) error.code = 'ABORT_ERR';
        reject(error);
      };
      const closed = () => {
        if (onAbort) abortSignal.removeEventListener('abort', onAbort);
        const error = new Error('uvreap: the reaper closed before the run finished');
        error.code = 'ESTALE';
        reject(error);
      };
      this._runs.set(id, { finish, closed });
    });
  }

  /** Adopts a child this process started elsewhere (not one child_process owns). */
  watch(pid) {
    if (!Number.isInteger(pid)) throw typeError('ERR_INVALID_ARG_TYPE', 'The "pid" argument must be an integer');
    if (pid > INT32_MAX || pid < -INT32_MAX) {
      throw rangeError('ERR_OUT_OF_RANGE', `The value of "pid" is out of range. It must be an integer from -${INT32_MAX} to ${INT32_MAX}. Received ${pid}`);
    }
    const id = this._nextId++;
    this._native.watch(id, pid);
    const child = new ReapedChild(this, pid);
    this._children.set(id, child);
    return child;
  }

  /**
   * Stops every callback and releases the reaper's handles. With `killChildren`, running
   * children get `signal` (default SIGTERM), then SIGKILL after `grace` ms, and are
   * reaped; otherwise they keep running. The promise settles once all is released.
   * Children still running at close get no 'exit' event and their `exited` stays pending.
   */
  close({ killChildren = false, grace = DEFAULT_GRACE_MS, signal = 'SIGTERM' } = {}) {
    if (this._closed) return this._closed;
    const graceMs = toMilliseconds(grace, 'grace', { allowZero: true });
    const sig = toSignal(signal, 'signal');
    this._closed = new Promise((resolve) => {
      this._native._onclose = resolve;
      if (!this._native.close(Boolean(killChildren), graceMs, sig)) resolve();
    });
    this._children.clear();
    // A run still going never completes: its promise rejects (ESTALE).
    for (const pending of this._runs.values()) pending.closed();
    this._runs.clear();
    return this._closed;
  }
}

module.exports = {
  Reaper, ReapedChild, AbortError, TerminalStream, libuvVersion: binding.libuvVersion, addonPath,
  foregroundGroup: binding.foregroundGroup, landlockAbi: binding.landlockAbi,
};
