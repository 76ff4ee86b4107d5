// Measures how fast the validators' nodes execute inference tasks on their own, on the local
// 4-validator network (fast runtime: 2 s blocks) started like the end-to-end tests:
//
// - latency: sequential requests of the demo MLP, each from the block that includes the request to
//   the block with its TaskSettled, in blocks and in seconds (block timestamps), plus the wall time
//   from submitting the request to seeing the settlement;
// - throughput: a fixed number of requests at every block, from several accounts in turn, for a
//   few minutes, whether earlier ones have ended or not; settled tasks per minute after a warm-up
//   (above what the network sustains, tasks fail at their deadlines or stay unfinished).
//
// Run through scripts/measure-execution.sh (it builds the node unless OPG_NODE_BIN is set), or
// directly: OPG_NODE_BIN=... node scripts/measure-execution.mjs [--latency-requests 20]
// [--minutes 3] [--rate 4] [--requesters 8] [--warmup 30]. It stops the nodes itself.

import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { NODE_BIN, sendAndFinalize, sleep, stopAll } from '../tests/lib/node.mjs';
import { OPG, dev } from '../tests/lib/chain.mjs';
import { LocalNetwork, VALIDATORS, DEMO_MLP, mlpModel, setupChain } from '../tests/lib/network.mjs';
import { TaskWatcher, followChain, requestInference, digitSample, escrowOf, f32Hex } from '../tests/lib/tasks.mjs';

/** The `q` quantile of `values` (nearest rank); NaN for none. */
export function quantile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The on-chain timestamp (ms) of block `number` of the node's best chain. */
async function timestampOf(api, number) {
  const hash = await api.rpc.chain.getBlockHash(number);
  return (await api.query.timestamp.now.at(hash)).toNumber();
}

/** The demo input of request `i`: a digit image. */
function inputOf(i) {
  return f32Hex(digitSample(i % 1797).pixels);
}

/**
 * `count` sequential requests by Ferdie, each awaited on the best chain. Returns one row per
 * request: `{ taskId, outcome, blocks, chainSeconds, wallSeconds }`.
 */
export async function measureLatency(api, modelId, count, log = () => {}) {
  const rows = [];
  for (let i = 0; i < count; i += 1) {
    const submitted = Date.now();
    const request = await requestInference(api, dev('Ferdie'), modelId, inputOf(i));
    const watcher = new TaskWatcher(api, request.taskId, { from: request.block, best: true });
    try {
      const end = await watcher.ended({ timeoutMs: 120_000 });
      const row = {
        taskId: request.taskId,
        outcome: end.name,
        blocks: end.block - request.block,
        chainSeconds: ((await timestampOf(api, end.block)) - (await timestampOf(api, request.block))) / 1000,
        wallSeconds: (end.seenAt - submitted) / 1000,
      };
      rows.push(row);
      log(`  task ${row.taskId}: ${row.outcome} after ${row.blocks} blocks, ${row.chainSeconds} s on chain, ${row.wallSeconds.toFixed(1)} s wall`);
    } finally {
      watcher.stop();
    }
  }
  return rows;
}

/** Funds `accounts` with `amount` each from `from`, in one batch of transactions. */
export async function fund(api, from, accounts, amount) {
  let nonce = (await api.rpc.system.accountNextIndex(from.address)).toNumber();
  const results = await Promise.all(accounts.map((a) =>
    sendAndFinalize(api.tx.balances.transferKeepAlive(a.address, amount), from, { nonce: nonce++, timeoutMs: 180_000 })));
  if (results.some((r) => r.dispatchError)) throw new Error('funding the requesters failed');
}

/**
 * Submits `rate` requests at every new block for `minutes`, in turn from `requesters` (each
 * account's nonces counted here, so that many of its requests are in the pool at once; after a
 * refused submission its nonce is read again from the node), then waits for the open tasks to
 * end. Counts the tasks that settled, by their blocks' timestamps, in the window that starts
 * `warmup` seconds after the first request. Returns `{ submitted, offeredPerMinute, errors,
 * settled, failed, unfinished, incidents, windowMinutes, perMinute, blocks }` (`incidents`: failures
 * by reason, slashes by reason, jails and calls refused in blocks, such as requests refused
 * `AgendaFull` at admission, as text) (`blocks`: request-to-settlement latencies).
 */
export async function measureThroughput(api, modelId, requesters, { minutes, warmup, rate }, log = () => {}) {
  const ours = new Set(requesters.map((r) => r.address));
  const tasks = new Map(); // task id -> { createdAt, block, endedAt, endBlock, outcome }
  const incidents = new Map(); // 'TaskFailed(NoQuorum)', 'ExecutorSlashed(NoShow)', 'Jailed' -> count
  const count = (what) => incidents.set(what, (incidents.get(what) ?? 0) + 1);
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  // The finalized chain: no abandoned fork can add a task that never ends.
  const stopFollowing = followChain(api, { from: head + 1 }, async ({ number, hash, events }) => {
    for (const { event } of events) {
      if (api.events.inference.TaskFailed.is(event)) count(`TaskFailed(${event.data.reason.type})`);
      if (api.events.inference.ExecutorSlashed.is(event)) count(`ExecutorSlashed(${event.data.reason.type})`);
      if (api.events.inferenceStaking.Jailed.is(event)) count('Jailed');
      // A request the chain refused at admission (`AgendaFull`, say) is an incident too.
      if (api.events.system.ExtrinsicFailed.is(event) && event.data.dispatchError.isModule) {
        const { section, name } = api.registry.findMetaError(event.data.dispatchError.asModule);
        count(`refused ${section}.${name}`);
      }
    }
    const relevant = events.filter(({ event }) => event.section === 'inference'
      && (event.method === 'TaskCreated' ? ours.has(event.data.requester.toString()) : tasks.has(event.data.taskId?.toNumber()))
      && ['TaskCreated', 'TaskSettled', 'TaskFailed'].includes(event.method));
    if (!relevant.length) return;
    const timestamp = (await api.query.timestamp.now.at(hash)).toNumber();
    for (const { event } of relevant) {
      const id = event.data.taskId.toNumber();
      if (event.method === 'TaskCreated') tasks.set(id, { createdAt: timestamp, block: number });
      else Object.assign(tasks.get(id), { endedAt: timestamp, endBlock: number, outcome: event.method });
    }
  }, (error) => log(`  following the chain failed: ${error.message}`));

  const model = (await api.query.models.models(modelId)).unwrap();
  const maxFee = escrowOf(api, model.feePerExecutor.toBigInt(), model.redundancy.toNumber());
  const nonces = new Map();
  for (const r of requesters) nonces.set(r.address, (await api.rpc.system.accountNextIndex(r.address)).toNumber());
  let submitted = 0;
  let errors = 0;
  let turn = 0;
  const start = Date.now();
  const stopAt = start + minutes * 60_000;
  let height = 0;
  const unsubscribe = await api.rpc.chain.subscribeNewHeads((header) => {
    // Once per height: a fork announces a second block at the same height.
    if (Date.now() >= stopAt || header.number.toNumber() <= height) return;
    height = header.number.toNumber();
    for (let k = 0; k < rate; k += 1) {
      const account = requesters[turn % requesters.length];
      const nonce = nonces.get(account.address);
      nonces.set(account.address, nonce + 1);
      api.tx.inference.requestInference(modelId, inputOf(turn), maxFee, null).signAndSend(account, { nonce }).then(
        () => { submitted += 1; },
        async (error) => {
          errors += 1;
          if (errors <= 5) log(`  a submission was refused: ${error.message}`);
          nonces.set(account.address, (await api.rpc.system.accountNextIndex(account.address)).toNumber());
        },
      );
      turn += 1;
    }
  });
  const open = () => [...tasks.values()].filter((t) => !t.outcome).length;
  const ended = () => [...tasks.values()].filter((t) => t.outcome).length;
  while (Date.now() < stopAt) {
    await sleep(Math.min(30_000, stopAt - Date.now()));
    log(`  ${((Date.now() - start) / 1000).toFixed(0)} s: ${submitted} submitted, ${tasks.size} created, ${ended()} ended`);
  }
  unsubscribe();
  // Every open task ends by its reveal deadline, at most 20 blocks after its assignment, and
  // finality follows a few blocks behind.
  const drainUntil = Date.now() + 120_000;
  while (open() > 0 && Date.now() < drainUntil) await sleep(2_000);
  stopFollowing();

  const all = [...tasks.values()];
  if (!all.length) throw new Error('no request of the throughput phase was included');
  const chainStart = Math.min(...all.map((t) => t.createdAt));
  const from = chainStart + warmup * 1000;
  const to = chainStart + minutes * 60_000;
  const settled = all.filter((t) => t.outcome === 'TaskSettled');
  const windowMinutes = (to - from) / 60_000;
  return {
    submitted,
    offeredPerMinute: submitted / minutes,
    errors,
    settled: settled.length,
    failed: all.filter((t) => t.outcome === 'TaskFailed').length,
    unfinished: open(),
    incidents: [...incidents].map(([what, n]) => `${n} ${what}`).join(', ') || 'none',
    windowMinutes,
    perMinute: settled.filter((t) => t.endedAt >= from && t.endedAt < to).length / windowMinutes,
    blocks: settled.map((t) => t.endBlock - t.block),
  };
}

/** Prints the summary table. */
export function report({ latency, throughput, requesters, rate, minutes, warmup }) {
  const settled = latency.filter((r) => r.outcome === 'TaskSettled');
  const stat = (key, digits) => `${quantile(settled.map((r) => r[key]), 0.5).toFixed(digits)} / ${quantile(settled.map((r) => r[key]), 0.9).toFixed(digits)}`;
  const rows = [
    [`latency, ${latency.length} sequential requests (${settled.length} settled): blocks, median / p90`, stat('blocks', 0)],
    ['latency: seconds between the blocks (timestamps), median / p90', stat('chainSeconds', 1)],
    ['latency: wall seconds from submission to seeing the settlement, median / p90', stat('wallSeconds', 1)],
    [`throughput: settled tasks per minute (${rate} requests per block from ${requesters} accounts for ${minutes} min, first ${warmup} s left out)`, throughput.perMinute.toFixed(1)],
    ['throughput: requests submitted per minute', throughput.offeredPerMinute.toFixed(1)],
    ['throughput: submitted / settled / failed / unfinished / refused submissions', `${throughput.submitted} / ${throughput.settled} / ${throughput.failed} / ${throughput.unfinished} / ${throughput.errors}`],
    ['throughput: failures, slashes and jails', throughput.incidents],
    ['throughput: request-to-settlement blocks under load, median / p90', `${quantile(throughput.blocks, 0.5)} / ${quantile(throughput.blocks, 0.9)}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\nOPG execution measurement (${new Date().toISOString().slice(0, 10)}, ${NODE_BIN}, fast runtime: 2 s blocks, demo MLP, redundancy 3)\n`);
  console.log(`| ${'measure'.padEnd(width)} | value |`);
  console.log(`|${'-'.repeat(width + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(width)} | ${v} |`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      'latency-requests': { type: 'string', default: '20' },
      minutes: { type: 'string', default: '3' },
      requesters: { type: 'string', default: '8' },
      rate: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '30' },
    },
  });
  const count = Number(values['latency-requests']);
  const minutes = Number(values.minutes);
  const warmup = Number(values.warmup);
  const requesterCount = Number(values.requesters);
  const rate = Number(values.rate);
  const log = (line) => console.log(line);

  const demo = mlpModel({ name: 'demo-mlp', ...DEMO_MLP });
  const network = new LocalNetwork({ label: 'measure', imports: Object.fromEntries(VALIDATORS.map((v) => [v, Object.values(demo.files)])) });
  try {
    log(`Starting the 4-validator network (${NODE_BIN})`);
    await network.start();
    const api = await network.api('Alice');
    log('Setting up the chain');
    // Inference keys pay a commit and a reveal per task: fund them for a few thousand tasks.
    const setup = await setupChain(api, { models: [demo], keyFunding: 10_000n * OPG, delegations: [['Eve', 'Bob', 100n * OPG]], log });
    const modelId = setup.models['demo-mlp'];
    const requesters = Array.from({ length: requesterCount }, (_, i) => dev(`Requester//${i}`));
    log(`Funding ${requesterCount} requesters`);
    await fund(api, dev('Ferdie'), requesters, 10_000n * OPG);

    log(`Latency: ${count} sequential requests`);
    const latency = await measureLatency(api, modelId, count, log);
    log(`Throughput: ${rate} requests per block from ${requesterCount} accounts for ${minutes} min`);
    const throughput = await measureThroughput(api, modelId, requesters, { minutes, warmup, rate }, log);
    report({ latency, throughput, requesters: requesterCount, rate, minutes, warmup });
  } finally {
    await stopAll();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (error) => {
    console.error(error);
    process.exit(1);
  });
}
