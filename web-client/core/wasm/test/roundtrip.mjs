// The wasm build of the client core, loaded in Node from the same `web`-target artifact the
// browser app imports (web-client/core/wasm/pkg, made by build.sh). The test plays the server: it
// hands each MLS `Outgoing` to the clients whose mailboxes it names, and keeps every client's state
// in a Map standing in for IndexedDB.
//
//   web-client/core/wasm/build.sh && node --test web-client/core/wasm/test/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes, webcrypto } from 'node:crypto';
import * as core from '../pkg/sallyport_core_wasm.js';

// The core's randomness comes from `crypto.getRandomValues`, global from Node 19 on (Debian 12 has 18).
globalThis.crypto ??= webcrypto;
core.initSync({ module: readFileSync(new URL('../pkg/sallyport_core_wasm_bg.wasm', import.meta.url)) });

const { DeviceKeys, Session, MlsIdentity, MlsClient, SafetyCode } = core;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/// A random 16-byte id (account, device, mailbox, message) in its text form.
const id16 = () => randomBytes(16).toString('base64url');

function credentials(keys) {
    return JSON.stringify({
        server_url: 'http://127.0.0.1:8080',
        account: id16(),
        device: id16(),
        mailbox: id16(),
        display_name: 'Officer A',
        roles: ['staff'],
        keys: JSON.parse(keys.toJson()),
    });
}

test('device keys are generated, saved and restored', () => {
    const keys = DeviceKeys.generate();
    const restored = DeviceKeys.fromJson(keys.toJson());
    assert.equal(restored.signingPublic, keys.signingPublic);
    assert.equal(restored.notificationPublic, keys.notificationPublic);
    assert.equal(Buffer.from(keys.signingPublic, 'base64url').length, 32);
    assert.notEqual(DeviceKeys.generate().signingPublic, keys.signingPublic);
    assert.throws(() => DeviceKeys.fromJson('{"signing_secret": "short"}'));
    assert.equal(core.wsUrl('https://relay.example.org/'), 'wss://relay.example.org/v1/ws');
    assert.deepEqual({ ...core.parseInvitation('http://127.0.0.1:8080/enrol#AbC') },
        { server: 'http://127.0.0.1:8080', code: 'AbC' });
});

test('the session answers the challenge, delivers each message once and acks it', () => {
    const keys = DeviceKeys.generate();
    const creds = JSON.parse(credentials(keys));
    const session = new Session(JSON.stringify(creds));
    const now = Date.now();

    session.connected();
    const nonce = randomBytes(32).toString('base64url');
    session.handleText(JSON.stringify({ type: 'challenge', protocol: 1, nonce, server_time: now }), now);
    let out = session.drain();
    assert.equal(out.transmit.length, 1);
    const auth = JSON.parse(out.transmit[0]);
    assert.equal(auth.type, 'auth');
    assert.equal(auth.device, creds.device);
    assert.equal(auth.nonce, nonce);
    assert.equal(Buffer.from(auth.signature, 'base64url').length, 64);

    const ready = { type: 'ready', account: creds.account, device: creds.device, mailbox: creds.mailbox };
    session.handleText(JSON.stringify(ready), now);
    out = session.drain();
    assert.deepEqual(out.events, [ready]);
    assert.equal(session.isReady, true);

    const other = id16();
    const id = session.send([other], encoder.encode('hello'));
    const send = JSON.parse(session.pollTransmit());
    assert.deepEqual(send, { type: 'send', id, to: [other], payload: Buffer.from('hello').toString('base64') });
    assert.deepEqual(session.unaccepted(), [id]);
    session.handleText(JSON.stringify({ type: 'accepted', id, seq: 7 }), now);
    assert.deepEqual(session.pollEvent(), { type: 'accepted', id, seq: 7 });
    assert.deepEqual(session.unaccepted(), []);

    const deliver = { type: 'deliver', mailbox: creds.mailbox, seq: 3, id: id16(), payload: Buffer.from('hi').toString('base64') };
    session.handleText(JSON.stringify(deliver), now);
    session.handleText(JSON.stringify(deliver), now); // redelivered: hidden
    out = session.drain();
    assert.equal(out.events.length, 1);
    const message = out.events[0];
    assert.equal(message.type, 'message');
    assert.equal(message.seq, 3);
    assert.equal(decoder.decode(message.payload), 'hi');
    session.ack(creds.mailbox, 3);
    assert.deepEqual(JSON.parse(session.pollTransmit()), { type: 'ack', mailbox: creds.mailbox, seq: 3 });

    session.claimKeyPackage(other);
    assert.deepEqual(JSON.parse(session.pollTransmit()), { type: 'claim_key_package', mailbox: other });
    const kp = randomBytes(50);
    session.handleText(JSON.stringify({ type: 'key_package', mailbox: other, key_package: kp.toString('base64'), last_resort: false }), now);
    const claimed = session.pollEvent();
    assert.equal(claimed.type, 'key_package');
    assert.deepEqual(Buffer.from(claimed.keyPackage), kp);

    // A frame type this client does not know (a newer server) is skipped; a known one that is
    // malformed is a protocol violation.
    session.handleText('{"type": "weather_report"}', now);
    assert.equal(session.pollEvent(), undefined);
    assert.throws(() => session.handleText('{"type": "ready"}', now), /unreadable server frame/);
    session.disconnected();
    assert.deepEqual(session.drain(), { transmit: [], events: [{ type: 'closed' }] });
    session.free();
});

test('on a binary connection, hot frames go out and come in as bytes; the rest stays JSON', () => {
    const keys = DeviceKeys.generate();
    const creds = JSON.parse(credentials(keys));
    const session = new Session(JSON.stringify(creds));
    const now = Date.now();
    const raw = (text) => Buffer.from(text, 'base64url');

    session.connected('sallyport.bin.v1');
    session.handleText(JSON.stringify({ type: 'challenge', protocol: 1, nonce: randomBytes(32).toString('base64url'), server_time: now }), now);
    assert.equal(JSON.parse(session.drain().transmit[0]).type, 'auth');
    session.handleText(JSON.stringify({ type: 'ready', account: creds.account, device: creds.device, mailbox: creds.mailbox }), now);
    session.drain();

    const other = id16();
    const id = session.send([other], encoder.encode('hello'));
    const send = session.pollTransmit();
    assert.ok(send instanceof Uint8Array);
    // protocol/README.md, "Binary encoding": tag 0, id, one recipient, payload length, payload.
    assert.deepEqual(Buffer.from(send), Buffer.concat([Buffer.from([0]), raw(id), Buffer.from([1]), raw(other), Buffer.from([5]), Buffer.from('hello')]));
    session.claimKeyPackage(other);
    assert.equal(typeof session.pollTransmit(), 'string', 'claim_key_package stays JSON');

    session.handleBinary(Buffer.concat([Buffer.from([0]), raw(id), Buffer.from([7])]), now);
    assert.deepEqual(session.pollEvent(), { type: 'accepted', id, seq: 7 });
    const message = id16();
    session.handleBinary(Buffer.concat([Buffer.from([1]), raw(creds.mailbox), Buffer.from([3]), raw(message), Buffer.from([2]), Buffer.from('hi')]), now);
    const event = session.pollEvent();
    assert.equal(event.type, 'message');
    assert.equal(event.id, message);
    assert.equal(decoder.decode(event.payload), 'hi');
    session.ack(creds.mailbox, 3);
    assert.deepEqual(Buffer.from(session.pollTransmit()), Buffer.concat([Buffer.from([1]), raw(creds.mailbox), Buffer.from([3])]));
    assert.throws(() => session.handleBinary(Buffer.from([1, 2]), now), /malformed binary/);
    session.free();
});

test('on a JSON connection, a binary message is a protocol violation', () => {
    const session = new Session(credentials(DeviceKeys.generate()));
    session.connected(undefined);
    assert.throws(() => session.handleBinary(Buffer.from([0]), Date.now()), /binary message on a JSON connection/);
    session.free();
});

/// The names the test gives members, by mailbox: credentials carry no name (the app takes names
/// from the directory, or from a requester's encrypted name message).
const NAMES = new Map();
const nameOf = (member) => NAMES.get(member.mailbox);

/// One member: its identity, its client and its stored state (the Map stands in for IndexedDB).
class Member {
    constructor(handle, identity) {
        this.handle = handle;
        this.identity = identity;
        this.mailbox = core.newMailbox().mailbox;
        this.db = new Map();
        NAMES.set(this.mailbox, handle);
        this.client = new MlsClient(identity, this.mailbox, this.db);
        this.save();
    }

    /// What the host does after every call: write the changes before sending or acking.
    save() {
        for (const [key, value] of this.client.takeChanges()) {
            if (value === null) this.db.delete(key);
            else this.db.set(key, value);
        }
    }

    /// Drops the client and loads it again from the stored state.
    reload() {
        this.client.free();
        this.client = new MlsClient(this.identity, this.mailbox, this.db);
        this.save();
    }
}

/// The server's part: `out` goes to every member its `to` names. Returns events per handle.
function deliver(out, members) {
    const events = {};
    for (const m of members) {
        if (out.to.includes(m.mailbox)) {
            events[m.handle] = m.client.process(out.envelope);
            m.save();
        }
    }
    return events;
}

function send(from, group, text, members) {
    const out = from.client.encrypt(group, encoder.encode(text));
    from.save();
    assert.equal(out.commit, false);
    return deliver(out, members);
}

function assertReceived(events, handles, sender, text) {
    assert.deepEqual(Object.keys(events).sort(), [...handles].sort());
    for (const h of handles) {
        assert.equal(events[h].length, 1);
        const [event] = events[h];
        assert.equal(event.type, 'message', JSON.stringify(event));
        assert.equal(nameOf(event.sender), sender);
        assert.equal(decoder.decode(event.plaintext), text);
    }
}

test('an MLS group round trip: add, message, persist and restore, remove, seal, safety code', (t) => {
    const aliceKeys = DeviceKeys.generate();
    const bobKeys = DeviceKeys.generate();
    const alice = new Member('alice', MlsIdentity.forDevice(aliceKeys));
    const bob = new Member('bob', MlsIdentity.forDevice(bobKeys));
    // A pseudonymous member signs with a fresh key, kept next to its mailbox secret.
    const carolSecret = MlsIdentity.generate().secret();
    const carol = new Member('carol', MlsIdentity.fromSecret(carolSecret));
    const all = [alice, bob, carol];

    const bobKp = bob.client.keyPackages(1)[0];
    bob.save();
    const carolKp = carol.client.keyPackages(1)[0];
    carol.save();
    assert.ok(bobKp instanceof Uint8Array);

    const group = alice.client.createGroup();
    alice.save();
    assert.match(group, /^[0-9a-f]{64}$/);
    assert.throws(() => alice.client.addMembers(group, [carol.mailbox], [bobKp]), /another mailbox/);
    const add = alice.client.addMembers(group, [bob.mailbox, carol.mailbox], [bobKp, carolKp]);
    alice.save();
    assert.equal(add.commit, true);
    assert.deepEqual([...add.to].sort(), [bob.mailbox, carol.mailbox].sort());
    assert.deepEqual([...add.members].sort(), [alice.mailbox, bob.mailbox, carol.mailbox].sort(), 'a commit names the members');
    const accepted = alice.client.commitAccepted(group);
    alice.save();
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0].type, 'membership_changed');
    assert.deepEqual(accepted[0].added.map(nameOf).sort(), ['bob', 'carol']);
    const joined = deliver(add, all);
    for (const h of ['bob', 'carol']) {
        assert.equal(joined[h][0].type, 'joined');
        assert.equal(joined[h][0].group, group);
        assert.deepEqual(joined[h][0].members.map(nameOf).sort(), ['alice', 'bob', 'carol']);
    }

    assertReceived(send(alice, group, 'hello from alice', all), ['bob', 'carol'], 'alice', 'hello from alice');
    assertReceived(send(bob, group, 'hello from bob', all), ['alice', 'carol'], 'bob', 'hello from bob');
    assertReceived(send(carol, group, 'hi both', all), ['alice', 'bob'], 'carol', 'hi both');

    // Everything the clients need is in the stored state: reload all three and carry on.
    const stored = alice.db.size + bob.db.size + carol.db.size;
    assert.ok(stored > 0);
    for (const m of all) m.reload();
    assert.deepEqual(alice.client.groups(), [group]);
    assertReceived(send(bob, group, 'after reload', all), ['alice', 'carol'], 'bob', 'after reload');
    assertReceived(send(alice, group, 'still here', all), ['bob', 'carol'], 'alice', 'still here');

    // A delivery processed twice (the server redelivers until acked) is ignored the second time.
    const dup = alice.client.encrypt(group, encoder.encode('once'));
    alice.save();
    assert.equal(bob.client.process(dup.envelope)[0].type, 'message');
    bob.save();
    assert.deepEqual(bob.client.process(dup.envelope).map((e) => [e.type, e.reason]), [['ignored', 'duplicate']]);
    bob.save();
    carol.client.process(dup.envelope);
    carol.save();

    // Remove carol: she learns it, and new messages are no longer for her.
    const remove = alice.client.removeMembers(group, [carol.mailbox]);
    alice.save();
    assert.equal(remove.commit, true);
    assert.ok(remove.to.includes(carol.mailbox), 'the removed member learns of it');
    assert.deepEqual([...remove.members].sort(), [alice.mailbox, bob.mailbox].sort(), 'but is no member afterwards');
    assert.deepEqual(alice.client.commitAccepted(group)[0].removed.map(nameOf), ['carol']);
    alice.save();
    const afterRemove = deliver(remove, all);
    assert.equal(afterRemove.bob[0].type, 'membership_changed');
    assert.deepEqual(afterRemove.bob[0].removed.map(nameOf), ['carol']);
    assert.deepEqual(afterRemove.carol.map((e) => e.type), ['removed']);
    assert.deepEqual(carol.client.groups(), []);
    const secret = alice.client.encrypt(group, encoder.encode('carol must not read this'));
    alice.save();
    assert.deepEqual(secret.to, [bob.mailbox]);
    assert.deepEqual(secret.members, []);
    const carolSees = carol.client.process(secret.envelope);
    assert.ok(carolSees.every((e) => e.type !== 'message'), JSON.stringify(carolSees));
    assert.deepEqual(carolSees.map((e) => e.reason), ['unknown_group']);
    assert.equal(decoder.decode(bob.client.process(secret.envelope)[0].plaintext), 'carol must not read this');
    bob.save();
    assertReceived(send(bob, group, 'just us', all), ['alice'], 'bob', 'just us');
    assert.deepEqual(alice.client.members(group).map(nameOf).sort(), ['alice', 'bob']);

    assert.throws(() => carol.client.encrypt(group, encoder.encode('x')), (e) => e.code === 'unknown_group');

    // Sealed notifications: to bob's notification key, opened with bob's keys only.
    const payload = encoder.encode('Page: incident in Unit B');
    const aad = encoder.encode('notification-42');
    const sealed = core.seal(bobKeys.notificationPublic, aad, payload);
    assert.equal(sealed.length, payload.length + 49);
    assert.deepEqual(bobKeys.openSealed(aad, sealed), payload);
    assert.deepEqual(DeviceKeys.fromJson(bobKeys.toJson()).openSealed(aad, sealed), payload);
    assert.throws(() => bobKeys.openSealed(encoder.encode('notification-43'), sealed));
    assert.throws(() => aliceKeys.openSealed(aad, sealed));

    // Safety code: each side computes it from the group's roster; both see the same digits.
    const roster = (m) => Object.fromEntries(m.client.members(group).map((x) => [nameOf(x), x]));
    const [a, b] = [roster(alice), roster(bob)];
    assert.deepEqual(a.alice.signingKey, alice.identity.publicKey);
    const atAlice = new SafetyCode(a.alice.signingKey, alice.mailbox, a.bob.signingKey, bob.mailbox);
    const atBob = new SafetyCode(b.bob.signingKey, bob.mailbox, b.alice.signingKey, alice.mailbox);
    assert.match(atAlice.digits, /^\d{60}$/);
    assert.equal(atAlice.digits, atBob.digits);
    assert.equal(atAlice.display, atBob.display);
    assert.ok(atBob.verifyQr(atAlice.qrPayload()));
    assert.ok(atAlice.verifyQr(atBob.qrPayload()));
    assert.ok(!atAlice.verifyQr(atAlice.qrPayload()));
    const impostor = new SafetyCode(a.alice.signingKey, alice.mailbox, MlsIdentity.generate().publicKey, bob.mailbox);
    assert.notEqual(impostor.digits, atAlice.digits);

    // Per-message cost in the 2-member group: 100-byte messages, alice encrypts, bob decrypts,
    // each saving its changes as the host must (timed separately).
    const n = 200;
    const text = 'x'.repeat(100);
    const plaintext = encoder.encode(text);
    let encryptMs = 0, decryptMs = 0, saveMs = 0;
    for (let i = 0; i < n; i++) {
        let t0 = performance.now();
        const out = alice.client.encrypt(group, plaintext);
        encryptMs += performance.now() - t0;
        t0 = performance.now();
        alice.save();
        saveMs += performance.now() - t0;
        t0 = performance.now();
        const events = bob.client.process(out.envelope);
        decryptMs += performance.now() - t0;
        t0 = performance.now();
        bob.save();
        saveMs += performance.now() - t0;
        assert.equal(decoder.decode(events[0].plaintext), text);
    }
    const us = (ms) => ((ms * 1000) / n).toFixed(0);
    const report = `per message (${n} x 100 bytes, 2 members, Node ${process.version}): ` +
        `encrypt ${us(encryptMs)} µs, decrypt ${us(decryptMs)} µs, takeChanges+save ${us(saveMs / 2)} µs per client`;
    t.diagnostic(report);
});
