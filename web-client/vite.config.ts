/// <reference types="vitest/config" />
// Builds the app (index.html → hashed assets) and the service worker (src/sw.ts → /sw.js, not
// hashed, scope /). The service worker gets the list of built files to precache injected here.
import { defineConfig, type Plugin } from 'vite';

const PRECACHE_PLACEHOLDER = /(["'`])__SALLYPORT_PRECACHE__\1/;

function precacheManifest(): Plugin {
  return {
    name: 'sallyport-precache-manifest',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((f) => f !== 'sw.js' && !f.endsWith('.map'));
      const urls = ['/', ...files.map((f) => '/' + f), '/manifest.webmanifest', '/icon-192.png', '/icon-512.png', '/icon-maskable-512.png'];
      const sw = bundle['sw.js'];
      if (!sw || sw.type !== 'chunk') throw new Error('sw.js missing from the bundle');
      if (!PRECACHE_PLACEHOLDER.test(sw.code)) throw new Error('precache placeholder missing from sw.js');
      const list = JSON.stringify(urls.filter((u) => u !== '/index.html'));
      sw.code = sw.code.replace(PRECACHE_PLACEHOLDER, () => JSON.stringify(list));
    },
  };
}

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  plugins: [precacheManifest()],
  build: {
    target: 'es2022',
    assetsInlineLimit: 0,
    rolldownOptions: {
      input: { main: 'index.html', sw: 'src/sw.ts' },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js'),
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
