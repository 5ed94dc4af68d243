/// <reference types="vitest/config" />
// Builds the app (index.html → hashed assets) and, on its own, the service worker (src/sw.ts →
// /sw.js, not hashed, scope /): one classic script (IIFE) with the client core's wasm-bindgen glue
// inlined, so it runs as a classic worker in every browser (a module service worker would not).
// The service worker gets the list of built files to precache and the core's wasm URL injected.
import { build, defineConfig, type Plugin } from 'vite';

const PRECACHE_PLACEHOLDER = /(["'`])__SALLYPORT_PRECACHE__\1/;
const WASM_PLACEHOLDER = /(["'`])__SALLYPORT_WASM__\1/;

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

function serviceWorker(): Plugin {
  let root = '.';
  return {
    name: 'sallyport-service-worker',
    apply: 'build',
    configResolved(config) {
      root = config.root;
    },
    async generateBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((f) => !f.endsWith('.map'));
      const urls = ['/', ...files.map((f) => '/' + f), '/manifest.webmanifest', '/icon-192.png', '/icon-512.png', '/icon-maskable-512.png'];
      const wasm = files.filter((f) => f.endsWith('.wasm'));
      if (wasm.length !== 1) throw new Error(`expected one .wasm in the bundle, found ${wasm.length}`);
      let code = await buildServiceWorker(root);
      if (!PRECACHE_PLACEHOLDER.test(code)) throw new Error('precache placeholder missing from sw.js');
      if (!WASM_PLACEHOLDER.test(code)) throw new Error('wasm placeholder missing from sw.js');
      if (/^\s*(import|export)\s/m.test(code)) throw new Error('sw.js must be a classic script (no import or export)');
      const list = JSON.stringify(urls.filter((u) => u !== '/index.html'));
      code = code.replace(PRECACHE_PLACEHOLDER, () => JSON.stringify(list));
      code = code.replace(WASM_PLACEHOLDER, () => JSON.stringify(JSON.stringify('/' + wasm[0])));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: code });
    },
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
