// The package needs top-level await (it loads its WASM core on import).
export default { base: './', build: { target: 'es2022', outDir: 'vite-dist', emptyOutDir: true } };
