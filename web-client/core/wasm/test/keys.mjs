// The wasm build's key derivation against Node's own Ed25519 and X25519 (OpenSSL). The wasm build
// uses other code paths than the native tests: the compact SHA-2 back end (build.sh) and
// curve25519-dalek without precomputed tables; this checks they give the standard keys.
//
//   web-client/core/wasm/build.sh && node --test web-client/core/wasm/test/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as core from '../pkg/sallyport_core_wasm.js';

globalThis.crypto ??= webcrypto;
core.initSync({ module: readFileSync(new URL('../pkg/sallyport_core_wasm_bg.wasm', import.meta.url)) });

// PKCS#8 DER prefixes (RFC 8410) of a raw 32-byte Ed25519 / X25519 private key.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

function nodePublic(prefix, secret) {
    const key = createPrivateKey({ key: Buffer.concat([prefix, secret]), format: 'der', type: 'pkcs8' });
    return Buffer.from(key.export({ format: 'jwk' }).x, 'base64url');
}

test('device public keys equal the ones Node derives from the same secrets', () => {
    for (let i = 0; i < 8; i++) {
        const signing = randomBytes(32);
        const notification = randomBytes(32);
        const keys = core.DeviceKeys.fromJson(
            JSON.stringify({
                signing_secret: signing.toString('base64url'),
                notification_secret: notification.toString('base64url'),
            }),
        );
        assert.deepEqual(Buffer.from(keys.signingPublic, 'base64url'), nodePublic(ED25519_PKCS8, signing));
        assert.deepEqual(Buffer.from(keys.notificationPublic, 'base64url'), nodePublic(X25519_PKCS8, notification));
        keys.free();
    }
});
