import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Relative base: dist/ works from any path of a static server. Everything is bundled (no CDN).
export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: false, chunkSizeWarningLimit: 4096 },
  test: { environment: 'node', include: ['src/**/*.test.ts'] },
});
