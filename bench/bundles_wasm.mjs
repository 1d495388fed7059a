// The alternative to bench/bundles.py's sandboxed esbuild: esbuild-wasm, as a browser would run it,
// here in node (faster than a browser tab, which must also download the 10 MB wasm file).
// Not installed by `make install`; run it in a scratch folder:
//   npm i --prefix /tmp/wasm esbuild-wasm@0.28.2 && NODE_PATH=/tmp/wasm/node_modules \
//     node bench/bundles_wasm.mjs /path/to/react-template toolchain/node_modules
// Prints the initialisation and each build of the React template's src/main.tsx, in ms.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_PATH ?? '.', 'noop.js'));
const esbuild = require('esbuild-wasm');
const [project, nodeModules] = process.argv.slice(2).map((p) => path.resolve(p));
const started = performance.now();
await esbuild.initialize({});
const initialised = performance.now() - started;
const builds = [];
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  await esbuild.build({
    entryPoints: [path.join(project, 'src/main.tsx')],
    bundle: true, format: 'esm', write: false, outdir: '/out', jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' }, nodePaths: [nodeModules], logLevel: 'silent',
  });
  builds.push(performance.now() - start);
}
console.log(`initialise ${initialised.toFixed(0)} ms; builds ${builds.map((t) => t.toFixed(0)).join(', ')} ms`);
