//! Administration, one function per user action: inviting someone (a single-use link), the device
//! list and revoking a device, and setting the agency EAP line (which joins the crisis lines here
//! and, through the service worker, offline).

import { createInvitation, listDevices, revokeDevice, setEapLine, type DeviceRow } from '../api';
import { app } from '../app';
import { refreshConfig, storeConfig } from '../config';

export function invite(displayName: string, roles: string[]): Promise<{ link: string; expires_at: number }> {
  return createInvitation(app.signer!, { display_name: displayName, roles });
}

export async function devices(): Promise<DeviceRow[]> {
  return (await listDevices(app.signer!)).devices;
}

export async function revoke(device: string): Promise<void> {
  await revokeDevice(app.signer!, device);
}

export async function saveEapLine(name: string, call: string): Promise<void> {
  const config = await setEapLine(app.signer!, { name, call });
  storeConfig(config);
  app.config = config;
  app.changed();
  void refreshConfig(); // through the service worker, so its offline copy has the line too
}
