//! A crisis-team member's own card (Settings and `/ready`, where a readiness check's notification
//! opens): their teams, whether pages reach them and what to fix, the big "I can get pages"
//! button, "inside the perimeter until", and — for those who are not peer supporters, who have it
//! in "My shifts" — the available / busy / off switch (one switch across every team).

import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { SwitchState } from '../api';
import { app } from '../app';
import type { MyOnCall } from '../crisisTeam';
import { insideUntilFrom, myReadinessWords } from '../readiness';
import { onLinkClick } from '../router';
import { confirmReady, myOnCall, setMyOnCall } from '../workflows/readiness';
import { switchLabel, when } from './teamFormat';
import { useAction } from './useAction';

const SWITCHES: SwitchState[] = ['available', 'busy', 'off'];

/** The answer to a change, with the readiness shown before if the answer has none. */
const keepReadiness = (next: MyOnCall, before: MyOnCall): MyOnCall => ({ ...next, readiness: next.readiness ?? before.readiness });

/** `onNone`: what shows for someone on no crisis team (nothing, by default). */
export function MyReadinessCard({ onNone = null }: { onNone?: ComponentChildren }) {
  const [me, setMe] = useState<MyOnCall | undefined>();
  const [loaded, setLoaded] = useState(false);
  const [until, setUntil] = useState('');
  const { busy, run, messages } = useAction();
  useEffect(() => {
    void run(async () => {
      setMe(await myOnCall());
      setLoaded(true);
    });
  }, []);
  if (!loaded) return <>{messages}</>;
  // Someone who was on a team keeps their switch record: no teams is none.
  if (!me || me.teams.length === 0) return <>{onNone}</>;
  const supporter = app.messenger?.creds.roles.includes('peer_supporter');
  const r = me.readiness;
  const inside = me.inside_until && me.inside_until > Date.now() ? me.inside_until : undefined;
  return (
    <section class="card my-readiness" aria-labelledby="my-readiness-title">
      <h2 id="my-readiness-title">Crisis team pages</h2>
      <ul class="records">
        {me.teams.map((t) => (
          <li key={t.id}>
            <span class="name">{t.name}</span>
            <span class="muted">
              Tier {t.tier} · {t.role} · {t.on_call ? 'on call now' : 'not on call now'}
            </span>
          </li>
        ))}
      </ul>
      {messages}
      {r && (
        <>
          <p class={r.reachable ? 'badge ok' : 'badge missing'}>{myReadinessWords(r.status)}</p>
          {r.fix && <p>{r.fix}</p>}
          {r.confirmed_at && <p class="muted">Last confirmed {when(r.confirmed_at)}.</p>}
        </>
      )}
      <button
        type="button"
        class="big"
        disabled={busy}
        onClick={() =>
          run(async () => {
            const readiness = await confirmReady();
            setMe({ ...me, readiness });
          }, 'Thank you: the team’s coordinators see that pages reach you.')
        }
      >
        I can get pages
      </button>

      {!supporter ? (
        <fieldset>
          <legend>My availability</legend>
          {SWITCHES.map((s) => (
            <label key={s} class="check">
              <input
                type="radio"
                name="crisis-switch"
                checked={me.switch === s}
                disabled={busy}
                onChange={() => {
                  const before = me;
                  setMe({ ...me, switch: s }); // shown at once; put back if refused
                  void run(async () => {
                    try {
                      setMe(keepReadiness(await setMyOnCall({ switch: s }), before));
                    } catch (e) {
                      setMe(before);
                      throw e;
                    }
                  }, `You are ${switchLabel(s).toLowerCase()}.`);
                }}
              />
              {switchLabel(s)}
            </label>
          ))}
        </fieldset>
      ) : (
        <p>
          You are {switchLabel(me.switch).toLowerCase()}: set it in{' '}
          <a href="/shifts" onClick={onLinkClick}>
            My shifts
          </a>
          .
        </p>
      )}

      <h3>Inside the perimeter</h3>
      {inside ? (
        <>
          <p>
            You are inside until {when(inside)}: pages go to others first, and to you when you come out if the team is still short.
          </p>
          <button type="button" class="secondary" disabled={busy} onClick={() => run(async () => setMe(keepReadiness(await setMyOnCall({ inside_until: null }), me)), 'You are out.')}>
            I am out
          </button>
        </>
      ) : (
        <>
          <p class="muted">Going in without your phone? Say until when, and pages go to others first.</p>
          <label for="inside-until">Inside until</label>
          <input id="inside-until" type="time" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
          <button
            type="button"
            class="secondary"
            disabled={busy || !until}
            onClick={() =>
              run(async () => {
                const at = insideUntilFrom(until, Date.now());
                if ('error' in at) throw new Error(at.error);
                setMe(keepReadiness(await setMyOnCall({ inside_until: at.at }), me));
                setUntil('');
              }, 'Saved.')
            }
          >
            I am going inside
          </button>
        </>
      )}
    </section>
  );
}
