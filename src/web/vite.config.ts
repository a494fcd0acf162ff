// Vite build of the web app: root is src/web, output src/web/dist (served by the Trellis server).
// `npm run build` builds it; `npx vite --config src/web/vite.config.ts` serves it with the API proxied.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { defineConfig, type Plugin, type Rollup } from 'vite';
import react from '@vitejs/plugin-react';
import { PUBLIC_PATH, START_PAGES } from './startPages.ts';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * Start-up preload hints (decision 0014): index.html gets a small inline script that, from the
 * address being opened, adds <link rel="modulepreload"> for the chunks of the layout and of that
 * page (startPages.ts). They then download beside the entry chunks instead of only once the entry
 * has been downloaded and evaluated and App.tsx asks for them.
 */
function startupPreload(): Plugin {
  return {
    name: 'trellis-startup-preload',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const chunks = Object.values(bundle).filter((c): c is Rollup.OutputChunk => c.type === 'chunk');
      const byFile = new Map(chunks.map((c) => [c.fileName, c]));
      const closure = (chunk: Rollup.OutputChunk | undefined, into = new Set<string>()): Set<string> => {
        if (!chunk || into.has(chunk.fileName)) return into;
        into.add(chunk.fileName);
        for (const f of chunk.imports) closure(byFile.get(f), into);
        return into;
      };
      const chunkOf = (module: string) => {
        const found = chunks.find((c) => c.facadeModuleId === path.join(root, module));
        if (!found) throw new Error(`startup preload: no chunk for src/web/${module}`);
        return found;
      };
      const entry = closure(chunks.find((c) => c.isEntry));
      const layout = closure(chunkOf('layout/AppLayout.tsx'));
      const extra = (module: string) => [...closure(chunkOf(module))].filter((f) => !entry.has(f) && !layout.has(f));
      const strip = (files: Iterable<string>) => [...files].filter((f) => !entry.has(f)).map((f) => f.replace(/^assets\//, ''));
      const table = START_PAGES.map((p) => [p.pattern.source, strip(extra(p.module))]);
      const script =
        `<script>(function(){var p=location.pathname;if(${PUBLIC_PATH}.test(p))return;` +
        `var t=${JSON.stringify(table)},f=${JSON.stringify(strip(layout))};` +
        `for(var i=0;i<t.length;i++)if(new RegExp(t[i][0]).test(p)){f=f.concat(t[i][1]);break}` +
        `f.forEach(function(h){var l=document.createElement('link');l.rel='modulepreload';l.crossOrigin='';l.href='/assets/'+h;document.head.appendChild(l)})})()</script>`;
      const html = bundle['index.html'];
      if (!html || html.type !== 'asset' || typeof html.source !== 'string') throw new Error('startup preload: index.html not in the bundle');
      html.source = html.source.replace('</head>', `  ${script}\n  </head>`);
    },
  };
}
const apiTarget = process.env.TRELLIS_DEV_API ?? 'http://127.0.0.1:3000';

/**
 * Writes a .br and a .gz beside every text asset of the build; the server (@fastify/static with
 * preCompressed) sends the one the browser accepts, so nothing is compressed per request.
 */
function precompress(): Plugin {
  const brotli = promisify(zlib.brotliCompress);
  const gzip = promisify(zlib.gzip);
  const outDir = path.join(root, 'dist');
  return {
    name: 'trellis-precompress',
    apply: 'build',
    async closeBundle() {
      const files = (await fs.readdir(outDir, { recursive: true })).filter((f) => /\.(js|css|html|svg|json)$/.test(f));
      await Promise.all(
        files.map(async (f) => {
          const full = path.join(outDir, f);
          const data = await fs.readFile(full);
          if (data.length < 1024) return;
          const [br, gz] = await Promise.all([
            brotli(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } }),
            gzip(data, { level: 9 }),
          ]);
          // Written aside, then renamed: a server reading the folder never sends half a file.
          for (const [ext, body] of [['br', br], ['gz', gz]] as const) {
            await fs.writeFile(`${full}.${ext}.tmp`, body);
            await fs.rename(`${full}.${ext}.tmp`, `${full}.${ext}`);
          }
        }),
      );
    },
  };
}

export default defineConfig({
  root,
  base: '/',
  plugins: [react(), startupPreload(), precompress()],
  build: {
    outDir: path.join(root, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: {
      '/api': apiTarget,
      '/healthz': apiTarget,
      '/readyz': apiTarget,
    },
  },
});
