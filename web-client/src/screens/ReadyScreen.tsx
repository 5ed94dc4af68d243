//! `/ready`, where a readiness check's notification opens: the member's own readiness card.

import { MyReadinessCard } from './MyReadinessCard';
import './team.css';

export function ReadyScreen() {
  return (
    <main>
      <h1 tabIndex={-1}>Can pages reach you?</h1>
      <MyReadinessCard onNone={<p class="muted">You are on no crisis team, so no pages come to you.</p>} />
    </main>
  );
}
