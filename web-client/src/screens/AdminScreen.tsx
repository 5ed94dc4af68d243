//! "Administration" (administrators only): inviting people, the devices and revoking them, and the
//! agency EAP line, the facility's incident locations.

import { app } from '../app';
import { DevicesSection } from './DevicesSection';
import { EapLineSection } from './EapLineSection';
import { IncidentLocationsSection } from './IncidentLocationsSection';
import { InviteSection } from './InviteSection';

export function AdminScreen() {
  if (!app.messenger?.isAdmin) {
    return (
      <main>
        <h1>Administration</h1>
        <p>Only administrators can see this page.</p>
      </main>
    );
  }
  return (
    <main>
      <h1>Administration</h1>
      <InviteSection />
      <DevicesSection />
      <EapLineSection />
      <IncidentLocationsSection />
    </main>
  );
}
