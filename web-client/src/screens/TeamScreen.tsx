//! "Peer support team" for coordinators, a list plus detail views: the list (who is on call this
//! week, supporters, rotations), a supporter, a rotation, "Add to the team" and "New rotation",
//! each at its own path under `/team` (teamRoutes.ts). Loads the team once and keeps it across
//! the views; each action answers with the team as it is now.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { usePath } from '../router';
import { loadTeam, type Team } from '../workflows/team';
import { AddSupporterView } from './AddSupporterView';
import { NewRotationView } from './NewRotationView';
import { RotationDetail } from './RotationDetail';
import { SupporterDetail } from './SupporterDetail';
import { TeamList } from './TeamList';
import { Gone, type TeamViewProps } from './teamParts';
import { restoreList, TEAM, teamView } from './teamRoutes';
import { useAction } from './useAction';
import './team.css';

/** A new view starts at the top with focus on its heading; the list comes back as it was left. */
function useViewChange(path: string) {
  const first = useRef(true);
  // Before the new view is painted, so it never shows at the old scroll position.
  useLayoutEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    if (path === TEAM) {
      restoreList();
    } else {
      window.scrollTo(0, 0);
      document.querySelector<HTMLElement>('main h1')?.focus({ preventScroll: true });
    }
  }, [path]);
}

export function TeamScreen() {
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
  const view = teamView(path);
  switch (view.kind) {
    case 'list':
      return <TeamList {...props} />;
    case 'add':
      return <AddSupporterView {...props} />;
    case 'new-rotation':
      return <NewRotationView {...props} />;
    case 'supporter':
      return <SupporterDetail key={view.account} account={view.account} {...props} />;
    case 'rotation':
      return <RotationDetail key={view.id} id={view.id} {...props} />;
    case 'missing':
      return <Gone title="Peer support team" loaded text="There is nothing here." messages={props.messages} />;
  }
}
