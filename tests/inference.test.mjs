// Inference tasks from polkadot.js on a dev node (fast-runtime build: 2 s blocks), with the
// executors driven by this test: three validators (Bob, Charlie, Dave) serve a model, Ferdie
// requests an inference, the chain draws the executors in the block after the request from the
// block's BABE VRF output, the validators commit and reveal signed results (Dave a different
// one), and the task settles on the quorum's output: Bob and Charlie are paid through staking,
// Dave and his delegator Eve are slashed, Ferdie pays two fees plus the protocol fee and gets the
// third back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blake2AsU8a, decodeAddress } from '@polkadot/util-crypto';
import { u8aConcat, u8aToHex } from '@polkadot/util';
import { OpgNode, stopAll, sendInBlock, waitForHeader } from './lib/node.mjs';
import { OPG, dev, moduleError, heldFor } from './lib/chain.mjs';

let api;
const who = {};

before(async () => {
  const node = await new OpgNode('inference', ['--dev']).start();
  api = await node.api();
  for (const name of ['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie']) who[name] = dev(name);
});

after(async () => {
  await stopAll();
});

/** Sends `tx` signed by `signer`, waits for its block, fails the test on a dispatch error. */
async function ok(tx, signer) {
  const result = await sendInBlock(tx, signer);
  assert.equal(result.dispatchError, undefined, result.dispatchError && moduleError(api, result.dispatchError));
  return result;
}

/** The fee an extrinsic paid, from its `TransactionFeePaid` event. */
function feePaid(events) {
  const paid = events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  assert.ok(paid, 'every signed extrinsic reports its fee');
  return paid.event.data.actualFee.toBigInt();
}

/** The first event `section.method` among `events`. */
function find(events, section, method) {
  return events.find(({ event }) => api.events[section][method].is(event))?.event;
}

/** Little-endian f32 bytes of `values` (hex: polkadot.js would read a Uint8Array passed as
 * `Bytes` as SCALE-encoded, length prefix included). */
function f32le(values) {
  return u8aToHex(new Uint8Array(new Float32Array(values).buffer));
}

/** The bytes of a `Bytes` value as hex, without its length prefix. */
function bareHex(bytes) {
  return u8aToHex(bytes.toU8a(true));
}

/** Logits whose argmax is `cls`. */
function logits(cls) {
  const out = [0.1, 0.1, 0.1, 0.1];
  out[cls] = 0.9;
  return out;
}

/** Canonical digest under `Argmax`: blake2-256 of the index as a little-endian u32. */
function argmaxDigest(values) {
  let best = 0;
  values.forEach((v, i) => { if (v > values[best]) best = i; });
  return blake2AsU8a(new Uint8Array(new Uint32Array([best]).buffer), 256);
}

/** blake2_256(digest ‖ salt ‖ account id), what an executor commits to. */
function commitmentOf(digest, salt, address) {
  return blake2AsU8a(u8aConcat(digest, salt, decodeAddress(address)), 256);
}

/** Resolves with the events of the first new block for which `pick(events)` is truthy. */
function waitForEvents(pick, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    let unsub;
    const timer = setTimeout(() => { if (unsub) unsub(); reject(new Error('event not seen in time')); }, timeoutMs);
    api.rpc.chain.subscribeNewHeads(async (header) => {
      const events = await (await api.at(header.hash)).query.system.events();
      const found = pick(events);
      if (found) {
        clearTimeout(timer);
        if (unsub) unsub();
        resolve({ header, found, events });
      }
    }).then((u) => { unsub = u; });
  });
}

test('a task settles with quorum and the dissenting validator is slashed', async () => {
  const bond = api.consts.inferenceStaking.minValidatorBond.toBigInt();
  const validators = [who.Bob, who.Charlie, who.Dave];

  // Three validators; Eve delegates 100 OPG to Dave.
  await Promise.all(validators.map((v) => ok(api.tx.inferenceStaking.registerValidator(bond, 100_000_000), v)));
  await ok(api.tx.inferenceStaking.delegate(who.Dave.address, 100n * OPG), who.Eve);

  // Alice registers a classifier: 3 executors, majority quorum, compared by argmax.
  const fee = OPG;
  const registered = await ok(api.tx.models.registerModel({
    name: 'e2e-classifier',
    descriptor: {
      weightsHash: '0x' + 'ab'.repeat(32),
      format: 'Safetensors',
      architecture: { Mlp: { configHash: '0x' + 'cd'.repeat(32) } },
      profile: { kernels: 'FixedOrderFma2', dtype: 'F32' },
    },
    sizeBytes: 10_000,
    input: { F32Vector: { len: 3 } },
    output: 'Logits',
    feePerExecutor: fee,
    redundancy: 3,
    quorum: null,
    comparison: { Argmax: null },
    sourceUri: null,
  }), who.Alice);
  const modelId = find(registered.events, 'models', 'ModelRegistered').data.modelId.toNumber();
  await Promise.all(validators.map((v) => ok(api.tx.models.serveModel(modelId), v)));

  // A request above the caller's max fee is refused.
  const protocolFee = api.consts.inference.protocolFee.toBigInt(); // Perbill parts
  const escrow = 3n * fee + (3n * fee * protocolFee + 999_999_999n) / 1_000_000_000n;
  const tooCheap = await sendInBlock(api.tx.inference.requestInference(modelId, f32le([1, 2, 3]), escrow - 1n, null), who.Ferdie);
  assert.equal(moduleError(api, tooCheap.dispatchError), 'inference.FeeAboveMax');
  // So is an input of another length than the model declares (3 f32): no executor is bothered.
  const wrongShape = await sendInBlock(api.tx.inference.requestInference(modelId, f32le([1, 2]), escrow, null), who.Ferdie);
  assert.equal(moduleError(api, wrongShape.dispatchError), 'inference.InputLengthMismatch');

  // Ferdie requests; the fee is held in escrow.
  const freeBefore = (await api.query.system.account(who.Ferdie.address)).data.free.toBigInt();
  const requested = await ok(api.tx.inference.requestInference(modelId, f32le([1, 2, 3]), escrow, null), who.Ferdie);
  const created = find(requested.events, 'inference', 'TaskCreated');
  const taskId = created.data.taskId.toNumber();
  assert.equal(created.data.fee.toBigInt(), escrow);
  assert.equal(await heldFor(api, who.Ferdie.address, 'Inference', 'Escrow'), escrow);
  const requestBlock = (await api.rpc.chain.getHeader(requested.inBlock)).number.toNumber();

  // Executors are drawn in the block after the request's inclusion.
  const { header: assignedAt, found: assigned } = await waitForEvents((events) => events.find(({ event }) =>
    api.events.inference.TaskAssigned.is(event) && event.data.taskId.toNumber() === taskId));
  assert.equal(assignedAt.number.toNumber(), requestBlock + 1);
  const executors = assigned.event.data.executors.map((a) => a.toString()).sort();
  assert.deepEqual(executors, validators.map((v) => v.address).sort());
  const pending = await api.call.inferenceApi.pendingTasks(who.Bob.address, 10);
  assert.equal(pending.length, 1);
  assert.equal(pending[0][0].toNumber(), taskId);
  assert.ok(pending[0][1].isCommit);
  // Byte payloads are read from storage: polkadot.js 16 decodes an `Option<Vec<u8>>` returned by
  // a runtime API call as `Some(<the whole encoding>)`.
  assert.equal(bareHex((await api.query.inference.taskInputs(taskId)).unwrap()), f32le([1, 2, 3]));

  // Commit: Bob and Charlie to class 1, Dave to class 2.
  const outputs = new Map([[who.Bob, logits(1)], [who.Charlie, logits(1)], [who.Dave, logits(2)]]);
  const salts = new Map(validators.map((v, i) => [v, new Uint8Array(32).fill(i + 1)]));
  const commits = await Promise.all(validators.map((v) =>
    ok(api.tx.inference.commitResult(taskId, commitmentOf(argmaxDigest(outputs.get(v)), salts.get(v), v.address)), v)));
  assert.ok(commits.some(({ events }) => find(events, 'inference', 'RevealStarted')), 'the last commit opens reveals');
  // Valid commits and reveals are free: the requester's fee pays for the executors' work.
  for (const { events } of commits) assert.equal(feePaid(events), 0n, 'a valid commit pays no fee');
  const task = (await api.call.inferenceApi.task(taskId)).unwrap();
  assert.ok(task.status.isRevealing);

  // A reveal that does not match its commitment is refused.
  const wrong = await sendInBlock(api.tx.inference.revealResult(taskId, { Output: f32le(logits(3)) }, salts.get(who.Bob)), who.Bob);
  assert.equal(moduleError(api, wrong.dispatchError), 'inference.CommitmentMismatch');
  assert.ok(feePaid(wrong.events) > 0n, 'a refused reveal pays its fee');

  const poolBefore = (await api.query.inferenceStaking.pools(who.Dave.address)).unwrap().active.value.toBigInt();
  const reveals = await Promise.all(validators.map((v) =>
    ok(api.tx.inference.revealResult(taskId, { Output: f32le(outputs.get(v)) }, salts.get(v)), v)));
  for (const { events } of reveals) assert.equal(feePaid(events), 0n, 'a valid reveal pays no fee');
  const settledBlock = reveals.find(({ events }) => find(events, 'inference', 'TaskSettled'));
  assert.ok(settledBlock, 'the last reveal settles the task');
  const events = settledBlock.events;
  const settled = find(events, 'inference', 'TaskSettled');
  assert.equal(settled.data.digest.toHex(), u8aToHex(argmaxDigest(logits(1))));
  assert.equal(bareHex(settled.data.output), f32le(logits(1)));
  // The attested result is the canonical form under `Argmax` (the class, a u32); the raw output
  // is that of the quorum member drawn first.
  assert.equal(bareHex(settled.data.canonical), '0x01000000');
  const drawOrder = assigned.event.data.executors.map((a) => a.toString());
  const quorum = [who.Bob.address, who.Charlie.address];
  assert.equal(settled.data.publisher.toString(), drawOrder.find((a) => quorum.includes(a)));
  assert.equal(settled.data.paid.toBigInt(), 2n * fee);
  assert.equal(settled.data.protocolFee.toBigInt(), escrow - 3n * fee);
  assert.equal(settled.data.refunded.toBigInt(), fee);

  // Bob and Charlie were paid through staking; Dave (and Eve's delegation) slashed.
  const rewarded = events.filter(({ event }) => api.events.inference.ExecutorRewarded.is(event))
    .map(({ event }) => event.data.executor.toString()).sort();
  assert.deepEqual(rewarded, [who.Bob.address, who.Charlie.address].sort());
  const slashed = find(events, 'inference', 'ExecutorSlashed');
  assert.equal(slashed.data.executor.toString(), who.Dave.address);
  assert.ok(slashed.data.reason.isMismatch);
  const mismatch = api.consts.inference.mismatchSlash.toBigInt();
  const expectedSlash = (poolBefore * mismatch + 999_999_999n) / 1_000_000_000n;
  assert.equal(slashed.data.amount.toBigInt(), expectedSlash);
  const poolAfter = (await api.query.inferenceStaking.pools(who.Dave.address)).unwrap().active.value.toBigInt();
  assert.equal(poolAfter, poolBefore - expectedSlash);
  assert.equal(poolBefore, bond + 100n * OPG, "Dave's pool holds his bond and Eve's delegation");

  // Ferdie: escrow released; two fees and the protocol fee spent (plus transaction fees).
  assert.equal(await heldFor(api, who.Ferdie.address, 'Inference', 'Escrow'), 0n);
  const freeAfter = (await (await api.at(settledBlock.inBlock)).query.system.account(who.Ferdie.address)).data.free.toBigInt();
  const requestFee = find(requested.events, 'transactionPayment', 'TransactionFeePaid').data.actualFee.toBigInt();
  assert.equal(freeBefore - freeAfter, escrow - fee + requestFee);

  // Readable through the runtime API until it expires.
  const ended = (await api.call.inferenceApi.task(taskId)).unwrap();
  assert.ok(ended.status.isSettled);
  const stored = (await api.query.inference.taskResults(taskId)).unwrap();
  assert.equal(bareHex(stored.output), f32le(logits(1)));
  assert.equal(bareHex(stored.canonical), '0x01000000');
  assert.equal(stored.publisher.toString(), settled.data.publisher.toString());
  assert.equal((await api.call.inferenceApi.pendingTasks(who.Dave.address, 10)).length, 0);
  await waitForHeader(api, { finalized: true, timeoutMs: 60_000 }, (h) => h.number.toNumber() >= assignedAt.number.toNumber() + 2);
});
