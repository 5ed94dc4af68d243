//! The conversation engine end to end in Node: two Messengers with the real client core (wasm),
//! IndexedDB (fake-indexeddb) and the real lock, talking through a small in-process relay that
//! speaks the wire protocol (challenge/auth, send, group_send, deliver, ack, KeyPackages). The
//! relay does not check signatures or epochs: the real server is exercised by the browser tests.
import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as wasm from '../../core/wasm/pkg/sallyport_core_wasm.js';
import { randomId, toBase64Url, randomBytes } from '../bytes';
import { loadCore, type Core } from '../core';
import { openDb } from '../db';
import { createLock, type DataKey } from '../lock';
import { Messenger } from './messenger';
import type { Credentials } from './model';

type Frame = Record<string, unknown> & { type: string };

class Relay {
  seq = 0;
  devices = new Map<string, { account: string; mailbox: string }>();
  queues = new Map<string, { seq: number; id: string; payload: string }[]>();
  keyPackages = new Map<string, string[]>();
  lastResort = new Map<string, string>();
  sockets = new Set<FakeSocket>();
  accepting = true;

  connect(ws: FakeSocket): void {
    this.sockets.add(ws);
    setTimeout(() => {
      ws.open();
      ws.push({ type: 'challenge', protocol: 1, nonce: toBase64Url(randomBytes(32)), server_time: Date.now() });
    }, 0);
  }

  private deliverQueued(ws: FakeSocket, mailbox: string): void {
    for (const m of this.queues.get(mailbox) ?? []) ws.push({ type: 'deliver', mailbox, seq: m.seq, id: m.id, payload: m.payload });
  }

  handle(ws: FakeSocket, f: Frame): void {
    switch (f.type) {
      case 'auth': {
        const d = this.devices.get(f.device as string)!;
        ws.mailbox = d.mailbox;
        ws.push({ type: 'ready', account: d.account, device: f.device, mailbox: d.mailbox });
        const n = this.keyPackages.get(d.mailbox)?.length ?? 0;
        if (n < 10) ws.push({ type: 'key_packages_low', mailbox: d.mailbox, available: n });
        this.deliverQueued(ws, d.mailbox);
        break;
      }
      case 'publish_key_packages': {
        const list = this.keyPackages.get(f.mailbox as string) ?? [];
        list.push(...(f.key_packages as string[]));
        this.keyPackages.set(f.mailbox as string, list);
        if (f.last_resort) this.lastResort.set(f.mailbox as string, f.last_resort as string);
        ws.push({ type: 'key_packages_published', mailbox: f.mailbox, available: list.length });
        break;
      }
      case 'claim_key_package': {
        const kp = this.keyPackages.get(f.mailbox as string)?.shift();
        const lr = this.lastResort.get(f.mailbox as string);
        if (kp) ws.push({ type: 'key_package', mailbox: f.mailbox, key_package: kp, last_resort: false });
        else if (lr) ws.push({ type: 'key_package', mailbox: f.mailbox, key_package: lr, last_resort: true });
        else ws.push({ type: 'error', code: 'no_key_package', message: 'none', mailbox: f.mailbox });
        break;
      }
      case 'send':
      case 'group_send': {
        if (!this.accepting) break; // a lost answer: the client must re-send
        const seq = ++this.seq;
        for (const mb of f.to as string[]) {
          const q = this.queues.get(mb) ?? [];
          q.push({ seq, id: f.id as string, payload: f.payload as string });
          this.queues.set(mb, q);
          for (const s of this.sockets) if (s.mailbox === mb) s.push({ type: 'deliver', mailbox: mb, seq, id: f.id, payload: f.payload });
        }
        ws.push({ type: 'accepted', id: f.id, seq });
        break;
      }
      case 'ack': {
        const q = this.queues.get(f.mailbox as string) ?? [];
        this.queues.set(f.mailbox as string, q.filter((m) => m.seq !== f.seq));
        break;
      }
      default:
        ws.push({ type: 'error', code: 'unknown_frame_type', message: f.type });
    }
  }

  /** Drops every connection (the clients reconnect with back-off). */
  dropAll(): void {
    for (const s of [...this.sockets]) s.serverClose();
  }
}

const relay = new Relay();

class FakeSocket {
  static readonly OPEN = 1;
  readyState = 0;
  mailbox = '';
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    relay.connect(this);
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  push(frame: Frame): void {
    const data = JSON.stringify(frame);
    setTimeout(() => this.readyState === 1 && this.onmessage?.({ data }), 0);
  }
  send(text: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    const f = JSON.parse(text) as Frame;
    setTimeout(() => relay.handle(this, f), 0);
  }
  close(): void {
    this.readyState = 3;
    relay.sockets.delete(this);
  }
  serverClose(): void {
    this.close();
    setTimeout(() => this.onclose?.(), 0);
  }
}

async function until(what: string, probe: () => boolean, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (probe()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out waiting for ' + what);
}

let core: Core;

beforeAll(async () => {
  const g = globalThis as Record<string, unknown>;
  g.window = new EventTarget();
  g.document = Object.assign(new EventTarget(), { visibilityState: 'visible' });
  g.WebSocket = FakeSocket;
  wasm.initSync({ module: readFileSync(new URL('../../core/wasm/pkg/sallyport_core_wasm_bg.wasm', import.meta.url)) });
  core = await loadCore();
});

afterAll(() => {
  relay.dropAll();
});

async function device(name: string, account = randomId(), label = name): Promise<{ creds: Credentials; dbName: string; key: DataKey }> {
  const keys = core.DeviceKeys.generate();
  const creds: Credentials = {
    server_url: 'http://127.0.0.1:9',
    account,
    device: randomId(),
    mailbox: randomId(),
    display_name: name,
    roles: ['staff'],
    keys: JSON.parse(keys.toJson()),
  };
  keys.free();
  relay.devices.set(creds.device, { account: creds.account, mailbox: creds.mailbox });
  const dbName = 'flow-' + label;
  const db = await openDb(dbName);
  const { key } = await createLock('123456', 1000);
  await Messenger.saveCredentials(db, key, creds);
  db.close();
  return { creds, dbName, key };
}

async function open(d: { dbName: string; key: DataKey }): Promise<Messenger> {
  const m = await Messenger.open(core, await openDb(d.dbName), d.key);
  m.start();
  await until('ready', () => m.connection === 'online');
  return m;
}

const texts = (m: Messenger, group: string) => m.messagesOf(group).map((x) => x.body);
const statusOf = (m: Messenger, group: string, body: string) => m.messagesOf(group).find((x) => x.body === body)?.status;

describe('two devices through the engine', () => {
  it('create a conversation, talk both ways with Delivered marks, change the timer, survive a reload and a dropped connection', async () => {
    const a = await device('Alex Morgan');
    const b = await device('Dana Reyes');
    let alex = await open(a);
    const dana = await open(b);
    // Names come from the directory the app fetches (credentials carry none).
    const people = [a, b].map((d) => ({ display_name: d.creds.display_name, mailboxes: [d.creds.mailbox] }));
    for (const m of [alex, dana]) await m.learnNames(people);
    await until('Dana publishes KeyPackages', () => (relay.keyPackages.get(b.creds.mailbox)?.length ?? 0) >= 10);

    const group = await alex.createConversation('Dana Reyes', [b.creds.mailbox]);
    await until('Dana joins', () => dana.conversations.has(group));
    expect(dana.conversationName(dana.conversations.get(group)!)).toBe('Alex Morgan');
    await until('the commit is accepted', () => alex.conversations.get(group)!.members.length === 1 && relay.queues.size > 0);
    // The same person again: the existing conversation, no new group.
    expect(await alex.createConversation('Dana Reyes', [b.creds.mailbox])).toBe(group);

    await alex.sendText(group, 'hello Dana');
    expect(statusOf(alex, group, 'hello Dana')).toMatch(/sending|sent|delivered/);
    await until('Dana reads it', () => texts(dana, group).includes('hello Dana'));
    await until('Delivered', () => statusOf(alex, group, 'hello Dana') === 'delivered');
    expect(statusOf(dana, group, 'hello Dana')).toBe('received');

    await dana.sendText(group, 'hi Alex');
    await until('Alex reads the reply', () => texts(alex, group).includes('hi Alex'));
    await until('reply Delivered', () => statusOf(dana, group, 'hi Alex') === 'delivered');

    await alex.setTimer(group, 86400);
    await until('Dana gets the timer', () => dana.conversations.get(group)!.timer === 86400);
    expect(texts(dana, group)).toContain('Alex Morgan set disappearing messages to 1 day.');

    // Reload: everything comes back from IndexedDB (sealed) and the keys still work.
    alex.close();
    alex = await open(a);
    // Before any directory fetch, the name stored with the conversation is shown.
    expect(alex.conversationName(alex.conversations.get(group)!)).toBe('Dana Reyes');
    expect(texts(alex, group)).toEqual(expect.arrayContaining(['hello Dana', 'hi Alex']));
    expect(statusOf(alex, group, 'hello Dana')).toBe('delivered');
    expect(alex.conversations.get(group)!.timer).toBe(86400);
    await alex.sendText(group, 'after reload');
    await until('Dana reads after reload', () => texts(dana, group).includes('after reload'));

    // The relay loses an answer and drops the connection: the message is re-sent and arrives once.
    relay.accepting = false;
    await dana.sendText(group, 'through a drop');
    expect(statusOf(dana, group, 'through a drop')).toBe('sending');
    relay.accepting = true;
    relay.dropAll();
    await until('reconnected and delivered', () => statusOf(dana, group, 'through a drop') === 'delivered', 800);
    expect(texts(alex, group).filter((t) => t === 'through a drop')).toHaveLength(1);

    // Written, then the page is closed before the server answered: the outbox sends it after the
    // next unlock.
    relay.accepting = false;
    await alex.sendText(group, 'from the outbox');
    alex.close();
    relay.accepting = true;
    alex = await open(a);
    expect(texts(alex, group)).toContain('from the outbox'); // persisted before it was sent
    await until('outbox delivered', () => statusOf(alex, group, 'from the outbox') === 'delivered', 800);
    expect(texts(dana, group).filter((t) => t === 'from the outbox')).toHaveLength(1);

    // Both see the same safety code.
    expect(alex.safetyCode(group)).toMatch(/^[0-9 ]+$/);
    expect(alex.safetyCode(group)).toBe(dana.safetyCode(group));

    // Disappearing: a month on, every message is gone, from memory, IndexedDB and the preview.
    expect(dana.conversations.get(group)!.lastText).toBe('from the outbox');
    await dana.sweep(Date.now() + 31 * 86400_000);
    expect(texts(dana, group)).toEqual([]);
    expect(await dana.db.count('messages')).toBe(0);
    expect(dana.conversations.get(group)!.lastText).toBeUndefined();

    alex.close();
    dana.close();
  }, 30_000);
});

describe('membership follows the directory', () => {
  it('a new device of a member is added, a revoked one removed, and everyone sees it', async () => {
    const a = await device('Sam Lee');
    const b = await device('Kim Park');
    const sam = await open(a);
    const kim = await open(b);
    await until('Kim publishes KeyPackages', () => (relay.keyPackages.get(b.creds.mailbox)?.length ?? 0) >= 10);
    const group = await sam.createConversation('Kim Park', [b.creds.mailbox]);
    await until('Kim joins', () => kim.conversations.has(group));
    await sam.sendText(group, 'one');
    await until('Kim reads', () => texts(kim, group).includes('one'));

    // Kim enrols a second phone on the same account.
    const b2 = await device('Kim Park', b.creds.account, 'Kim Park 2');
    const kim2 = await open(b2);
    await until('the new phone publishes', () => (relay.keyPackages.get(b2.creds.mailbox)?.length ?? 0) >= 10);
    const directory = [
      { account: a.creds.account, display_name: 'Sam Lee', mailboxes: [a.creds.mailbox] },
      { account: b.creds.account, display_name: 'Kim Park', mailboxes: [b.creds.mailbox, b2.creds.mailbox] },
    ];
    // The apps fetched the directory (names: credentials carry none).
    for (const m of [sam, kim, kim2]) await m.learnNames(directory);
    await kim.syncMembers(group, directory);
    await until('the new phone joins', () => kim2.conversations.has(group));
    await until('Sam sees the change', () => texts(sam, group).includes('Kim Park’s device was added.'));
    expect(texts(kim, group)).toContain('Kim Park’s device was added.');
    await sam.sendText(group, 'two');
    await until('both phones read it', () => texts(kim, group).includes('two') && texts(kim2, group).includes('two'));
    await sam.syncMembers(group, directory); // in line already: no commit
    expect(sam.messagesOf(group).filter((m) => m.notice)).toHaveLength(1);

    // The second phone is revoked: it leaves the directory, and Sam's app removes it.
    await sam.syncMembers(group, [directory[0]!, { account: b.creds.account, display_name: 'Kim Park', mailboxes: [b.creds.mailbox] }]);
    await until('the revoked phone learns it was removed', () => kim2.conversations.get(group)?.removed === true);
    await until('Kim sees the removal', () => texts(kim, group).includes('Kim Park’s device was removed.'));
    await sam.sendText(group, 'three');
    await until('Kim reads three', () => texts(kim, group).includes('three'));
    expect(texts(kim2, group)).not.toContain('three');

    for (const m of [sam, kim, kim2]) m.close();
  }, 30_000);
});

describe('an incident conversation', () => {
  it('opens with the declarer alone, takes responders later, names itself on their devices, and is never a 1:1', async () => {
    const a = await device('Sky Supervisor');
    const b = await device('Riley Chen');
    const c = await device('Jordan Clinician');
    const sky = await open(a);
    const riley = await open(b);
    const jordan = await open(c);
    const people = [a, b, c].map((d) => ({ display_name: d.creds.display_name, mailboxes: [d.creds.mailbox] }));
    for (const m of [sky, riley, jordan]) await m.learnNames(people);
    await until('both publish KeyPackages', () => [b, c].every((d) => (relay.keyPackages.get(d.creds.mailbox)?.length ?? 0) >= 10));

    const incident = { id: randomId(), title: 'Incident · Assault on staff · 03:12' };
    const group = await sky.createConversation(incident.title, [], { incident });
    expect(sky.conversationName(sky.conversations.get(group)!)).toBe(incident.title);
    expect(sky.conversations.get(group)!.members).toEqual([]);

    await sky.addPeople(group, [b.creds.mailbox]);
    await until('Riley joins and learns the incident', () => riley.conversations.get(group)?.incident?.id === incident.id);
    expect(riley.conversationName(riley.conversations.get(group)!)).toBe(incident.title);
    // Adding again adds nothing (no second leaf, no commit).
    await sky.addPeople(group, [b.creds.mailbox]);
    await sky.addPeople(group, [c.creds.mailbox]);
    await until('Jordan joins, named too', () => jordan.conversations.get(group)?.incident?.title === incident.title);
    expect(sky.conversations.get(group)!.members.map((m) => m.mailbox).sort()).toEqual([b.creds.mailbox, c.creds.mailbox].sort());
    // Every add is a visible line, the first one too (the declarer began alone); none twice.
    await until('both adds shown', () => texts(sky, group).includes('Jordan Clinician’s device was added.'));
    expect(texts(sky, group).filter((t) => t.endsWith('was added.'))).toEqual(['Riley Chen’s device was added.', 'Jordan Clinician’s device was added.']);
    expect(texts(riley, group)).toContain('Jordan Clinician’s device was added.');

    await sky.sendText(group, 'meet at the east gate');
    await until('both read it', () => texts(riley, group).includes('meet at the east gate') && texts(jordan, group).includes('meet at the east gate'));
    // "Message Riley" is not the incident conversation.
    expect(sky.findConversationWith([b.creds.mailbox])).toBeUndefined();

    for (const m of [sky, riley, jordan]) m.close();
  }, 30_000);
});

describe('a debrief conversation', () => {
  it('carries the plan and its changes from the coordinator only, and keeps an RSVP only where it is sealed to', async () => {
    const a = await device('Casey Coordinator', randomId(), 'debrief-casey');
    const b = await device('Riley Chen', randomId(), 'debrief-riley');
    const c = await device('Sam Ortiz', randomId(), 'debrief-sam');
    const casey = await open(a);
    const riley = await open(b);
    const sam = await open(c);
    const people = [a, b, c].map((d) => ({ display_name: d.creds.display_name, mailboxes: [d.creds.mailbox] }));
    for (const m of [casey, riley, sam]) await m.learnNames(people);
    await until('both publish KeyPackages', () => [b, c].every((d) => (relay.keyPackages.get(d.creds.mailbox)?.length ?? 0) >= 10));

    const plan = {
      id: randomId(),
      session: 'debriefing' as const,
      start: Date.now() + 86_400_000,
      duration: 120,
      place: 'Chapel annex',
      coordinator: { account: a.creds.account, name: 'Casey Coordinator' },
      facilitators: [],
      sequence: 0,
    };
    const group = await casey.createConversation('Debriefing', [b.creds.mailbox, c.creds.mailbox], { debrief: plan });
    await casey.sendDebriefPlan(group, plan);
    await until('both invitees get the plan', () => riley.conversations.get(group)?.debrief?.id === plan.id && sam.conversations.get(group)?.debrief?.id === plan.id);
    expect(riley.conversationName(riley.conversations.get(group)!)).toBe('Debriefing');
    expect(casey.findConversationWith([b.creds.mailbox, c.creds.mailbox])).toBeUndefined();

    // An invitee's "change" is ignored everywhere; the coordinator's is taken.
    await riley.sendDebriefPlan(group, { ...plan, sequence: 5, cancelled: true });
    await casey.sendDebriefPlan(group, { ...plan, start: plan.start + 3_600_000, sequence: 1 });
    await until('the change arrives', () => sam.conversations.get(group)?.debrief?.sequence === 1);
    expect(sam.conversations.get(group)!.debrief!.cancelled).toBeUndefined();
    expect(casey.conversations.get(group)!.debrief!.sequence).toBe(1);
    await until('Casey gets the change too, never the forgery', () => casey.conversations.get(group)!.debrief!.cancelled === undefined);

    // Sam's RSVP, "sealed" to Casey's device only: Casey keeps it, Riley keeps nothing, no chat line anywhere.
    await sam.sendRsvp(group, plan.id, [{ device: a.creds.device, sealed: 'AAAA' }]);
    await until("Casey keeps Sam's RSVP", () => (casey.conversations.get(group)?.rsvps?.length ?? 0) === 1);
    expect(casey.conversations.get(group)!.rsvps![0]!.from).toBe(c.creds.mailbox);
    await sam.sendRsvp(group, plan.id, [{ device: a.creds.device, sealed: 'BBBB' }]);
    await until('the latest replaces it', () => casey.conversations.get(group)?.rsvps?.[0]?.sealed === 'BBBB');
    expect(casey.conversations.get(group)!.rsvps).toHaveLength(1);
    await sam.sendText(group, 'see you there');
    await until('Riley reads the text after the RSVPs', () => texts(riley, group).includes('see you there'));
    expect(riley.conversations.get(group)!.rsvps).toBeUndefined();
    expect(texts(riley, group).filter((t) => t !== 'see you there' && !t.endsWith('was added.'))).toEqual([]);

    for (const m of [casey, riley, sam]) m.close();
  }, 30_000);
});
