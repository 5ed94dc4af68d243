import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { app, useApp } from './app';
import { navigate, onLinkClick, usePath } from './router';
import { ConversationsScreen } from './screens/ConversationsScreen';
import { ConversationView } from './screens/ConversationView';
import { CrisisLinesDialog } from './screens/CrisisLinesDialog';
import { EnrolScreen } from './screens/EnrolScreen';
import { LockScreen } from './screens/LockScreen';
import { NewConversationScreen } from './screens/NewConversationScreen';
import { SettingsScreen } from './screens/SettingsScreen';

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
        <button type="button" class="icon" aria-label="Lock now" title="Lock now" onClick={() => app.lock()}>
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
          <button type="button" onClick={() => app.messenger?.reconnect()}>
            Use here
          </button>
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

/** Administration is loaded on demand: only administrators use it (first-load budget). */
function LazyAdminScreen() {
  const [screen, setScreen] = useState<(() => JSX.Element) | undefined>();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    import('./screens/AdminScreen').then(
      (m) => setScreen(() => m.AdminScreen),
      () => setFailed(true),
    );
  }, []);
  if (screen) {
    const AdminScreen = screen;
    return <AdminScreen />;
  }
  return (
    <main>
      <h1>Administration</h1>
      {failed ? <p role="alert">Administration could not be loaded. Check the connection and try again.</p> : <p class="muted">Loading…</p>}
    </main>
  );
}

function Screen({ path }: { path: string }) {
  if (path === '/new') return <NewConversationScreen />;
  if (path.startsWith('/c/')) return <ConversationView group={path.slice(3)} />;
  if (path === '/admin') return <LazyAdminScreen />;
  if (path === '/settings') return <SettingsScreen />;
  return <ConversationsScreen />;
}

export function App() {
  useApp();
  const path = usePath();
  const [crisis, setCrisis] = useState(false);
  useEffect(() => {
    if (app.phase === 'ready' && path === '/enrol') navigate('/', true);
  }, [path, app.phase]);
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
