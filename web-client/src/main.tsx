import { render } from 'preact';
import { App } from './App';
import { app } from './app';
import './styles.css';

for (const type of ['pointerdown', 'keydown', 'touchstart']) document.addEventListener(type, () => app.activity(), { passive: true });

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((e) => console.warn('sallyport: no service worker', e));
}

render(<App />, document.getElementById('app')!);
void app.init();
