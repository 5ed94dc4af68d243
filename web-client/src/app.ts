//! The app's state outside components: enrolment, lock and unlock, the running messenger, the
//! inactivity timer. Components read `app` and re-render on `useApp()`.

import { useEffect, useState } from 'preact/hooks';
import { enrol as enrolRequest, getMe, type ServerConfig, type Signer } from './api';
import { loadCore } from './core';
import { cachedConfig, refreshConfig } from './config';
import { getLockRecord, openDb, type Db } from './db';
import { createLock, unlock as unlockKey } from './lock';
import { Messenger, type Credentials } from './messenger';
import { enablePush, pushStatus, type PushStatus } from './push';

export type Phase = 'loading' | 'enrol' | 'locked' | 'ready' | 'failed';

export const LOCK_CHOICES = [1, 5, 15, 30, 60];
const LOCK_AFTER_KEY = 'sallyport.lockAfterMinutes';

class App {
  phase: Phase = 'loading';
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
      this.phase = record && (await this.db.get('meta', 'creds')) ? 'locked' : 'enrol';
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

  /** Redeems the invitation, sets the PIN, stores the sealed credentials and starts. */
  async enrol(code: string, displayName: string, pin: string): Promise<void> {
    const core = await loadCore();
    const db = this.db!;
    const keys = core.DeviceKeys.generate();
    try {
      const body: Parameters<typeof enrolRequest>[0] = { code, signing_key: keys.signingPublic, notification_key: keys.notificationPublic };
      if (displayName.trim()) body.display_name = displayName.trim();
      const r = await enrolRequest(body);
      const creds: Credentials = {
        server_url: location.origin,
        account: r.account,
        device: r.device,
        mailbox: r.mailbox,
        display_name: r.display_name,
        roles: r.roles,
        keys: JSON.parse(keys.toJson()),
      };
      const { record, key } = await createLock(pin);
      await Messenger.saveCredentials(db, key, creds);
      await db.put('meta', record, 'lock');
      await this.start(key);
    } finally {
      keys.free();
    }
  }

  /** False for a wrong PIN. */
  async unlock(pin: string): Promise<boolean> {
    const record = await getLockRecord(this.db!);
    if (!record) return false;
    const key = await unlockKey(record, pin);
    if (!key) return false;
    await this.start(key);
    return true;
  }

  private async start(key: CryptoKey): Promise<void> {
    const core = await loadCore();
    const m = await Messenger.open(core, this.db!, key);
    this.messenger = m;
    m.subscribe(() => this.changed());
    m.start();
    this.phase = 'ready';
    this.lastActivity = Date.now();
    this.watchIdle();
    this.changed();
    if (this.push === 'unknown') void this.enableNotifications();
    void this.refreshIdentity(m, key);
  }

  /** Roles and name change after enrolment (a coordinator adds someone to the team): take the
   *  server's current ones, and keep them sealed for offline starts. Offline, the saved ones stay. */
  private async refreshIdentity(m: Messenger, key: CryptoKey): Promise<void> {
    const signer = this.signer;
    if (!signer) return;
    try {
      const me = await getMe(signer);
      const same = me.display_name === m.creds.display_name && me.roles.join() === m.creds.roles.join();
      if (same || this.messenger !== m) return;
      m.creds.roles = me.roles;
      m.creds.display_name = me.display_name;
      await Messenger.saveCredentials(this.db!, key, m.creds);
      this.changed();
    } catch {
      // Offline or the server is unreachable: the saved roles serve until the next start.
    }
  }

  async enableNotifications(): Promise<void> {
    const signer = this.signer;
    if (!signer) return;
    const config = await refreshConfig();
    this.config = config;
    this.push = await enablePush(signer, config.vapid_public_key);
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
