//! "New rotation" for a team (through `Schedule`): name, members in the order they take turns,
//! hand-off time and time zone, period and start date; once created, its page opens.

import { useState } from 'preact/hooks';
import { BackToTeam, type ScheduleViewProps } from './teamParts';
import { day, deviceZone } from './teamFormat';
import { replaceView } from './teamRoutes';

export function NewRotationView({ schedule, busy, act, messages }: ScheduleViewProps) {
  const [name, setName] = useState(schedule.defaultName);
  const [members, setMembers] = useState<string[]>([]);
  const [handoff, setHandoff] = useState('08:00');
  const [zone, setZone] = useState(deviceZone);
  const [period, setPeriod] = useState('7');
  const [startDate, setStartDate] = useState(() => day(Date.now() - 86400_000));
  const names = new Map(schedule.members.map((s) => [s.account, s.display_name]));

  return (
    <main>
      <BackToTeam list={schedule.list} />
      <h1 tabIndex={-1}>New rotation</h1>
      {messages}
      <label for="rot-name">Rotation name</label>
      <input id="rot-name" type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <fieldset>
        <legend>Members, in order</legend>
        {schedule.members.length === 0 && <p class="muted">Add people to the team first.</p>}
        {schedule.members.map((s) => (
          <label key={s.account} class="check">
            <input
              type="checkbox"
              checked={members.includes(s.account)}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setMembers((list) => (on ? [...list, s.account] : list.filter((a) => a !== s.account)));
              }}
            />
            {s.display_name}
            {s.warning && <span class="muted"> ({s.warning})</span>}
          </label>
        ))}
      </fieldset>
      {members.length > 1 && <p class="muted">In turn: {members.map((a) => names.get(a) ?? a).join(', then ')}.</p>}
      {/* Two fields a row where they fit, so the form fits a phone's screen. */}
      <div class="pair">
        <div>
          <label for="handoff">Hand-off time</label>
          <input id="handoff" type="time" value={handoff} onInput={(e) => setHandoff(e.currentTarget.value)} />
        </div>
        <div>
          <label for="start-date">Start date</label>
          <input id="start-date" type="date" value={startDate} onInput={(e) => setStartDate(e.currentTarget.value)} />
        </div>
        <div>
          <label for="period">Period</label>
          <select id="period" value={period} onChange={(e) => setPeriod(e.currentTarget.value)}>
            <option value="1">Daily</option>
            <option value="7">Weekly</option>
            <option value="14">Every 2 weeks</option>
          </select>
        </div>
        <div>
          <label for="zone">Time zone</label>
          <input id="zone" type="text" value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
        </div>
      </div>
      <button
        type="button"
        disabled={busy || members.length === 0}
        onClick={() =>
          act(async () => {
            const body = { name, members, handoff, time_zone: zone, period_days: Number(period), start_date: startDate };
            const rotation = await schedule.createRotation(body);
            replaceView(schedule.rotationPath(rotation.id));
          }, 'Rotation created.')
        }
      >
        Create rotation
      </button>
    </main>
  );
}
