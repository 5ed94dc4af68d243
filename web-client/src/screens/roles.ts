//! Role ids (protocol) and what the UI calls them, for the invitation form, the device list and
//! Settings.

export const ROLES: { id: string; label: string }[] = [
  { id: 'staff', label: 'Staff' },
  { id: 'peer_supporter', label: 'Peer supporter' },
  { id: 'coordinator', label: 'Coordinator' },
  { id: 'admin', label: 'Administrator' },
  { id: 'clinician', label: 'EAP clinician' },
  { id: 'supervisor', label: 'Shift supervisor' },
];

export const roleLabel = (id: string): string => ROLES.find((r) => r.id === id)?.label ?? id;
