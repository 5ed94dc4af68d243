//! The entry: registers /sw.js, renders <App>, and counts taps and keys as activity for the
//! inactivity lock (a page coming back after a long sleep checks first).

import { render } from 'preact';
import { App } from './App';
import { app } from './app';
import './styles.css';

// Before any tap is counted as activity, a page coming back after a long sleep locks.
document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && app.checkIdle());
for (const type of ['pointerdown', 'keydown', 'touchstart']) {
  document.addEventListener(type, () => (app.checkIdle(), app.activity()), { capture: true, passive: true });
}

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((e) => console.warn('sallyport: no service worker', e));
}

render(<App />, document.getElementById('app')!);
void app.init();
