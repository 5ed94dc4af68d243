// Every file the service worker precaches (the shell and each on-demand screen's list) must be in
// dist/: one missing file fails the worker's install (cache.addAll), and the app then never works
// offline. Run by `npm run build` after `vite build`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const sw = readFileSync(join(dist, 'sw.js'), 'utf8');
const urls = new Set(sw.match(/\/assets\/[A-Za-z0-9._-]+/g) ?? []);
if (urls.size === 0) throw new Error('check-precache: no /assets/ URL found in dist/sw.js');
const missing = [...urls].filter((u) => !existsSync(join(dist, u)));
if (missing.length) {
  console.error(`check-precache: dist/sw.js names files the build did not keep: ${missing.join(', ')}`);
  process.exit(1);
}
console.log(`check-precache: the ${urls.size} asset URLs in sw.js are all in dist/`);
