//! The "Crisis lines" dialog behind the header's button on every screen (also locked, also
//! offline): the lines as call and text links, and Close.

import { useEffect, useRef } from 'preact/hooks';
import { useApp } from '../app';
import { CrisisLineList } from './CrisisLineList';

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
