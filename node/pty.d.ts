// SPDX-License-Identifier: MIT
// Type declarations for uvreap/pty: node-pty's API over uvreap's terminals.
/// <reference types="node" />
import { EventEmitter } from 'node:events';

export interface IDisposable {
  dispose(): void;
}
export type IEvent<T> = (listener: (e: T) => any) => IDisposable;

export interface IPtyForkOptions {
  /** TERM in the child's environment (default: TERM of `env`, else 'xterm'). */
  name?: string;
  cols?: number;
  rows?: number;
  cwd?: string;
  env?: { [key: string]: string | undefined };
  uid?: number;
  gid?: number;
  /** 'utf8' (default): onData gets strings; null: Buffers. */
  encoding?: BufferEncoding | null;
  handleFlowControl?: boolean;
  flowControlPause?: string;
  flowControlResume?: string;
}

export interface IPty {
  readonly pid: number;
  readonly cols: number;
  readonly rows: number;
  /** The terminal's foreground process (its argv[0]). */
  readonly process: string;
  handleFlowControl: boolean;
  /** Output; every byte comes before onExit. */
  readonly onData: IEvent<string>;
  readonly onExit: IEvent<{ exitCode: number; signal?: number }>;
  resize(columns: number, rows: number): void;
  clear(): void;
  write(data: string | Buffer): void;
  /** Default SIGHUP. */
  kill(signal?: string): void;
  pause(): void;
  resume(): void;
  /** Hangs the terminal up: the child's session gets SIGHUP. */
  destroy(): void;
}

/** What `spawn` returns: an IPty that is also an EventEmitter ('data', 'exit'). */
export interface Terminal extends IPty {}
export class Terminal extends EventEmitter {}

export function spawn(file: string, args: string[] | string, options: IPtyForkOptions): IPty;
