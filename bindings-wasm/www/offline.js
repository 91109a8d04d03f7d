// Keeps the playground working offline once loaded: registers the service worker (sw.js), which keeps a copy of
// every file of the playground (files.json) and answers from it when the server cannot be reached. Browsers
// allow service workers on https and on 127.0.0.1/localhost; elsewhere the page works online only.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('sw.js').catch(e => console.warn('playground: no offline copy:', e.message));
}
