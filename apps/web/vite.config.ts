import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    // Same origin in development too, so the session cookie and SSE subscriptions just work.
    proxy: { '/trpc': { target: 'http://127.0.0.1:3000', changeOrigin: false } },
  },
  // No source maps in the build: they would publish the sources to anyone (the server 404s *.map too).
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
});
