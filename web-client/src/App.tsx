//! The shell: the header (Crisis lines, Lock now), the connection banner, the nav, and the route →
//! screen table; screens other than the lock screen and the conversations load on demand.

import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { app, useApp } from './app';
import { navigate, onLinkClick, usePath } from './router';
import { refreshNames } from './workflows/conversations';
import { lock, takeConnectionBack } from './workflows/device';
import { ConversationsScreen } from './screens/ConversationsScreen';
import { ConversationView } from './screens/ConversationView';
import { CrisisLinesDialog } from './screens/CrisisLinesDialog';
import { LockScreen } from './screens/LockScreen';
import { askToPrecache, screensFor } from './screenPrecache';

function LockIcon() {
  return (
    <svg aria-hidden="true" width="24" height="24" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2">
      <rect x="5" y="11" width="14" height="10" rx="2" />
      <path d="M8 11V7a4 4 0 0 1 8 0v4" />
    </svg>
  );
}

function Header({ onCrisis }: { onCrisis: () => void }) {
  return (
    <header class="app-header">
      <div class="bar">
      <span class="brand">Sallyport</span>
      <button type="button" class="crisis" onClick={onCrisis}>
        Crisis lines
      </button>
      {app.phase === 'ready' && (
        <button type="button" class="icon" aria-label="Lock now" title="Lock now" onClick={() => lock()}>
          <LockIcon />
        </button>
      )}
      </div>
      {app.phase === 'ready' && <ConnectionStatus />}
    </header>
  );
}

/** Connection banner: a live region that is empty while connected. */
function ConnectionStatus() {
  const state = app.messenger?.connection;
  const [down, setDown] = useState(false);
  useEffect(() => {
    if (state === 'offline') setDown(true);
    if (state === 'online') setDown(false);
  }, [state]);
  const offline = down && (state === 'offline' || state === 'connecting');
  return (
    <>
      <div role="status" class={offline ? 'banner' : 'banner empty'}>
        {offline ? 'Offline — messages will be sent when you reconnect' : ''}
      </div>
      {state === 'superseded' && (
        <div class="banner">
          <p>Sallyport is open in another tab.</p>
          <button type="button" onClick={() => takeConnectionBack()}>
            Use here
          </button>
        </div>
      )}
      {app.messenger?.clockSkew && state !== 'online' && (
        <div class="banner" role="alert">
          This device’s clock is wrong, so Sallyport cannot connect. Set the date and time to automatic.
        </div>
      )}
      {state === 'revoked' && (
        <div class="banner" role="alert">
          This device has been revoked. Ask an administrator for a new invitation.
        </div>
      )}
    </>
  );
}

function Nav({ path }: { path: string }) {
  const item = (href: string, label: string) => (
    <a href={href} onClick={onLinkClick} aria-current={path === href ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <nav class="tabs" aria-label="Main">
      {item('/', 'Conversations')}
      {app.messenger?.isAdmin && item('/admin', 'Administration')}
      {item('/settings', 'Settings')}
    </nav>
  );
}

/**
 * A screen loaded on demand (route-based code splitting keeps the first load small); the service
 * worker precaches it on every device that can open it (screenPrecache.ts), so this works offline
 * too, and caches any other at its first opening.
 */
function lazyScreen(title: string, load: () => Promise<() => JSX.Element>) {
  let loaded: (() => JSX.Element) | undefined;
  return function LazyScreen() {
    const [screen, setScreen] = useState(() => loaded);
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      if (screen) return;
      load().then(
        (s) => {
          loaded = s;
          setScreen(() => s);
        },
        () => setFailed(true),
      );
    }, []);
    if (screen) {
      const Screen = screen;
      return <Screen />;
    }
    return (
      <main>
        <h1>{title}</h1>
        {failed ? <p role="alert">This screen could not be loaded. Check the connection and try again.</p> : <p class="muted">Loading…</p>}
      </main>
    );
  };
}

const AdminScreen = lazyScreen('Administration', () => import('./screens/AdminScreen').then((m) => m.AdminScreen));
const SettingsScreen = lazyScreen('Settings', () => import('./screens/SettingsScreen').then((m) => m.SettingsScreen));
const NewConversationScreen = lazyScreen('New conversation', () => import('./screens/NewConversationScreen').then((m) => m.NewConversationScreen));
const ReachOutScreen = lazyScreen('Talk to a peer', () => import('./screens/ReachOutScreen').then((m) => m.ReachOutScreen));
const SupportRequestsScreen = lazyScreen('Support requests', () => import('./screens/SupportRequestsScreen').then((m) => m.SupportRequestsScreen));
const TeamScreen = lazyScreen('Peer support team', () => import('./screens/TeamScreen').then((m) => m.TeamScreen));
const ShiftsScreen = lazyScreen('My shifts', () => import('./screens/ShiftsScreen').then((m) => m.ShiftsScreen));
const DeclareScreen = lazyScreen('Declare a critical incident', () => import('./screens/DeclareScreen').then((m) => m.DeclareScreen));
const IncidentsScreen = lazyScreen('Incidents', () => import('./screens/IncidentsScreen').then((m) => m.IncidentsScreen));
const DebriefsScreen = lazyScreen('Debriefings', () => import('./screens/DebriefsScreen').then((m) => m.DebriefsScreen));
const ReportScreen = lazyScreen('Programme report', () => import('./screens/ReportScreen').then((m) => m.ReportScreen));
const EnrolScreen = lazyScreen('Enrol this device', () => import('./screens/EnrolScreen').then((m) => m.EnrolScreen));

function Screen({ path }: { path: string }) {
  if (path === '/new') return <NewConversationScreen />;
  if (path.startsWith('/c/')) return <ConversationView group={path.slice(3)} />;
  if (path === '/admin') return <AdminScreen />;
  // `/ready` (a member's readiness) comes with Settings, the crisis teams with the peer support
  // team (they share its views): no more entries here, so the first load stays as it was.
  if (path === '/settings' || path === '/ready') return <SettingsScreen />;
  if (path === '/reach-out') return <ReachOutScreen />;
  if (path === '/requests') return <SupportRequestsScreen />;
  if (path === '/team' || path.startsWith('/team/') || path.startsWith('/crisis-teams')) return <TeamScreen />;

  if (path === '/shifts') return <ShiftsScreen />;
  if (path === '/declare') return <DeclareScreen />;
  if (path === '/incidents' || path.startsWith('/incidents/')) return <IncidentsScreen />;
  if (path === '/debriefs' || path.startsWith('/debriefs/')) return <DebriefsScreen />;
  if (path === '/report') return <ReportScreen />;
  return <ConversationsScreen />;
}

export function App() {
  useApp();
  const path = usePath();
  // `/?crisis=1` (a follow-up notification's "Crisis lines") opens the crisis lines.
  const [crisis, setCrisis] = useState(() => {
    if (new URLSearchParams(location.search).get('crisis') !== '1') return false;
    history.replaceState(history.state, '', location.pathname);
    return true;
  });
  useEffect(() => {
    if (app.phase === 'ready' && path === '/enrol') navigate('/', true);
  }, [path, app.phase]);
  // Members' names come from the directory (credentials carry none): when online, and while one is missing.
  const online = app.phase === 'ready' && app.messenger?.connection === 'online';
  const unnamed = online && !!app.messenger?.hasUnnamedMembers();
  useEffect(() => {
    if (online) refreshNames();
  }, [online, unnamed]);
  // The screens this device's roles open, precached for offline use (again when the roles change).
  const screens = app.phase === 'ready' ? screensFor(app.messenger?.creds.roles ?? []).join() : '';
  useEffect(() => {
    if (screens) askToPrecache(screens.split(','));
  }, [screens]);
  let body;
  switch (app.phase) {
    case 'loading':
      body = <main aria-busy="true"><p class="muted">Opening Sallyport…</p></main>;
      break;
    case 'failed':
      body = <main><h1>Sallyport cannot start</h1><p role="alert">{app.failure}</p></main>;
      break;
    case 'enrol':
      body = <EnrolScreen />;
      break;
    case 'locked':
      body = <LockScreen />;
      break;
    case 'ready':
      body = <Screen path={path} />;
      break;
  }
  return (
    <div class="app">
      <Header onCrisis={() => setCrisis(true)} />
      {body}
      {app.phase === 'ready' && <Nav path={path} />}
      <CrisisLinesDialog open={crisis} onClose={() => setCrisis(false)} />
    </div>
  );
}
