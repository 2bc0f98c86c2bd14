// SPDX-License-Identifier: MIT
// Type declarations for the uvreap Node.js addon.
/// <reference types="node" />
import { EventEmitter } from 'node:events';
import { Readable, Writable, Duplex } from 'node:stream';

export type Policy = 'pidfd' | 'own';
export type StdioEntry = 'pipe' | 'overlapped' | 'inherit' | 'ignore' | number | null | undefined |
  { fd: number } | { _handle: { fd: number } };

export interface ReaperOptions {
  /** 'pidfd' (default): one pidfd per child in one epoll set; 'own': SIGCHLD. */
  policy?: Policy;
}

/** What holds a child's whole tree: a cgroup of its own (nothing escapes), a process
 *  group (what calls setsid escapes), 'auto' (a cgroup where one can be made, else a
 *  group) or 'none'. */
export type Tree = 'cgroup' | 'process-group' | 'auto' | 'none';

/** A terminal for the child: fds 0-2 are a pty of its own, its controlling terminal. */
export interface TerminalOptions {
  /** Columns, 1-65535 (default 80). */
  cols?: number;
  /** Rows, 1-65535 (default 24). */
  rows?: number;
}

/** Confinement for the child (Landlock, no_new_privs, seccomp): see docs/api.md. */
export interface SandboxOptions {
  /** Paths readable and executable (with all beneath). */
  read?: string[];
  /** Paths readable, executable and writable (with all beneath). */
  write?: string[];
  /** false: TCP bind and connect denied (Landlock ABI 4). */
  network?: boolean;
  /** Landlock ABI 6 scopes. */
  scope?: { abstractUnix?: boolean; signals?: boolean };
  /** true: the default deny list; a list (or { deny }) adds syscalls by number or name. */
  seccomp?: boolean | Array<number | string> | { deny: Array<number | string> };
  /** Leave out what the kernel cannot enforce instead of failing with ENOTSUP. */
  bestEffort?: boolean;
}

/** What confined a child (`status.sandbox`). */
export interface SandboxReport {
  landlockAbi: number;
  noNewPrivs: boolean;
  filesystem: boolean;
  truncate: boolean;
  network: boolean;
  scopes: boolean;
  seccomp: boolean;
}

export interface SpawnOptions {
  /** Confine the child (not in child_process). */
  sandbox?: SandboxOptions;
  /** A pseudo-terminal on fds 0-2 (not with `stdio` or `async`): read and write it
   *  through `child.terminal`, size it with `child.resize`. */
  terminal?: TerminalOptions | boolean;
  /** What holds the child's tree (default 'none'): `timeout` and `killTree()` then end
   *  all of it, and at the child's exit the rest of the tree is killed. */
  tree?: Tree;
  /** The environment; default: the parent's. */
  env?: Record<string, string | undefined>;
  /** The working directory; default: the parent's. */
  cwd?: string;
  /** 'pipe' (default), 'inherit', 'ignore', or one entry per child fd. */
  stdio?: 'pipe' | 'overlapped' | 'inherit' | 'ignore' | StdioEntry[];
  /** argv[0] for the child; default: `file`. */
  argv0?: string;
  /** A new session (setsid); a `timeout` then ends the child's whole process group. */
  detached?: boolean;
  uid?: number;
  gid?: number;
  /** Run `[file, ...args].join(' ')` with `/bin/sh -c` (true) or the shell named. */
  shell?: boolean | string;
  /** Aborting it sends `killSignal` and emits 'error' with an AbortError. */
  signal?: AbortSignal;
  /** Milliseconds from spawn to `killSignal`. */
  timeout?: number;
  /** Default 'SIGTERM'. */
  killSignal?: NodeJS.Signals | number;
  /** Milliseconds from `killSignal` to SIGKILL; default 2000. */
  killGrace?: number;
  /** Accepted for child_process compatibility; no meaning on Linux. */
  windowsHide?: boolean;
  /** Accepted for child_process compatibility; no meaning on Linux. */
  windowsVerbatimArguments?: boolean;
  /** Return before the child starts: `pid` and 'spawn' once it runs, 'error' then
   *  'close' (errno, null) when it cannot start. Default false: a failed start throws. */
  async?: boolean;
  /** Only 'json' (no IPC channel is opened); 'advanced' throws. */
  serialization?: 'json';
}

export interface ExitStatus {
  pid: number;
  /** The exit code, or null when the child was killed by a signal (or lost). */
  code: number | null;
  /** The terminating signal's name, or null. */
  signal: NodeJS.Signals | null;
  coreDumped: boolean;
  /** The time limit expired and its signal was sent. */
  deadlineFired: boolean;
  /** Someone else reaped the child; its status is unknown. */
  lost: boolean;
  /** CPU in microseconds, maxRSS in kilobytes. maxRSS is wait4's ru_maxrss: for a child
   *  smaller than this process it is about this process's RSS at the spawn (the kernel
   *  carries the high-water mark through exec), not the child's own peak. */
  rusage: { userCPU: number; systemCPU: number; maxRSS: number };
  /** The child's tree at its exit: what held it and, with a cgroup, how many others
   *  were alive (then killed), the tree's CPU (microseconds) and memory peak (bytes, where
   *  the memory controller is enabled); -1 where unknown. */
  tree: { applied: 'none' | 'cgroup' | 'process-group'; descendantsAtExit: number; cpu: number; memoryPeak: number };
  /** What confined it; null without a sandbox. */
  sandbox: SandboxReport | null;
}

export interface RunOptions {
  /** Confine the command (see SpawnOptions.sandbox). */
  sandbox?: SandboxOptions;
  env?: Record<string, string | undefined>;
  cwd?: string;
  argv0?: string;
  uid?: number;
  gid?: number;
  shell?: boolean | string;
  /** Milliseconds from start to `killSignal` for the whole tree. */
  timeout?: number;
  killSignal?: NodeJS.Signals | number;
  killGrace?: number;
  /** Default 'auto'; 'none' leaves the tree uncontained (output a leftover holds is cut after 500 ms). */
  tree?: Tree;
  /** Written to stdin, which is then closed. */
  input?: string | NodeJS.ArrayBufferView;
  /** Bytes kept of stdout and of stderr each (default 1 MiB); the rest is read and dropped. */
  maxBuffer?: number;
  /** 'utf8' by default; 'buffer' for Buffers. */
  encoding?: BufferEncoding | 'buffer';
  /** Aborting it sends `killSignal` to the whole tree; the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface RunResult<T = string> {
  stdout: T;
  stderr: T;
  status: ExitStatus;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** Output pipes were still open after the tree was gone (only a process group can
   *  leave a holder) and were closed. */
  outputCut: boolean;
  /** Set when writing `input` failed: 'EPIPE' when the child did not read it all. */
  inputError?: string;
}

export interface ReaperStats {
  sweeps: number;
  exitsReaped: number;
  lost: number;
  fallbackScans: number;
  deadlinesFired: number;
  pidfdFallbacks: number;
  reapSyscalls: number;
  syscalls: number;
}

export class ReapedChild extends EventEmitter {
  /** Undefined until 'spawn' for an `async` spawn, and after its failed start. */
  pid: number | undefined;
  /** Resolves once, with the child's status; never rejects. */
  readonly exited: Promise<ExitStatus>;
  exitCode: number | null;
  signalCode: NodeJS.Signals | null;
  killed: boolean;
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  stdio: Array<Duplex | null>;
  /** The child's terminal (spawned with `terminal`): its output, and its keystrokes when
   *  written to. Ends ('end', 'close') once the child is gone and all it wrote is read. */
  terminal: TerminalStream | null;
  /** Sets the terminal's size (its foreground group gets SIGWINCH); false once the child
   *  has been reaped. Throws ENOTTY without a terminal, ERR_OUT_OF_RANGE for a bad size. */
  resize(cols: number, rows: number): boolean;
  /** Sends a signal (default SIGTERM); false once the child has been reaped. */
  kill(signal?: NodeJS.Signals | number): boolean;
  /** Sends a signal (default SIGTERM) to the child's whole tree; false once it is gone.
   *  Throws (EINVAL) for a child spawned without `tree`. */
  killTree(signal?: NodeJS.Signals | number): boolean;
  on(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null, status: ExitStatus) => void): this;
  once(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null, status: ExitStatus) => void): this;
}

export interface CloseOptions {
  /** Signal the running children, SIGKILL them after `grace`, and reap them. */
  killChildren?: boolean;
  /** Milliseconds; default 2000. */
  grace?: number;
  /** Default 'SIGTERM'. */
  signal?: NodeJS.Signals | number;
}

export class Reaper {
  constructor(options?: ReaperOptions);
  readonly policy: Policy;
  readonly size: number;
  stats(): ReaperStats;
  spawn(file: string, args?: readonly string[], options?: SpawnOptions): ReapedChild;
  spawn(file: string, options?: SpawnOptions): ReapedChild;
  watch(pid: number): ReapedChild;
  /** Runs and collects a command, util.promisify(execFile)'s shape: resolves on exit
   *  code 0, else rejects with an Error carrying code, signal, killed, cmd, stdout,
   *  stderr and status. Settles once the whole tree is gone; rejects with code 'ESTALE'
   *  when the reaper closes first. */
  run(file: string, args?: readonly string[], options?: RunOptions & { encoding?: BufferEncoding }): Promise<RunResult<string>>;
  run(file: string, args: readonly string[], options: RunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
  close(options?: CloseOptions): Promise<void>;
}

/** The version of the libuv the addon runs on (node's own). */
export const libuvVersion: string;

/** A child's terminal (the pty's master) as a Duplex. */
export class TerminalStream extends Duplex {
  readonly fd: number;
  readonly isTTY: true;
}

/** The kernel's Landlock ABI version (0 without Landlock): what a sandbox can enforce. */
export function landlockAbi(): number;

/** The foreground process group of the terminal whose master is `fd`, or -errno. */
export function foregroundGroup(fd: number): number;

/** What 'error' carries when `options.signal` aborts a child, as child_process has it. */
export class AbortError extends Error {
  readonly code: 'ABORT_ERR';
}

/** The uvreap.node file that was loaded: a prebuild, a source build, or the build tree's. */
export const addonPath: string;
