//! "Peer support team" for coordinators, a list plus detail views: the list (who is on call this
//! week, supporters, rotations), a supporter, a rotation, "Add to the team" and "New rotation",
//! each at its own path under `/team` (teamRoutes.ts). Loads the team once and keeps it across
//! the views; each action answers with the team as it is now.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { usePath } from '../router';
import { addOverride, createRotation, deleteOverride, deleteRotation, loadTeam, type Team } from '../workflows/team';
import { AddSupporterView } from './AddSupporterView';
import { CrisisTeamsScreen } from './CrisisTeamsScreen';
import { NewRotationView } from './NewRotationView';
import { RotationDetail } from './RotationDetail';
import { SupporterDetail } from './SupporterDetail';
import { TeamList } from './TeamList';
import { Gone, type Schedule, type TeamViewProps } from './teamParts';
import { restoreList, rotationPath, TEAM, teamView } from './teamRoutes';
import { useAction } from './useAction';
import './team.css';

/** A new view starts at the top with focus on its heading; the list (`list`) comes back as it was left. */
export function useViewChange(path: string, list = TEAM) {
  const first = useRef(true);
  // Before the new view is painted, so it never shows at the old scroll position.
  useLayoutEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    if (path === list) {
      restoreList();
    } else {
      window.scrollTo(0, 0);
      document.querySelector<HTMLElement>('main h1')?.focus({ preventScroll: true });
    }
  }, [path]);
}

/** `/team/…`, and the crisis teams (`/crisis-teams/…`), which come in this chunk. */
export function TeamScreen() {
  return usePath().startsWith('/crisis-teams') ? <CrisisTeamsScreen /> : <PeerSupportTeamScreen />;
}

function PeerSupportTeamScreen() {
  const path = usePath();
  const [team, setTeam] = useState<Team>({ roster: [], people: [], rotations: [], overrides: [] });
  const [loaded, setLoaded] = useState(false);
  const { busy, run, messages } = useAction();
  // The path an action finished on: its alert or status shows on that view only.
  const [shownOn, setShownOn] = useState(path);
  const act = async (fn: () => Promise<unknown>, ok = '') => {
    await run(fn, ok);
    setShownOn(location.pathname);
  };
  useEffect(() => {
    void act(async () => {
      setTeam(await loadTeam());
      setLoaded(true);
    });
  }, []);
  useViewChange(path);

  const props: TeamViewProps = { team, loaded, busy, act, setTeam, messages: shownOn === path ? messages : null };
  const schedule: Schedule = {
    rotations: team.rotations,
    overrides: team.overrides,
    members: team.roster.map((s) => ({ account: s.account, display_name: s.display_name, warning: s.training_current ? undefined : 'training missing' })),
    list: TEAM,
    rotationPath,
    defaultName: 'Peer support on call',
    createRotation: async (body) => {
      const { team: next, rotation } = await createRotation(body);
      setTeam(next);
      return rotation;
    },
    deleteRotation: async (id) => {
      const next = await deleteRotation(id);
      return () => setTeam(next);
    },
    addOverride: async (body) => setTeam(await addOverride(body)),
    deleteOverride: async (id) => setTeam(await deleteOverride(id)),
  };
  const view = teamView(path);
  switch (view.kind) {
    case 'list':
      return <TeamList {...props} />;
    case 'add':
      return <AddSupporterView {...props} />;
    case 'new-rotation':
      return <NewRotationView schedule={schedule} {...props} />;
    case 'supporter':
      return <SupporterDetail key={view.account} account={view.account} {...props} />;
    case 'rotation':
      return <RotationDetail key={view.id} id={view.id} schedule={schedule} {...props} />;
    case 'missing':
      return <Gone title="Peer support team" loaded text="There is nothing here." messages={props.messages} />;
  }
}
