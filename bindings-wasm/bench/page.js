'use strict';
// The broker in headless Chromium and Firefox, served by `potok playground`: time from module load to a started
// broker, and producing 100k records through broker.request() in the page (frames written beforehand by
// www/frames.js). Prints figures, asserts nothing.
// Usage: node bench/page.js [records] [per batch]   (see test/browsers.js for the browsers and the potok binary)
const { BROWSERS, startPlayground, launch, missing } = require('../test/browsers.js');

const total = Number(process.argv[2] || 100000);
const perBatch = Number(process.argv[3] || 1000);

async function main() {
  const playground = await startPlayground();
  try {
    for (const name of Object.keys(BROWSERS)) {
      if (missing(name)) console.log(`${name}: skipped, ${missing(name)}`);
      else await inBrowser(name, playground.base);
    }
  } finally {
    await playground.stop();
  }
}

async function inBrowser(name, base) {
  const browser = await launch(name);
  try {
    const page = await browser.newPage();
    await page.goto(`${base}/www/style.css`);
    const result = await page.evaluate(async ({ total, perBatch }) => {
      const t0 = performance.now();
      const potok = await import('/pkg/web/potok.js');
      await potok.default();
      const broker = await potok.Broker.start({});
      const startMs = performance.now() - t0;
      const frames = await import('/www/frames.js');
      const create = frames.createTopicsFrame('bench', 1, {});
      frames.readCreateTopics(await broker.request(create.bytes), create);
      const value = 'x'.repeat(100);
      const requests = [];
      for (let sent = 0; sent < total; sent += perBatch) {
        const records = Array.from({ length: Math.min(perBatch, total - sent) }, (_, i) => ({ key: `k${sent + i}`, value }));
        requests.push(frames.produceFrame('bench', 0, frames.recordBatch(records, Date.now())));
      }
      const t1 = performance.now();
      for (const r of requests) {
        const answer = frames.readProduce(await broker.request(r.bytes), r);
        if (answer.errorCode !== 0) throw new Error(`produce error ${answer.errorCode}`);
      }
      const produceMs = performance.now() - t1;
      const p = broker.inspect({ batchesPerSegment: 0, indexEntriesPerSegment: 0 }).topics.find(t => t.name === 'bench').partitions[0];
      broker.stop();
      return { startMs, produceMs, highWatermark: p.highWatermark, sizeBytes: p.sizeBytes };
    }, { total, perBatch });
    console.log(`${name}: module load + Broker.start ${result.startMs.toFixed(0)} ms`);
    console.log(`${name}: produce ${total} records of 100 B in batches of ${perBatch}: ${result.produceMs.toFixed(0)} ms, ` +
      `${Math.round(total / (result.produceMs / 1000)).toLocaleString('en-US')} records/s; high watermark ${result.highWatermark}, ${result.sizeBytes} bytes`);
  } finally {
    await browser.close();
  }
}

main().catch(e => { console.error(e); process.exit(1); });
