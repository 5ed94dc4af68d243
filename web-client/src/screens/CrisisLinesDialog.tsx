import { useEffect, useRef } from 'preact/hooks';
import { app, useApp } from '../app';
import { dialable } from '../config';

/** Crisis lines, one tap away on every screen; works offline (cached config or defaults). */
export function CrisisLinesDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  useApp();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="crisis-title" onClose={onClose} onCancel={onClose}>
      <h2 id="crisis-title">Crisis lines</h2>
      <p>Free and confidential. If you are in danger now, call 911.</p>
      <CrisisLineList />
      <button type="button" class="secondary" onClick={onClose}>
        Close
      </button>
    </dialog>
  );
}

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
