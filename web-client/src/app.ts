//! The app's state outside components: the phase (enrolling, locked, ready), the database, the
//! running engine, the server config, the push status and the inactivity lock. Components read
//! `app` and re-render on `useApp()`; the workflows (src/workflows/) change it.

import { useEffect, useState } from 'preact/hooks';
import type { ServerConfig, Signer } from './api';
import { loadCore } from './core';
import { cachedConfig, refreshConfig } from './config';
import { getLockRecord, openDb, type Db } from './db';
import type { Messenger } from './engine/messenger';
import { pushStatus, type PushStatus } from './push';

export type Phase = 'loading' | 'enrol' | 'locked' | 'ready' | 'failed';

export const LOCK_CHOICES = [1, 5, 15, 30, 60];
const LOCK_AFTER_KEY = 'sallyport.lockAfterMinutes';

class App {
  phase: Phase = 'loading';
  /** The lock is a passphrase, not digits (the lock screen offers a full keyboard). */
  passphrase = false;
  failure = '';
  db: Db | undefined;
  messenger: Messenger | undefined;
  config: ServerConfig = cachedConfig();
  push: PushStatus = pushStatus();
  private listeners = new Set<() => void>();
  private lastActivity = Date.now();
  private idleTimer: ReturnType<typeof setInterval> | undefined;

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(): void {
    for (const fn of this.listeners) fn();
  }

  async init(): Promise<void> {
    try {
      this.db = await openDb();
      const record = await getLockRecord(this.db);
      // Credentials are saved with `layout` (sealed under an opaque name); before layout 2, as `creds`.
      const enrolled = record && ((await this.db.get('meta', 'layout')) !== undefined || (await this.db.get('meta', 'creds')) !== undefined);
      this.phase = enrolled ? 'locked' : 'enrol';
      this.passphrase = !!record?.passphrase;
    } catch (e) {
      this.phase = 'failed';
      this.failure = 'This browser cannot store data for Sallyport (IndexedDB is unavailable).';
      console.error(e);
    }
    this.changed();
    void refreshConfig().then((c) => {
      this.config = c;
      this.changed();
    });
    void loadCore(); // warm up
  }

  get signer(): Signer | undefined {
    const m = this.messenger;
    return m ? { device: m.creds.device, keys: m.keys, origin: m.creds.server_url } : undefined;
  }

  get lockAfterMinutes(): number {
    const v = Number(localStorage.getItem(LOCK_AFTER_KEY));
    return LOCK_CHOICES.includes(v) ? v : 5;
  }

  set lockAfterMinutes(v: number) {
    localStorage.setItem(LOCK_AFTER_KEY, String(v));
    this.changed();
  }

  /** An unlocked engine: it starts, and the app is ready (the inactivity lock watches from now). */
  started(m: Messenger): void {
    this.messenger = m;
    m.subscribe(() => this.changed());
    m.start();
    this.phase = 'ready';
    this.lastActivity = Date.now();
    this.watchIdle();
    this.changed();
  }

  lock(): void {
    this.messenger?.close();
    this.messenger = undefined;
    clearInterval(this.idleTimer);
    if (this.phase === 'ready') this.phase = 'locked';
    this.changed();
  }

  activity(): void {
    this.lastActivity = Date.now();
  }

  /** Locks if idle too long; also called when the page comes back (timers sleep with the phone). */
  checkIdle(): void {
    if (this.phase === 'ready' && Date.now() - this.lastActivity > this.lockAfterMinutes * 60_000) this.lock();
  }

  private watchIdle(): void {
    clearInterval(this.idleTimer);
    this.idleTimer = setInterval(() => this.checkIdle(), 5_000);
  }
}

export const app = new App();

/** Re-renders the calling component whenever the app or its messenger changes. */
export function useApp(): App {
  const [, setTick] = useState(0);
  useEffect(() => {
    const off = app.subscribe(() => setTick((n) => n + 1));
    return () => void off();
  }, []);
  return app;
}
