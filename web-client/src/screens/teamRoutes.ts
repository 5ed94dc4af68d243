//! Where the "Peer support team" views live: the list at `/team`, and `/team/add`,
//! `/team/new-rotation`, `/team/supporters/<account>`, `/team/rotations/<id>`. A view opened from
//! the list has the list as the history entry before it, so "Back" is the browser's back there;
//! the list's scroll position and the row that was opened come back with it. A crisis team's page
//! and its views (crisisRoutes.ts) go back and forth the same way.

import { navigate, onLinkClick } from '../router';

export const TEAM = '/team';
export const ADD_PATH = '/team/add';
export const NEW_ROTATION_PATH = '/team/new-rotation';
export const supporterPath = (account: string) => `/team/supporters/${encodeURIComponent(account)}`;
export const rotationPath = (id: string) => `/team/rotations/${encodeURIComponent(id)}`;

export type TeamView =
  | { kind: 'list' }
  | { kind: 'add' }
  | { kind: 'new-rotation' }
  | { kind: 'supporter'; account: string }
  | { kind: 'rotation'; id: string }
  | { kind: 'missing' };

function decoded(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

export function teamView(path: string): TeamView {
  if (path === TEAM || path === TEAM + '/') return { kind: 'list' };
  if (path === ADD_PATH) return { kind: 'add' };
  if (path === NEW_ROTATION_PATH) return { kind: 'new-rotation' };
  const [, , what, id, ...rest] = path.split('/');
  const value = id && rest.length === 0 ? decoded(id) : undefined;
  if (value && what === 'supporters') return { kind: 'supporter', account: value };
  if (value && what === 'rotations') return { kind: 'rotation', id: value };
  return { kind: 'missing' };
}

/** Kept with a history entry opened from the list. */
const FROM_LIST = { teamList: true };
const fromList = () => (history.state as { teamList?: boolean } | null)?.teamList === true;

let listScroll = 0;
let opened = '';

/** A row or button of the list that opens a view. */
export function onOpenView(e: MouseEvent): void {
  listScroll = window.scrollY;
  opened = (e.currentTarget as HTMLAnchorElement).getAttribute('href') ?? '';
  onLinkClick(e, FROM_LIST);
}

/** Shows `path` in place of the current view (after adding someone, after creating a rotation). */
export function replaceView(path: string): void {
  navigate(path, true, history.state);
}

/** Back to the list (`list`: the peer support team's, or a crisis team's page); resolves once it is the current route. */
export function backToList(list = TEAM): Promise<void> {
  if (!fromList()) {
    navigate(list, true);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    window.addEventListener('popstate', () => resolve(), { once: true });
    history.back();
  });
}

/** On coming back to the list: where it was scrolled to, and focus on the row that was opened. */
export function restoreList(): void {
  window.scrollTo(0, listScroll);
  const row = opened ? [...document.querySelectorAll<HTMLAnchorElement>('main a[href]')].find((a) => a.getAttribute('href') === opened) : undefined;
  row?.focus({ preventScroll: true });
}
