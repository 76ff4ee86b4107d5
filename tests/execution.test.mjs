// Validators execute inference tasks on their own: the `local` chain's four validators (fast
// runtime: 2 s blocks, commit and reveal periods of 10 blocks each) run as real nodes whose
// off-chain workers find the tasks assigned to them, run the model from their node's model store,
// and commit and reveal signed with their linked inference keys. Nothing in this test commits or
// reveals: it only requests, watches, and kills or restarts nodes.
//
// One network serves every scenario, in order:
// 1. the demo MLP settles within a few blocks with exactly the output `opg-node models run` gives
//    locally, and the fees reach the executors and their delegators;
// 2. the same with all-MiniLM-L6-v2 (text in, a 384-value embedding out);
// 3. Dave reports a perturbed output (`--dev-fault-output`): the task settles with the other three
//    and Dave's pool, his bond and Eve's delegation, loses 5 %;
// 4. Bob is killed right after his commit and restarted, while Charlie (who gets the model's files
//    only then) holds the reveal phase back: Bob still reveals from his node's off-chain storage;
// 5. Charlie is down for a whole task: it settles with the other three, Charlie loses 1 %;
// 6. nobody has a model's files: the task fails at its commit deadline and the requester gets
//    the whole escrow back.
// Slashes are spread over validators so that nobody reaches the three faults that jail.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { u8aToHex } from '@polkadot/util';
import { stopAll } from './lib/node.mjs';
import { OPG, dev, heldFor, freeAt } from './lib/chain.mjs';
import {
  LocalNetwork, VALIDATORS, DEMO_MLP, MINILM_DIR, inferenceKey, mlpModel, bertModel, writeMlpVariant, setupChain,
} from './lib/network.mjs';
import {
  TaskWatcher, requestInference, runModelLocally, digitSample, f32Hex, textHex, bareBytes, exactDigest,
  argmax, f32Values, poolOf, positionOf,
} from './lib/tasks.mjs';

const DELEGATION = 100n * OPG;
const names = {}; // address -> validator name, for messages
let network;
let api;
let models; // name -> { model, id }

before(async () => {
  for (const file of ['model.safetensors', 'config.json', 'tokenizer.json']) {
    assert.ok(existsSync(join(MINILM_DIR, file)),
      `all-MiniLM-L6-v2 missing from ${MINILM_DIR}: run \`export OPG_MINILM_DIR="$(scripts/fetch-test-models.sh)"\``);
  }
  const demo = mlpModel({ name: 'demo-mlp', ...DEMO_MLP });
  const minilm = bertModel({ name: 'all-minilm-l6-v2', dir: MINILM_DIR, fee: 2n * OPG });
  // The demo MLP again under other hashes: Charlie gets its files only in scenario 4; nobody
  // ever gets those of the second.
  const late = mlpModel({ name: 'demo-mlp-late', ...writeMlpVariant(DEMO_MLP, 'late') });
  const absent = mlpModel({ name: 'demo-mlp-absent', ...writeMlpVariant(DEMO_MLP, 'absent') });
  const filesOf = (...ms) => ms.flatMap((m) => Object.values(m.files));
  const everything = filesOf(demo, minilm, late);

  network = new LocalNetwork({
    imports: { Alice: everything, Bob: everything, Charlie: filesOf(demo, minilm), Dave: everything },
  });
  await network.start();
  api = await network.api('Alice');
  for (const name of VALIDATORS) names[dev(name).address] = name;

  const setup = await setupChain(api, {
    models: [demo, minilm, late, absent],
    // Eve backs Bob (fees) and Dave (the mismatch slash of scenario 3).
    delegations: [['Eve', 'Bob', DELEGATION], ['Eve', 'Dave', DELEGATION]],
  });
  models = Object.fromEntries([demo, minilm, late, absent].map((m) => [m.name, { model: m, id: setup.models[m.name] }]));
});

after(async () => {
  await stopAll();
});

/** Follows task `request.taskId` on the finalized chain from its request's block. */
function watch(request, options = {}) {
  return new TaskWatcher(api, request.taskId, { from: request.block, names, ...options });
}

/** Validator names of the accounts in `events`' `executor` field, sorted. */
function executorsOf(events) {
  return events.map((e) => names[e.data.executor.toString()]).sort();
}

/** The executors `TaskAssigned` named, sorted by name. */
function assignedOf(watcher) {
  const assigned = watcher.first('TaskAssigned');
  assert.ok(assigned, `no TaskAssigned: ${watcher.trail()}`);
  return assigned.data.executors.map((a) => names[a.toString()]).sort();
}

/** Asserts every executor that committed and revealed did so in extrinsics signed by its linked
 * inference key, never by the validator account itself. */
function assertSignedByKeys(watcher) {
  for (const [method, eventName] of [['commitResult', 'ResultCommitted'], ['revealResult', 'ResultRevealed']]) {
    const signers = watcher.signers[method].map((s) => s.signer);
    for (const name of executorsOf(watcher.all(eventName))) {
      assert.ok(signers.includes(inferenceKey(name).address), `${name}'s ${method} was not signed by its inference key`);
    }
    for (const signer of signers) {
      assert.ok(!names[signer], `${names[signer]} signed ${method} with its validator account`);
    }
  }
}

/** The settled output bytes, read from storage (polkadot.js 16 mis-decodes the runtime API's
 * `Option<Vec<u8>>`), checked against the TaskSettled event's. */
async function settledOutput(watcher, settled) {
  const stored = bareBytes((await api.query.inference.taskResults(Number(watcher.taskId))).unwrap());
  assert.equal(u8aToHex(stored), u8aToHex(bareBytes(settled.data.output)), 'storage and event carry the same output');
  return stored;
}

test('a demo-MLP task runs on the validators\' nodes and settles with the local output; fees reach executors and delegators', { timeout: 180_000 }, async () => {
  const { model, id } = models['demo-mlp'];
  const sample = digitSample(7);
  const input = f32Hex(sample.pixels);
  const expected = runModelLocally(network.modelDir('Alice'), model, input);
  const fee = model.spec.feePerExecutor;

  const request = await requestInference(api, dev('Ferdie'), id, input);
  const before = {};
  for (const name of VALIDATORS) before[name] = await poolOf(api, dev(name).address, request.hash);
  const eveBefore = await positionOf(api, dev('Eve').address, dev('Bob').address, request.hash);

  const watcher = watch(request);
  try {
    const end = await watcher.ended({ timeoutMs: 90_000 });
    assert.equal(end.name, 'TaskSettled', `the task ended with ${end.name}: ${watcher.trail()}`);

    // Drawn in the next block; committed and revealed by the three nodes, before any deadline.
    const assigned = watcher.first('TaskAssigned');
    assert.equal(assigned.block, request.block + 1);
    const executors = assignedOf(watcher);
    assert.equal(executors.length, 3);
    assert.deepEqual(executorsOf(watcher.all('ResultCommitted')), executors);
    assert.deepEqual(executorsOf(watcher.all('ResultRevealed')), executors);
    assert.ok(end.block < assigned.data.commitDeadline.toNumber(),
      `settled at #${end.block}, after the commit deadline #${assigned.data.commitDeadline}: ${watcher.trail()}`);
    assert.ok(end.block - request.block <= 8, `settled ${end.block - request.block} blocks after the request: ${watcher.trail()}`);
    assertSignedByKeys(watcher);

    // Byte for byte what the engine computes locally; the digest is its Argmax digest.
    const output = await settledOutput(watcher, end);
    assert.equal(u8aToHex(output), u8aToHex(expected.bytes));
    assert.equal(exactDigest(output), expected.digests.Exact);
    assert.equal(end.data.digest.toHex(), expected.digests.Argmax);
    assert.equal(argmax(f32Values(output)), sample.label, 'the demo MLP classifies this digit correctly');

    // Ferdie paid three fees and the protocol fee; nothing is held any more.
    assert.equal(end.data.paid.toBigInt(), 3n * fee);
    assert.equal(end.data.refunded.toBigInt(), 0n);
    assert.equal(end.data.paid.toBigInt() + end.data.protocolFee.toBigInt(), request.escrow);
    assert.equal(await heldFor(api, dev('Ferdie').address, 'Inference', 'Escrow'), 0n);
    assert.equal(watcher.all('ExecutorSlashed').length, 0);

    // Each executor was paid its fee through staking: its pool's reward per share rose (its
    // delegators' and own bond's share); the others' did not.
    const rewarded = watcher.all('ExecutorRewarded');
    assert.deepEqual(executorsOf(rewarded), executors);
    for (const r of rewarded) assert.equal(r.data.amount.toBigInt(), fee);
    const endHash = await api.rpc.chain.getBlockHash(end.block);
    for (const name of VALIDATORS) {
      const after = await poolOf(api, dev(name).address, endHash);
      if (executors.includes(name)) {
        assert.ok(after.rewardPerShare > before[name].rewardPerShare, `${name}'s stakers earned nothing`);
      } else {
        assert.equal(after.rewardPerShare, before[name].rewardPerShare, `${name} was not drawn yet earned`);
      }
    }
    // Eve's share of Bob's fee, when Bob was drawn: (fee − 10 % commission) × her part of the pool.
    const eveAfter = await positionOf(api, dev('Eve').address, dev('Bob').address, endHash);
    const gained = eveAfter.rewards - eveBefore.rewards;
    if (executors.includes('Bob')) {
      const share = ((fee - fee / 10n) * eveBefore.shares) / before.Bob.shares;
      assert.ok(gained > 0n && share - gained <= 1_000n, `Eve gained ${gained}, expected about ${share}`);
    } else {
      assert.equal(gained, 0n, 'Bob was not drawn, so Eve earned nothing');
    }
  } finally {
    watcher.stop();
  }
});

test('an all-MiniLM-L6-v2 task settles with the embedding computed locally', { timeout: 180_000 }, async () => {
  const { model, id } = models['all-minilm-l6-v2'];
  const input = textHex('Validators run the model in their nodes and agree on the result.');
  const expected = runModelLocally(network.modelDir('Bob'), model, input, { decimals: 4 });
  assert.equal(expected.values.length, 384);

  const request = await requestInference(api, dev('Ferdie'), id, input);
  const watcher = watch(request);
  try {
    const end = await watcher.ended({ timeoutMs: 90_000 });
    assert.equal(end.name, 'TaskSettled', `the task ended with ${end.name}: ${watcher.trail()}`);
    const executors = assignedOf(watcher);
    assert.equal(executors.length, 3);
    assert.deepEqual(executorsOf(watcher.all('ResultRevealed')), executors);
    assert.ok(end.block < watcher.first('TaskAssigned').data.commitDeadline.toNumber(), `a deadline was waited for: ${watcher.trail()}`);
    assertSignedByKeys(watcher);

    const output = await settledOutput(watcher, end);
    assert.equal(output.length, 384 * 4);
    assert.equal(u8aToHex(output), u8aToHex(expected.bytes));
    assert.equal(end.data.digest.toHex(), expected.digests.Quantized, 'the digest is the Quantized { decimals: 4 } one');
    const norm = Math.hypot(...f32Values(output));
    assert.ok(Math.abs(norm - 1) < 1e-4, `the embedding is L2-normalised (norm ${norm})`);
    assert.deepEqual(executorsOf(watcher.all('ExecutorRewarded')), executors);
    assert.equal(watcher.all('ExecutorSlashed').length, 0);
  } finally {
    watcher.stop();
  }
});

test('a validator reporting a perturbed output is slashed 5 % of its pool; the task settles with the others', { timeout: 240_000 }, async () => {
  const { model, id } = models['demo-mlp'];
  const dave = dev('Dave').address;
  const eve = dev('Eve').address;
  await network.restart('Dave', { extraArgs: ['--dev-fault-output'] });
  let watcher;
  try {
    const input = f32Hex(digitSample(3).pixels);
    const expected = runModelLocally(network.modelDir('Alice'), model, input);
    const request = await requestInference(api, dev('Ferdie'), id, input, { redundancy: 4 });
    const pool = await poolOf(api, dave, request.hash);
    const own = await positionOf(api, dave, dave, request.hash);
    const eveBefore = await positionOf(api, eve, dave, request.hash);
    assert.equal(pool.active, own.value + eveBefore.value, "Dave's pool is his bond and Eve's delegation");

    watcher = watch(request);
    const end = await watcher.ended({ timeoutMs: 90_000 });
    assert.equal(end.name, 'TaskSettled', `the task ended with ${end.name}: ${watcher.trail()}`);
    assert.deepEqual(assignedOf(watcher), [...VALIDATORS].sort());
    // All four committed and revealed (Dave too, with another digest), before any deadline.
    assert.deepEqual(executorsOf(watcher.all('ResultRevealed')), [...VALIDATORS].sort());
    const daveReveal = watcher.all('ResultRevealed').find((e) => e.data.executor.toString() === dave);
    assert.notEqual(daveReveal.data.digest.toHex(), end.data.digest.toHex());
    assert.deepEqual(executorsOf(watcher.all('ExecutorRewarded')), ['Alice', 'Bob', 'Charlie']);
    assert.equal(u8aToHex(await settledOutput(watcher, end)), u8aToHex(expected.bytes));

    // Dave alone is slashed, for a mismatch: 5 % (rounded up) of his whole pool.
    const slashes = watcher.all('ExecutorSlashed');
    assert.deepEqual(executorsOf(slashes), ['Dave'], `slashed: ${executorsOf(slashes)}`);
    assert.ok(slashes[0].data.reason.isMismatch);
    const mismatch = api.consts.inference.mismatchSlash.toBigInt();
    const cut = (pool.active * mismatch + 999_999_999n) / 1_000_000_000n;
    assert.equal(slashes[0].data.amount.toBigInt(), cut);
    const endHash = await api.rpc.chain.getBlockHash(end.block);
    assert.equal((await poolOf(api, dave, endHash)).active, pool.active - cut);
    // Both stakers lose 5 % of their stake (to rounding).
    for (const [label, beforeValue, afterValue] of [
      ['Dave\'s own bond', own.value, (await positionOf(api, dave, dave, endHash)).value],
      ['Eve\'s delegation', eveBefore.value, (await positionOf(api, eve, dave, endHash)).value],
    ]) {
      const expectedValue = (beforeValue * 95n) / 100n;
      const diff = afterValue > expectedValue ? afterValue - expectedValue : expectedValue - afterValue;
      assert.ok(diff <= 1_000n, `${label}: ${beforeValue} → ${afterValue}, expected about ${expectedValue}`);
    }
  } finally {
    watcher?.stop();
    await network.restart('Dave'); // honest again
  }
});

test('a validator killed after its commit and restarted still reveals; nobody is slashed', { timeout: 240_000 }, async () => {
  const { model, id } = models['demo-mlp-late'];
  const bob = dev('Bob').address;
  const charlie = dev('Charlie').address;
  assert.ok(!existsSync(join(network.modelDir('Charlie'), model.hashes.weights.slice(2))), 'Charlie starts without the files');
  const input = f32Hex(digitSample(11).pixels);
  const expected = runModelLocally(network.modelDir('Alice'), model, input);

  const request = await requestInference(api, dev('Ferdie'), id, input, { redundancy: 4 });
  // The best chain shows Bob's commit soonest; the finalized one keeps the record.
  const best = watch(request, { best: true });
  const watcher = watch(request);
  try {
    // Charlie cannot run the model, so the commit phase stays open after the others commit.
    const bobCommit = await best.waitFor((e) => e.name === 'ResultCommitted' && e.data.executor.toString() === bob,
      { timeoutMs: 60_000, what: "Bob's commit" });
    assert.ok(!best.events.some((e) => e.name === 'RevealStarted'
      || (e.name === 'ResultCommitted' && e.data.executor.toString() === charlie)), `Charlie committed without the files: ${best.trail()}`);
    assert.ok(bobCommit.block < best.first('TaskAssigned').data.commitDeadline.toNumber());

    // Kill Bob at once, restart him on his base path, then let Charlie have the files.
    await network.restart('Bob', { signal: 'SIGKILL', sync: false });
    network.importModel('Charlie', Object.values(model.files));
    await network.waitSynced('Bob');

    const end = await watcher.ended({ timeoutMs: 120_000 });
    assert.equal(end.name, 'TaskSettled', `the task ended with ${end.name}: ${watcher.trail()}`);
    assert.deepEqual(assignedOf(watcher), [...VALIDATORS].sort());
    // Charlie's commit (after the import) opened the reveals, before the commit deadline.
    assert.deepEqual(executorsOf(watcher.all('ResultCommitted')), [...VALIDATORS].sort());
    const revealStarted = watcher.first('RevealStarted');
    assert.ok(revealStarted.block < watcher.first('TaskAssigned').data.commitDeadline.toNumber(),
      `reveals opened only at the commit deadline: ${watcher.trail()}`);
    // Bob revealed after his restart, with the output and salt his node stored before dying.
    assert.deepEqual(executorsOf(watcher.all('ResultRevealed')), [...VALIDATORS].sort());
    assert.ok(watcher.all('ResultRevealed').find((e) => e.data.executor.toString() === bob).block >= revealStarted.block);
    assert.equal(watcher.all('ExecutorSlashed').length, 0, `slashed: ${executorsOf(watcher.all('ExecutorSlashed'))}`);
    assert.deepEqual(executorsOf(watcher.all('ExecutorRewarded')), [...VALIDATORS].sort());
    assert.equal(u8aToHex(await settledOutput(watcher, end)), u8aToHex(expected.bytes));
  } finally {
    best.stop();
    watcher.stop();
  }
});

test('a validator down for a whole task is slashed 1 % as a no-show; the task settles with the others', { timeout: 240_000 }, async () => {
  const { model, id } = models['demo-mlp'];
  const charlie = dev('Charlie').address;
  await network.kill('Charlie', 'SIGTERM');
  let watcher;
  try {
    const input = f32Hex(digitSample(20).pixels);
    const expected = runModelLocally(network.modelDir('Alice'), model, input);
    const request = await requestInference(api, dev('Ferdie'), id, input, { redundancy: 4 });
    const pool = await poolOf(api, charlie, request.hash);

    watcher = watch(request);
    // The commit phase runs to its deadline (10 blocks), then the three committers reveal.
    const end = await watcher.ended({ timeoutMs: 150_000 });
    assert.equal(end.name, 'TaskSettled', `the task ended with ${end.name}: ${watcher.trail()}`);
    assert.deepEqual(assignedOf(watcher), [...VALIDATORS].sort());
    assert.deepEqual(executorsOf(watcher.all('ResultCommitted')), ['Alice', 'Bob', 'Dave']);
    assert.equal(watcher.first('RevealStarted').block, watcher.first('TaskAssigned').data.commitDeadline.toNumber(),
      'reveals opened at the commit deadline');
    assert.deepEqual(executorsOf(watcher.all('ExecutorRewarded')), ['Alice', 'Bob', 'Dave']);
    assert.equal(u8aToHex(await settledOutput(watcher, end)), u8aToHex(expected.bytes));

    const slashes = watcher.all('ExecutorSlashed');
    assert.deepEqual(executorsOf(slashes), ['Charlie']);
    assert.ok(slashes[0].data.reason.isNoShow);
    const noShow = api.consts.inference.noShowSlash.toBigInt();
    const cut = (pool.active * noShow + 999_999_999n) / 1_000_000_000n;
    assert.equal(slashes[0].data.amount.toBigInt(), cut);
    assert.equal((await poolOf(api, charlie, await api.rpc.chain.getBlockHash(end.block))).active, pool.active - cut);
  } finally {
    watcher?.stop();
    await network.restart('Charlie');
  }
});

test('a task of a model nobody holds fails at its commit deadline and the escrow is refunded in full', { timeout: 180_000 }, async () => {
  const { id } = models['demo-mlp-absent'];
  const ferdie = dev('Ferdie').address;
  const request = await requestInference(api, dev('Ferdie'), id, f32Hex(digitSample(0).pixels));
  const parent = (await api.rpc.chain.getHeader(request.hash)).parentHash;
  const freeBefore = await freeAt(api, parent, ferdie);
  assert.equal(await heldFor(api, ferdie, 'Inference', 'Escrow'), request.escrow);

  const watcher = watch(request);
  try {
    const end = await watcher.ended({ timeoutMs: 120_000 });
    assert.equal(end.name, 'TaskFailed', `the task ended with ${end.name}: ${watcher.trail()}`);
    assert.ok(end.data.reason.isNoQuorum);
    assert.equal(end.block, watcher.first('TaskAssigned').data.commitDeadline.toNumber(), 'it failed at the commit deadline');
    assert.equal(watcher.all('ResultCommitted').length, 0);
    assert.equal(end.data.refunded.toBigInt(), request.escrow);
    // The executors never committed: no-shows.
    const slashes = watcher.all('ExecutorSlashed');
    assert.deepEqual(executorsOf(slashes), assignedOf(watcher));
    assert.ok(slashes.every((s) => s.data.reason.isNoShow));

    // Nothing held any more; Ferdie is down only the request's transaction fee.
    const endHash = await api.rpc.chain.getBlockHash(end.block);
    const held = await api.at(endHash).then((at) => at.query.balances.holds(ferdie));
    assert.equal(held.filter((h) => h.id.type === 'Inference').length, 0);
    assert.equal(await freeAt(api, endHash, ferdie), freeBefore - request.txFee);
  } finally {
    watcher.stop();
  }
});
