// First-load budget: sums the gzip -9 sizes of what dist/index.html loads — its scripts and
// stylesheets, their static imports, and the wasm the app fetches — not icons or the manifest.
//   npm run build && npm run measure
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url);
if (!existsSync(new URL('index.html', dist))) {
  console.error('measure: dist/index.html is missing; run `npm run build` first');
  process.exit(1);
}
const html = readFileSync(new URL('index.html', dist), 'utf8');
const files = new Set();
for (const m of html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="(?:stylesheet|modulepreload)"[^>]*\shref)="\/([^"]+)"/g)) files.add(m[1]);
// Static imports of the entry chunks (shared chunks), followed transitively.
const queue = [...files].filter((f) => f.endsWith('.js'));
while (queue.length) {
  const js = readFileSync(new URL(queue.pop(), dist), 'utf8');
  for (const m of js.matchAll(/(?:import|from)\s*["']\.?\/?((?:assets\/)?[\w.-]+\.js)["']/g)) {
    const f = m[1].startsWith('assets/') ? m[1] : 'assets/' + m[1];
    if (!files.has(f) && existsSync(new URL(f, dist))) {
      files.add(f);
      queue.push(f);
    }
  }
}
for (const f of readdirSync(new URL('assets/', dist))) if (f.endsWith('.wasm')) files.add('assets/' + f);

let total = 0;
for (const f of [...files].sort()) {
  const raw = readFileSync(new URL(f, dist));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`${f.padEnd(50)} ${String(raw.length).padStart(9)} B raw ${String(gz).padStart(8)} B gzip`);
}
const budget = 350_000;
console.log(`first load: ${total} bytes gzipped (${(total / 1000).toFixed(1)} KB; budget ${budget / 1000} KB${total > budget ? ', OVER' : ''})`);
