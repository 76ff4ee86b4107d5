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
// [--minutes 3] [--rate 4] [--requesters 8] [--warmup 30] [--spam-rate K [--spam-redundancy 4]]
// [--honest-tip OPG].
// With --spam-rate, a spammer sends K requests per block of a model at the chain's minimum fee
// and the largest redundancy the 4 validators allow, alongside the honest requests, and the table
// shows what it spent per minute. With --honest-tip, each honest request tips that much: the
// transaction pool orders by tip, so tipped requests are included, and admitted to the chain's
// free executor draws, before untipped ones. It stops the nodes itself.

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

/** The total balance (free and held) of `accounts`. */
async function totalBalance(api, accounts) {
  let total = 0n;
  for (const a of accounts) {
    const { data } = await api.query.system.account(a.address);
    total += data.free.toBigInt() + data.reserved.toBigInt();
  }
  return total;
}

/**
 * Submits requests at every new block for `minutes`, for each stream `{ name, modelId,
 * requesters, rate }`: `rate` requests of `modelId` in turn from `requesters` (each account's
 * nonces counted here, so that many of its requests are in the pool at once; after a refused
 * submission its nonce is read again from the node), whether earlier ones have ended or not; then
 * waits for the open tasks to end. Counts, per stream, the tasks that settled, by their blocks'
 * timestamps, in the window that starts `warmup` seconds after the first request, and what the
 * stream's accounts spent (fees, escrow paid out) per minute. Returns `{ streams: [{ name,
 * submitted, offeredPerMinute, errors, refused, settled, failed, unfinished, perMinute, blocks,
 * spentPerMinute }], incidents, windowMinutes }` (`incidents`: failures by reason, slashes by
 * reason, jails and calls refused in blocks, such as requests refused `AgendaFull` at admission,
 * as text; `blocks`: request-to-settlement latencies).
 */
export async function measureThroughput(api, streams, { minutes, warmup }, log = () => {}) {
  const streamOf = new Map(); // requester address -> stream index
  streams.forEach((stream, i) => stream.requesters.forEach((r) => streamOf.set(r.address, i)));
  const tasks = new Map(); // task id -> { stream, createdAt, block, endedAt, endBlock, outcome }
  const refused = streams.map(() => 0);
  const incidents = new Map(); // 'TaskFailed(NoQuorum)', 'ExecutorSlashed(NoShow)', 'Jailed' -> count
  const count = (what) => incidents.set(what, (incidents.get(what) ?? 0) + 1);
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  // The finalized chain: no abandoned fork can add a task that never ends.
  const stopFollowing = followChain(api, { from: head + 1 }, async ({ number, hash, events, block }) => {
    for (const { phase, event } of events) {
      if (api.events.inference.TaskFailed.is(event)) count(`TaskFailed(${event.data.reason.type})`);
      if (api.events.inference.ExecutorSlashed.is(event)) count(`ExecutorSlashed(${event.data.reason.type})`);
      if (api.events.inferenceStaking.Jailed.is(event)) count('Jailed');
      if (api.events.inference.BatchEntryFailed.is(event)) {
        const { error } = event.data;
        const name = error.isModule ? api.registry.findMetaError(error.asModule).name : error.type;
        count(`BatchEntryFailed(${name})`);
      }
      // A call the chain refused in a block (a request refused `AgendaFull` at admission, say).
      if (api.events.system.ExtrinsicFailed.is(event) && event.data.dispatchError.isModule) {
        const { section, name } = api.registry.findMetaError(event.data.dispatchError.asModule);
        count(`refused ${section}.${name}`);
        const signer = phase.isApplyExtrinsic ? block.extrinsics[phase.asApplyExtrinsic.toNumber()]?.signer?.toString() : null;
        if (streamOf.has(signer)) refused[streamOf.get(signer)] += 1;
      }
    }
    const relevant = events.filter(({ event }) => event.section === 'inference'
      && (event.method === 'TaskCreated' ? streamOf.has(event.data.requester.toString()) : tasks.has(event.data.taskId?.toNumber()))
      && ['TaskCreated', 'TaskSettled', 'TaskFailed', 'TaskRejected'].includes(event.method));
    if (!relevant.length) return;
    const timestamp = (await api.query.timestamp.now.at(hash)).toNumber();
    for (const { event } of relevant) {
      const id = event.data.taskId.toNumber();
      if (event.method === 'TaskCreated') {
        tasks.set(id, { stream: streamOf.get(event.data.requester.toString()), createdAt: timestamp, block: number });
      } else {
        Object.assign(tasks.get(id), { endedAt: timestamp, endBlock: number, outcome: event.method });
      }
    }
  }, (error) => log(`  following the chain failed: ${error.message}`));

  const state = [];
  for (const stream of streams) {
    const model = (await api.query.models.models(stream.modelId)).unwrap();
    const maxFee = escrowOf(api, model.feePerExecutor.toBigInt(), model.redundancy.toNumber());
    const nonces = new Map();
    for (const r of stream.requesters) nonces.set(r.address, (await api.rpc.system.accountNextIndex(r.address)).toNumber());
    state.push({ maxFee, nonces, submitted: 0, errors: 0, turn: 0, balanceBefore: await totalBalance(api, stream.requesters) });
  }
  const start = Date.now();
  const stopAt = start + minutes * 60_000;
  let height = 0;
  const unsubscribe = await api.rpc.chain.subscribeNewHeads((header) => {
    // Once per height: a fork announces a second block at the same height.
    if (Date.now() >= stopAt || header.number.toNumber() <= height) return;
    height = header.number.toNumber();
    streams.forEach((stream, i) => {
      const st = state[i];
      for (let k = 0; k < stream.rate; k += 1) {
        const account = stream.requesters[st.turn % stream.requesters.length];
        const nonce = st.nonces.get(account.address);
        st.nonces.set(account.address, nonce + 1);
        api.tx.inference.requestInference(stream.modelId, inputOf(st.turn), st.maxFee, null).signAndSend(account, { nonce, tip: stream.tip ?? 0n }).then(
          () => { st.submitted += 1; },
          async (error) => {
            st.errors += 1;
            if (st.errors <= 5) log(`  ${stream.name}: a submission was refused: ${error.message}`);
            st.nonces.set(account.address, (await api.rpc.system.accountNextIndex(account.address)).toNumber());
          },
        );
        st.turn += 1;
      }
    });
  });
  const open = (i) => [...tasks.values()].filter((t) => !t.outcome && (i === undefined || t.stream === i)).length;
  const ended = () => [...tasks.values()].filter((t) => t.outcome).length;
  while (Date.now() < stopAt) {
    await sleep(Math.min(30_000, stopAt - Date.now()));
    const submitted = state.map((st, i) => `${streams[i].name} ${st.submitted}`).join(', ');
    log(`  ${((Date.now() - start) / 1000).toFixed(0)} s: submitted ${submitted}; ${tasks.size} created, ${ended()} ended`);
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
  const windowMinutes = (to - from) / 60_000;
  const results = [];
  for (const [i, stream] of streams.entries()) {
    const mine = all.filter((t) => t.stream === i);
    const settled = mine.filter((t) => t.outcome === 'TaskSettled');
    const balanceAfter = await totalBalance(api, stream.requesters);
    results.push({
      name: stream.name,
      rate: stream.rate,
      submitted: state[i].submitted,
      offeredPerMinute: state[i].submitted / minutes,
      errors: state[i].errors,
      refused: refused[i],
      settled: settled.length,
      failed: mine.filter((t) => t.outcome === 'TaskFailed').length,
      unfinished: open(i),
      perMinute: settled.filter((t) => t.endedAt >= from && t.endedAt < to).length / windowMinutes,
      blocks: settled.map((t) => t.endBlock - t.block),
      spentPerMinute: Number(state[i].balanceBefore - balanceAfter) / 1e18 / minutes,
    });
  }
  return { streams: results, incidents: [...incidents].map(([what, n]) => `${n} ${what}`).join(', ') || 'none', windowMinutes };
}

/** Prints the summary table. */
export function report({ latency, throughput, minutes, warmup }) {
  const settled = latency.filter((r) => r.outcome === 'TaskSettled');
  const stat = (key, digits) => `${quantile(settled.map((r) => r[key]), 0.5).toFixed(digits)} / ${quantile(settled.map((r) => r[key]), 0.9).toFixed(digits)}`;
  const rows = [];
  if (latency.length) {
    rows.push(
      [`latency, ${latency.length} sequential requests (${settled.length} settled): blocks, median / p90`, stat('blocks', 0)],
      ['latency: seconds between the blocks (timestamps), median / p90', stat('chainSeconds', 1)],
      ['latency: wall seconds from submission to seeing the settlement, median / p90', stat('wallSeconds', 1)],
    );
  }
  for (const t of throughput.streams) {
    const what = `${t.name}, ${t.rate} requests per block for ${minutes} min`;
    rows.push(
      [`${what}: settled tasks per minute (first ${warmup} s left out)`, t.perMinute.toFixed(1)],
      [`${what}: requests submitted per minute`, t.offeredPerMinute.toFixed(1)],
      [`${what}: submitted / settled / failed / unfinished / refused at admission / refused by the pool`, `${t.submitted} / ${t.settled} / ${t.failed} / ${t.unfinished} / ${t.refused} / ${t.errors}`],
      [`${what}: request-to-settlement blocks, median / p90`, `${quantile(t.blocks, 0.5)} / ${quantile(t.blocks, 0.9)}`],
      [`${what}: OPG spent per minute (fees and escrow paid out)`, t.spentPerMinute.toFixed(3)],
    );
  }
  rows.push(['throughput: failures, slashes, jails and refused calls', throughput.incidents]);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\nOPG execution measurement (${new Date().toISOString().slice(0, 10)}, ${NODE_BIN}, fast runtime: 2 s blocks, demo MLP)\n`);
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
      'spam-rate': { type: 'string', default: '0' },
      'spam-redundancy': { type: 'string', default: '4' },
      'honest-tip': { type: 'string', default: '0' },
    },
  });
  const count = Number(values['latency-requests']);
  const minutes = Number(values.minutes);
  const warmup = Number(values.warmup);
  const requesterCount = Number(values.requesters);
  const rate = Number(values.rate);
  const spamRate = Number(values['spam-rate']);
  const spamRedundancy = Number(values['spam-redundancy']);
  const honestTip = BigInt(Math.round(Number(values['honest-tip']) * 1e6)) * (OPG / 1_000_000n);
  const log = (line) => console.log(line);

  const demo = mlpModel({ name: 'demo-mlp', ...DEMO_MLP });
  const network = new LocalNetwork({ label: 'measure', imports: Object.fromEntries(VALIDATORS.map((v) => [v, Object.values(demo.files)])) });
  try {
    log(`Starting the 4-validator network (${NODE_BIN})`);
    await network.start();
    const api = await network.api('Alice');
    log('Setting up the chain');
    // The spammer's model: the demo MLP at the chain's minimum fee, as many executors as it asks.
    const spam = mlpModel({
      name: 'demo-mlp-min-fee', ...DEMO_MLP, fee: api.consts.models.minFeePerExecutor.toBigInt(), redundancy: spamRedundancy,
    });
    // Inference keys fund the fee withheld before each commit and reveal (given back when valid).
    const setup = await setupChain(api, {
      models: spamRate > 0 ? [demo, spam] : [demo], keyFunding: 10_000n * OPG, delegations: [['Eve', 'Bob', 100n * OPG]], log,
    });
    const modelId = setup.models['demo-mlp'];
    const requesters = Array.from({ length: requesterCount }, (_, i) => dev(`Requester//${i}`));
    const spammers = spamRate > 0 ? Array.from({ length: requesterCount }, (_, i) => dev(`Spammer//${i}`)) : [];
    log(`Funding ${requesters.length + spammers.length} requesters`);
    await fund(api, dev('Ferdie'), [...requesters, ...spammers], 10_000n * OPG);

    log(`Latency: ${count} sequential requests`);
    const latency = await measureLatency(api, modelId, count, log);
    const honestName = honestTip > 0n ? `honest (tip ${values['honest-tip']} OPG)` : 'honest';
    const streams = [{ name: honestName, modelId, requesters, rate, tip: honestTip }];
    if (spamRate > 0) {
      streams.push({ name: `spammer (redundancy ${spamRedundancy}, minimum fee)`, modelId: setup.models['demo-mlp-min-fee'], requesters: spammers, rate: spamRate });
    }
    log(`Throughput: ${streams.map((s) => `${s.name} ${s.rate} requests per block`).join(', ')} for ${minutes} min`);
    const throughput = await measureThroughput(api, streams, { minutes, warmup }, log);
    report({ latency, throughput, minutes, warmup });
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
