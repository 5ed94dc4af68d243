//! The programme's follow-up days (`GET/PUT /v1/programme`, coordinators): how many days after an
//! incident the people involved get "How are you doing?".

import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../api';
import { parseFollowupDays } from '../debriefs';
import { followupDays, setFollowupDays } from '../workflows/debriefs';
import { useAction } from './useAction';

export function FollowupDaysSection() {
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const { busy, run, messages } = useAction();
  useEffect(() => {
    followupDays().then((d) => setText(d.join(', ')), (e) => setError(describeError(e)));
  }, []);
  const save = (e: Event) => {
    e.preventDefault();
    const days = parseFollowupDays(text);
    if (!days) return setError('Give 1 to 8 whole days from 1 to 365, separated by commas.');
    setError('');
    void run(async () => setText((await setFollowupDays(days)).join(', ')), 'Saved.');
  };
  return (
    <section class="card" aria-labelledby="followup-days-title">
      <h2 id="followup-days-title">Follow-ups</h2>
      <form onSubmit={save}>
        <label class="field">
          Days after an incident to ask “How are you doing?”
          <input type="text" name="followup-days" inputMode="numeric" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        {error && <p role="alert" class="error">{error}</p>}
        {messages}
        <button type="submit" class="secondary" disabled={busy}>
          Save follow-up days
        </button>
      </form>
    </section>
  );
}
