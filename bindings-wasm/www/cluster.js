// The cluster lesson: three brokers and a controller of a potok cluster running in this page. Buttons stop,
// kill and restart nodes and cut links; the pictures are drawn from cluster.inspect() (the controller's
// metadata and each broker's logs) several times a second; "produce" sends an acks=all Produce to each
// partition's leader.
import init, { Cluster } from '../pkg/web/potok.js';
import { createTopicsFrame, produceFrame, readCreateTopics, readProduce, recordBatch } from './frames.js';
import { $, el, status, fail } from './lesson.js';

const TOPIC = 'orders';
const PARTITIONS = 3;
// Kafka's defaults are 9 s, 2 s and 30 s: shortened so that fencing and ISR changes happen within seconds.
const CONFIG = {
  'broker.session.timeout.ms': 3000,
  'broker.heartbeat.interval.ms': 500,
  'replica.lag.time.max.ms': 5000,
};
const ERRORS = {
  6: 'NOT_LEADER_OR_FOLLOWER', 7: 'REQUEST_TIMED_OUT', 19: 'NOT_ENOUGH_REPLICAS',
  20: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 3: 'UNKNOWN_TOPIC_OR_PARTITION',
};
const STATE_COLOURS = { running: '#90be6d', fenced: '#f9c74f', stopping: '#f9c74f', stopped: '#bbbbbb', killed: '#ef476f' };

let cluster = null;
let produced = 0;
const connections = new Map();

/**
 * Sends one acks=all record to `partition` at its leader (looked up in the controller's metadata) and returns
 * {offset} or {error}. The one place the lesson produces: potok's JS producer will take its place.
 */
async function produceTo(partition, value) {
  const p = cluster.inspect().topics.find((t) => t.name === TOPIC).partitions[partition];
  if (p.leader < 0) return { error: 'LEADER_NOT_AVAILABLE (offline: no replica may lead)' };
  let conn = connections.get(p.leader);
  const request = produceFrame(TOPIC, partition, recordBatch([{ key: null, value }], Date.now()));
  let answer;
  try {
    if (!conn) { conn = cluster.connect(p.leader); connections.set(p.leader, conn); }
    answer = readProduce(await conn.request(request.bytes), request);
  } catch (e) {
    connections.delete(p.leader);
    return { error: `${e.code || e.kind}: ${e.message}` };
  }
  if (answer.errorCode !== 0) return { error: ERRORS[answer.errorCode] || `error ${answer.errorCode}` };
  return { offset: answer.baseOffset, leader: p.leader };
}

async function produce() {
  const value = `record-${produced++}`;
  const results = await Promise.all([...Array(PARTITIONS).keys()].map((p) => produceTo(p, value)));
  const li = document.createElement('li');
  li.className = 'result';
  results.forEach((r, p) => {
    const span = document.createElement('span');
    span.dataset.partition = String(p);
    if (r.error) {
      span.className = 'error';
      span.textContent = `${TOPIC}-${p}: ${r.error}`;
    } else {
      span.textContent = `${TOPIC}-${p}: offset ${r.offset} (leader ${r.leader})`;
    }
    li.append(span);
  });
  $('results').prepend(li);
  status(`produced ${value}`);
  draw();
}

async function start() {
  const started = performance.now();
  cluster = await Cluster.start({ brokers: 3, config: CONFIG });
  const request = createTopicsFrame(TOPIC, PARTITIONS, { 'min.insync.replicas': 2 }, 3);
  const [topic] = readCreateTopics(await cluster.connect(1).request(request.bytes), request);
  if (topic.errorCode !== 0) throw new Error(`CreateTopics: ${topic.errorCode} ${topic.errorMessage}`);
  $('timeouts').textContent = Object.entries(CONFIG).map(([k, v]) => `${k}=${v}`).join(', ');
  buttons();
  document.body.dataset.ready = 'true';
  status(`cluster ${cluster.clusterId} started in ${(performance.now() - started).toFixed(0)} ms`);
  draw();
}

function button(label, id, action) {
  const b = document.createElement('button');
  b.textContent = label;
  b.id = id;
  b.addEventListener('click', () => {
    try { action(); connections.clear(); draw(); } catch (e) { fail(e); }
  });
  return b;
}

function buttons() {
  const nodes = $('node-buttons');
  for (const id of [...cluster.brokerIds, cluster.controllerId]) {
    const group = document.createElement('span');
    group.className = 'node-buttons';
    group.append(`${id === cluster.controllerId ? 'controller' : 'broker'} ${id}: `);
    group.append(button('stop', `stop-${id}`, () => cluster.stop(id)));
    group.append(button('kill', `kill-${id}`, () => cluster.kill(id)));
    group.append(button('restart', `restart-${id}`, () => cluster.restart(id)));
    nodes.append(group);
  }
  const links = $('link-buttons');
  const ids = cluster.brokerIds;
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const [a, b] = [ids[i], ids[j]];
      links.append(button(`cut/heal ${a}–${b}`, `link-${a}-${b}`, () => {
        const cut = cluster.inspect().cuts.some(([x, y]) => x === a && y === b);
        if (cut) cluster.heal(a, b); else cluster.cut(a, b);
      }));
    }
  }
}

/** Where each node is drawn: brokers in a row, the controller above them. */
function layout(view) {
  const spots = new Map();
  const n = view.brokers.length;
  view.brokers.forEach((b, i) => spots.set(b.id, { x: 80 + i * (800 / Math.max(1, n - 1)), y: 170 }));
  spots.set(view.controller.id, { x: 480, y: 45 });
  return spots;
}

function drawNodes(view) {
  const svg = $('nodes');
  svg.replaceChildren();
  const spots = layout(view);
  const ids = [...view.brokers.map((b) => b.id), view.controller.id];
  const isCut = (a, b) => view.cuts.some(([x, y]) => x === Math.min(a, b) && y === Math.max(a, b));
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const [a, b] = [spots.get(ids[i]), spots.get(ids[j])];
      const cut = isCut(ids[i], ids[j]);
      // Brokers in a row: the links between non-neighbours bow downwards so they do not hide each other.
      const bow = a.y === b.y ? 40 + Math.abs(a.x - b.x) / 8 : 0;
      const d = `M${a.x} ${a.y} Q${(a.x + b.x) / 2} ${(a.y + b.y) / 2 + bow} ${b.x} ${b.y}`;
      svg.append(el('path', {
        class: cut ? 'link cut' : 'link', d, fill: 'none', stroke: cut ? '#e63946' : '#aaa',
        'stroke-width': cut ? 3 : 1.5, 'stroke-dasharray': cut ? '6 5' : 'none',
        'data-a': Math.min(ids[i], ids[j]), 'data-b': Math.max(ids[i], ids[j]),
      }));
    }
  }
  const leads = new Map();
  for (const t of view.topics) for (const p of t.partitions) if (p.leader >= 0) leads.set(p.leader, (leads.get(p.leader) || 0) + 1);
  for (const b of view.brokers) {
    const { x, y } = spots.get(b.id);
    const up = b.state === 'running' || b.state === 'stopping';
    const look = b.state === 'running' && b.fenced ? 'fenced' : b.state;
    const g = el('g', { class: 'broker', 'data-id': b.id, 'data-state': b.state, 'data-fenced': String(b.fenced) });
    g.append(el('rect', { x: x - 70, y: y - 32, width: 140, height: 64, rx: 8, fill: STATE_COLOURS[look], stroke: '#333' }));
    g.append(el('text', { x, y: y - 12, 'text-anchor': 'middle', 'font-weight': 'bold' }, `broker ${b.id}`));
    g.append(el('text', { x, y: y + 4, 'text-anchor': 'middle' }, b.fenced && up ? `${b.state}, fenced` : b.state));
    g.append(el('text', { x, y: y + 20, 'text-anchor': 'middle', class: 'small' },
      up ? `epoch ${b.brokerEpoch} · leads ${leads.get(b.id) || 0}` : `epoch ${b.brokerEpoch}`));
    svg.append(g);
  }
  const c = view.controller;
  const { x, y } = spots.get(c.id);
  const g = el('g', { class: 'controller', 'data-id': c.id, 'data-state': c.state });
  g.append(el('rect', { x: x - 80, y: y - 30, width: 160, height: 60, rx: 8, fill: c.state === 'running' ? '#a9def9' : STATE_COLOURS[c.state], stroke: '#333' }));
  g.append(el('text', { x, y: y - 10, 'text-anchor': 'middle', 'font-weight': 'bold' }, `controller ${c.id}`));
  g.append(el('text', { x, y: y + 6, 'text-anchor': 'middle' }, c.state));
  g.append(el('text', { x, y: y + 21, 'text-anchor': 'middle', class: 'small' }, `metadata offset ${c.metadataOffset}`));
  svg.append(g);
}

function drawPartitions(view) {
  const topic = view.topics.find((t) => t.name === TOPIC);
  const svg = $('partitions');
  svg.replaceChildren();
  if (!topic) return;
  const left = 250;
  const width = 960 - left - 60;
  const most = Math.max(10, ...topic.partitions.flatMap((p) => p.logs.map((l) => l.logEndOffset || 0)));
  const scale = width / most;
  const barHeight = 16;
  let y = 10;
  for (const p of topic.partitions) {
    const g = el('g', {
      class: 'partition', 'data-partition': p.partition, 'data-leader': p.leader, 'data-leader-epoch': p.leaderEpoch,
      'data-isr': p.isr.join(','), 'data-high-watermark': p.highWatermark,
    });
    g.append(el('text', { x: 0, y: y + 12, 'font-weight': 'bold' }, `${TOPIC}-${p.partition}`));
    g.append(el('text', { x: 0, y: y + 28, class: 'small' },
      p.leader >= 0 ? `leader ${p.leader} · epoch ${p.leaderEpoch}` : `offline · epoch ${p.leaderEpoch}`));
    g.append(el('text', { x: 0, y: y + 42, class: 'small' }, `ISR [${p.isr.join(', ')}] · HW ${p.highWatermark < 0 ? '?' : p.highWatermark}`));
    p.logs.forEach((log, i) => {
      const by = y + i * (barHeight + 6);
      const inIsr = p.isr.includes(log.broker);
      const leader = log.broker === p.leader;
      const row = el('g', {
        class: 'replica', 'data-broker': log.broker, 'data-in-isr': String(inIsr),
        'data-log-end-offset': log.logEndOffset === null ? '' : log.logEndOffset, opacity: inIsr ? 1 : 0.45,
      });
      row.append(el('text', { x: left - 8, y: by + 12, 'text-anchor': 'end' }, `${leader ? '★ ' : ''}broker ${log.broker}`));
      row.append(el('rect', { x: left, y: by, width, height: barHeight, fill: '#f7f7f7', stroke: '#ddd' }));
      if (log.logEndOffset === null) {
        row.append(el('text', { x: left + 6, y: by + 12, class: 'small' }, 'down'));
      } else {
        const committed = Math.min(log.logEndOffset, Math.max(0, p.highWatermark));
        row.append(el('rect', { x: left, y: by, width: log.logEndOffset * scale, height: barHeight, fill: leader ? '#90be6d' : '#b5e2fa' }));
        row.append(el('rect', { x: left, y: by, width: committed * scale, height: barHeight, fill: leader ? '#43aa8b' : '#277da1' }));
        row.append(el('text', { x: left + log.logEndOffset * scale + 4, y: by + 12, class: 'small' }, `LEO ${log.logEndOffset}`));
      }
      g.append(row);
    });
    if (p.highWatermark >= 0) {
      const x = left + p.highWatermark * scale;
      const bottom = y + p.logs.length * (barHeight + 6);
      g.append(el('line', { class: 'high-watermark', x1: x, x2: x, y1: y - 4, y2: bottom, stroke: '#d62828', 'stroke-width': 2 }));
      g.append(el('text', { x: x + 3, y: bottom + 9, class: 'small', fill: '#d62828' }, `HW ${p.highWatermark}`));
    }
    svg.append(g);
    y += Math.max(50, p.logs.length * (barHeight + 6)) + 22;
  }
  svg.setAttribute('height', String(y));
}

// What was drawn last, so the periodic redraw only redraws on a change.
let drawn = '';

function draw() {
  if (!cluster) return;
  const view = cluster.inspect();
  const shape = JSON.stringify(view);
  if (shape === drawn) return;
  drawn = shape;
  drawNodes(view);
  drawPartitions(view);
}

async function main() {
  await init();
  await start();
  $('produce').addEventListener('click', () => produce().catch(fail));
  setInterval(() => { try { draw(); } catch (e) { fail(e); } }, 200);
}

main().catch(fail);
