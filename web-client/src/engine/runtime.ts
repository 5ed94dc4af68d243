//! What the engine's parts share: the wasm Session and the connection that carries it, the queue
//! through which MLS state is touched one operation at a time, the change listeners, and whether the
//! engine was closed (locked).

import type { Session } from '../core';
import type { Connection } from '../socket';

export class LockedError extends Error {
  constructor() {
    super('Sallyport is locked.');
  }
}

export class Runtime {
  closed = false;
  connection: Connection | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private listeners = new Set<() => void>();

  constructor(readonly session: Session) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** Runs `fn` after everything queued before it: MLS state is touched by one operation at a time. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      // Locked meanwhile: the keys and the wasm objects are gone.
      if (this.closed) throw new LockedError();
      return fn();
    });
    this.queue = next.catch((e) => {
      if (!(e instanceof LockedError)) console.error('sallyport:', e);
    });
    return next;
  }

  /** Writes whatever the session has queued (call after every Session method). */
  flush(): void {
    this.connection?.flush();
  }

  /** Forgets every listener (lock). */
  clearListeners(): void {
    this.listeners.clear();
  }

  /** Runs `fn` once the operation in flight (if any) is done; queued ones see `closed` first. */
  whenIdle(fn: () => void): void {
    void this.queue.finally(fn);
  }
}
