// The storage lesson: produce into a partition of a potok broker running in this page, and draw its segments,
// sparse index and batches from broker.inspect(); a clicked batch is shown as a hex dump coloured by Kafka's
// fields from broker.segmentBytes().
import init, { Broker } from '../pkg/web/potok.js';
import { createTopicsFrame, produceFrame, readCreateTopics, readProduce, recordBatch } from './frames.js';
import { $, el, status, fail } from './lesson.js';

const TOPIC = 'lesson';
const FIELD_COLOURS = {
  baseOffset: '#ffd166', batchLength: '#f4a261', partitionLeaderEpoch: '#e9c46a', magic: '#e76f51',
  crc: '#ef476f', attributes: '#c77dff', lastOffsetDelta: '#9d4edd', baseTimestamp: '#90be6d',
  maxTimestamp: '#43aa8b', producerId: '#4d908e', producerEpoch: '#577590', baseSequence: '#277da1',
  recordsCount: '#f9844a', records: '#bbbbbb', length: '#dddddd', timestampDelta: '#cdeac0',
  offsetDelta: '#b5e2fa', keyLength: '#ffe5b4', key: '#ffcb77', valueLength: '#d0f4de', value: '#a9def9',
  headersCount: '#eeeeee',
};

let broker = null;
let produced = 0;
let selected = null;

async function start() {
  if (broker) broker.stop();
  const started = performance.now();
  // Retention is checked every half second (Kafka's default is five minutes) so a learner sees it happen.
  broker = await Broker.start({ 'log.retention.check.interval.ms': 500 });
  const conn = broker.connect();
  const request = createTopicsFrame(TOPIC, 1, {
    'segment.bytes': $('segment-bytes').value,
    'index.interval.bytes': $('index-interval').value,
    'retention.bytes': $('retention-bytes').value,
  });
  const [topic] = readCreateTopics(await conn.request(request.bytes), request);
  if (topic.errorCode !== 0) throw new Error(`CreateTopics: ${topic.errorCode} ${topic.errorMessage}`);
  produced = 0;
  selected = null;
  drawn = '';
  document.body.dataset.ready = 'true';
  status(`broker ${broker.clusterId} started in ${(performance.now() - started).toFixed(0)} ms`);
  draw();
}

async function produce(batches) {
  const perBatch = Number($('batch-records').value);
  const value = 'v'.repeat(Number($('value-size').value));
  for (let b = 0; b < batches; b++) {
    const records = Array.from({ length: perBatch }, () => ({ key: `key-${produced}`, value: `${produced++}:${value}` }));
    const request = produceFrame(TOPIC, 0, recordBatch(records, Date.now()));
    const answer = readProduce(await broker.request(request.bytes), request);
    if (answer.errorCode !== 0) throw new Error(`Produce: error ${answer.errorCode}`);
  }
  status(`${produced} records produced`);
  draw();
}

// What was drawn last, so the periodic redraw (retention happens between clicks) only redraws on a change.
let drawn = '';

function draw() {
  if (!broker || !broker.running) return;
  const partition = broker.inspect({ internalTopics: false }).topics.find((t) => t.name === TOPIC).partitions[0];
  const shape = JSON.stringify([partition.logStartOffset, partition.logEndOffset, partition.segments.length, selected]);
  if (shape === drawn) return;
  drawn = shape;
  $('offsets').textContent = `log start offset ${partition.logStartOffset} · high watermark ${partition.highWatermark}` +
    ` · last stable offset ${partition.lastStableOffset} · log end offset ${partition.logEndOffset}` +
    ` · segment.bytes ${partition.segmentBytes} · index.interval.bytes ${partition.indexIntervalBytes}`;
  const svg = $('segments');
  svg.replaceChildren();
  const left = 190;
  const width = 960 - left - 10;
  const scale = width / partition.segmentBytes;
  const rowHeight = 46;
  partition.segments.forEach((segment, row) => {
    const y = 10 + row * rowHeight;
    const g = el('g', { class: 'segment', 'data-base-offset': segment.baseOffset });
    g.append(el('text', { x: 0, y: y + 14 }, segment.file));
    g.append(el('text', { x: 0, y: y + 28 }, `${segment.batchCount} batches, ${segment.recordCount} records`));
    g.append(el('rect', { x: left, y, width: width, height: 24, fill: '#f7f7f7', stroke: '#ccc' }));
    segment.batches.forEach((batch, i) => {
      const rect = el('rect', {
        class: 'batch', x: left + batch.position * scale, y, width: Math.max(1, batch.sizeBytes * scale), height: 24,
        fill: i % 2 ? '#4d908e' : '#90be6d', 'data-base-offset': batch.baseOffset,
      });
      rect.append(el('title', {}, `offsets ${batch.baseOffset}–${batch.lastOffset}, ${batch.sizeBytes} bytes at position ${batch.position}, crc ${batch.crc}`));
      rect.addEventListener('click', () => showBatch(segment.baseOffset, batch.baseOffset));
      if (selected && selected.batch === batch.baseOffset) rect.classList.add('selected');
      g.append(rect);
    });
    for (const entry of segment.index) {
      const x = left + entry.position * scale;
      g.append(el('path', { class: 'index-entry', d: `M${x} ${y + 26} l-4 8 h8 z`, fill: '#e76f51' },));
      g.append(el('text', { x: x + 5, y: y + 36 }, `${entry.offset}→${entry.position}`));
    }
    svg.append(g);
  });
  svg.setAttribute('height', String(20 + partition.segments.length * rowHeight));
}

function showBatch(segmentBase, batchBase) {
  selected = { segment: segmentBase, batch: batchBase };
  const segment = broker.segmentBytes(TOPIC, 0, segmentBase);
  const batch = segment.batches.find((b) => b.header.baseOffset === batchBase);
  const fields = [...batch.fields, ...batch.records.flatMap((r) => r.fields)];
  $('batch-title').textContent = `Batch at offsets ${batch.header.baseOffset}–${batch.header.lastOffset}: ` +
    `${batch.end - batch.start} bytes at position ${batch.start} of ${segment.batches.length ? String(segmentBase).padStart(20, '0') : ''}.log`;
  const hex = $('hex');
  hex.replaceChildren();
  const legend = $('legend');
  legend.replaceChildren();
  for (const f of fields) {
    for (let i = f.start; i < f.end; i++) {
      const span = document.createElement('span');
      span.textContent = segment.bytes[i].toString(16).padStart(2, '0');
      span.style.background = FIELD_COLOURS[f.name] || '#eee';
      span.title = `${f.name} = ${f.value}`;
      span.dataset.field = f.name;
      hex.append(span);
    }
  }
  for (const f of batch.fields) {
    const span = document.createElement('span');
    span.textContent = `${f.name}: ${f.value}`;
    span.style.background = FIELD_COLOURS[f.name] || '#eee';
    legend.append(span);
  }
  draw();
}

async function main() {
  await init();
  await start();
  $('restart').addEventListener('click', () => start().catch(fail));
  $('produce').addEventListener('click', () => produce(1).catch(fail));
  $('produce10').addEventListener('click', () => produce(10).catch(fail));
  setInterval(() => { try { draw(); } catch (e) { fail(e); } }, 250);
}

main().catch(fail);
