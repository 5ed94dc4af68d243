//! A crisis-team member's own readiness and availability (protocol §15, §17), one function per
//! user action: their state, the switch and "inside the perimeter until", and "I can get pages".

import { ApiError, request, type Signer, type SwitchState } from '../api';
import { app } from '../app';
import type { MyOnCall, Readiness } from '../crisisTeam';

function signer(): Signer {
  const s = app.signer;
  if (!s) throw new ApiError('locked', 'Sallyport is locked.');
  return s;
}

/** `GET /v1/oncall/me`; undefined for someone on no team. */
export async function myOnCall(): Promise<MyOnCall | undefined> {
  try {
    return await request<MyOnCall>('GET', '/v1/oncall/me', undefined, signer());
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return undefined;
    throw e;
  }
}

/** The switch (the same one "My shifts" sets) and "inside the perimeter until" (null: out). */
export const setMyOnCall = (body: { switch?: SwitchState; inside_until?: number | null }): Promise<MyOnCall> =>
  request<MyOnCall>('PUT', '/v1/oncall/me', body, signer());

/** "I can get pages"; the readiness as it is now. */
export const confirmReady = (): Promise<Readiness> => request<Readiness>('POST', '/v1/oncall/me/ready', undefined, signer());
