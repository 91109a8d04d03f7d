// The producer lesson: potok's producer (bindings-wasm's broker.producer(), the native clients' sender and
// partitioner) sends to a broker in this page; the pictures come from broker.inspect(). The idempotence part
// resends a stored batch with its producer id and sequence numbers as a raw Produce frame (frames.js), as a
// producer's retry would.
import init, { Broker } from '../pkg/web/potok.js';
import { produceFrame, readProduce, recordBatch } from './frames.js';
import { $, el, status, fail } from './lesson.js';

const KEYS_TOPIC = 'twitter_tweets';
const BATCH_TOPIC = 'batching';
/** Where the course says keys id_0..id_9 land on three partitions (CURRICULUM.md §6). */
const COURSE = { id_0: 1, id_1: 0, id_2: 2, id_3: 0, id_4: 2, id_5: 2, id_6: 0, id_7: 2, id_8: 1, id_9: 2 };
const COMPRESSION_COLOURS = { none: '#90be6d', gzip: '#f4a261', snappy: '#e9c46a', lz4: '#4d908e', zstd: '#9d4edd' };
const WORDS = ['kafka', 'stream', 'partition', 'offset', 'broker', 'record', 'batch', 'leader', 'replica', 'log'];

let broker = null;
/** The last send of the batching part: its records by offset, for the retry. */
let lastSend = null;

function partitionView(topic, partition) {
  return broker.inspect({ internalTopics: false }).topics.find((t) => t.name === topic).partitions[partition];
}

async function start() {
  broker = await Broker.start({});
  const admin = broker.admin();
  await admin.createTopics([{ name: KEYS_TOPIC, numPartitions: 3 }, { name: BATCH_TOPIC, numPartitions: 1 }]);
  document.body.dataset.ready = 'true';
  status(`broker ${broker.clusterId} started`);
}

async function sendKeys() {
  const producer = broker.producer({ 'linger.ms': 0 });
  try {
    for (const key of Object.keys(COURSE)) {
      await producer.send({ topic: KEYS_TOPIC, key, value: `tweet for ${key}` });
    }
  } finally {
    await producer.close();
  }
  drawKeys();
  status(`10 records sent to ${KEYS_TOPIC}`);
}

function drawKeys() {
  const svg = $('keys');
  svg.replaceChildren();
  const left = 110;
  for (let p = 0; p < 3; p++) {
    const y = 10 + p * 40;
    svg.append(el('text', { x: 0, y: y + 20 }, `partition ${p}`));
    svg.append(el('rect', { x: left, y, width: 960 - left - 10, height: 30, fill: '#f7f7f7', stroke: '#ccc' }));
    const view = partitionView(KEYS_TOPIC, p);
    const records = view.segments.flatMap((s) => s.batches).flatMap((b) => recordsOf(b, KEYS_TOPIC, p));
    records.forEach(({ offset, key }) => {
      const x = left + 4 + offset * 62;
      const expected = COURSE[key];
      const g = el('g', { class: 'keyed', 'data-key': key, 'data-partition': p, 'data-expected': expected });
      g.append(el('rect', { x, y: y + 3, width: 58, height: 24, rx: 3, fill: '#a9def9',
        stroke: expected === p ? '#577590' : '#d00', 'stroke-width': expected === p ? 1 : 3 }));
      g.append(el('text', { x: x + 6, y: y + 19 }, key));
      g.append(el('title', {}, `${key} → partition ${p}, offset ${offset} (the course: partition ${expected})`));
      svg.append(g);
    });
  }
}

/** The keys of a stored batch's records, read back from the segment's annotated bytes. */
function recordsOf(batch, topic, partition) {
  const segment = broker.segmentBytes(topic, partition, 0);
  const stored = segment.batches.find((b) => b.header.baseOffset === batch.baseOffset);
  return stored.records.map((r) => {
    const key = r.fields.find((f) => f.name === 'key');
    const delta = r.fields.find((f) => f.name === 'offsetDelta');
    return { offset: batch.baseOffset + Number(delta.value), key: new TextDecoder().decode(segment.bytes.slice(key.start, key.end)) };
  });
}

function value(i, size) {
  let text = `{"id":${i},"user":"user_${i % 17}","text":"`;
  for (let w = i; text.length < size - 2; w = (w * 7 + 3) % 101) text += `${WORDS[w % WORDS.length]} `;
  return `${text.slice(0, Math.max(0, size - 2))}"}`.slice(0, size);
}

async function sendBatch() {
  const config = {
    'linger.ms': Number($('linger').value),
    'batch.size': Number($('batch-size').value),
    'compression.type': $('compression').value,
  };
  const count = Number($('records').value);
  const size = Number($('value-size').value);
  const from = partitionView(BATCH_TOPIC, 0).logEndOffset;
  const producer = broker.producer(config);
  const values = Array.from({ length: count }, (_, i) => value(from + i, size));
  let sent;
  try {
    // All at once, as an application's loop of send() calls: the accumulator decides the batches.
    sent = await Promise.all(values.map((v) => producer.send({ topic: BATCH_TOPIC, value: v })));
  } finally {
    await producer.close();
  }
  const byOffset = new Map(sent.map((m, i) => [m.offset, values[i]]));
  const batches = partitionView(BATCH_TOPIC, 0).segments.flatMap((s) => s.batches).filter((b) => b.baseOffset >= from);
  lastSend = { byOffset, batches, config };
  drawBatches(batches);
  const stored = batches.reduce((n, b) => n + b.sizeBytes, 0);
  const payload = values.reduce((n, v) => n + v.length, 0);
  $('batch-summary').textContent = `${count} records of ${size} bytes → ${batches.length} ${batches.length === 1 ? 'batch' : 'batches'}, ` +
    `${stored.toLocaleString('en-US')} bytes stored for ${payload.toLocaleString('en-US')} bytes of values ` +
    `(compression.type=${config['compression.type']}, linger.ms=${config['linger.ms']}, batch.size=${config['batch.size']})`;
  $('batch-summary').dataset.batches = String(batches.length);
  $('batch-summary').dataset.stored = String(stored);
  status(`${count} records sent to ${BATCH_TOPIC}`);
}

function drawBatches(batches) {
  const svg = $('batches');
  svg.replaceChildren();
  const total = batches.reduce((n, b) => n + b.sizeBytes, 0);
  const width = 940;
  const scale = Math.min(1, width / Math.max(1, total));
  let x = 0;
  let row = 0;
  for (const b of batches) {
    const w = Math.max(3, b.sizeBytes * scale);
    if (x + w > width) { x = 0; row++; }
    const y = 5 + row * 30;
    const g = el('g', { class: 'stored-batch', 'data-records': b.recordCount, 'data-compression': b.compression });
    g.append(el('rect', { x, y, width: w, height: 24, fill: COMPRESSION_COLOURS[b.compression] || '#ccc', stroke: '#fff' }));
    if (w > 24) g.append(el('text', { x: x + 3, y: y + 16 }, String(b.recordCount)));
    g.append(el('title', {}, `offsets ${b.baseOffset}–${b.lastOffset}: ${b.recordCount} records, ${b.sizeBytes} bytes, ` +
      `${b.compression}; producer id ${b.producerId}, epoch ${b.producerEpoch}, sequence ${b.baseSequence}–${b.baseSequence + b.recordCount - 1}`));
    svg.append(g);
    x += w + 2;
  }
  svg.setAttribute('height', String(40 + row * 30));
}

async function retry() {
  if (!lastSend || !lastSend.batches.length) {
    $('retry-result').textContent = 'Send some records first.';
    return;
  }
  const batch = lastSend.batches[lastSend.batches.length - 1];
  const records = [];
  for (let o = batch.baseOffset; o <= batch.lastOffset; o++) records.push({ key: null, value: lastSend.byOffset.get(o) });
  const before = partitionView(BATCH_TOPIC, 0).logEndOffset;
  const frame = produceFrame(BATCH_TOPIC, 0, recordBatch(records, Date.now(), batch));
  const answer = readProduce(await broker.request(frame.bytes), frame);
  const after = partitionView(BATCH_TOPIC, 0).logEndOffset;
  const result = $('retry-result');
  result.dataset.errorCode = String(answer.errorCode);
  result.dataset.baseOffset = String(answer.baseOffset);
  result.dataset.written = String(after - before);
  result.textContent = `Resent ${records.length} records as producer ${batch.producerId}, epoch ${batch.producerEpoch}, ` +
    `sequence ${batch.baseSequence}: the broker answered ${answer.errorCode === 0 ? 'success' : `error ${answer.errorCode}`} ` +
    `at offset ${answer.baseOffset} — where it wrote them the first time — and wrote ${after - before} records ` +
    `(log end offset ${before} → ${after}).`;
}

async function main() {
  await init();
  await start();
  $('send-keys').addEventListener('click', () => sendKeys().catch(fail));
  $('send-batch').addEventListener('click', () => sendBatch().catch(fail));
  $('retry').addEventListener('click', () => retry().catch(fail));
}

main().catch(fail);
