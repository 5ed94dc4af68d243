//! Calendar files (ics.ts): every file made here is read back by a real RFC 5545 parser (Python's
//! `icalendar`, Debian's python3-icalendar, through e2e/lib/check_ics.py), which must find the
//! right UTC times, the neutral title, the sequence and method, and the place only when given —
//! over fixed cases and a few hundred generated ones (places with the characters TEXT must escape,
//! multi-byte characters on the fold boundary, long lines).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NEUTRAL_SUMMARY, foldLine, icsFile, icsText, icsTime, type IcsEvent } from './ics';

const PYTHON = '/usr/bin/python3';
const CHECK = join(__dirname, '..', 'e2e', 'lib', 'check_ics.py');
const dir = mkdtempSync(join(tmpdir(), 'sallyport-ics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Parsed {
  method: string;
  uid: string;
  sequence: number;
  summary: string;
  status: string;
  dtstamp: string;
  dtstart: string;
  dtend: string;
  location: string | null;
  text: string;
}

let n = 0;
/** Parses every file in one run of the checker (a process per file is slow on a busy machine). */
function parseAll(texts: string[]): Parsed[] {
  const files = texts.map((text) => {
    const file = join(dir, `e${n++}.ics`);
    writeFileSync(file, text);
    return file;
  });
  const out = execFileSync(PYTHON, [CHECK, ...files], { encoding: 'utf8' }).trim().split('\n');
  expect(out).toHaveLength(files.length);
  return out.map((line) => JSON.parse(line) as Parsed);
}
const parse = (text: string): Parsed => parseAll([text])[0];

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const BASE: IcsEvent = { uid: '-Ab_9xYz0123456789abcd', sequence: 0, start: Date.parse('2026-12-08T14:00:00Z'), end: Date.parse('2026-12-08T15:30:00Z'), stamp: Date.parse('2026-12-07T02:00:00Z') };

describe('icsFile', () => {
  it('makes one event a parser reads with UTC times, the neutral title and no place', () => {
    const p = parse(icsFile(BASE));
    expect(p).toMatchObject({ method: 'PUBLISH', sequence: 0, summary: NEUTRAL_SUMMARY, status: 'CONFIRMED', dtstart: '2026-12-08T14:00:00Z', dtend: '2026-12-08T15:30:00Z', dtstamp: '2026-12-07T02:00:00Z', location: null });
    // the id keeps its leading '-' (a base64url id may start with one)
    expect(p.uid).toBe('-Ab_9xYz0123456789abcd');
    expect(p.text).not.toMatch(/incident|debrief|defus|crisis|sallyport|peer|support/i);
  });

  it('says a change with the same UID and a higher SEQUENCE, and a cancellation with METHOD:CANCEL', () => {
    const moved = parse(icsFile({ ...BASE, sequence: 1, start: BASE.start + 86_400_000, end: BASE.end + 86_400_000 }));
    expect(moved).toMatchObject({ method: 'PUBLISH', sequence: 1, dtstart: '2026-12-09T14:00:00Z', uid: '-Ab_9xYz0123456789abcd' });
    const cancelled = parse(icsFile({ ...BASE, sequence: 2, cancelled: true }));
    expect(cancelled).toMatchObject({ method: 'CANCEL', status: 'CANCELLED', sequence: 2, uid: moved.uid });
  });

  it('includes the place only when given, escaped so the parser gets it back exactly', () => {
    const place = 'Training room 2; B-wing, 2nd floor\nring the bell';
    expect(parse(icsFile({ ...BASE, location: place })).location).toBe(place);
    expect(parse(icsFile({ ...BASE, location: 'Annex\\B' })).location).toBe('Annex/B');
    expect(parse(icsFile({ ...BASE, location: '   ' })).location).toBeNull();
  });

  it('reads back every generated event: escaping, folding at 75 octets, multi-byte characters', { timeout: 60_000 }, () => {
    const alphabet = ['a', 'Z', ' ', ',', ';', '\\', '\n', 'é', '—', '漢', '😀', ':', '"', '0'];
    let seed = 0x2545f491;
    const rand = (k: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return Math.abs(seed) % k;
    };
    const events: IcsEvent[] = [];
    for (let i = 0; i < 300; i++) {
      const len = rand(160);
      let place = '';
      for (let j = 0; j < len; j++) place += alphabet[rand(alphabet.length)];
      place = place.trim();
      const start = Date.UTC(2026, rand(12), 1 + rand(28), rand(24), rand(4) * 15);
      events.push({ ...BASE, uid: `id${i}-${rand(1000)}`, sequence: rand(5), start, end: start + (1 + rand(8)) * 15 * 60_000, location: place || undefined });
    }
    const parsed = parseAll(events.map(icsFile));
    for (const [i, e] of events.entries()) {
      const p = parsed[i];
      const place = e.location ?? '';
      expect(p.dtstart).toBe(iso(e.start));
      expect(p.dtend).toBe(iso(e.end));
      expect(p.sequence).toBe(e.sequence);
      expect(p.summary).toBe(NEUTRAL_SUMMARY);
      expect(p.location).toBe(place ? place.replace(/\\/g, '/') : null);
    }
  });

  it('refuses an end before the start and a negative sequence', () => {
    expect(() => icsFile({ ...BASE, end: BASE.start })).toThrow(RangeError);
    expect(() => icsFile({ ...BASE, sequence: -1 })).toThrow(RangeError);
  });
});

describe('the parts', () => {
  it('formats UTC times and escapes TEXT', () => {
    expect(icsTime(Date.parse('2027-02-01T00:05:09Z'))).toBe('20270201T000509Z');
    expect(icsText('a,b;c\\d\r\ne')).toBe('a\\,b\\;c/d\\ne');
  });

  it('folds at 75 octets without splitting a character', () => {
    const folded = foldLine('LOCATION:' + '漢'.repeat(40));
    for (const line of folded.split('\r\n')) expect(new TextEncoder().encode(line).length).toBeLessThanOrEqual(75);
    expect(folded.split('\r\n').map((l, i) => (i ? l.slice(1) : l)).join('')).toBe('LOCATION:' + '漢'.repeat(40));
  });
});
