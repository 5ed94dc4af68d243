//! Critical incidents (protocol §16), one function per user action: what the declare screen needs
//! (teams, locations, the last team used), declaring (the preview sealed with the client core to
//! every recipient device; the declaration kept sealed on the device until the server has it, and
//! sent again with the same id after a network error), the boards with their details opened,
//! answering and resolving, and the incident conversation (opened by the declaring device, which
//! adds responders as they answer `responding`). Only the lazy incident screens import this module.

import { ApiError, getDirectory, request, type Person, type Signer } from '../api';
import { app } from '../app';
import { fromBase64, randomId, toBase64 } from '../bytes';
import { loadCore } from '../core';
import { pageAad, parsePreview, previewBytes, type Answer, type Board, type Preview, type Severity } from '../incidents';
import { incidentConversationTitle, oneAtATime, stillToAdd } from '../incidentConversation';
import { trustedDevices } from './conversations';

export interface TeamSummary {
  id: string;
  name: string;
  members: number;
  on_call_now: number;
}

/** A declaration as the supervisor made it; `id` is chosen once, so a retry cannot page twice. */
export interface Declaration extends Preview {
  id: string;
  team: string;
  severity: Severity;
  test: boolean;
  /** A test page to this member of the team only (protocol §17). */
  only?: string;
  madeAt: number;
}

const PENDING = 'pendingDeclaration';
const LAST_TEAM = 'lastIncidentTeam';
const DETAILS = (id: string) => `incident:${id}`;

function signer(): Signer {
  const s = app.signer;
  if (!s) throw new ApiError('locked', 'Sallyport is locked.');
  return s;
}

const roles = (): string[] => app.messenger?.creds.roles ?? [];
export const mayDeclare = (): boolean => roles().includes('supervisor') || roles().includes('coordinator');
export const isCoordinator = (): boolean => roles().includes('coordinator');
export const myAccount = (): string | undefined => app.messenger?.creds.account;

/** The crisis teams the caller can page (`GET /v1/teams`). */
export async function declarableTeams(): Promise<TeamSummary[]> {
  return (await request<{ teams: TeamSummary[] }>('GET', '/v1/teams', undefined, signer())).teams;
}

/** The facility's locations an administrator set (`GET /v1/incidents/locations`); none if unset. */
export async function incidentLocations(): Promise<string[]> {
  try {
    const r = await request<{ locations?: unknown }>('GET', '/v1/incidents/locations', undefined, signer());
    return Array.isArray(r.locations) ? r.locations.filter((l): l is string => typeof l === 'string') : [];
  } catch (e) {
    // A server without the list yet: the screen asks for the location as text.
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return [];
    throw e;
  }
}

/** `PUT /v1/admin/incident-locations` (administrators). */
export async function setIncidentLocations(locations: string[]): Promise<string[]> {
  const r = await request<{ locations: string[] }>('PUT', '/v1/admin/incident-locations', { locations }, signer());
  return r.locations;
}

/** The team this person declared for last, if any (kept sealed on the device). */
export async function lastTeam(): Promise<string | undefined> {
  return (await app.messenger?.record<string>(LAST_TEAM)) ?? undefined;
}

/** A declaration the server has not confirmed yet (the app was closed or offline). */
export async function pendingDeclaration(): Promise<Declaration | undefined> {
  return (await app.messenger?.record<Declaration>(PENDING)) ?? undefined;
}

export function newDeclaration(d: Omit<Declaration, 'id' | 'madeAt'>): Declaration {
  return { ...d, id: randomId(), madeAt: Date.now() };
}

/** Whether sending again later may work (the network, the server busy or restarting). */
export const retryable = (e: unknown): boolean => e instanceof ApiError && (e.code === 'network' || e.code === 'internal' || e.status >= 500 || e.status === 429);

/**
 * Declares: keeps the declaration sealed on the device first, seals the preview to every device
 * the server lists for the team, and sends it. Resolves with the board. A network error keeps the
 * declaration (call again to retry, same id); a declaration the server already has (an earlier
 * try whose answer was lost) resolves with its board; any other refusal forgets it and throws.
 */
export async function declare(d: Declaration): Promise<Board> {
  const m = app.messenger;
  if (!m) throw new ApiError('locked', 'Sallyport is locked.');
  await m.setRecord(PENDING, d);
  const s = signer();
  try {
    const core = await loadCore();
    const { recipients } = await request<{ recipients: { account: string; device: string; notification_key: string }[] }>(
      'GET',
      `/v1/incidents/recipients?team=${encodeURIComponent(d.team)}`,
      undefined,
      s,
    );
    const payload = previewBytes(d);
    const sealed = recipients.map((r) => ({ device: r.device, sealed: toBase64(core.seal(r.notification_key, pageAad(d.id, r.device), payload)) }));
    let board: Board;
    try {
      board = await request<Board>('POST', '/v1/incidents', { id: d.id, team: d.team, severity: d.severity, test: d.test, ...(d.only ? { only: d.only } : {}), sealed }, s);
    } catch (e) {
      // 409: this id is in use, most likely by this same declaration sent before.
      if (!(e instanceof ApiError && e.status === 409)) throw e;
      board = await request<Board>('GET', `/v1/incidents/${encodeURIComponent(d.id)}`, undefined, s);
    }
    await m.setRecord(DETAILS(d.id), { type: d.type, location: d.location, note: d.note } satisfies Preview);
    await m.setRecord(LAST_TEAM, d.team);
    await m.setRecord(PENDING, null);
    // Opened now, not only when the board shows: the board's first run waits for this one.
    void keepIncidentConversation(board.id, { board, details: d }).catch(() => undefined);
    return board;
  } catch (e) {
    if (!retryable(e)) await m.setRecord(PENDING, null);
    throw e;
  }
}

export interface OpenBoard {
  board: Board;
  details: Preview | undefined;
}

/**
 * The board with the incident's details on this device: its own sealed preview, or the copy its
 * declarer kept (forgotten once the board shows the incident resolved).
 */
async function withDetails(board: Board): Promise<OpenBoard> {
  const m = app.messenger;
  if (!m) return { board, details: undefined };
  let details: Preview | undefined;
  if (board.sealed) {
    try {
      details = parsePreview(m.keys.openSealed(pageAad(board.id, m.creds.device), fromBase64(board.sealed)));
    } catch {
      // sealed to another key (this device enrolled again): the declarer's copy, if any
    }
  }
  const kept = (await m.record<Preview>(DETAILS(board.id))) ?? undefined;
  if (kept && board.resolved_at) await m.setRecord(DETAILS(board.id), null);
  return { board, details: details ?? kept };
}

/** `GET /v1/incidents`: the open incidents this person may see, with their details. */
export async function openIncidents(): Promise<OpenBoard[]> {
  const { incidents } = await request<{ incidents: Board[] }>('GET', '/v1/incidents', undefined, signer());
  return Promise.all(incidents.map(withDetails));
}

/** `GET /v1/incidents/{id}`: the board. */
export async function incidentBoard(id: string): Promise<OpenBoard> {
  return withDetails(await request<Board>('GET', `/v1/incidents/${encodeURIComponent(id)}`, undefined, signer()));
}

/** The teams this person is on (`GET /v1/oncall/me`); none when on no team. */
export async function myTeams(): Promise<string[]> {
  try {
    const r = await request<{ teams: { id: string }[] }>('GET', '/v1/oncall/me', undefined, signer());
    return r.teams.map((t) => t.id);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return [];
    throw e;
  }
}

/** "Responding" / "Unavailable" in the app (signed; may change an earlier answer). */
export async function answerIncident(id: string, answer: Answer, etaMinutes?: number): Promise<OpenBoard> {
  const body = answer === 'responding' && etaMinutes !== undefined ? { answer, eta_minutes: etaMinutes } : { answer };
  return withDetails(await request<Board>('POST', `/v1/incidents/${encodeURIComponent(id)}/answer`, body, signer()));
}

/** "Resolve": paging stops, the routing state is deleted. */
export async function resolveIncident(id: string): Promise<OpenBoard> {
  return withDetails(await request<Board>('POST', `/v1/incidents/${encodeURIComponent(id)}/resolve`, undefined, signer()));
}

// ---- the incident conversation -------------------------------------------------------------------

/** The declaring device's record of an incident's conversation (sealed like every record). */
interface ConversationRecord {
  group: string;
  /** Accounts whose trusted devices were added. */
  added: string[];
}
const CONVERSATION = (id: string) => `incidentConversation:${id}`;

export interface IncidentConversation {
  /** The conversation on this device (undefined: none yet, or not for this device). */
  group: string | undefined;
  /** The declarer's device: accounts added, and people who answered `responding` but were not. */
  added: string[];
  skipped: { account: string; why: string }[];
  error?: string;
}

/** The incident conversation this device was added to (a responder's), found by the incident it
 *  was sent inside MLS; the declarer's own is in its record. */
export function joinedIncidentConversation(id: string): string | undefined {
  for (const c of app.messenger?.conversations.values() ?? []) if (c.incident?.id === id && !c.removed) return c.id;
  return undefined;
}

const DIRECTORY_MS = 15_000;
let directory: { at: number; people: Person[] } | undefined;

/** The directory, fetched again when older than 15 s or when it lacks one of `accounts`. */
async function people(signer: Signer, accounts: string[]): Promise<Person[]> {
  const fresh = directory && Date.now() - directory.at < DIRECTORY_MS && accounts.every((a) => directory!.people.some((p) => p.account === a));
  if (!fresh) {
    directory = { at: Date.now(), people: (await getDirectory(signer)).people };
    void app.messenger?.learnNames(directory.people);
  }
  return directory!.people;
}

/**
 * Keeps the incident conversation in line with `open`'s board, on the device that declared it (it
 * holds the declaration's details): opens the conversation once (its name from the details, only
 * in the encrypted group state), then adds each person who answered `responding` and is not in it
 * yet (their trusted devices; a person with none, or whose safety code changed, is skipped and
 * said so). One run at a time per incident, on the latest board: safe to call on every refresh.
 * On any other device, the conversation it was added to, if any.
 */
export const keepIncidentConversation = oneAtATime(async (id: string, open: OpenBoard): Promise<IncidentConversation> => {
  const m = app.messenger;
  const me = m?.creds.account;
  const { board } = open;
  let record = (await m?.record<ConversationRecord>(CONVERSATION(id))) ?? undefined;
  const out: IncidentConversation = { group: record?.group ?? joinedIncidentConversation(id), added: record?.added ?? [], skipped: [] };
  if (!m || !me || board.declared_by?.account !== me || board.resolved_at) return out;
  const signer = app.signer!;
  try {
    if (!record || !m.conversations.has(record.group)) {
      // Only the device that declared (it kept the details) opens it: the declarer's other devices do not.
      const kept = await m.record<Preview>(DETAILS(id));
      if (!kept) return out;
      const title = incidentConversationTitle(board, open.details ?? kept);
      record = { group: await m.createConversation(title, [], { incident: { id, title } }), added: [] };
      await m.setRecord(CONVERSATION(id), record);
      out.group = record.group;
    }
    const toAdd = stillToAdd(board, record.added, me);
    if (toAdd.length === 0) return out;
    const dir = await people(signer, toAdd.map((p) => p.person.account));
    for (const p of toAdd) {
      const person = dir.find((x) => x.account === p.person.account);
      const { mailboxes, keys, decision } = person ? await trustedDevices(person) : { mailboxes: [], keys: {}, decision: undefined };
      if (mailboxes.length === 0) {
        out.skipped.push({
          account: p.person.account,
          why: decision?.identityChanged ? 'their safety code changed: none of their devices is one you know' : 'they have no approved device',
        });
        continue;
      }
      try {
        // Adds only the devices not in it yet: after a lost record write, nothing is added twice.
        await m.addPeople(record.group, mailboxes, keys);
      } catch (e) {
        // One person's devices unreachable for now: the others are still added; tried again next time.
        console.warn('sallyport: a responder was not added to the incident conversation', e);
        out.skipped.push({ account: p.person.account, why: 'not yet, their device cannot be reached right now; Sallyport keeps trying' });
        continue;
      }
      record = { ...record, added: [...record.added, p.person.account] };
      await m.setRecord(CONVERSATION(id), record);
      out.added = record.added;
    }
  } catch (e) {
    out.error = e instanceof Error ? e.message : String(e);
  }
  return out;
});
