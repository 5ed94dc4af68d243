// Searches what a server keeps — every file of its data directory (the SQLite database and its
// -wal and -shm, the log file holding its stderr) and its captured stdout — byte by byte for a
// text, in UTF-8, UTF-16LE and base64 (standard and URL-safe, at each of the three alignments a
// text can have inside a longer encoded blob).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The byte strings `text` may appear as. */
export function encodings(text) {
  const utf8 = Buffer.from(text, 'utf8');
  const forms = [
    { form: 'UTF-8', bytes: utf8 },
    { form: 'UTF-16LE', bytes: Buffer.from(text, 'utf16le') },
  ];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), utf8]).toString('base64').replace(/=+$/, '');
    // Only the characters made of the text's bits alone (not of the bytes before or after it).
    const first = Math.ceil((8 * shift) / 6);
    const last = Math.floor((8 * (shift + utf8.length)) / 6);
    const core = encoded.slice(first, last);
    forms.push({ form: `base64 (alignment ${shift})`, bytes: Buffer.from(core, 'latin1') });
    forms.push({ form: `base64url (alignment ${shift})`, bytes: Buffer.from(core.replace(/\+/g, '-').replace(/\//g, '_'), 'latin1') });
  }
  return forms;
}

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Every place (file or stdout) and form in which `text` occurs; empty when it occurs nowhere. */
export function findOnServer(server, text) {
  const sources = filesUnder(server.dataDir).map((path) => ({ where: path, bytes: readFileSync(path) }));
  sources.push({ where: 'stdout', bytes: Buffer.from(server.stdout, 'utf8') });
  const hits = [];
  for (const { where, bytes } of sources) {
    for (const { form, bytes: needle } of encodings(text)) {
      if (bytes.indexOf(needle) !== -1) hits.push(`${form} in ${where}`);
    }
  }
  return { hits, searched: sources.map((s) => s.where) };
}
