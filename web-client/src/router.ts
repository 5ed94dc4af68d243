//! Paths as routes (History API): `/`, `/enrol`, `/new`, `/c/<group>`, `/admin`, `/settings`,
//! `/reach-out`, `/requests`, `/shifts`, `/team` and its views (`/team/…`), `/crisis-teams` and
//! its views (`/crisis-teams/…`), `/ready`, `/declare`,
//! `/incidents` and `/incidents/<id>`, `/debriefs`, `/debriefs/new` and `/debriefs/<id>`; in-app links and the
//! current path as a hook.

import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();

/** `state` is kept with the history entry (`history.state`), also across a reload. */
export function navigate(path: string, replace = false, state: unknown = null): void {
  if (path === location.pathname + location.hash) return;
  if (replace) history.replaceState(state, '', path);
  else history.pushState(state, '', path);
  for (const fn of listeners) fn();
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

/** A link that navigates in-app (with `state`, see `navigate`); modified clicks keep the browser's behaviour. */
export function onLinkClick(e: MouseEvent, state: unknown = null): void {
  const a = e.currentTarget as HTMLAnchorElement;
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href') ?? '/', false, state);
}
