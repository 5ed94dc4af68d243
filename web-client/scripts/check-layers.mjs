// The import direction in src/: entry and shell (main.tsx, App.tsx) → screens/ → workflows/ →
// app.ts (app state) → engine/ → glue (every other module). Fails, listing them, on imports that
// point up (tests are not checked). Run by `npm run build`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

function layer(rel) {
  if (rel === 'main.tsx' || rel === 'App.tsx') return [5, 'entry/shell'];
  if (rel.startsWith('screens/')) return [4, 'screens'];
  if (rel.startsWith('workflows/')) return [3, 'workflows'];
  if (rel === 'app.ts') return [2.5, 'app state'];
  if (rel.startsWith('engine/')) return [2, 'engine'];
  return [1, 'glue'];
}

function* modules(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* modules(p);
    else if (/\.tsx?$/.test(e.name) && !e.name.includes('.test.')) yield p;
  }
}

let checked = 0;
const up = [];
for (const file of modules(src)) {
  const rel = relative(src, file).split('\\').join('/');
  for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
    const spec = m[1];
    if (/\.css$|\?url$/.test(spec) || spec.includes('core/wasm/pkg')) continue;
    const base = normalize(join(dirname(rel), spec)).split('\\').join('/');
    const target = [base + '.ts', base + '.tsx', base].find((t) => existsSync(join(src, t))) ?? base;
    checked++;
    const [a, an] = layer(rel);
    const [b, bn] = layer(target);
    if (b > a) up.push(`${rel} (${an}) imports ${target} (${bn})`);
  }
}
if (up.length) {
  console.error(`web-client: ${up.length} import(s) point up (screens → workflows → app state → engine → glue):\n  ${up.join('\n  ')}`);
  process.exit(1);
}
console.log(`layers: ${checked} imports in src/, none pointing up`);
