// Loads the demo. app.js imports the package statically, as a user's page
// would; importing it from here lets the page say why when that fails (most
// often: the WebAssembly core in dist/ has not been built; run `npm start`).

const status = document.getElementById('status');

import('./app.js').catch((err) => {
  console.error(err);
  status.textContent =
    `The demo could not start: ${err && err.message ? err.message : String(err)}. ` +
    'Is dist/threadmem-core.wasm built? `npm start` builds it and serves this page.';
  status.classList.add('status-error');
});
