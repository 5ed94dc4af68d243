//! "Safety code" inside a conversation: the digits to compare with the one other person (in person
//! or by phone) to rule out an impostor; worked out only when opened.

import { useState } from 'preact/hooks';
import { app } from '../app';

/** Compare these digits with the other person (in person or by phone) to rule out an impostor. */
export function SafetyCode({ group }: { group: string }) {
  const [code, setCode] = useState<string | null | undefined>();
  return (
    <details
      class="safety"
      onToggle={(e) => {
        if (e.currentTarget.open && code === undefined) setCode(app.messenger!.safetyCode(group));
      }}
    >
      <summary>Safety code</summary>
      {code ? (
        <>
          <p class="digits">{code}</p>
          <p class="muted">If the other person sees the same digits, no one is listening in.</p>
        </>
      ) : (
        <p class="muted">{code === null ? 'A safety code is shown for conversations between two people.' : ''}</p>
      )}
    </details>
  );
}
