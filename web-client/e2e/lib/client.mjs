// A device without a browser, for what a test needs done beside the phones (a coordinator's team,
// a second responder): it enrols from an invitation link with keys the client core (the same wasm
// the app runs) generates, and signs its REST requests with them (protocol §11).

import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import * as core from '../../core/wasm/pkg/sallyport_core_wasm.js';

globalThis.crypto ??= webcrypto;
let loaded = false;

export function clientCore() {
  if (!loaded) {
    core.initSync({ module: readFileSync(new URL('../../core/wasm/pkg/sallyport_core_wasm_bg.wasm', import.meta.url)) });
    loaded = true;
  }
  return core;
}

/** Enrols; returns { account, device, mailbox, display_name, roles, keys, call(method, path, body) }
 *  where `call` resolves to { status, body } (body parsed when JSON). */
export async function enrolClient(server, link) {
  const c = clientCore();
  const code = new URL(link).hash.slice(1);
  const keys = c.DeviceKeys.generate();
  const r = await fetch(`${server.url}/v1/enrol`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ code, signing_key: keys.signingPublic, notification_key: keys.notificationPublic }),
  });
  if (!r.ok) throw new Error(`enrolment refused: ${r.status} ${await r.text()}`);
  const creds = await r.json();
  let last = 0;
  return {
    ...creds,
    keys,
    async call(method, path, body) {
      const bytes = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
      const time = (last = Math.max(Date.now(), last + 1));
      const headers = {
        'Sallyport-Device': creds.device,
        'Sallyport-Time': String(time),
        'Sallyport-Signature': keys.signRequest(creds.device, server.origin, method, path, time, bytes),
      };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : bytes });
      const text = await res.text();
      let parsed = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed };
    },
  };
}

/**
 * A crisis team made by `coordinator` (a browserless client): `name`, `policy`, and `members`
 * ([display name or account, role, tier?]) looked up in the directory by display name when not an
 * account. Returns the team id.
 */
export async function createTeam(coordinator, name, policy, members) {
  const created = await coordinator.call('POST', '/v1/teams', { name, policy });
  if (created.status !== 201) throw new Error(`POST /v1/teams answered ${created.status}: ${JSON.stringify(created.body)}`);
  const team = created.body.id;
  const directory = (await coordinator.call('GET', '/v1/directory')).body;
  for (const [who, role, tier = 1] of members) {
    const account = directory.people.find((p) => p.display_name === who)?.account ?? who;
    const r = await coordinator.call('PUT', `/v1/teams/${team}/members/${account}`, { tier, role });
    if (r.status !== 201) throw new Error(`adding ${who}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return team;
}
