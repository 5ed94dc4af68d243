//! "Crisis teams" for coordinators, in the shape of "Peer support team": the list of teams, a
//! team's page (who is on call this week, the readiness board, members by tier, the quorum policy,
//! rotations) and its views, each at its own path (crisisRoutes.ts). Loads the team open, with the
//! directory and its readiness board, once, and keeps them across its views. Loaded with the peer
//! support team's screens (TeamScreen.tsx), whose views it shares.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Person } from '../api';
import type { CrisisTeam, CrisisTeamSummary, TeamReadiness } from '../crisisTeam';
import { usePath } from '../router';
import {
  addOverride,
  createRotation,
  deleteOverride,
  deleteRotation,
  listTeams,
  loadPeople,
  loadReadiness,
  loadTeam,
} from '../workflows/crisisTeams';
import type { CrisisViewProps } from './crisisViews';
import { CrisisTeamList, NewTeamView } from './CrisisTeamList';
import { CrisisTeamPage } from './CrisisTeamPage';
import { AddMemberView, MemberDetail, PolicyView } from './CrisisMemberViews';
import { NewRotationView } from './NewRotationView';
import { RotationDetail } from './RotationDetail';
import { Gone, type Schedule } from './teamParts';
import { CRISIS_TEAMS, crisisRotationPath, crisisTeamPath, crisisView, teamOf } from './crisisRoutes';
import { restoreList } from './teamRoutes';
import { useAction } from './useAction';
import './team.css';


/** A deeper view starts at the top with focus on its heading; going back up, the page comes back as it was left. */
function useViewChange(path: string) {
  const last = useRef(path);
  useLayoutEffect(() => {
    const before = last.current;
    last.current = path;
    if (before === path) return;
    if (before.startsWith(path + '/')) {
      restoreList();
    } else {
      window.scrollTo(0, 0);
      document.querySelector<HTMLElement>('main h1')?.focus({ preventScroll: true });
    }
  }, [path]);
}

export function CrisisTeamsScreen() {
  const path = usePath();
  const view = crisisView(path);
  const teamId = teamOf(view);
  const [teams, setTeams] = useState<CrisisTeamSummary[]>([]);
  const [listLoaded, setListLoaded] = useState(false);
  const [team, setTeam] = useState<CrisisTeam | undefined>();
  const [people, setPeople] = useState<Person[]>([]);
  const [readiness, setReadiness] = useState<TeamReadiness | undefined>();
  const [loadedId, setLoadedId] = useState<string | undefined>();
  const { busy, run, messages } = useAction();
  const [shownOn, setShownOn] = useState(path);
  const act = async (fn: () => Promise<unknown>, ok = '') => {
    await run(fn, ok);
    setShownOn(location.pathname);
  };
  const reloadList = async () => {
    setTeams(await listTeams());
    setListLoaded(true);
  };
  useEffect(() => {
    // Quietly: what the last action said ("Team deleted.") stays; only a failure is said.
    if (view.kind === 'list') void reloadList().catch((e) => act(() => Promise.reject(e)));
  }, [view.kind === 'list']);
  useEffect(() => {
    if (!teamId || teamId === loadedId) return;
    // A team just created is shown at once, and "Team created." stays while the rest loads.
    const known = team?.id === teamId ? team : undefined;
    if (!known) setTeam(undefined);
    setReadiness(undefined);
    const load = async () => {
      const [t, p] = await Promise.all([known ?? loadTeam(teamId), people.length ? Promise.resolve(people) : loadPeople()]);
      setTeam(t);
      setPeople(p);
      setLoadedId(teamId);
      setReadiness(await loadReadiness(teamId));
    };
    if (known) void load().catch((e) => act(() => Promise.reject(e)));
    else void act(load);
  }, [teamId]);
  useViewChange(path);

  const props: CrisisViewProps = {
    team: team && team.id === teamId ? team : undefined,
    people,
    readiness,
    loaded: loadedId === teamId,
    busy,
    act,
    setTeam,
    setReadiness,
    reloadList,
    messages: shownOn === path ? messages : null,
  };
  const shown = props.team;
  const schedule: Schedule | undefined = shown && {
    rotations: shown.rotations,
    overrides: shown.overrides,
    members: shown.members.map((m) => ({ account: m.account, display_name: m.display_name, warning: m.switch === 'available' ? undefined : m.switch })),
    list: crisisTeamPath(shown.id),
    rotationPath: (id) => crisisRotationPath(shown.id, id),
    defaultName: `${shown.name} on call`,
    createRotation: async (body) => {
      const { team: next, rotation } = await createRotation(shown.id, body);
      setTeam(next);
      return rotation;
    },
    deleteRotation: async (id) => {
      const next = await deleteRotation(shown.id, id);
      return () => setTeam(next);
    },
    addOverride: async (body) => setTeam(await addOverride(shown.id, body)),
    deleteOverride: async (id) => setTeam(await deleteOverride(shown.id, id)),
  };
  const gone = (title: string) => <Gone title={title} loaded={props.loaded} text="This team is not there any more." messages={props.messages} list={CRISIS_TEAMS} />;

  switch (view.kind) {
    case 'list':
      return <CrisisTeamList teams={teams} loaded={listLoaded} messages={props.messages} />;
    case 'new':
      return <NewTeamView {...props} />;
    case 'team':
      return <CrisisTeamPage {...props} />;
    case 'add':
      return <AddMemberView {...props} />;
    case 'policy':
      return <PolicyView {...props} />;
    case 'member':
      return <MemberDetail key={view.account} account={view.account} {...props} />;
    case 'new-rotation':
      return schedule ? <NewRotationView schedule={schedule} {...props} /> : gone('New rotation');
    case 'rotation':
      return schedule ? <RotationDetail key={view.id} id={view.id} schedule={schedule} {...props} /> : gone('Rotation');
    case 'missing':
      return <Gone title="Crisis teams" loaded text="There is nothing here." messages={props.messages} list={CRISIS_TEAMS} />;
  }
}
