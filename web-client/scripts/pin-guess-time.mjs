// How long an offline guess of every 6-digit PIN takes against a stolen lock record on this machine:
// times PBKDF2-SHA256 at the app's iteration count with Node's WebCrypto (the same primitive the
// browser uses), one derivation per core in parallel, and scales to 10^6 PINs.
//
//   node scripts/pin-guess-time.mjs [iterations=600000] [rounds=5]

import { availableParallelism } from 'node:os';
import { webcrypto as crypto } from 'node:crypto';

const iterations = Number(process.argv[2] ?? 600_000);
const rounds = Number(process.argv[3] ?? 5);
const cores = availableParallelism();
const salt = crypto.getRandomValues(new Uint8Array(16));

async function guess(pin) {
  const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveBits']);
  await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base, 256);
}

await guess('000000'); // warm up
let best = Infinity;
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  // Node runs WebCrypto's PBKDF2 on its thread pool: `cores` at once use every core.
  await Promise.all(Array.from({ length: cores }, (_, i) => guess(String(r * cores + i).padStart(6, '0'))));
  best = Math.min(best, (performance.now() - t0) / cores);
}
const all = (best * 1e6) / 1000;
const fmt = (s) => (s >= 86400 ? `${(s / 86400).toFixed(1)} days` : `${(s / 3600).toFixed(1)} hours`);
console.log(`PBKDF2-SHA256, ${iterations.toLocaleString('en')} iterations: ${(best * cores).toFixed(0)} ms per guess per core, ${cores} cores → ${best.toFixed(0)} ms per guess`);
console.log(`all 10^6 six-digit PINs: ${fmt(all)} (half of that on average)`);
