// Precompresses the built app: writes a brotli (`.br`, quality 11) and a gzip (`.gz`, level 9)
// sibling of every compressible file under dist/, which the server sends to a browser that accepts
// the encoding (tower-http ServeDir, server/src/http/web.rs). A sibling is written only when it is
// smaller than the file; the server then falls back to the file as it is. Node's own zlib, no
// dependency. `npm run build` runs it after vite.
//   node scripts/compress.mjs [DIR]     (DIR: dist/ by default)
import { readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

/** Text formats and wasm; images (PNG) are compressed already. */
const COMPRESSIBLE = /\.(?:js|mjs|css|html|wasm|json|webmanifest|svg|txt|xml|ico|map)$/;

const dir = resolve(process.argv[2] ?? fileURLToPath(new URL('../dist/', import.meta.url)));

function* walk(d) {
  for (const entry of readdirSync(d, { withFileTypes: true })) {
    const path = join(d, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

let files = 0;
let raw = 0;
let br = 0;
let gz = 0;
for (const path of [...walk(dir)].sort()) {
  // Siblings from an earlier run (vite empties dist/, but DIR may be any directory).
  if (path.endsWith('.br') || path.endsWith('.gz')) {
    if (COMPRESSIBLE.test(path.slice(0, -3))) rmSync(path);
    continue;
  }
  if (!COMPRESSIBLE.test(path)) continue;
  const data = readFileSync(path);
  const brotli = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: path.endsWith('.wasm') ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  const gzip = gzipSync(data, { level: 9 });
  files++;
  raw += data.length;
  br += Math.min(brotli.length, data.length);
  gz += Math.min(gzip.length, data.length);
  if (brotli.length < data.length) writeFileSync(path + '.br', brotli);
  if (gzip.length < data.length) writeFileSync(path + '.gz', gzip);
}
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
console.log(`compress: ${files} files in ${dir}: ${kb(raw)} raw, ${kb(br)} brotli, ${kb(gz)} gzip`);
