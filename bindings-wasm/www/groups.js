// The consumer-group lesson: potok's consumers (bindings-wasm's broker.consumer(), the native clients' group
// membership and fetcher) join a group on the broker in this page; the pictures come from each consumer's
// assignment and the broker's inspect() (committed offsets, log end offsets).
import init, { Broker } from '../pkg/web/potok.js';
import { $, el, status, fail } from './lesson.js';

const TOPIC = 'numbers';
const GROUP = 'nums';
const PARTITIONS = 5;
const COLOURS = ['#4d908e', '#f4a261', '#9d4edd', '#277da1', '#e76f51', '#90be6d', '#e9c46a', '#577590'];

let broker = null;
let producer = null;
let produced = 0;
let nextId = 1;
/** The members: {id, consumer, colour, consumed, positions: Map(partition → next offset), alive}. */
const members = [];
const events = [];

async function start() {
  broker = await Broker.start({});
  await broker.admin().createTopics([{ name: TOPIC, numPartitions: PARTITIONS }]);
  producer = broker.producer({ 'linger.ms': 5 });
  document.body.dataset.ready = 'true';
  status(`broker ${broker.clusterId} started`);
}

function addMember() {
  const id = nextId++;
  const consumer = broker.consumer({
    'group.id': GROUP, 'client.id': `consumer-${id}`, 'auto.offset.reset': 'earliest',
    'auto.commit.interval.ms': 1000, 'session.timeout.ms': 10000, 'heartbeat.interval.ms': 1000,
  });
  consumer.subscribe([TOPIC]);
  const member = { id, consumer, colour: COLOURS[(id - 1) % COLOURS.length], consumed: 0, positions: new Map(), alive: true };
  members.push(member);
  pollLoop(member).catch(fail);
  draw();
}

async function pollLoop(member) {
  while (member.alive) {
    let records;
    try {
      records = await member.consumer.poll(100);
    } catch (e) {
      if (!member.alive) break; // closed while its poll waited
      throw e;
    }
    if (!member.alive) break;
    for (const r of records) member.positions.set(r.partition, r.offset + 1);
    member.consumed += records.length;
    for (const e of member.consumer.rebalances()) {
      events.unshift(`consumer-${member.id}: ${e.type} ${e.partitions.map((p) => p.partition).join(', ') || 'nothing'}`);
      if (e.type !== 'assigned') for (const p of e.partitions) member.positions.delete(p.partition);
    }
  }
}

function closeMember(member) {
  member.alive = false;
  member.consumer.close();
  members.splice(members.indexOf(member), 1);
  events.unshift(`consumer-${member.id}: closed (left the group)`);
  draw();
}

async function produce() {
  const sends = [];
  for (let i = 0; i < 25; i++, produced++) sends.push(producer.send({ topic: TOPIC, key: `n${produced}`, value: String(produced) }));
  await Promise.all(sends);
  status(`${produced} records produced`);
}

function owners() {
  const byPartition = new Map();
  for (const m of members) {
    for (const tp of m.consumer.assignment()) if (tp.topic === TOPIC) byPartition.set(tp.partition, m);
  }
  return byPartition;
}

function draw() {
  if (!broker) return;
  const inspection = broker.inspect({ batchesPerSegment: 0, indexEntriesPerSegment: 0, internalTopics: false });
  const topic = inspection.topics.find((t) => t.name === TOPIC);
  const group = inspection.groups.find((g) => g.groupId === GROUP);
  const committed = new Map((group ? group.offsets : []).filter((o) => o.topic === TOPIC).map((o) => [o.partition, o.offset]));
  const byPartition = owners();

  const list = $('members');
  list.replaceChildren();
  for (const m of members) {
    const row = document.createElement('div');
    row.className = 'member';
    row.dataset.member = String(m.id);
    const partitions = m.consumer.assignment().filter((tp) => tp.topic === TOPIC).map((tp) => tp.partition).sort();
    row.dataset.partitions = partitions.join(',');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = m.colour;
    const text = document.createElement('span');
    text.textContent = ` consumer-${m.id}: partitions ${partitions.join(', ') || '(none yet)'} · ${m.consumed} records read `;
    const close = document.createElement('button');
    close.textContent = 'Close';
    close.className = 'close';
    close.addEventListener('click', () => closeMember(m));
    row.append(swatch, text, close);
    list.append(row);
  }
  if (!members.length) list.textContent = 'No consumers: add one.';

  const svg = $('partitions');
  svg.replaceChildren();
  const left = 120;
  const width = 960 - left - 230;
  const longest = Math.max(10, ...topic.partitions.map((p) => p.logEndOffset));
  const scale = width / longest;
  topic.partitions.forEach((p, row) => {
    const y = 8 + row * 38;
    const owner = byPartition.get(p.partition);
    const done = committed.get(p.partition) ?? 0;
    const position = owner ? (owner.positions.get(p.partition) ?? done) : done;
    const lag = p.logEndOffset - done;
    const g = el('g', { class: 'partition', 'data-partition': p.partition, 'data-owner': owner ? owner.id : '',
      'data-committed': done, 'data-end': p.logEndOffset, 'data-lag': lag });
    g.append(el('text', { x: 0, y: y + 17 }, `${TOPIC}-${p.partition}`));
    g.append(el('rect', { x: left, y, width: Math.max(1, p.logEndOffset * scale), height: 24, fill: owner ? owner.colour : '#ccc', opacity: 0.85 }));
    g.append(el('rect', { x: left + position * scale - 1, y: y - 3, width: 3, height: 30, fill: '#000' }));
    g.append(el('rect', { x: left + done * scale - 1, y: y - 3, width: 2, height: 30, fill: '#d00' }));
    g.append(el('text', { x: left + width + 10, y: y + 17 },
      `end ${p.logEndOffset} · committed ${done} · lag ${lag}`));
    g.append(el('title', {}, `${owner ? `consumer-${owner.id}` : 'no owner'}: current offset ${position}, committed ${done}, log end ${p.logEndOffset}`));
    svg.append(g);
  });
  svg.setAttribute('height', String(16 + topic.partitions.length * 38));

  const list2 = $('events');
  list2.replaceChildren(...events.slice(0, 30).map((e) => { const li = document.createElement('li'); li.textContent = e; return li; }));
}

async function main() {
  await init();
  await start();
  $('add').addEventListener('click', () => { try { addMember(); } catch (e) { fail(e); } });
  $('produce').addEventListener('click', () => produce().catch(fail));
  setInterval(() => { try { draw(); } catch (e) { fail(e); } }, 300);
}

main().catch(fail);
