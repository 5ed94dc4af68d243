//! Calendar files made on the device (RFC 5545): one event with a neutral title, so that a
//! calendar — often synced to other services and shown on a locked screen — says nothing about an
//! incident or a debriefing. Times are UTC (`…Z`), which every calendar shows in its own time
//! zone, so no VTIMEZONE is needed. A change is the same UID with a higher SEQUENCE; a
//! cancellation is METHOD:CANCEL with STATUS:CANCELLED (for calendars that ignore METHOD in a
//! downloaded file). The place is included only when the person chooses it.

export interface IcsEvent {
  /** Stable for one session across changes (the debrief id). */
  uid: string;
  /** 0 for the first version; higher for each change. */
  sequence: number;
  /** Start and end, ms since the epoch. */
  start: number;
  end: number;
  /** When this version was made (DTSTAMP), ms since the epoch. */
  stamp: number;
  /** Only if the person chose to include the place. */
  location?: string;
  cancelled?: boolean;
  /** The title calendars show: "Appointment" unless the person chose another. */
  summary?: string;
}

export const NEUTRAL_SUMMARY = 'Appointment';
export const ICS_FILE_NAME = 'appointment.ics';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `20261207T140000Z` (RFC 5545 §3.3.5, UTC form). */
export function icsTime(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new RangeError('not a valid time');
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
}

/**
 * TEXT escaping (§3.3.11) of semicolons, commas and line breaks; other control characters are
 * dropped, and a backslash becomes '/' (escaped as `\\\\` it is read back wrong by common parsers,
 * Python's icalendar among them, and no place or call link needs one).
 */
export function icsText(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
    .replace(/\\/g, '/')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\n/g, '\\n');
}

const encoder = new TextEncoder();

/** Folds a content line at 75 octets (§3.1), never inside a UTF-8 character. */
export function foldLine(line: string): string {
  const parts: string[] = [];
  let current = '';
  let octets = 0;
  let limit = 75;
  for (const ch of line) {
    const n = encoder.encode(ch).length;
    if (octets + n > limit) {
      parts.push(current);
      current = '';
      octets = 0;
      limit = 74; // a continuation line starts with one space
    }
    current += ch;
    octets += n;
  }
  parts.push(current);
  return parts.join('\r\n ');
}

/** The whole file, CRLF line endings. */
export function icsFile(e: IcsEvent): string {
  if (!(e.end > e.start)) throw new RangeError('the end must be after the start');
  if (!Number.isInteger(e.sequence) || e.sequence < 0) throw new RangeError('the sequence must be a whole number from 0');
  const uid = e.uid.replace(/[^\w.@-]/g, '');
  if (!uid) throw new RangeError('a UID is needed');
  const location = e.location?.trim();
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    // Nothing names the app either: a calendar is often synced to accounts others can see.
    'PRODID:-//Appointment//EN',
    'CALSCALE:GREGORIAN',
    `METHOD:${e.cancelled ? 'CANCEL' : 'PUBLISH'}`,
    'BEGIN:VEVENT',
    `UID:${uid}`,
    `DTSTAMP:${icsTime(e.stamp)}`,
    `DTSTART:${icsTime(e.start)}`,
    `DTEND:${icsTime(e.end)}`,
    `SEQUENCE:${e.sequence}`,
    `SUMMARY:${icsText(e.summary?.trim() || NEUTRAL_SUMMARY)}`,
    ...(location ? [`LOCATION:${icsText(location)}`] : []),
    'CLASS:PRIVATE',
    'TRANSP:OPAQUE',
    `STATUS:${e.cancelled ? 'CANCELLED' : 'CONFIRMED'}`,
    'END:VEVENT',
    'END:VCALENDAR',
  ];
  return lines.map(foldLine).join('\r\n') + '\r\n';
}

/** Saves the event as a file the phone offers to add to its calendar. */
export function downloadIcs(e: IcsEvent, fileName = ICS_FILE_NAME): void {
  const url = URL.createObjectURL(new Blob([icsFile(e)], { type: 'text/calendar;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
