//! The crisis lines as call and text links, from the server's config (cached for offline use) or
//! the built-in defaults; in the Crisis lines dialog and on the reach-out and waiting screens.

import { app, useApp } from '../app';
import { dialable } from '../config';

/** The crisis lines as call / text links (also shown on the reach-out screen for "now"). */
export function CrisisLineList() {
  useApp();
  return (
  <ul class="crisis-lines">
    {app.config.crisis_lines.map((line) => (
      <li key={line.name}>
        <p class="crisis-name">{line.name}</p>
        {line.description && <p class="muted">{line.description}</p>}
        <div class="crisis-actions">
          {line.call && (
            <a class="button" href={`tel:${dialable(line.call)}`}>
              Call {line.name}
              <span class="number"> ({line.call})</span>
            </a>
          )}
          {line.text && (
            <a class="button secondary" href={`sms:${dialable(line.text)}`}>
              Text {line.name}
              <span class="number"> ({line.text})</span>
            </a>
          )}
        </div>
      </li>
    ))}
  </ul>
  );
}
