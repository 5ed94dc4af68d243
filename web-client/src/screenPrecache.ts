//! The screens only some devices open, and which devices the service worker precaches them on.
//! Every other file of the build is precached on every device at install (the shell). These are
//! fetched on a device whose roles open them (the app tells the worker once unlocked), when a page
//! arrives (Incidents), or at their first opening. vite.config.ts finds each one's files in the
//! build; sw.ts precaches them; App.tsx asks. A phone's Cache Storage is readable without the PIN
//! (docs/privacy.md, "A seized phone"): what is here may show a device's roles, nothing about
//! support. "Talk to a peer" and Debriefings (anyone may be invited to one) stay in the shell.

/** A screen loaded on demand (App.tsx `lazyScreen`) that not every device can open. */
export interface OnDemandScreen {
  /** The module App.tsx imports on demand, from web-client/. */
  module: string;
  /** The roles whose devices precache it (the app shows them the way to it). */
  roles: string[];
}

export const ON_DEMAND_SCREENS: Record<string, OnDemandScreen> = {
  admin: { module: 'src/screens/AdminScreen.tsx', roles: ['admin'] },
  team: { module: 'src/screens/TeamScreen.tsx', roles: ['coordinator'] },
  report: { module: 'src/screens/ReportScreen.tsx', roles: ['coordinator'] },
  // Also any crisis team member: the worker fetches it when a page arrives.
  incidents: { module: 'src/screens/IncidentsScreen.tsx', roles: ['coordinator', 'supervisor'] },
  declare: { module: 'src/screens/DeclareScreen.tsx', roles: ['coordinator', 'supervisor'] },
  requests: { module: 'src/screens/SupportRequestsScreen.tsx', roles: ['coordinator', 'peer_supporter'] },
  shifts: { module: 'src/screens/ShiftsScreen.tsx', roles: ['coordinator', 'peer_supporter'] },
};

/** The on-demand screens a device with `roles` can open. */
export function screensFor(roles: readonly string[]): string[] {
  return Object.entries(ON_DEMAND_SCREENS)
    .filter(([, s]) => s.roles.some((r) => roles.includes(r)))
    .map(([name]) => name);
}

/** The message the app posts to the service worker: precache these screens (names above). */
export interface PrecacheScreensMessage {
  kind: 'precache-screens';
  screens: string[];
}

/** Asks the active service worker to precache `screens` (nothing without a service worker). */
export function askToPrecache(screens: string[]): void {
  if (screens.length === 0 || !('serviceWorker' in navigator)) return;
  const message: PrecacheScreensMessage = { kind: 'precache-screens', screens };
  navigator.serviceWorker.ready.then(
    (reg) => reg.active?.postMessage(message),
    () => undefined,
  );
}
