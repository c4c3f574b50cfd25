import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const bootEntry = fileURLToPath(new URL('./src/boot.ts', import.meta.url));

/**
 * src/boot.ts as a script of its own, ahead of the app's: Vite folds every module script of
 * index.html into one entry, which runs only once all the code it imports has loaded and run,
 * while boot.ts must run first to ask for the first screen's data early.
 */
function bootScript(): Plugin {
  return {
    name: 'phos-boot-script',
    transformIndexHtml: {
      order: 'post',
      handler(html, { bundle, server }) {
        const chunk = Object.values(bundle ?? {}).find((output) => output.type === 'chunk' && output.isEntry && output.name === 'boot');
        if (!server && !chunk) throw new Error('the build has no boot chunk');
        // async: it runs as soon as it has loaded, not after the page's stylesheet and parsing.
        const tag = `<script type="module" async crossorigin src="${chunk ? `/${chunk.fileName}` : '/src/boot.ts'}"></script>`;
        const first = html.indexOf('<script type="module"');
        if (first === -1) throw new Error('index.html has no module script');
        return `${html.slice(0, first)}${tag}\n    ${html.slice(first)}`;
      },
    },
  };
}

export default defineConfig({
  plugins: [react(), bootScript()],
  server: {
    port: 5173,
    // Same origin in development too, so the session cookie and SSE subscriptions just work.
    proxy: { '/trpc': { target: 'http://127.0.0.1:3000', changeOrigin: false } },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No source maps in the build: they would publish the sources to anyone (the server 404s *.map too).
    sourcemap: false,
    rolldownOptions: { input: { index: fileURLToPath(new URL('./index.html', import.meta.url)), boot: bootEntry } },
  },
});
