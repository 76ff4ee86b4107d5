// The explorer (explorer/) in a real headless Chromium (Debian's package, driven by
// playwright-core) against the `local` chain's four validators as real opg-node processes that
// execute the demo MLP on their own. Everything the pages show is checked against the chain's
// own storage and events, read here with @polkadot/api:
// 1. a demo-MLP inference requested through the form (an 8×8 drawing, signed by //Ferdie in the
//    page) settles, and its task page shows the timeline, digests, agreement, fees and a
//    commitment check that the chain's records confirm;
// 2. Dave reports a perturbed output (`--dev-fault-output`): the task page marks him as the
//    dissenter and shows his slash with its reason and amount;
// 3. Ferdie delegates to Alice and undelegates from the validators page, whose reliability
//    records are the chain's counters;
// 4. the models and live pages show the chain's figures, and an unknown task id is an error in
//    words.
// Screenshots of each page go to $OPG_TEST_OUTPUT/explorer (default tests/output/explorer).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from './lib/node.mjs';
import { OPG, dev } from './lib/chain.mjs';
import { LocalNetwork, VALIDATORS, DEMO_MLP, mlpModel, setupChain } from './lib/network.mjs';
import { TaskWatcher, requestInference, digitSample, f32Hex, f32Values } from './lib/tasks.mjs';
import { serveStatic, launchChromium, newPage, screenshot } from './lib/browser.mjs';

const names = {}; // address -> validator name, for messages
let network;
let api;
let demoId;
let server;
let browser;
let rpcUrl;
const pages = [];
const settledTasks = []; // ids of the tasks the tests saw settle
let startBlock; // the best block once the chain is set up: no task before it

before(async () => {
  const demo = mlpModel({ name: 'demo-mlp', ...DEMO_MLP });
  const files = Object.values(demo.files);
  network = new LocalNetwork({ label: 'explorer', imports: Object.fromEntries(VALIDATORS.map((v) => [v, files])) });
  await network.start();
  api = await network.api('Alice');
  rpcUrl = `ws://127.0.0.1:${network.node('Alice').rpcPort}`;
  for (const name of [...VALIDATORS, 'Eve', 'Ferdie']) names[dev(name).address] = name;
  const setup = await setupChain(api, { models: [demo], delegations: [['Eve', 'Dave', 100n * OPG]] });
  demoId = setup.models['demo-mlp'];
  startBlock = (await api.rpc.chain.getHeader()).number.toNumber();
  server = await serveStatic();
  browser = await launchChromium();
});

after(async () => {
  for (const page of pages) {
    if (page.errors.length) console.log(`# browser errors on ${page.url()}:\n#   ${page.errors.join('\n#   ')}`);
  }
  await browser?.close();
  await server?.close();
  await stopAll();
});

/** Opens the explorer at `route` (a hash route) on Alice's node and waits until it is connected. */
async function open(route, { account } = {}) {
  const page = await newPage(browser);
  pages.push(page);
  await page.goto(`${server.url}?rpc=${encodeURIComponent(rpcUrl)}#${route}`);
  await page.waitForSelector('[data-testid=connection-status][data-state=connected]', { timeout: 60_000 });
  if (account) await page.selectOption('[data-testid=account-select]', dev(account).address);
  return page;
}

/** The `data-*` attributes of every element matching `selector`, as objects. */
function attributesOf(page, selector) {
  return page.$$eval(selector, (elements) => elements.map((e) => ({ ...e.dataset, text: e.textContent })));
}

/** Waits until the task page shows an ended status and returns it. */
async function waitForEnd(page, timeout = 120_000) {
  await page.waitForSelector('[data-testid=task-status][data-status=Settled], [data-testid=task-status][data-status=Failed], [data-testid=task-status][data-status=Rejected]', { timeout });
  return page.getAttribute('[data-testid=task-status]', 'data-status');
}

/** The chain's own account of task `taskId` from block `from` until it ended: its events and its
 * record. */
async function chainRecord(taskId, from) {
  const watcher = new TaskWatcher(api, taskId, { from, names });
  try {
    const end = await watcher.ended({ timeoutMs: 120_000 });
    const task = (await api.query.inference.tasks(taskId)).unwrap();
    return { watcher, end, task };
  } finally {
    watcher.stop();
  }
}

/**
 * What each validator's reliability record must read, counted from the `inference` events of
 * every block since the set-up up to the best block (the chain runs no other tasks): address ->
 * `{ assigned, agreed, mismatched, slashes }`.
 */
async function countedFromEvents() {
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  const counted = {};
  const count = (who, field) => {
    counted[who.toString()] ??= { assigned: 0, agreed: 0, mismatched: 0, slashes: 0 };
    counted[who.toString()][field] += 1;
  };
  for (let n = startBlock; n <= best; n += 1) {
    for (const { event } of await api.query.system.events.at(await api.rpc.chain.getBlockHash(n))) {
      if (event.section !== 'inference') continue;
      const d = event.data;
      if (event.method === 'TaskAssigned') for (const who of d.executors) count(who, 'assigned');
      if (event.method === 'ExecutorReplaced') count(d.executor, 'assigned');
      if (event.method === 'ExecutorRewarded') count(d.executor, 'agreed');
      if (event.method === 'ExecutorSlashed') count(d.executor, 'slashes');
      if (['ExecutorSlashed', 'OffenceCovered'].includes(event.method) && d.reason.isMismatch) count(d.executor, 'mismatched');
    }
  }
  return counted;
}

/** Asserts the task page's timeline, executors, digests, agreement and fees against the chain's
 * record, and returns the page's executor rows by validator name. */
async function assertTaskPage(page, { watcher, end, task }) {
  const timeline = await attributesOf(page, '[data-testid=timeline-item]');
  const at = (kind) => timeline.filter((item) => item.kind === kind);
  assert.equal(at('requested').length, 1, `timeline: ${JSON.stringify(timeline)}`);
  assert.equal(Number(at('requested')[0].block), task.createdAt.toNumber());
  assert.deepEqual(at('assigned').map((i) => Number(i.block)), watcher.all('TaskAssigned').map((e) => e.block));
  for (const [kind, event] of [['committed', 'ResultCommitted'], ['revealed', 'ResultRevealed'], ['rewarded', 'ExecutorRewarded'], ['slashed', 'ExecutorSlashed']]) {
    const shown = at(kind).map((i) => `${names[i.account]}@${i.block}`).sort();
    const chain = watcher.all(event).map((e) => `${names[e.data.executor.toString()]}@${e.block}`).sort();
    assert.deepEqual(shown, chain, `${kind} in the timeline vs ${event} on chain`);
  }
  const endKind = end.name.replace(/^Task/, '').toLowerCase();
  assert.deepEqual(at(endKind).map((i) => Number(i.block)), [end.block], `the timeline's ${endKind}`);
  const blocks = timeline.map((i) => Number(i.block));
  assert.deepEqual(blocks, [...blocks].sort((a, b) => a - b), 'the timeline is in block order');

  // Executors: the chain's commitments and revealed digests, the quorum's agreeing.
  const rows = Object.fromEntries((await attributesOf(page, '[data-testid=executor-row]')).map((r) => [names[r.account], r]));
  assert.deepEqual(Object.keys(rows).sort(), task.executors.map((e) => names[e.who.toString()]).sort());
  const settledDigest = end.data.digest?.toHex();
  for (const executor of task.executors) {
    const name = names[executor.who.toString()];
    const row = rows[name];
    assert.equal(row.commitment, executor.commitment.isSome ? executor.commitment.unwrap().toHex() : '', `${name}'s commitment`);
    assert.equal(row.digest, executor.revealed.isSome ? executor.revealed.unwrap().toHex() : '', `${name}'s digest`);
    assert.equal(row.agrees, String(row.digest === settledDigest), `${name}'s agreement`);
    assert.ok(BigInt(row.stake) > 0n, `${name}'s stake`);
  }

  // Fees: what the chain paid, took and refunded.
  assert.equal(BigInt(await page.getAttribute('[data-testid=fee-paid]', 'data-value')), end.data.paid.toBigInt());
  assert.equal(BigInt(await page.getAttribute('[data-testid=protocol-fee]', 'data-value')), end.data.protocolFee.toBigInt());
  assert.equal(BigInt(await page.getAttribute('[data-testid=refunded]', 'data-value')), end.data.refunded.toBigInt());
  const rewards = watcher.all('ExecutorRewarded').reduce((sum, e) => sum + e.data.amount.toBigInt(), 0n);
  assert.equal(rewards, end.data.paid.toBigInt(), 'the rewards add up to what the task paid');

  // Slashes, with their reasons and amounts.
  const slashes = (await attributesOf(page, '[data-testid=slash-row]')).map((s) => `${names[s.account]}:${s.reason}:${s.amount}`).sort();
  const chainSlashes = watcher.all('ExecutorSlashed').map((e) => `${names[e.data.executor.toString()]}:${e.data.reason.type}:${e.data.amount.toBigInt()}`).sort();
  assert.deepEqual(slashes, chainSlashes);

  // "Verify it yourself": the command reruns the model on the task's own input (read here from
  // the request extrinsic), and each reveal's commitment is recomputed in the browser.
  const command = await page.textContent('[data-testid=verify-command]');
  assert.match(command, /^opg-node models run 0x[0-9a-f]{64} /);
  const block = await api.rpc.chain.getBlock(await api.rpc.chain.getBlockHash(task.createdAt));
  const call = block.block.extrinsics.map((x) => x.method).find((m) => m.section === 'inference' && m.method === 'requestInference');
  const shownInput = command.match(/--input (\S+)/)[1].split(',').map(Number);
  assert.deepEqual(shownInput.map(Math.fround), f32Values(call.args[1].toU8a(true)), 'the command runs the task\'s input');
  await page.click('[data-testid=verify-button]');
  const revealed = task.executors.filter((e) => e.revealed.isSome).map((e) => names[e.who.toString()]).sort();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=commitment-check][data-result=match], [data-testid=commitment-check][data-result=mismatch]').length >= n, revealed.length, { timeout: 60_000 });
  const checks = await attributesOf(page, '[data-testid=commitment-check]');
  assert.deepEqual(checks.filter((c) => c.result === 'match').map((c) => names[c.account]).sort(), revealed,
    `commitment checks: ${JSON.stringify(checks)}`);
  return rows;
}

test('a demo-MLP inference requested through the form settles; its task page matches the chain', { timeout: 300_000 }, async () => {
  const page = await open('/request', { account: 'Ferdie' });
  await page.selectOption('[data-testid=model-select]', String(demoId));
  // Draw a 7 from the digit sample: every cell the sample lights is clicked once.
  const sample = digitSample(7);
  const lit = sample.pixels.map((v, i) => (v > 0 ? i : -1)).filter((i) => i >= 0);
  const cells = await page.$$('[data-testid=digit-cell]');
  assert.equal(cells.length, 64, 'an 8×8 drawing');
  for (const i of lit) await cells[i].click();
  const model = (await api.query.models.models(demoId)).unwrap();
  const shownFee = BigInt(await page.getAttribute('[data-testid=fee]', 'data-value'));
  assert.ok(shownFee >= model.feePerExecutor.toBigInt() * model.redundancy.toBigInt(), `fee shown: ${shownFee}`);
  await screenshot(page, 'request');

  await page.click('[data-testid=submit-request]');
  await page.waitForSelector('[data-testid=task-link]', { timeout: 60_000 });
  const taskId = Number(await page.getAttribute('[data-testid=task-link]', 'data-task-id'));
  const created = (await api.query.inference.tasks(taskId)).unwrap();
  assert.equal(created.requester.toString(), dev('Ferdie').address, 'Ferdie signed the request in the page');
  assert.equal(created.modelId.toNumber(), demoId);
  assert.equal(created.escrow.toBigInt(), shownFee, 'the fee shown is the escrow held');

  // The input the chain got is the drawing: the clicked cells, and nothing else.
  const record = await chainRecord(taskId, created.createdAt.toNumber());
  const block = await api.rpc.chain.getBlock(await api.rpc.chain.getBlockHash(created.createdAt));
  const call = block.block.extrinsics.map((x) => x.method).find((m) => m.section === 'inference' && m.method === 'requestInference');
  const input = f32Values(call.args[1].toU8a(true));
  assert.equal(input.length, 64);
  input.forEach((v, i) => assert.equal(v > 0, lit.includes(i), `pixel ${i} is ${v}`));

  await page.click('[data-testid=task-link]');
  assert.equal(await waitForEnd(page), 'Settled');
  assert.equal(record.end.name, 'TaskSettled', record.watcher.trail());
  const rows = await assertTaskPage(page, record);
  settledTasks.push(taskId);
  assert.ok(Object.values(rows).every((r) => r.agrees === 'true'), 'every executor agreed');
  assert.ok(await page.locator('[data-testid=output]').count() >= 1, 'the output is shown');
  await screenshot(page, 'task');
});

test('a mismatching validator is shown dissenting on the task page, with its slash', { timeout: 300_000 }, async () => {
  await network.restart('Dave', { extraArgs: ['--dev-fault-output'] });
  try {
    const request = await requestInference(api, dev('Ferdie'), demoId, f32Hex(digitSample(3).pixels), { redundancy: 4 });
    const record = await chainRecord(request.taskId, request.block);
    assert.equal(record.end.name, 'TaskSettled', record.watcher.trail());
    assert.equal(record.watcher.all('ExecutorSlashed').length, 1, record.watcher.trail());

    const page = await open(`/task/${request.taskId}`);
    assert.equal(await waitForEnd(page), 'Settled');
    const rows = await assertTaskPage(page, record);
    settledTasks.push(request.taskId);
    assert.equal(rows.Dave.agrees, 'false', 'Dave dissented');
    for (const name of ['Alice', 'Bob', 'Charlie']) assert.equal(rows[name].agrees, 'true', `${name} agreed`);
    const slash = (await attributesOf(page, '[data-testid=slash-row]'))[0];
    assert.equal(names[slash.account], 'Dave');
    assert.equal(slash.reason, 'Mismatch');
    await screenshot(page, 'task-dissent');
  } finally {
    await network.restart('Dave'); // honest again
  }
});

test('Ferdie delegates to Alice and undelegates from the validators page; the records are the chain\'s', { timeout: 240_000 }, async () => {
  const ferdie = dev('Ferdie').address;
  const alice = dev('Alice').address;
  const principal = async () => {
    const position = await api.query.inferenceStaking.delegations(ferdie, alice);
    return position.isSome ? position.unwrap().principal.toBigInt() : 0n;
  };
  const page = await open('/validators', { account: 'Ferdie' });
  const row = page.locator(`[data-testid=validator-row][data-account="${alice}"]`);
  await row.waitFor({ timeout: 60_000 });

  // The reliability records are the chain's counters (no task is in flight between the tests),
  // and those count exactly what the tasks' events say.
  const rows = await attributesOf(page, '[data-testid=validator-row]');
  assert.deepEqual(rows.map((r) => names[r.account]).sort(), [...VALIDATORS].sort());
  const fromEvents = await countedFromEvents();
  for (const shown of rows) {
    const record = await api.query.inference.validatorRecords(shown.account);
    const counted = { missedCommits: 0, missedReveals: 0, declined: 0, assigned: 0, agreed: 0, mismatched: 0, slashes: 0, ...fromEvents[shown.account] };
    for (const [attribute, field] of [['agreed', 'agreed'], ['mismatched', 'mismatched'], ['missedCommits', 'missedCommits'], ['missedReveals', 'missedReveals'], ['declined', 'declined'], ['slashes', 'slashes']]) {
      assert.equal(Number(shown[attribute]), record[field].toNumber(), `${names[shown.account]}'s ${field} shown`);
      assert.equal(record[field].toNumber(), counted[field], `${names[shown.account]}'s ${field} on chain vs the tasks' events`);
    }
    assert.equal(record.assigned.toNumber(), counted.assigned, `${names[shown.account]}'s assignments`);
    const info = (await api.query.inferenceStaking.validators(shown.account)).unwrap();
    assert.equal(BigInt(shown.own), info.selfStake.principal.toBigInt(), `${names[shown.account]}'s own stake`);
  }
  const dave = rows.find((r) => names[r.account] === 'Dave');
  assert.equal(Number(dave.mismatched), 1, `Dave's record: ${JSON.stringify(dave)}`);
  assert.equal(Number(dave.slashes), 1, `Dave's record: ${JSON.stringify(dave)}`);
  assert.ok(BigInt(dave.delegated) >= 90n * OPG, "Eve's delegation to Dave, less the slash");
  await screenshot(page, 'validators');

  const before = await principal();
  await row.locator('[data-testid=delegate-amount]').fill('25');
  await row.locator('[data-testid=delegate-button]').click();
  await page.waitForSelector('[data-testid=tx-status][data-state=in-block], [data-testid=tx-status][data-state=finalized], [data-testid=tx-status][data-state=error]', { timeout: 60_000 });
  assert.notEqual(await page.getAttribute('[data-testid=tx-status]', 'data-state'), 'error', await page.textContent('[data-testid=tx-status]'));
  await waitUntil(async () => (await principal()) === before + 25n * OPG, 'the delegation on chain');
  await waitUntil(async () => BigInt((await row.locator('[data-testid=my-delegation]').getAttribute('data-value')) ?? 0) === before + 25n * OPG, 'the delegation shown');

  await row.locator('[data-testid=delegate-amount]').fill('10');
  await row.locator('[data-testid=undelegate-button]').click();
  await waitUntil(async () => (await principal()) === before + 15n * OPG, 'the undelegation on chain');
  await screenshot(page, 'validators-delegated');
});

test('the models and live pages show the chain\'s figures; an unknown task is an error in words', { timeout: 120_000 }, async () => {
  const models = await open('/models');
  const row = models.locator(`[data-testid=model-row][data-model-id="${demoId}"]`);
  await row.waitFor({ timeout: 60_000 });
  const stats = await api.query.inference.modelStats(demoId);
  assert.equal(Number(await row.getAttribute('data-requests')), stats.requests.toNumber());
  assert.equal(Number(await row.getAttribute('data-settled')), stats.settled.toNumber());
  assert.ok(stats.settled.toNumber() >= 2, 'both tasks settled');
  assert.equal(Number(await row.getAttribute('data-median-blocks')), medianOf(stats.settleBlocks.map((n) => n.toNumber())));
  await screenshot(models, 'models');

  const live = await open('/live');
  const best = (await api.rpc.chain.getHeader()).number.toNumber();
  await live.waitForFunction((n) => Number(document.querySelector('[data-testid=best-block]')?.textContent) > n, best, { timeout: 30_000 });
  const finalized = Number(await live.textContent('[data-testid=finalized-block]'));
  assert.ok(finalized > 0 && finalized <= Number(await live.textContent('[data-testid=best-block]')));
  // Opened after both tasks settled: the page reads them back from the chain's records.
  await live.waitForFunction((n) => Number(document.querySelector('[data-testid=chart-settled]')?.dataset.settled) >= n, settledTasks.length, { timeout: 30_000 });
  assert.ok(Number(await live.getAttribute('[data-testid=chart-latency]', 'data-points')) >= settledTasks.length);
  for (const id of settledTasks) {
    assert.equal(await live.getAttribute(`[data-testid=live-task][data-task-id="${id}"]`, 'data-status'), 'Settled', `task ${id} on the live page`);
  }
  await screenshot(live, 'live');

  const missing = await open('/task/987654');
  await missing.waitForSelector('[data-testid=task-error]', { timeout: 30_000 });
  assert.match(await missing.textContent('[data-testid=task-error]'), /987654.*(does not exist|pruned)/);
});

/** The median of the histogram `buckets` (index = blocks to settle), the lower middle value. */
function medianOf(buckets) {
  const total = buckets.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let i = 0; i < buckets.length; i += 1) {
    seen += buckets[i];
    if (2 * seen >= total) return i;
  }
  return NaN;
}

async function waitUntil(predicate, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}
