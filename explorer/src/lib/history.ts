// A task's history: its record at the best block, its model, and the events of every block from
// its request to its end (or the best block), with the blocks' timestamps; each executor's reveal
// read back from the extrinsic that carried it, for the browser's commitment check.

import type { ApiPromise } from '@polkadot/api';
import { u8aToHex } from '@polkadot/util';
import { decodeAddress } from '@polkadot/util-crypto';
import { bytesOf, type ChainValue, storage, toBig, toNum, unwrap } from './chain';
import { type Outcome, type Rule, rejectionDigest, ruleOf } from './digest';

/** Most blocks read for one task (a task lives `CommitPeriod + RevealPeriod` blocks and a few
 * more for assignment; beyond this the page says the history is cut). */
export const MAX_HISTORY_BLOCKS = 400;

export class TaskNotFound extends Error {
  constructor(readonly taskId: number) {
    super(`task ${taskId} does not exist or was pruned (ended tasks are kept ResultTtl blocks after their reveal deadline)`);
  }
}

export type TaskEvent = {
  block: number;
  blockHash: string;
  /** Index of the event in its block's events. */
  index: number;
  /** Index of the extrinsic that emitted it, `null` for on_initialize / on_finalize. */
  extrinsic: number | null;
  name: string;
  data: ChainValue;
  time: number | null;
};

export type Reveal = {
  block: number;
  blockHash: string;
  extrinsic: number;
  /** `inference.revealResult` or `inference.revealResults`. */
  call: string;
  /** The account that signed the reveal (the validator's inference key, or the validator). */
  signer: string;
  outcome: Outcome;
  salt: Uint8Array;
};

export type ExecutorView = {
  who: string;
  commitment: string | null;
  revealed: string | null;
  /** Whether it revealed the quorum's digest, once the task settled or was rejected (an
   * executor that never revealed did not agree); `null` while there is no quorum (open, failed,
   * cancelled). */
  agrees: boolean | null;
  /** Total stake backing it now (its pool's active value). */
  stake: bigint | null;
  reveal: Reveal | null;
  /** The validator the reveal's signer acted for when it revealed (`inference.keyOwners` in the
   * state the reveal's block was built on: a key rotated or cleared since does not change it), or
   * the signer itself; `undefined` when the node no longer has that state (a pruned node). */
  signerActsFor: string | null | undefined;
};

export type TaskHistory = {
  id: number;
  task: ChainValue;
  status: string;
  modelId: number;
  model: ChainValue | null;
  rule: Rule;
  input: Uint8Array | null;
  result: ChainValue | null;
  tokenCharge: ChainValue | null;
  events: TaskEvent[];
  bestBlock: number;
  fromBlock: number;
  toBlock: number;
  /** The history stops before the task's end (too many blocks). */
  truncated: boolean;
  /** Blocks whose state the node no longer has (a pruned node): their events are missing. */
  missingBlocks: number[];
  /** Hash of the block that included the request (a sampling model's seed needs it). */
  requestBlockHash: string | null;
  executors: ExecutorView[];
  /** The quorum's digest (settled: the output's; rejected: the rejection's). */
  quorumDigest: string | null;
  paid: bigint | null;
  protocolFee: bigint | null;
  refunded: bigint | null;
};

/** Runs `fn` over `items` with at most `limit` at a time, keeping order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

/** The events of block `n` about task `taskId`, with the block's hash and timestamp; `null` when
 * the node no longer has the block's state. */
export async function taskEventsOfBlock(api: ApiPromise, n: number, taskId: number): Promise<{ hash: string; events: TaskEvent[] } | null> {
  const hash = (await api.rpc.chain.getBlockHash(n)).toHex();
  try {
    const [records, now] = await Promise.all([
      (api.query.system.events as ChainValue).at(hash),
      (api.query.timestamp.now as ChainValue).at(hash),
    ]);
    const time = now ? Number(now.toString()) : null;
    const events: TaskEvent[] = [];
    (records as ChainValue[]).forEach((record: ChainValue, index: number) => {
      const { event, phase } = record;
      if (event.section !== 'inference') return;
      const id = event.data.taskId ?? event.data.task_id;
      if (id === undefined || toNum(id) !== taskId) return;
      events.push({
        block: n, blockHash: hash, index, extrinsic: phase.isApplyExtrinsic ? toNum(phase.asApplyExtrinsic) : null,
        name: event.method, data: event.data, time,
      });
    });
    return { hash, events };
  } catch {
    return null;
  }
}

/** The outcome of a decoded `TaskOutcome` value. */
export function outcomeOf(value: ChainValue): Outcome {
  return value.isRejected ? { rejection: value.asRejected.type } : { output: bytesOf(value.asOutput) };
}

/** Finds task `taskId`'s entry in a reveal extrinsic (`revealResult` or `revealResults`). */
export function revealInExtrinsic(ext: ChainValue, taskId: number): { call: string; outcome: Outcome; salt: Uint8Array } | null {
  const { section, method } = ext.method;
  if (section !== 'inference') return null;
  if (method === 'revealResult') {
    const [id, outcome, salt] = ext.method.args;
    if (toNum(id) !== taskId) return null;
    return { call: 'inference.revealResult', outcome: outcomeOf(outcome), salt: salt.toU8a() };
  }
  if (method === 'revealResults') {
    for (const entry of ext.method.args[0]) {
      const [id, outcome, salt] = entry;
      if (toNum(id) === taskId) return { call: 'inference.revealResults', outcome: outcomeOf(outcome), salt: salt.toU8a() };
    }
  }
  return null;
}

export async function loadTaskHistory(api: ApiPromise, taskId: number, onProgress?: (done: number, total: number) => void): Promise<TaskHistory> {
  const q = api.query as ChainValue;
  const [header, taskOpt] = await Promise.all([api.rpc.chain.getHeader(), q.inference.tasks(taskId)]);
  const task = unwrap(taskOpt);
  if (!task) throw new TaskNotFound(taskId);
  const bestBlock = header.number.toNumber();
  const modelId = toNum(task.modelId);
  const [modelOpt, resultOpt, inputOpt, chargeOpt] = await Promise.all([
    q.models.models(modelId), q.inference.taskResults(taskId), q.inference.taskInputs(taskId),
    storage(api, 'inference', 'taskTokenCharges')?.(taskId) ?? Promise.resolve(null),
  ]);
  const status: string = task.status.type;
  const ended = ['Settled', 'Failed', 'Cancelled', 'Rejected'].includes(status);
  const fromBlock = toNum(task.createdAt);
  const endBlock = ended ? toNum(task.status.value.at) : bestBlock;
  const toBlock = Math.min(endBlock, fromBlock + MAX_HISTORY_BLOCKS - 1, bestBlock);

  const numbers = Array.from({ length: toBlock - fromBlock + 1 }, (_, i) => fromBlock + i);
  let done = 0;
  const blocks = await mapLimit(numbers, 6, async (n) => {
    const r = await taskEventsOfBlock(api, n, taskId);
    onProgress?.(++done, numbers.length);
    return r;
  });
  const events = blocks.flatMap((b) => b?.events ?? []);
  const missingBlocks = numbers.filter((_, i) => blocks[i] === null);
  const requestBlockHash = (await api.rpc.chain.getBlockHash(fromBlock)).toHex();

  // Bodies of the blocks with a request or a reveal of this task.
  const bodies = new Map<string, Promise<ChainValue>>();
  const body = (hash: string) => {
    if (!bodies.has(hash)) bodies.set(hash, api.rpc.chain.getBlock(hash).then((b: ChainValue) => b.block));
    return bodies.get(hash)!;
  };

  // The input: kept in storage while the task is open, else read from the request extrinsic.
  let input: Uint8Array | null = unwrap(inputOpt) ? bytesOf(unwrap(inputOpt)) : null;
  const created = events.find((e) => e.name === 'TaskCreated');
  if (!input && created && created.extrinsic !== null) {
    const ext = (await body(created.blockHash)).extrinsics[created.extrinsic];
    if (ext?.method.section === 'inference' && ext.method.method === 'requestInference') input = bytesOf(ext.method.args[1]);
  }

  // Reveals, from their extrinsics.
  const reveals = new Map<string, Reveal>();
  for (const e of events.filter((e) => e.name === 'ResultRevealed' && e.extrinsic !== null)) {
    const ext = (await body(e.blockHash)).extrinsics[e.extrinsic!];
    const found = ext ? revealInExtrinsic(ext, taskId) : null;
    if (found) {
      reveals.set(e.data.executor.toString(), { block: e.block, blockHash: e.blockHash, extrinsic: e.extrinsic!, signer: ext.signer.toString(), ...found });
    }
  }

  const rule = ruleOf(task.comparison);
  let quorumDigest: string | null = null;
  if (task.status.isSettled) quorumDigest = task.status.asSettled.digest.toHex();
  if (task.status.isRejected) quorumDigest = u8aToHex(rejectionDigest(task.status.asRejected.rejection.type));

  const executors: ExecutorView[] = await Promise.all(task.executors.map(async (ex: ChainValue) => {
    const who = ex.who.toString();
    const revealed = unwrap(ex.revealed)?.toHex() ?? null;
    const reveal = reveals.get(who) ?? null;
    const [pool, owner] = await Promise.all([
      q.inferenceStaking.pools(who),
      reveal && reveal.signer !== who ? ownerWhenRevealed(api, reveal) : Promise.resolve(null),
    ]);
    return {
      who,
      commitment: unwrap(ex.commitment)?.toHex() ?? null,
      revealed,
      agrees: quorumDigest ? revealed === quorumDigest : null,
      stake: unwrap(pool) ? toBig(unwrap(pool).active.value) : null,
      reveal,
      signerActsFor: reveal ? (reveal.signer === who ? who : owner) : null,
    };
  }));

  const end = events.find((e) => ['TaskSettled', 'TaskRejected', 'TaskFailed', 'TaskCancelled'].includes(e.name));
  const field = (name: string) => (end && end.data[name] !== undefined ? toBig(end.data[name]) : null);
  return {
    id: taskId, task, status, modelId, model: unwrap(modelOpt), rule, input, result: unwrap(resultOpt),
    tokenCharge: chargeOpt ? unwrap(chargeOpt) : null, events, bestBlock, fromBlock, toBlock,
    truncated: toBlock < endBlock, missingBlocks, requestBlockHash, executors, quorumDigest,
    paid: end ? field('paid') ?? 0n : null, protocolFee: end ? field('protocolFee') ?? 0n : null, refunded: field('refunded'),
  };
}

/** The validator `reveal`'s signer acted for in the state its block was built on (`null`: for
 * none), or `undefined` when the node no longer has that state. */
async function ownerWhenRevealed(api: ApiPromise, reveal: Reveal): Promise<string | null | undefined> {
  try {
    const header = await api.rpc.chain.getHeader(reveal.blockHash);
    const before = await api.at(header.parentHash);
    return unwrap(await (before.query as ChainValue).inference.keyOwners(reveal.signer))?.toString() ?? null;
  } catch {
    return undefined;
  }
}

/** The executor's account id bytes (what the commitment binds). */
export function accountBytes(address: string): Uint8Array {
  return decodeAddress(address);
}
