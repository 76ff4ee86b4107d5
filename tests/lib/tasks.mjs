// Inference tasks as a client sees them: requesting one, following its events block by block,
// running the same model locally with `opg-node models run` to know the expected output, and
// reading staking positions to see fees and slashes reach validators and delegators.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { u8aToHex } from '@polkadot/util';
import { blake2AsHex } from '@polkadot/util-crypto';
import { REPO_ROOT, runNodeCommand, sendInBlock, tempDir } from './node.mjs';

// --- Bytes ----------------------------------------------------------------------------------

/** Little-endian f32 bytes of `values`, as hex (polkadot.js reads a `Uint8Array` passed as
 * `Bytes` as SCALE-encoded, length prefix included; hex is taken as the raw bytes). */
export function f32Hex(values) {
  return u8aToHex(new Uint8Array(Float32Array.from(values).buffer));
}

/** UTF-8 bytes of `text`, as hex. */
export function textHex(text) {
  return u8aToHex(new TextEncoder().encode(text));
}

/** The bytes of a `Bytes` / `BoundedVec<u8>` value, without its length prefix. */
export function bareBytes(bytes) {
  return bytes.toU8a(true);
}

/** f32 values of little-endian bytes. */
export function f32Values(u8a) {
  return Array.from(new Float32Array(new Uint8Array(u8a).buffer.slice(0)));
}

/** Index of the largest value (first on ties). */
export function argmax(values) {
  let best = 0;
  values.forEach((v, i) => { if (v > values[best]) best = i; });
  return best;
}

/** The `Exact` digest of raw output bytes: blake2-256 of the values' bits with every NaN made the
 * quiet NaN and -0.0 made +0.0, as `ComparisonRule::Exact` canonicalises. */
export function exactDigest(u8a) {
  const words = new Uint32Array(new Uint8Array(u8a).buffer.slice(0));
  const canonical = words.map((bits) => {
    if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return 0x7fc00000;
    return (bits & 0x7fffffff) === 0 ? 0 : bits;
  });
  return blake2AsHex(new Uint8Array(canonical.buffer), 256);
}

/** Sample `index` of the digit images the demo MLP was trained on (inference/data/digits.bin:
 * 64 pixels 0..16 then the label): `{ pixels: 64 values in [0, 1], label }`. */
export function digitSample(index) {
  const data = readFileSync(join(REPO_ROOT, 'inference', 'data', 'digits.bin'));
  const record = data.subarray(index * 65, index * 65 + 65);
  if (record.length !== 65) throw new Error(`no digit sample ${index}`);
  return { pixels: Array.from(record.subarray(0, 64), (p) => p / 16), label: record[64] };
}

// --- Running a model locally -------------------------------------------------------------------

/** Parses the report of `opg-node models run --show 0`: the output values (as f32) and the digest
 * printed for each rule (`Exact`, `Quantized`, `Argmax`, `TopK`). */
export function parseRunReport(text) {
  const out = /^output \((\d+) values\): \[(.*)\]$/m.exec(text);
  if (!out) throw new Error(`no output line in:\n${text}`);
  const items = out[2] === '' ? [] : out[2].split(', ');
  if (items.length !== Number(out[1]) || items.some((v) => v.startsWith('…'))) {
    throw new Error(`output truncated or malformed (run with --show 0):\n${text}`);
  }
  const special = { inf: Infinity, '-inf': -Infinity, NaN: NaN };
  const values = Float32Array.from(items, (v) => (v in special ? special[v] : Math.fround(Number(v))));
  const digests = {};
  for (const [, rule, digest] of text.matchAll(/^digest (\w+)(?: \{[^}]*\})?\s+(0x[0-9a-f]{64})$/gm)) {
    digests[rule] = digest;
  }
  return { values, bytes: new Uint8Array(values.buffer), digests };
}

/**
 * Runs `model` (from `mlpModel` / `bertModel`) on `inputHex` (the bytes a request carries) with
 * `opg-node models run` against the store `modelDir`, the way a validator's engine runs it.
 * Returns `parseRunReport`'s result; throws if the printed values do not reproduce the printed
 * `Exact` digest (so the parsed bytes are exactly the engine's output).
 */
export function runModelLocally(modelDir, model, inputHex, { decimals = 4 } = {}) {
  const inputFile = join(tempDir('opg-run-'), 'input.bin');
  writeFileSync(inputFile, Buffer.from(inputHex.slice(2), 'hex'));
  const args = ['models', '--model-dir', modelDir, 'run', model.hashes.weights, '--config', model.hashes.config];
  if (model.hashes.tokenizer) args.push('--tokenizer', model.hashes.tokenizer);
  args.push('--input-file', inputFile, '--decimals', String(decimals), '--show', '0');
  const report = parseRunReport(runNodeCommand(args));
  if (exactDigest(report.bytes) !== report.digests.Exact) {
    throw new Error('the parsed output does not reproduce the Exact digest models run printed');
  }
  return report;
}

/** A revealed generation (`opg_model::generation::Generation`, SCALE): `{ promptTokens, tokens,
 * text }`. */
export function decodeGeneration(api, u8a) {
  const [promptTokens, tokens, text] = api.createType('(u32, Vec<u32>, Text)', u8a);
  const decoded = { promptTokens: promptTokens.toNumber(), tokens: tokens.map((t) => t.toNumber()), text: text.toString() };
  if (api.createType('(u32, Vec<u32>, Text)', [decoded.promptTokens, decoded.tokens, decoded.text]).toU8a().length !== u8a.length) {
    throw new Error('not exactly a generation');
  }
  return decoded;
}

/**
 * Generates with `model` (from `llmModel`) from the chat `messages` with `opg-node models run
 * --generate`, against the store `modelDir`, under the model's registered generation parameters:
 * `{ promptTokens, tokens, text, digest }` as printed (`digest` under `Tokens`).
 */
export function generateLocally(modelDir, model, messages) {
  const inputFile = join(tempDir('opg-run-'), 'input.json');
  writeFileSync(inputFile, JSON.stringify(messages));
  const g = model.generation;
  const args = ['models', '--model-dir', modelDir, 'run', model.hashes.weights, '--generate', '--chat',
    '--max-prompt-tokens', String(g.maxPromptTokens), '--max-new-tokens', String(g.maxNewTokens)];
  for (const stop of g.stopTokens) if (stop !== null) args.push('--stop', String(stop));
  args.push('--input-file', inputFile);
  const text = runNodeCommand(args);
  const prompt = /^prompt: (\d+) tokens$/m.exec(text);
  const generated = /^generated \((\d+) tokens\): \[(.*)\]$/m.exec(text);
  const digest = /^digest Tokens\s+(0x[0-9a-f]{64})$/m.exec(text);
  if (!prompt || !generated || !digest) throw new Error(`unexpected output of models run --generate:\n${text}`);
  const tokens = generated[2] === '' ? [] : generated[2].split(', ').map(Number);
  return { promptTokens: Number(prompt[1]), tokens, digest: digest[1] };
}

// --- Requests and their events -----------------------------------------------------------------

/** What a request of `redundancy` executors of a model with `feePerExecutor` holds in escrow:
 * the executors' fees plus the protocol fee (rounded up). */
export function escrowOf(api, feePerExecutor, redundancy) {
  const fees = feePerExecutor * BigInt(redundancy);
  const parts = api.consts.inference.protocolFee.toBigInt();
  return fees + (fees * parts + 999_999_999n) / 1_000_000_000n;
}

/** The most a task of `model` (a registry entry) pays each executor: its fee, plus for a language
 * model with token fees the price of its longest prompt and generation. */
export function perExecutorAtMost(model) {
  let fee = model.feePerExecutor.toBigInt();
  if (model.tokenFees.isSome && model.descriptor.architecture.isCausalLm) {
    const prices = model.tokenFees.unwrap();
    const g = model.descriptor.architecture.asCausalLm.generation;
    fee += prices.perPromptToken.toBigInt() * g.maxPromptTokens.toBigInt()
      + prices.perGeneratedToken.toBigInt() * g.maxNewTokens.toBigInt();
  }
  return fee;
}

/**
 * `signer` requests an inference of `modelId` on `inputHex` (`redundancy`: null for the model's)
 * and waits for its block. Returns `{ taskId, block, hash, escrow, txFee }`; throws on a dispatch
 * error.
 */
export async function requestInference(api, signer, modelId, inputHex, { redundancy = null, nonce } = {}) {
  const model = (await api.query.models.models(modelId)).unwrap();
  const escrow = escrowOf(api, perExecutorAtMost(model), redundancy ?? model.redundancy.toNumber());
  const result = await sendInBlock(api.tx.inference.requestInference(modelId, inputHex, escrow, redundancy), signer, { nonce });
  if (result.dispatchError) {
    const detail = result.dispatchError.isModule ? api.registry.findMetaError(result.dispatchError.asModule) : null;
    throw new Error(`requestInference failed: ${detail ? `${detail.section}.${detail.name}` : result.dispatchError}`);
  }
  const created = result.events.find(({ event }) => api.events.inference.TaskCreated.is(event)).event;
  const fee = result.events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  const header = await api.rpc.chain.getHeader(result.inBlock);
  return {
    taskId: created.data.taskId.toNumber(),
    block: header.number.toNumber(),
    hash: result.inBlock,
    escrow: created.data.fee.toBigInt(),
    txFee: fee ? fee.event.data.actualFee.toBigInt() : 0n,
  };
}

/**
 * Calls `onBlock({ number, hash, events, block })` for every block from number `from` on, in
 * order and without gaps, until the returned `stop()`: blocks of the finalized chain, or with
 * `best` of the node's best chain (seen sooner, but a best block may later be abandoned).
 * `onBlock` errors are passed to `onError`.
 */
export function followChain(api, { from, best = false }, onBlock, onError = () => {}) {
  let next = from;
  let stopped = false;
  let unsub = null;
  let queue = Promise.resolve();
  const catchUp = (header) => {
    const top = header.number.toNumber();
    queue = queue.then(async () => {
      for (; next <= top && !stopped; next += 1) {
        const hash = next === top ? header.hash : await api.rpc.chain.getBlockHash(next);
        const [events, block] = await Promise.all([
          api.query.system.events.at(hash),
          api.rpc.chain.getBlock(hash),
        ]);
        await onBlock({ number: next, hash: hash.toHex(), events, block: block.block });
      }
    }).catch(onError);
  };
  const subscribe = best ? api.rpc.chain.subscribeNewHeads : api.rpc.chain.subscribeFinalizedHeads;
  subscribe(catchUp).then((u) => {
    unsub = u;
    if (stopped) u();
  }, onError);
  return () => {
    stopped = true;
    if (unsub) unsub();
  };
}

/** The batch calls, by the single call whose entries they carry. */
const BATCHES = { commitResults: 'commitResult', revealResults: 'revealResult' };

/** The end events of a task. */
const END_EVENTS = ['TaskSettled', 'TaskRejected', 'TaskFailed', 'TaskCancelled'];

/**
 * Follows one task from block `from` on: records its `inference` events (`{ block, name, data,
 * seenAt }`, `seenAt` being when this process saw the block, in ms) and the signers of the
 * `commitResult` / `revealResult` / `decline` extrinsics naming it (and of the `commitResults` /
 * `revealResults` batches with an entry for it, recorded as the single call). `waitFor` resolves with the first recorded
 * event matching a predicate, or rejects after a bounded time with the trail seen so far.
 */
export class TaskWatcher {
  constructor(api, taskId, { from, best = false, names = {} } = {}) {
    this.api = api;
    this.taskId = String(taskId);
    this.names = names;
    this.events = [];
    this.signers = { commitResult: [], revealResult: [], decline: [] };
    this.waiters = [];
    this.error = null;
    this.stopFollowing = followChain(api, { from, best }, (b) => this.onBlock(b), (error) => {
      this.error = error;
      for (const waiter of this.waiters) waiter.reject(error);
    });
  }

  onBlock({ number, events, block }) {
    block.extrinsics.forEach((ex, index) => {
      const { section, method, args } = ex.method;
      if (section !== 'inference') return;
      // What the extrinsic paid: `TransactionFeePaid` in its phase.
      const own = events.filter(({ phase }) => phase.isApplyExtrinsic && phase.asApplyExtrinsic.toNumber() === index);
      const feeOf = () => {
        const paid = own.find(({ event }) => event.section === 'transactionPayment' && event.method === 'TransactionFeePaid');
        return paid ? paid.event.data.actualFee.toBigInt() : null;
      };
      const failed = own.some(({ event }) => event.section === 'inference' && event.method === 'BatchEntryFailed');
      if (method in this.signers && args[0].toString() === this.taskId) {
        this.signers[method].push({ block: number, signer: ex.signer.toString(), fee: feeOf() });
      } else if (method in BATCHES && args[0].some((entry) => entry[0].toString() === this.taskId)) {
        this.signers[BATCHES[method]].push({ block: number, signer: ex.signer.toString(), batch: args[0].length, fee: feeOf(), failed });
      }
    });
    for (const { event } of events) {
      if (event.section !== 'inference' || event.data.taskId?.toString() !== this.taskId) continue;
      this.events.push({ block: number, name: event.method, data: event.data, seenAt: Date.now() });
    }
    this.waiters = this.waiters.filter((waiter) => !waiter.check());
  }

  /** The recorded events named `name`. */
  all(name) {
    return this.events.filter((e) => e.name === name);
  }

  /** The first recorded event named `name`, if any. */
  first(name) {
    return this.events.find((e) => e.name === name);
  }

  /** A readable account: a validator's name when known. */
  who(account) {
    const address = account.toString();
    return this.names[address] ?? address;
  }

  /** The trail so far, for failure messages: `#12 TaskAssigned, #13 ResultCommitted(Bob), ...`. */
  trail() {
    return this.events.map((e) => `#${e.block} ${e.name}${e.data.executor ? `(${this.who(e.data.executor)})` : ''}`).join(', ') || 'no event';
  }

  /** Resolves with the first event for which `predicate(event)` holds; rejects after `timeoutMs`
   * saying it waited for `what`. */
  waitFor(predicate, { timeoutMs = 90_000, what = 'the event' } = {}) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const found = this.events.find(predicate);
          if (found) {
            clearTimeout(waiter.timer);
            resolve(found);
          }
          return Boolean(found);
        },
        reject: (error) => {
          clearTimeout(waiter.timer);
          reject(error);
        },
      };
      if (this.error) return reject(this.error);
      if (waiter.check()) return undefined;
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`task ${this.taskId}: ${what} not seen within ${timeoutMs / 1000} s; seen: ${this.trail()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
      return undefined;
    });
  }

  /** Resolves with the task's end event (`TaskSettled`, `TaskRejected`, `TaskFailed` or
   * `TaskCancelled`). */
  ended({ timeoutMs = 90_000 } = {}) {
    return this.waitFor((e) => END_EVENTS.includes(e.name), { timeoutMs, what: 'the end of the task' });
  }

  stop() {
    this.stopFollowing();
    for (const waiter of this.waiters) clearTimeout(waiter.timer);
    this.waiters = [];
  }
}

// --- Staking reads --------------------------------------------------------------------------------

const REWARD_SCALE = 10n ** 18n;

/** A validator's stake pool at block `at` (default: best): `{ active, shares, rewardPerShare }`. */
export async function poolOf(api, validator, at) {
  const query = at ? (await api.at(at)).query : api.query;
  const pool = (await query.inferenceStaking.pools(validator)).unwrap();
  return {
    active: pool.active.value.toBigInt(),
    shares: pool.active.shares.toBigInt(),
    generation: pool.active.generation.toNumber(),
    epoch: pool.active.epoch.toNumber(),
    rewardPerShare: pool.rewardPerShare.toBigInt(),
  };
}

/**
 * `who`'s position with `validator` at block `at` (its own bond when `who` is the validator), as
 * the staking pallet's `position` view function computes it: `{ value }` after every slash so far,
 * `{ rewards }` claimable now (commission included for the validator), and its `shares`.
 */
export async function positionOf(api, who, validator, at) {
  const query = at ? (await api.at(at)).query : api.query;
  const pool = await poolOf(api, validator, at);
  const stake = who === validator
    ? (await query.inferenceStaking.validators(validator)).unwrap().selfStake
    : (await query.inferenceStaking.delegations(who, validator)).unwrap();
  const shares = stake.shares.toBigInt();
  const principal = stake.principal.toBigInt();
  const generation = stake.generation.toNumber();
  let value = principal;
  if (generation !== pool.generation) {
    value = 0n;
  } else if (stake.epoch.toNumber() !== pool.epoch && pool.shares > 0n) {
    const worth = (shares * pool.active) / pool.shares;
    value = worth < principal ? worth : principal;
  }
  // Rewards of an older generation stopped accruing when it was wiped; the tests never wipe one.
  const accrued = generation === pool.generation
    ? (shares * (pool.rewardPerShare - stake.rewardPerSharePaid.toBigInt())) / REWARD_SCALE
    : 0n;
  return { value, shares, rewards: stake.unclaimed.toBigInt() + accrued };
}
