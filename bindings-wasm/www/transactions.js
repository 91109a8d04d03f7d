// The transactions lesson: potok's transactional producer and two consumers (read_committed and
// read_uncommitted) on the broker in this page; the log is drawn from broker.inspect() and segmentBytes().
import init, { Broker } from '../pkg/web/potok.js';
import { $, el, status, fail } from './lesson.js';

const TOPIC = 'payments';

let broker = null;
let producer = null;
let open = false;
let sent = 0;
/** Which transaction each offset's record belongs to, and how that transaction ended. */
const outcomeOf = new Map();
let current = [];
const readers = {};

async function start() {
  broker = await Broker.start({});
  await broker.admin().createTopics([{ name: TOPIC, numPartitions: 1 }]);
  producer = broker.producer({ 'transactional.id': 'payments', 'linger.ms': 0 });
  await producer.initTransactions();
  for (const level of ['read_committed', 'read_uncommitted']) {
    const consumer = broker.consumer({ 'isolation.level': level, 'auto.offset.reset': 'earliest' });
    consumer.assign([{ topic: TOPIC, partition: 0 }]);
    readers[level] = { consumer, records: [] };
    readLoop(readers[level]).catch(fail);
  }
  document.body.dataset.ready = 'true';
  status(`broker ${broker.clusterId} started; the producer has its transactional id`);
  buttons();
}

async function readLoop(reader) {
  for (;;) {
    const records = await reader.consumer.poll(200);
    for (const r of records) reader.records.push({ offset: r.offset, value: new TextDecoder().decode(r.value) });
  }
}

function buttons() {
  $('begin').disabled = open;
  $('send').disabled = !open;
  $('commit').disabled = !open;
  $('abort').disabled = !open;
}

async function begin() {
  producer.beginTransaction();
  open = true;
  current = [];
  buttons();
  status('transaction open');
}

async function send() {
  const sends = [];
  for (let i = 0; i < 3; i++) sends.push(producer.send({ topic: TOPIC, value: `payment-${++sent}` }));
  for (const m of await Promise.all(sends)) {
    current.push(m.offset);
    outcomeOf.set(m.offset, 'open');
  }
  status(`${current.length} records in the open transaction`);
}

async function end(commit) {
  if (commit) await producer.commitTransaction();
  else await producer.abortTransaction();
  for (const o of current) outcomeOf.set(o, commit ? 'committed' : 'aborted');
  open = false;
  buttons();
  status(commit ? 'committed' : 'aborted');
}

const FILL = { open: '#bbb', committed: '#43aa8b', aborted: '#ef476f' };

function draw() {
  if (!broker) return;
  const partition = broker.inspect({ internalTopics: false }).topics.find((t) => t.name === TOPIC).partitions[0];
  $('offsets').textContent = `log end offset ${partition.logEndOffset} · high watermark ${partition.highWatermark} · ` +
    `last stable offset ${partition.lastStableOffset}`;
  $('offsets').dataset.lastStable = String(partition.lastStableOffset);
  $('offsets').dataset.end = String(partition.logEndOffset);
  const svg = $('log');
  svg.replaceChildren();
  const size = 22;
  const perRow = 40;
  const markers = new Map();
  for (const segment of partition.segments) {
    for (const b of segment.batches) if (b.control) markers.set(b.baseOffset, b);
  }
  for (let o = 0; o < partition.logEndOffset; o++) {
    const x = (o % perRow) * (size + 2);
    const y = 4 + Math.floor(o / perRow) * (size + 6);
    const marker = markers.get(o);
    const kind = marker ? 'marker' : (outcomeOf.get(o) || 'open');
    const g = el('g', { class: `offset ${kind}`, 'data-offset': o });
    g.append(el('rect', { x, y, width: size, height: size, rx: 2, fill: marker ? '#fff' : FILL[kind], stroke: '#555' }));
    if (marker) {
      const commit = markerIsCommit(o);
      g.setAttribute('data-marker', commit ? 'commit' : 'abort');
      g.append(el('text', { x: x + 7, y: y + 16 }, commit ? 'C' : 'A'));
    }
    g.append(el('title', {}, marker ? `offset ${o}: ${markerIsCommit(o) ? 'commit' : 'abort'} marker` : `offset ${o}: ${kind}`));
    svg.append(g);
  }
  const lso = partition.lastStableOffset;
  const lx = (lso % perRow) * (size + 2) - 1;
  const ly = 2 + Math.floor(lso / perRow) * (size + 6);
  svg.append(el('rect', { x: lx, y: ly, width: 2, height: size + 4, fill: '#277da1' }));
  svg.setAttribute('height', String(12 + (Math.floor(partition.logEndOffset / perRow) + 1) * (size + 6)));
  for (const [level, id] of [['read_committed', 'committed-reader'], ['read_uncommitted', 'uncommitted-reader']]) {
    const list = $(id);
    list.dataset.count = String(readers[level].records.length);
    list.replaceChildren(...readers[level].records.map((r) => {
      const li = document.createElement('li');
      li.textContent = `offset ${r.offset}: ${r.value}`;
      li.dataset.value = r.value;
      li.className = outcomeOf.get(r.offset) || '';
      return li;
    }));
  }
}

/** A control batch's record key says its type: version (int16) then type (int16), 0 abort, 1 commit. */
function markerIsCommit(offset) {
  const segment = broker.segmentBytes(TOPIC, 0, 0);
  const batch = segment.batches.find((b) => b.header.baseOffset === offset);
  const key = batch.records[0].fields.find((f) => f.name === 'key');
  return segment.bytes[key.start + 3] === 1;
}

async function main() {
  await init();
  await start();
  $('begin').addEventListener('click', () => begin().catch(fail));
  $('send').addEventListener('click', () => send().catch(fail));
  $('commit').addEventListener('click', () => end(true).catch(fail));
  $('abort').addEventListener('click', () => end(false).catch(fail));
  setInterval(() => { try { draw(); } catch (e) { fail(e); } }, 300);
}

main().catch(fail);
