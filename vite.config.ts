// The dashboard's build (docs/dashboard.md): src/ui into dist/ui, which `cairn server` serves under /ui/.
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'src/ui',
  base: '/ui/',
  build: {
    outDir: '../../dist/ui',
    emptyOutDir: true,
    // Served by the server and read in the browser's devtools on a bad day: keep maps beside the assets.
    sourcemap: true,
  },
});
