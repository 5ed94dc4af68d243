// First-load budget: sums the gzip -9 sizes of what dist/index.html loads — its scripts and
// stylesheets, their static imports, and the wasm the app fetches — not icons or the manifest.
// The `.br` column is the brotli sibling the build wrote (scripts/compress.mjs), which is what a
// browser that accepts brotli is sent; the `.br`/`.gz` siblings themselves are never counted as files.
//   npm run build && npm run measure
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
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
let totalBr = 0;
let missingBr = 0;
for (const f of [...files].sort()) {
  const raw = readFileSync(new URL(f, dist));
  const gz = gzipSync(raw, { level: 9 }).length;
  const brFile = new URL(f + '.br', dist);
  // No sibling: the build found brotli no smaller (or compress.mjs did not run), so the file is sent as it is.
  const br = existsSync(brFile) ? statSync(brFile).size : raw.length;
  if (!existsSync(brFile)) missingBr++;
  total += gz;
  totalBr += br;
  console.log(`${f.padEnd(50)} ${String(raw.length).padStart(9)} B raw ${String(gz).padStart(8)} B gzip ${String(br).padStart(8)} B .br`);
}
const budget = 350_000;
console.log(`first load: ${total} bytes gzipped (${(total / 1000).toFixed(1)} KB; budget ${budget / 1000} KB${total > budget ? ', OVER' : ''})`);
console.log(`as served with brotli (.br siblings): ${totalBr} bytes (${(totalBr / 1000).toFixed(1)} KB)${missingBr ? `; ${missingBr} file(s) without a .br sibling counted raw` : ''}`);
