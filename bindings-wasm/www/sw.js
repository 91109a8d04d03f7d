// The playground's service worker: on install it stores every file the lessons use (files.json, paths relative
// to this file); afterwards each request goes to the network first, so a new build is always seen, and falls
// back to the stored copy when the network fails: the playground keeps working offline once it was loaded.
const CACHE = 'potok-playground-v1';

self.addEventListener('install', event => {
  event.waitUntil((async () => {
    const files = await (await fetch('files.json', { cache: 'no-store' })).json();
    const cache = await caches.open(CACHE);
    await cache.addAll(['files.json', ...files]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', event => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', event => {
  if (event.request.method !== 'GET') return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok && new URL(event.request.url).origin === self.location.origin) {
        await cache.put(event.request, response.clone());
      }
      return response;
    } catch (e) {
      const stored = await cache.match(event.request, { ignoreSearch: true });
      if (stored) return stored;
      throw e;
    }
  })());
});
