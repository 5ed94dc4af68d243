//! A list of people from the directory with a checkbox each (invitees, facilitators), with a
//! filter by name for long directories.

import { useState } from 'preact/hooks';
import type { Person } from '../api';

export function PeoplePicker({ label, people, chosen, onChange }: { label: string; people: Person[]; chosen: string[]; onChange: (accounts: string[]) => void }) {
  const [filter, setFilter] = useState('');
  const shown = people.filter((p) => chosen.includes(p.account) || p.display_name.toLowerCase().includes(filter.trim().toLowerCase()));
  const id = label.toLowerCase().replace(/\W+/g, '-');
  return (
    <fieldset>
      <legend>{label}</legend>
      {people.length > 8 && (
        <label class="field">
          Find by name
          <input type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        </label>
      )}
      <ul class="picker" aria-label={label}>
        {shown.map((p) => (
          <li key={p.account}>
            <label>
              <input
                type="checkbox"
                name={id}
                checked={chosen.includes(p.account)}
                onChange={(e) => onChange(e.currentTarget.checked ? [...chosen, p.account] : chosen.filter((a) => a !== p.account))}
              />
              <span>
                {p.display_name}
                {p.roles.includes('clinician') ? ' (clinician)' : p.roles.includes('peer_supporter') ? ' (peer supporter)' : ''}
              </span>
            </label>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}
