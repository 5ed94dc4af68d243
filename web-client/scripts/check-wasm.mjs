// `npm run build` needs the client core's wasm package, made by web-client/core/wasm/build.sh.
import { existsSync } from 'node:fs';

const pkg = new URL('../core/wasm/pkg/sallyport_core_wasm.js', import.meta.url);
if (!existsSync(pkg)) {
  console.error('web-client: the wasm package is missing (web-client/core/wasm/pkg).\n' +
    'Build it first:  web-client/core/wasm/build.sh');
  process.exit(1);
}
