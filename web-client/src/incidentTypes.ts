//! The incident types a supervisor chooses from, with their labels: on their own, because the home
//! screen's declare buttons need only them (the rest of incidents.ts loads with the incident screens).

export const INCIDENT_TYPES: { id: string; label: string }[] = [
  { id: 'assault_on_staff', label: 'Assault on staff' },
  { id: 'suicide_or_attempt', label: 'Suicide or attempt' },
  { id: 'disturbance', label: 'Disturbance' },
  { id: 'death_in_custody', label: 'Death in custody' },
  { id: 'staff_injury', label: 'Staff injury' },
  { id: 'other', label: 'Other incident' },
];
