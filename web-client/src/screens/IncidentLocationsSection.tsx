//! Administration → "Incident locations": the facility's places a supervisor chooses from when
//! declaring an incident (one a line), `PUT /v1/admin/incident-locations`.

import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../api';
import { incidentLocations, setIncidentLocations } from '../workflows/incidents';

export function IncidentLocationsSection() {
  const [text, setText] = useState('');
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  // The field waits for the saved list: text typed before it came would be replaced by it.
  const [loaded, setLoaded] = useState(false);
  useEffect(() => {
    incidentLocations()
      .then(
        (l) => setText(l.join('\n')),
        (e) => setError(describeError(e)),
      )
      .finally(() => setLoaded(true));
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setStatus('');
    setError('');
    try {
      const saved = await setIncidentLocations(text.split('\n').map((l) => l.trim()).filter(Boolean));
      setText(saved.join('\n'));
      setStatus(`${saved.length} location${saved.length === 1 ? '' : 's'} saved.`);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section aria-labelledby="locations-title" class="card">
      <h2 id="locations-title">Incident locations</h2>
      <form onSubmit={submit}>
        <label for="locations">Places a supervisor chooses from when declaring an incident, one a line</label>
        <textarea id="locations" rows={6} value={text} disabled={!loaded} onInput={(e) => setText(e.currentTarget.value)} />
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" disabled={!loaded}>
          Save locations
        </button>
        <p role="status">{status}</p>
      </form>
    </section>
  );
}
