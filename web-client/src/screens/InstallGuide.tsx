//! "Install Sallyport": in iOS Safari outside the Home Screen (where notifications do not
//! arrive), the steps to add it there; "Not now" hides it for good.

import { useState } from 'preact/hooks';

const KEY = 'sallyport.installGuideDismissed';

/** iOS Safari delivers notifications only to apps added to the Home Screen. */
export function needsInstallGuide(ua = navigator.userAgent, standalone = (navigator as { standalone?: boolean }).standalone): boolean {
  const ios = /iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && 'ontouchend' in document);
  return ios && standalone === false;
}

export function InstallGuide() {
  const [hidden, setHidden] = useState(() => localStorage.getItem(KEY) === '1' || !needsInstallGuide());
  if (hidden) return null;
  return (
    <section class="card" aria-labelledby="install-title">
      <h2 id="install-title">Install Sallyport</h2>
      <p>To get notifications on this iPhone or iPad, add Sallyport to your Home Screen:</p>
      <ol>
        <li>Tap the Share button (the square with an arrow) in Safari.</li>
        <li>Choose “Add to Home Screen”, then “Add”.</li>
        <li>Open Sallyport from its new Home Screen icon.</li>
      </ol>
      <button
        type="button"
        class="secondary"
        onClick={() => {
          localStorage.setItem(KEY, '1');
          setHidden(true);
        }}
      >
        Not now
      </button>
    </section>
  );
}
