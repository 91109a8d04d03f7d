'use strict';
// The cluster lesson (www/cluster.html) in headless Chromium and Firefox, served by `potok playground`: three
// brokers and a controller in the page; the test kills the leader and sees leadership move, kills another broker
// and sees an acks=all produce refused with NOT_ENOUGH_REPLICAS, restarts both and sees the ISR grow back, and
// cuts a link and sees it drawn cut.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { BROWSERS, startPlayground, launch, missing } = require('./browsers.js');

let playground;

before(async () => { playground = await startPlayground(); });
after(() => playground.stop());

/** Partition 0 of the lesson's topic as drawn: {leader, epoch, isr, hw}. */
const partition0 = page => page.$eval('#partitions g.partition[data-partition="0"]', g => ({
  leader: Number(g.dataset.leader),
  epoch: Number(g.dataset.leaderEpoch),
  isr: g.dataset.isr === '' ? [] : g.dataset.isr.split(',').map(Number),
  hw: Number(g.dataset.highWatermark),
}));

/** The newest produce result for partition 0. */
const lastResult = page => page.$eval('#results li:first-child span[data-partition="0"]', s => s.textContent);

for (const name of Object.keys(BROWSERS)) {
  test(`${name}: the cluster lesson shows failover, NOT_ENOUGH_REPLICAS and the ISR growing back`, { skip: missing(name) }, async () => {
    const browser = await launch(name);
    try {
      const page = await browser.newPage();
      // Wide enough for the drawings, for the screenshot.
      if (name === 'chromium') await page.setViewport({ width: 1040, height: 900 });
      const errors = [];
      page.on('pageerror', e => errors.push(e.message));
      await page.goto(`${playground.base}/www/cluster.html`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
      assert.equal(await page.$$eval('#nodes g.broker', gs => gs.length), 3);
      assert.deepEqual(await page.$$eval('#nodes g.broker', gs => gs.map(g => g.dataset.state)), ['running', 'running', 'running']);
      await page.waitForFunction(() => document.querySelector('#partitions g.partition[data-partition="0"]')?.dataset.isr.split(',').length === 3);

      await page.click('#produce');
      await page.waitForFunction(() => document.querySelectorAll('#results li').length === 1);
      assert.match(await lastResult(page), /^orders-0: offset 0 /);
      await page.waitForFunction(() => document.querySelector('#partitions g.partition[data-partition="0"]').dataset.highWatermark === '1');
      const first = await partition0(page);
      assert.equal(first.isr.length, 3);

      // Kill the leader: after the session timeout (3 s here) the controller elects another in-sync replica.
      await page.click(`#kill-${first.leader}`);
      await page.waitForFunction(leader => {
        const g = document.querySelector('#partitions g.partition[data-partition="0"]');
        return Number(g.dataset.leader) > 0 && Number(g.dataset.leader) !== leader;
      }, { timeout: 15000 }, first.leader);
      const moved = await partition0(page);
      assert.equal(moved.epoch, first.epoch + 1);
      assert.equal(moved.isr.length, 2, JSON.stringify(moved));
      assert.equal(await page.$eval(`#nodes g.broker[data-id="${first.leader}"]`, g => g.dataset.state), 'killed');

      // Kill a second broker: the ISR is the leader alone, fewer than min.insync.replicas=2.
      const follower = moved.isr.find(id => id !== moved.leader);
      await page.click(`#kill-${follower}`);
      await page.waitForFunction(() => document.querySelector('#partitions g.partition[data-partition="0"]').dataset.isr.split(',').length === 1, { timeout: 15000 });
      await page.click('#produce');
      await page.waitForFunction(() => document.querySelectorAll('#results li').length === 2);
      assert.match(await lastResult(page), /NOT_ENOUGH_REPLICAS/);
      if (process.env.POTOK_SCREENSHOT_DIR && name === 'chromium') {
        await page.screenshot({ path: path.join(process.env.POTOK_SCREENSHOT_DIR, 'cluster.png'), fullPage: true });
      }

      // Restart both: they register, catch up and the leader takes them back into the ISR.
      await page.click(`#restart-${first.leader}`);
      await page.click(`#restart-${follower}`);
      await page.waitForFunction(() => document.querySelector('#partitions g.partition[data-partition="0"]').dataset.isr.split(',').length === 3, { timeout: 20000 });
      assert.deepEqual(await page.$$eval('#nodes g.broker', gs => gs.map(g => g.dataset.state)), ['running', 'running', 'running']);
      await page.click('#produce');
      await page.waitForFunction(() => document.querySelectorAll('#results li').length === 3);
      assert.match(await lastResult(page), /^orders-0: offset 1 /);

      // A cut link is drawn cut, and healed again.
      await page.click('#link-1-2');
      await page.waitForSelector('#nodes path.link.cut[data-a="1"][data-b="2"]');
      await page.click('#link-1-2');
      await page.waitForFunction(() => document.querySelectorAll('#nodes path.link.cut').length === 0);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
}
