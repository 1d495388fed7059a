/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The backend serves dist/ at `/`; in dev the Vite server forwards the API to it instead.
const backend = process.env.TANDEM_BACKEND ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  // Relative asset URLs keep the bundle working wherever the backend mounts it.
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: {
      // SSE needs an unbuffered proxy; http-proxy streams chunks through as they arrive.
      '/api': { target: backend, changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // See src/test/setup.ts: room for a loaded machine, not for a hang.
    testTimeout: 30000,
  },
});
