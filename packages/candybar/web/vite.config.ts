import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  plugins: [react()],
  resolve: {
    // The browser needs only the routing rules from @33god/core (topic matching); the
    // package entry also pulls in Node-only modules (paths, config).
    alias: [{ find: /^@33god\/core$/, replacement: here('../../core/src/routing.ts') }],
  },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: {
      '/api': { target: process.env.CANDYBAR_DEV_BACKEND ?? 'http://127.0.0.1:3000', ws: true },
    },
  },
});
