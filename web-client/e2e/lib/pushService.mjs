// A local push service for the browser tests, as a browser vendor's would treat the server's
// pushes: it checks the VAPID JWT (ES256, `aud` its own origin, not expired, the key the server's
// /v1/config gives) and decrypts the RFC 8291 `aes128gcm` body with the subscription's P-256 key
// and auth secret, keeping the plaintext the browser's service worker would get. A test hands that
// plaintext to the real service worker with CDP's ServiceWorker.deliverPushMessage (headless
// Chromium has no push service of its own). The server must run with
// --push-allow-insecure-endpoints to push to http://127.0.0.1.

import { createServer } from 'node:http';
import { createECDH, createDecipheriv, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import { waitUntil } from './browser.mjs';

const b64url = (b) => Buffer.from(b).toString('base64url');

function checkVapid(header, origin, expectedKey) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!m) throw new Error(`no VAPID authorization: ${header}`);
  const [, jwt, k] = m;
  if (expectedKey && k !== expectedKey) throw new Error('VAPID key is not the server’s');
  const [h, p, s] = jwt.split('.');
  const point = Buffer.from(k, 'base64url');
  if (point.length !== 65 || point[0] !== 4) throw new Error('VAPID key is not an uncompressed P-256 point');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33)) }, format: 'jwk' });
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))) {
    throw new Error('VAPID signature does not verify');
  }
  const header_ = JSON.parse(Buffer.from(h, 'base64url').toString());
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  if (header_.alg !== 'ES256') throw new Error(`VAPID alg ${header_.alg}`);
  if (claims.aud !== origin) throw new Error(`VAPID aud ${claims.aud}, not ${origin}`);
  if (!(claims.exp * 1000 > Date.now())) throw new Error('VAPID token expired');
}

/** RFC 8291 / RFC 8188 aes128gcm, one record. */
function decrypt(body, sub) {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  const serverKey = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  if (ciphertext.length > rs) throw new Error('more than one record');
  const uaPublic = sub.ecdh.getPublicKey();
  const shared = sub.ecdh.computeSecret(serverKey);
  const ikm = Buffer.from(hkdfSync('sha256', shared, sub.auth, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, serverKey]), 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('no last-record padding delimiter');
  return padded.subarray(0, end);
}

/**
 * Starts the push service on 127.0.0.1. Returns { origin, expectVapidKey(k), subscribe(),
 * received(token), waitFor(token, n), all(), errors, close() }; `subscribe()` gives
 * { token, endpoint, p256dh, auth } as a browser's PushSubscription has them.
 */
export async function startPushService() {
  const subs = new Map();
  const errors = [];
  let vapidKey = null;
  let origin = '';
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const token = /^\/push\/([0-9a-f]{32})$/.exec(req.url ?? '')?.[1];
      const sub = token && subs.get(token);
      if (req.method !== 'POST' || !sub) {
        res.writeHead(404).end();
        return;
      }
      try {
        checkVapid(req.headers.authorization, origin, vapidKey);
        if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error(`Content-Encoding ${req.headers['content-encoding']}`);
        const plaintext = decrypt(Buffer.concat(chunks), sub);
        sub.received.push({ plaintext, text: plaintext.toString('utf8'), urgency: req.headers.urgency, topic: req.headers.topic, ttl: req.headers.ttl });
        res.writeHead(201).end();
      } catch (e) {
        errors.push(String(e?.message ?? e));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    errors,
    expectVapidKey(k) {
      vapidKey = k;
    },
    subscribe() {
      const token = randomBytes(16).toString('hex');
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      subs.set(token, { ecdh, auth, received: [] });
      return { token, endpoint: `${origin}/push/${token}`, p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) };
    },
    received(token) {
      return subs.get(token)?.received ?? [];
    },
    /** Every push received, for every subscription. */
    all() {
      return [...subs.values()].flatMap((s) => s.received);
    },
    async waitFor(token, n, message = `${n} push(es)`) {
      return waitUntil(() => (this.received(token).length >= n ? this.received(token) : null), { message: `${message} (errors: ${errors.join('; ')})` });
    },
    close() {
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Makes the phone's browser hand out `sub` as its push subscription (headless Chromium has no push
 * service): PushManager's subscribe and getSubscription answer it, before any of the app's code
 * runs. The app then registers it with the server as it would a real one.
 */
export async function usePushSubscription(context, sub) {
  await context.addInitScript(({ endpoint, p256dh, auth }) => {
    const bytes = (s) => {
      const t = s.replace(/-/g, '+').replace(/_/g, '/');
      return Uint8Array.from(atob(t + '='.repeat((4 - (t.length % 4)) % 4)), (c) => c.charCodeAt(0)).buffer;
    };
    const subscription = {
      endpoint,
      expirationTime: null,
      options: { userVisibleOnly: true },
      getKey: (name) => (name === 'p256dh' ? bytes(p256dh) : name === 'auth' ? bytes(auth) : null),
      toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
      unsubscribe: async () => true,
    };
    if (typeof PushManager === 'function') {
      PushManager.prototype.subscribe = async function () {
        return subscription;
      };
      PushManager.prototype.getSubscription = async function () {
        return subscription;
      };
    }
  }, sub);
}
