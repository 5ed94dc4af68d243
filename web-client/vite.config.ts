/// <reference types="vitest/config" />
// Builds the app (index.html → hashed assets) and, on its own, the service worker (src/sw.ts →
// /sw.js, not hashed, scope /): one classic script (IIFE) with the client core's wasm-bindgen glue
// inlined, so it runs as a classic worker in every browser (a module service worker would not).
// The service worker gets the list of built files to precache and the core's wasm URL injected.
import { build, defineConfig, normalizePath, type Plugin, type Rolldown } from 'vite';
import { ON_DEMAND_SCREENS } from './src/screenPrecache';

const PRECACHE_PLACEHOLDER = /(["'`])__SALLYPORT_PRECACHE__\1/;
const WASM_PLACEHOLDER = /(["'`])__SALLYPORT_WASM__\1/;
const SCREENS_PLACEHOLDER = /(["'`])__SALLYPORT_SCREENS__\1/;

/** src/sw.ts as one self-contained classic script (nothing written: the code is returned). */
async function buildServiceWorker(root: string): Promise<string> {
  const out = await build({
    configFile: false,
    root,
    logLevel: 'warn',
    publicDir: false,
    build: {
      write: false,
      target: 'es2022',
      assetsInlineLimit: 0,
      rolldownOptions: {
        input: { sw: 'src/sw.ts' },
        output: { format: 'iife', entryFileNames: 'sw.js', codeSplitting: false },
      },
    },
  });
  const outputs = (Array.isArray(out) ? out : [out]) as { output: { type: string; fileName: string; code?: string }[] }[];
  const chunk = outputs.flatMap((o) => o.output).find((o) => o.type === 'chunk' && o.fileName === 'sw.js');
  if (!chunk?.code) throw new Error('the service worker build made no sw.js');
  return chunk.code;
}

/**
 * The built files only each on-demand screen (src/screenPrecache.ts) needs: what its chunk loads
 * (imports, stylesheets, assets, and what it loads on demand in turn) that the shell does not,
 * the shell being everything the entry reaches without going through an on-demand screen. A
 * file two screens share is in both lists; one the shell needs too is in neither.
 */
function onDemandFiles(root: string, bundle: Rolldown.OutputBundle): Record<string, string[]> {
  const chunks = new Map<string, Rolldown.OutputChunk>();
  for (const f of Object.values(bundle)) if (f.type === 'chunk') chunks.set(f.fileName, f);
  const entries: Record<string, string> = {};
  for (const [name, screen] of Object.entries(ON_DEMAND_SCREENS)) {
    const id = normalizePath(`${root}/${screen.module}`);
    const chunk = [...chunks.values()].find((c) => c.isDynamicEntry && c.facadeModuleId === id);
    if (!chunk) throw new Error(`no chunk of its own for the on-demand screen ${name} (${screen.module}): is it still imported on demand?`);
    entries[name] = chunk.fileName;
  }
  const screenChunks = new Set(Object.values(entries));
  // What `from` loads, at once or on demand, without entering a file in `stop` (a screen's chunk
  // imports the entry's, which imports every screen on demand: the shell stops the walk).
  const reach = (from: string[], stop: Set<string>): Set<string> => {
    const seen = new Set<string>();
    const todo = [...from];
    while (todo.length) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      const c = chunks.get(f);
      if (!c) continue;
      const meta = (c as { viteMetadata?: { importedCss: Set<string>; importedAssets: Set<string> } }).viteMetadata;
      if (!meta) throw new Error(`no viteMetadata on ${f}: cannot tell its stylesheets and assets`);
      for (const next of [...c.imports, ...c.dynamicImports, ...meta.importedCss, ...meta.importedAssets]) {
        if (!stop.has(next)) todo.push(next);
      }
    }
    return seen;
  };
  const mains = [...chunks.values()].filter((c) => c.isEntry).map((c) => c.fileName);
  const shell = reach(mains, screenChunks);
  return Object.fromEntries(Object.entries(entries).map(([name, f]) => [name, [...reach([f], shell)].sort()]));
}

function serviceWorker(): Plugin {
  let root = '.';
  return {
    name: 'sallyport-service-worker',
    apply: 'build',
    configResolved(config) {
      root = config.root;
    },
    // After Vite's own: it deletes the chunks left holding only CSS (a screen's stylesheet
    // imported by a shared module) in its generateBundle; listed here before, they were
    // precached as missing files and the worker never installed (a missing asset is a 404).
    generateBundle: { order: 'post', async handler(_options, bundle) {
      const files = Object.keys(bundle).filter((f) => !f.endsWith('.map'));
      const screens = onDemandFiles(root, bundle);
      const onDemand = new Set(Object.values(screens).flat());
      const shell = files.filter((f) => !onDemand.has(f));
      // Not the 512-pixel icons: only the manifest names them, for installing the app, which a
      // browser does online; the page and notifications show icon-192.
      const urls = ['/', ...shell.map((f) => '/' + f), '/manifest.webmanifest', '/icon-192.png'];
      const wasm = files.filter((f) => f.endsWith('.wasm'));
      if (wasm.length !== 1) throw new Error(`expected one .wasm in the bundle, found ${wasm.length}`);
      let code = await buildServiceWorker(root);
      if (!PRECACHE_PLACEHOLDER.test(code)) throw new Error('precache placeholder missing from sw.js');
      if (!WASM_PLACEHOLDER.test(code)) throw new Error('wasm placeholder missing from sw.js');
      if (!SCREENS_PLACEHOLDER.test(code)) throw new Error('screens placeholder missing from sw.js');
      if (/^\s*(import|export)\s/m.test(code)) throw new Error('sw.js must be a classic script (no import or export)');
      const list = JSON.stringify(urls.filter((u) => u !== '/index.html'));
      code = code.replace(PRECACHE_PLACEHOLDER, () => JSON.stringify(list));
      code = code.replace(WASM_PLACEHOLDER, () => JSON.stringify(JSON.stringify('/' + wasm[0])));
      const screenUrls = Object.fromEntries(Object.entries(screens).map(([name, fs]) => [name, fs.map((f) => '/' + f)]));
      code = code.replace(SCREENS_PLACEHOLDER, () => JSON.stringify(JSON.stringify(screenUrls)));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: code });
    } },
  };
}

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  plugins: [serviceWorker()],
  build: {
    target: 'es2022',
    assetsInlineLimit: 0,
    // Every browser the app supports (es2022) but Safari before 17 has modulepreload; there the
    // polyfill only fetched the preloads sooner, so without it they load when imported.
    modulePreload: { polyfill: false },
    rolldownOptions: {
      input: { main: 'index.html' },
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
      },
    },
  },
  server: {
    proxy: {
      '/v1': { target: 'http://127.0.0.1:8080', ws: true },
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
