//! "Settings": notifications (and turning them on), a crisis-team member's readiness card, how
//! soon the app locks when idle, and who this device is signed in as.

import { app, LOCK_CHOICES, useApp } from '../app';
import { enableNotifications, setLockAfter } from '../workflows/device';
import { usePath } from '../router';
import { MyReadinessCard } from './MyReadinessCard';
import { ReadyScreen } from './ReadyScreen';
import { roleLabel } from './roles';
import './team.css';

const PUSH_TEXT = {
  enabled: 'Notifications are on for this device.',
  unavailable: 'Notifications are unavailable on this browser',
  unknown: 'Notifications are not set up yet.',
};

/** Settings, and `/ready` (a readiness check's notification opens it), which comes in this chunk. */
export function SettingsScreen() {
  return usePath() === '/ready' ? <ReadyScreen /> : <Settings />;
}

function Settings() {
  useApp();
  const m = app.messenger!;
  return (
    <main>
      <h1>Settings</h1>
      <section class="card" aria-labelledby="notif-title">
        <h2 id="notif-title">Notifications</h2>
        <p>{PUSH_TEXT[app.push]}</p>
        {app.push !== 'enabled' && (
          <button type="button" class="secondary" onClick={() => void enableNotifications()}>
            Turn on notifications
          </button>
        )}
        <p class="muted">Notifications never show message text: they only say there is something new.</p>
      </section>
      <MyReadinessCard />
      <section class="card" aria-labelledby="lock-title">
        <h2 id="lock-title">App lock</h2>
        <label for="lock-after">Lock after</label>
        <select id="lock-after" value={String(app.lockAfterMinutes)} onChange={(e) => setLockAfter(Number(e.currentTarget.value))}>
          {LOCK_CHOICES.map((n) => (
            <option key={n} value={String(n)}>
              {n === 60 ? '1 hour' : n === 1 ? '1 minute' : `${n} minutes`} of inactivity
            </option>
          ))}
        </select>
      </section>
      <section class="card" aria-labelledby="device-title">
        <h2 id="device-title">This device</h2>
        <p>
          Signed in as <strong>{m.creds.display_name}</strong> ({m.creds.roles.map(roleLabel).join(', ')}).
        </p>
      </section>
    </main>
  );
}
