// Validators execute inference tasks on their own: the `local` chain's four validators (fast
// runtime: 2 s blocks, commit and reveal periods of 10 blocks each) run as real nodes whose
// off-chain workers find the tasks assigned to them, run the model from their node's model store,
// and commit and reveal signed with their linked inference keys. Nothing in this test commits or
// reveals: it only requests, watches, and kills or restarts nodes.
//
// One network serves every scenario, in order:
// 1. the demo MLP settles within a few blocks with exactly the output `opg-node models run` gives
//    locally, and the fees reach the executors and their delegators;
// 2. the same with all-MiniLM-L6-v2 (text in, a 384-value embedding out), and with
//    SmolLM2-135M-Instruct (chat messages in, generated tokens out: three executors reveal the
//    tokens `opg-node models run --generate` gives, and the token fees not used are refunded;
//    a prompt over the model's limit and malformed messages are rejected alike, with no slash);
// 3. a griefing requester sends 100 inputs the models cannot run: those the chain can check are
//    refused at request, the others are rejected by the executors' engines and settle `Rejected`
//    with the executors paid; nobody is slashed or jailed;
// 4. Dave reports a perturbed output (`--dev-fault-output`): the task settles with the other three
//    and Dave's pool, his bond and Eve's delegation, loses 5 %;
// 5. Charlie's node lacks a model's files: it declines each task he is drawn for, a replacement
//    is drawn, and the task settles; nobody is slashed;
// 6. Bob is killed right after his commit and restarted: he still reveals from his node's
//    off-chain storage;
// 7. Charlie is down while he holds 20 tasks: each settles with the other three, and Charlie loses
//    1 % once (one offence span), not once per task, and is jailed by his third fault;
// 8. nobody has a model's files: every node drawn declines, the task fails at its commit deadline,
//    the requester gets the whole escrow back, and nobody is slashed.
// Slashes are spread over validators so that nobody reaches the three faults that jail.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { u8aToHex } from '@polkadot/util';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT, stopAll } from './lib/node.mjs';
import { OPG, dev, heldFor, freeAt, moduleError } from './lib/chain.mjs';
import {
  LocalNetwork, VALIDATORS, DEMO_MLP, MINILM_DIR, SMOLLM2_GGUF, inferenceKey, mlpModel, bertModel, llmModel,
  writeMlpVariant, setupChain,
} from './lib/network.mjs';
import {
  TaskWatcher, requestInference, runModelLocally, digitSample, f32Hex, textHex, bareBytes, exactDigest,
  argmax, f32Values, poolOf, positionOf, followChain, escrowOf, decodeGeneration, generateLocally,
} from './lib/tasks.mjs';
import { sendInBlock } from './lib/node.mjs';

const execFileAsync = promisify(execFile);
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
  assert.ok(existsSync(SMOLLM2_GGUF),
    `SmolLM2-135M-Instruct missing at ${SMOLLM2_GGUF}: run \`export OPG_SMOLLM2_GGUF="$(scripts/fetch-test-models.sh smollm2)"\``);
  const minilm = bertModel({ name: 'all-minilm-l6-v2', dir: MINILM_DIR, fee: 2n * OPG });
  const smollm2 = llmModel({
    name: 'smollm2-135m-instruct', gguf: SMOLLM2_GGUF, fee: OPG, maxPromptTokens: 128, maxNewTokens: 24,
    tokenFees: { perPromptToken: OPG / 1000n, perGeneratedToken: OPG / 100n },
  });
  // The demo MLP again under other hashes: Charlie never gets the files of the first, nobody
  // those of the second.
  const late = mlpModel({ name: 'demo-mlp-late', ...writeMlpVariant(DEMO_MLP, 'late') });
  const absent = mlpModel({ name: 'demo-mlp-absent', ...writeMlpVariant(DEMO_MLP, 'absent') });
  // The demo MLP declared with 32 inputs where its configuration has 64: the chain accepts 32-f32
  // inputs, and every engine rejects them (`InputShape`).
  const misdeclared = mlpModel({ name: 'demo-mlp-misdeclared', ...DEMO_MLP, inputLen: 32 });
  const filesOf = (...ms) => ms.flatMap((m) => Object.values(m.files));
  const everything = filesOf(demo, minilm, smollm2, late);

  network = new LocalNetwork({
    imports: { Alice: everything, Bob: everything, Charlie: filesOf(demo, minilm, smollm2), Dave: everything },
  });
  await network.start();
  api = await network.api('Alice');
  for (const name of VALIDATORS) names[dev(name).address] = name;

  const setup = await setupChain(api, {
    models: [demo, minilm, smollm2, late, absent, misdeclared],
    // Eve backs Bob (fees) and Dave (the mismatch slash of scenario 3).
    delegations: [['Eve', 'Bob', DELEGATION], ['Eve', 'Dave', DELEGATION]],
  });
  models = Object.fromEntries([demo, minilm, smollm2, late, absent, misdeclared].map((m) => [m.name, { model: m, id: setup.models[m.name] }]));
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
 * inference key, never by the validator account itself, and that those honest extrinsics (the
 * worker's batches) were free. */
function assertSignedByKeys(watcher) {
  for (const [method, eventName] of [['commitResult', 'ResultCommitted'], ['revealResult', 'ResultRevealed']]) {
    const signers = watcher.signers[method].map((s) => s.signer);
    for (const { fee, batch, failed } of watcher.signers[method]) {
      assert.ok(batch !== undefined, `the worker sends ${method}s in batches`);
      // (A batch with a failed entry, such as a reveal resubmitted after the first one landed,
      // pays its fee.)
      if (!failed) assert.equal(fee, 0n, `a valid batch of ${method}s pays no fee`);
    }
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
  const stored = bareBytes((await api.query.inference.taskResults(Number(watcher.taskId))).unwrap().output);
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

test('an all-MiniLM-L6-v2 task registered with Exact settles with the embedding computed locally', { timeout: 180_000 }, async () => {
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
    assert.equal(end.data.digest.toHex(), expected.digests.Exact, 'the digest is the Exact one: the executors agreed on every bit');
    const norm = Math.hypot(...f32Values(output));
    assert.ok(Math.abs(norm - 1) < 1e-4, `the embedding is L2-normalised (norm ${norm})`);
    assert.deepEqual(executorsOf(watcher.all('ExecutorRewarded')), executors);
    assert.equal(watcher.all('ExecutorSlashed').length, 0);
  } finally {
    watcher.stop();
  }
});

test('a SmolLM2 chat request settles with three executors revealing the tokens models run generates; unused token fees are refunded', { timeout: 240_000 }, async () => {
  const { model, id } = models['smollm2-135m-instruct'];
  const messages = [{ role: 'user', content: 'What is the capital of France? Answer in one sentence.' }];
  const expected = generateLocally(network.modelDir('Bob'), model, messages);
  assert.ok(expected.tokens.length > 0 && expected.tokens.length <= 24);

  const request = await requestInference(api, dev('Ferdie'), id, textHex(JSON.stringify(messages)));
  const watcher = watch(request);
  try {
    const end = await watcher.ended({ timeoutMs: 180_000 });
    assert.equal(end.name, 'TaskSettled', `the task ended with ${end.name}: ${watcher.trail()}`);
    const executors = assignedOf(watcher);
    assert.equal(executors.length, 3);
    // All three revealed, and the task settled on the digest of the local generation: the three
    // revealed the same tokens.
    assert.deepEqual(executorsOf(watcher.all('ResultRevealed')), executors);
    assert.equal(end.data.digest.toHex(), expected.digest);
    assertSignedByKeys(watcher);

    const generation = decodeGeneration(api, await settledOutput(watcher, end));
    assert.deepEqual(generation.tokens, expected.tokens);
    assert.equal(generation.promptTokens, expected.promptTokens);
    assert.match(generation.text, /Paris/);
    console.log(`SmolLM2 answered in ${generation.tokens.length} tokens: ${JSON.stringify(generation.text)}`);

    // Each executor earned its fee and the tokens used; the escrow, held for the limits (128
    // prompt and 24 generated tokens), came back but for that and the protocol fee.
    const perExecutor = OPG + BigInt(generation.promptTokens) * (OPG / 1000n) + BigInt(generation.tokens.length) * (OPG / 100n);
    assert.equal(request.escrow, escrowOf(api, OPG + 128n * (OPG / 1000n) + 24n * (OPG / 100n), 3));
    assert.equal(end.data.paid.toBigInt(), 3n * perExecutor);
    for (const r of watcher.all('ExecutorRewarded')) assert.equal(r.data.amount.toBigInt(), perExecutor);
    assert.equal(end.data.paid.toBigInt() + end.data.protocolFee.toBigInt() + end.data.refunded.toBigInt(), request.escrow);
    assert.ok(end.data.refunded.toBigInt() > 0n, 'the unused tokens were refunded');
    assert.equal(await heldFor(api, dev('Ferdie').address, 'Inference', 'Escrow'), 0n);
    assert.equal(watcher.all('ExecutorSlashed').length, 0);
  } finally {
    watcher.stop();
  }
});

test('examples/chat.mjs asks SmolLM2 through the chain and prints the settled answer', { timeout: 240_000 }, async () => {
  const url = `ws://127.0.0.1:${network.peers.Alice.rpcPort}`;
  const script = join(REPO_ROOT, 'examples', 'chat.mjs');
  const { stdout } = await execFileAsync(process.execPath, [script, url, 'What is the capital of France?'], {
    env: { ...process.env, SURI: '//Eve' }, timeout: 200_000,
  });
  assert.match(stdout, /Settled by 3 validators that generated the same \d+ tokens from \d+ prompt tokens/);
  assert.match(stdout, /^> .+/m, 'the answer is printed');
  assert.match(stdout, /refunded/);
  console.log(stdout.split('\n').filter((line) => line.startsWith('> ')).join('\n'));
});

test('a chat over SmolLM2\'s prompt limit and malformed messages are rejected by every executor alike; nobody is slashed', { timeout: 240_000 }, async () => {
  const { id } = models['smollm2-135m-instruct'];
  const cases = [
    // About 300 tokens, over the registered 128; the chain cannot count tokens, the executors do.
    [JSON.stringify([{ role: 'user', content: 'word '.repeat(300) }]), 'TooManyTokens'],
    ['not json at all', 'MalformedChat'],
    [JSON.stringify([{ role: 'root', content: 'hi' }]), 'MalformedChat'],
  ];
  for (const [input, rejection] of cases) {
    const request = await requestInference(api, dev('Ferdie'), id, textHex(input));
    const watcher = watch(request);
    try {
      const end = await watcher.ended({ timeoutMs: 120_000 });
      assert.equal(end.name, 'TaskRejected', `${rejection}: the task ended with ${end.name}: ${watcher.trail()}`);
      assert.equal(end.data.rejection.type, rejection);
      assert.deepEqual(executorsOf(watcher.all('ResultRevealed')), assignedOf(watcher));
      assert.equal(watcher.all('ExecutorSlashed').length, 0);
      // A rejection pays the base fee only: the token fees go back.
      assert.equal(end.data.paid.toBigInt(), 3n * OPG);
      assert.equal(end.data.paid.toBigInt() + end.data.protocolFee.toBigInt() + end.data.refunded.toBigInt(), request.escrow);
    } finally {
      watcher.stop();
    }
  }
});

/** Records every `inference` event and every staking `Slashed` / `Jailed` event of the finalized
 * chain from block `from` on; `stop()` ends it. */
function recordEvents(from) {
  const seen = [];
  const stop = followChain(api, { from }, ({ number, events }) => {
    for (const { event } of events) {
      if (event.section === 'inference'
        || (event.section === 'inferenceStaking' && ['Slashed', 'Jailed'].includes(event.method))) {
        seen.push({ block: number, section: event.section, name: event.method, data: event.data });
      }
    }
  });
  return { seen, stop };
}

/** Waits until `done()` holds, checking every second, for at most `timeoutMs`. */
async function until(done, { timeoutMs, what }) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

test('a griefing requester\'s 100 invalid inputs slash nobody: refused at request, or settled Rejected with the executors paid', { timeout: 300_000 }, async () => {
  const demo = models['demo-mlp'];
  const minilm = models['all-minilm-l6-v2'];
  const misdeclared = models['demo-mlp-misdeclared'];
  const griefer = dev('Ferdie');
  const maxInput = api.consts.inference.maxInputLen.toNumber();
  const words = (n, salt) => textHex(Array.from({ length: n }, (_, i) => `word${(i * 7 + salt) % 50}`).join(' '));

  // 60 inputs the chain checks at request: 4 kinds × 15.
  const refused = [];
  for (let i = 0; i < 15; i += 1) {
    refused.push([demo.id, f32Hex(Array(1 + (i % 63)).fill(0.5)), 'inference.InputLengthMismatch']); // too few f32
    refused.push([demo.id, `0x${'ab'.repeat(1 + i)}`, 'inference.InputLengthMismatch']); // 1..15 bytes
    refused.push([minilm.id, `0x${'ff'.repeat(2 + i)}`, 'inference.InputNotUtf8']);
    refused.push([minilm.id, `0x${'61'.repeat(maxInput + 1 + i)}`, 'inference.InputTooLong']);
  }
  // 40 inputs only the models' files refuse: 20 texts of 300..319 words (over 256 tokens), and 20
  // well-formed 32-f32 inputs of a model whose configuration takes 64.
  const rejected = [];
  for (let i = 0; i < 20; i += 1) {
    rejected.push([minilm.id, words(300 + i, i), 'TooManyTokens']);
    rejected.push([misdeclared.id, f32Hex(digitSample(i).pixels.slice(0, 32)), 'InputShape']);
  }

  const start = (await api.rpc.chain.getHeader()).number.toNumber();
  const recorder = recordEvents(start);
  const freeBefore = await freeAt(api, await api.rpc.chain.getBlockHash(start), griefer.address);
  try {
    // Everything at once, with consecutive nonces, the way a spammer would.
    let nonce = (await api.rpc.system.accountNextIndex(griefer.address)).toNumber();
    const send = ([modelId, input]) => {
      const model = modelId === minilm.id ? minilm.model : modelId === demo.id ? demo.model : misdeclared.model;
      const escrow = escrowOf(api, model.spec.feePerExecutor, model.spec.redundancy);
      return sendInBlock(api.tx.inference.requestInference(modelId, input, escrow, null), griefer, { nonce: nonce++ });
    };
    const results = await Promise.all([...refused, ...rejected].map(send));

    // Refused at request, each with the error that says why.
    for (const [i, [, , error]] of refused.entries()) {
      assert.equal(moduleError(api, results[i].dispatchError), error, `refused input ${i}`);
    }
    // The others became tasks.
    const tasks = new Map(); // taskId -> expected rejection
    for (const [i, [, , rejection]] of rejected.entries()) {
      const result = results[refused.length + i];
      assert.equal(result.dispatchError, undefined, `input ${i} of the rejected kinds was refused at request`);
      const created = result.events.find(({ event }) => api.events.inference.TaskCreated.is(event)).event;
      tasks.set(created.data.taskId.toString(), rejection);
    }
    const ends = () => recorder.seen.filter((e) => ['TaskRejected', 'TaskSettled', 'TaskFailed'].includes(e.name)
      && tasks.has(e.data.taskId.toString()));
    await until(() => ends().length === tasks.size, { timeoutMs: 240_000, what: `${tasks.size} tasks to end` });

    // Every task ended Rejected with the code its kind calls for, before any deadline, and its
    // three executors were paid their fee.
    for (const end of ends()) {
      const id = end.data.taskId.toString();
      assert.equal(end.name, 'TaskRejected', `task ${id} ended ${end.name}`);
      assert.equal(end.data.rejection.type, tasks.get(id), `task ${id}`);
      const rewarded = recorder.seen.filter((e) => e.name === 'ExecutorRewarded' && e.data.taskId.toString() === id);
      assert.equal(rewarded.length, 3, `task ${id}: ${rewarded.length} executors paid`);
      assert.equal(end.data.paid.toBigInt(), rewarded.reduce((sum, e) => sum + e.data.amount.toBigInt(), 0n));
      assert.equal(end.data.refunded.toBigInt(), 0n);
    }
    // Nobody was slashed or jailed for any of it.
    const punished = recorder.seen.filter((e) => ['ExecutorSlashed', 'OffenceCovered', 'Slashed', 'Jailed'].includes(e.name));
    assert.deepEqual(punished.map((e) => `${e.section}.${e.name}`), []);
    assert.equal(await heldFor(api, griefer.address, 'Inference', 'Escrow'), 0n);

    // What the griefing cost: transaction fees for the refused ones, the work for the others.
    const endHash = await api.rpc.chain.getBlockHash(Math.max(...ends().map((e) => e.block)));
    const spent = freeBefore - (await freeAt(api, endHash, griefer.address));
    const txFees = results.reduce((sum, r) => sum + (r.events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event))?.event.data.actualFee.toBigInt() ?? 0n), 0n);
    console.log(`griefing: 100 requests cost ${Number(spent) / 1e18} OPG (${Number(txFees) / 1e18} in transaction fees), ${tasks.size} executed and paid, 0 slashes`);
    assert.ok(spent > txFees, 'the rejected tasks were paid for');
  } finally {
    recorder.stop();
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

test('a validator whose node lacks the model\'s files declines, and a replacement settles the task; nobody is slashed', { timeout: 240_000 }, async () => {
  const { model, id } = models['demo-mlp-late'];
  const charlie = dev('Charlie').address;
  assert.ok(!existsSync(join(network.modelDir('Charlie'), model.hashes.weights.slice(2))), 'Charlie has no files');
  // Redundancy 3 of 4: Charlie is drawn for most tasks, and one validator is left to replace him.
  // Six tasks, so that he is drawn for at least one (each leaves out one validator, by stake).
  const inputs = Array.from({ length: 6 }, (_, i) => f32Hex(digitSample(60 + i).pixels));
  const expected = inputs.map((input) => runModelLocally(network.modelDir('Alice'), model, input));
  let nonce = (await api.rpc.system.accountNextIndex(dev('Ferdie').address)).toNumber();
  const requests = await Promise.all(inputs.map((input) =>
    requestInference(api, dev('Ferdie'), id, input, { redundancy: 3, nonce: nonce++ })));
  const watchers = requests.map((request) => watch(request));
  try {
    const ends = await Promise.all(watchers.map((w) => w.ended({ timeoutMs: 150_000 })));
    let declinedTasks = 0;
    for (const [i, watcher] of watchers.entries()) {
      const end = ends[i];
      assert.equal(end.name, 'TaskSettled', `task ${watcher.taskId} ended with ${end.name}: ${watcher.trail()}`);
      assert.equal(u8aToHex(await settledOutput(watcher, end)), u8aToHex(expected[i].bytes));
      assert.equal(watcher.all('ExecutorSlashed').length + watcher.all('OffenceCovered').length, 0,
        `charged: ${watcher.trail()}`);
      const drawn = assignedOf(watcher);
      if (!drawn.includes('Charlie')) {
        assert.equal(watcher.all('TaskDeclined').length, 0, `a decline without Charlie: ${watcher.trail()}`);
        continue;
      }
      declinedTasks += 1;
      // Charlie's node declined on its own, signed with his inference key, before committing.
      const declined = watcher.all('TaskDeclined');
      assert.deepEqual(executorsOf(declined), ['Charlie'], watcher.trail());
      assert.ok(declined[0].data.reason.isMissingFiles);
      assert.ok(declined[0].data.replaced.isTrue, `not replaced: ${watcher.trail()}`);
      assert.deepEqual(watcher.signers.decline.map((s) => s.signer), [inferenceKey('Charlie').address]);
      // The one validator not drawn replaced him, committed, and was paid with the other two.
      const spare = VALIDATORS.find((v) => !drawn.includes(v));
      assert.deepEqual(executorsOf(watcher.all('ExecutorReplaced')), [spare], watcher.trail());
      assert.ok(watcher.first('ExecutorReplaced').block > declined[0].block);
      assert.ok(watcher.first('ExecutorReplaced').block < watcher.first('TaskAssigned').data.commitDeadline.toNumber());
      const executed = [...drawn.filter((v) => v !== 'Charlie'), spare].sort();
      assert.deepEqual(executorsOf(watcher.all('ResultCommitted')), executed);
      assert.deepEqual(executorsOf(watcher.all('ExecutorRewarded')), executed);
      assert.ok(!executorsOf(watcher.all('ResultCommitted')).includes('Charlie'));
      // Reveals opened when the three committed, before the commit deadline.
      assert.ok(watcher.first('RevealStarted').block < watcher.first('TaskAssigned').data.commitDeadline.toNumber(),
        `reveals waited for the commit deadline: ${watcher.trail()}`);
    }
    assert.ok(declinedTasks >= 1, 'Charlie was drawn for none of the six tasks');
    // Declining cost Charlie nothing but the fees he did not earn.
    assert.equal((await api.query.inference.offenceSpans(charlie)).isNone, true);
  } finally {
    for (const w of watchers) w.stop();
  }
});

test('a validator killed after its commit and restarted still reveals; nobody is slashed', { timeout: 600_000 }, async () => {
  const { model, id } = models['demo-mlp-late'];
  const bob = dev('Bob').address;
  // The scenario needs Bob's commit to land before the reveals open, so that he dies without
  // having seen them. When Bob happens to commit last, the reveals open in his commit block:
  // that task must still settle with nobody slashed, and the scenario is tried again with
  // another request (at most 3 times).
  for (let attempt = 1; ; attempt += 1) {
    const input = f32Hex(digitSample(10 + attempt).pixels);
    const expected = runModelLocally(network.modelDir('Alice'), model, input);

    // Redundancy 4: Charlie (no files) declines and nobody is left to replace him, so reveals
    // open once the other three have committed, and the replacement draw (a block after his
    // decline) holds them back at least until then.
    const request = await requestInference(api, dev('Ferdie'), id, input, { redundancy: 4 });
    // The best chain shows Bob's commit soonest; the finalized one keeps the record.
    const best = watch(request, { best: true });
    const watcher = watch(request);
    try {
      const bobCommit = await best.waitFor((e) => e.name === 'ResultCommitted' && e.data.executor.toString() === bob,
        { timeoutMs: 60_000, what: "Bob's commit" });
      assert.ok(bobCommit.block < best.first('TaskAssigned').data.commitDeadline.toNumber());

      // Kill Bob at once, and restart him on his base path.
      await network.restart('Bob', { signal: 'SIGKILL', sync: false });
      await network.waitSynced('Bob');

      const end = await watcher.ended({ timeoutMs: 120_000 });
      assert.equal(end.name, 'TaskSettled', `the task ended with ${end.name}: ${watcher.trail()}`);
      assert.deepEqual(assignedOf(watcher), [...VALIDATORS].sort());
      assert.deepEqual(executorsOf(watcher.all('TaskDeclined')), ['Charlie']);
      assert.equal(watcher.all('ExecutorReplaced').length, 0, 'nobody was left to replace Charlie');
      const committed = ['Alice', 'Bob', 'Dave'];
      assert.deepEqual(executorsOf(watcher.all('ResultCommitted')), committed);
      const revealStarted = watcher.first('RevealStarted');
      assert.ok(revealStarted.block < watcher.first('TaskAssigned').data.commitDeadline.toNumber(),
        `reveals opened only at the commit deadline: ${watcher.trail()}`);
      assert.deepEqual(executorsOf(watcher.all('ResultRevealed')), committed);
      assert.equal(watcher.all('ExecutorSlashed').length, 0, `slashed: ${executorsOf(watcher.all('ExecutorSlashed'))}`);
      assert.deepEqual(executorsOf(watcher.all('ExecutorRewarded')), committed);
      assert.equal(u8aToHex(await settledOutput(watcher, end)), u8aToHex(expected.bytes));
      assertSignedByKeys(watcher);
      // Reveals opened after the block in which Bob's commit was seen, and Bob was killed at
      // once: his node never saw them open before it died, so he revealed after his restart,
      // with the output and salt his node had stored.
      if (revealStarted.block > bobCommit.block) return;
      assert.ok(attempt < 3, `reveals opened in Bob's commit block in all 3 attempts: ${watcher.trail()}`);
      console.log(`attempt ${attempt}: Bob committed last, so reveals opened in his commit block; again`);
    } finally {
      best.stop();
      watcher.stop();
    }
  }
});

test('a validator down while it holds 20 tasks is slashed 1 % once and jailed; every task settles with the others', { timeout: 300_000 }, async () => {
  const { model, id } = models['demo-mlp'];
  const charlie = dev('Charlie').address;
  await network.kill('Charlie', 'SIGTERM');
  let recorder;
  try {
    // 20 tasks of redundancy 4: every one is drawn to all four validators, Charlie included.
    const inputs = Array.from({ length: 20 }, (_, i) => f32Hex(digitSample(20 + i).pixels));
    const expected = inputs.map((input) => runModelLocally(network.modelDir('Alice'), model, input));
    const from = (await api.rpc.chain.getHeader()).number.toNumber();
    recorder = recordEvents(from);
    let nonce = (await api.rpc.system.accountNextIndex(dev('Ferdie').address)).toNumber();
    const requests = await Promise.all(inputs.map((input) =>
      requestInference(api, dev('Ferdie'), id, input, { redundancy: 4, nonce: nonce++ })));
    const pool = await poolOf(api, charlie, requests[0].hash);
    const ids = new Set(requests.map((r) => String(r.taskId)));
    const ends = () => recorder.seen.filter((e) => e.name.startsWith('Task') && e.name !== 'TaskCreated'
      && e.name !== 'TaskAssigned' && ids.has(e.data.taskId.toString()));
    // The commit phases run to their deadline (10 blocks), then the three committers reveal.
    await until(() => ends().length === ids.size, { timeoutMs: 240_000, what: '20 tasks to end' });

    for (const [i, request] of requests.entries()) {
      const end = ends().find((e) => e.data.taskId.toString() === String(request.taskId));
      assert.equal(end.name, 'TaskSettled', `task ${request.taskId} ended ${end.name}`);
      assert.equal(u8aToHex(bareBytes(end.data.output)), u8aToHex(expected[i].bytes));
      const rewarded = recorder.seen.filter((e) => e.name === 'ExecutorRewarded' && e.data.taskId.toString() === String(request.taskId));
      assert.deepEqual(executorsOf(rewarded), ['Alice', 'Bob', 'Dave']);
    }

    // One slash of 1 % of Charlie's pool, for the first task to settle; the other 19 no-shows
    // fell in the same offence span and took nothing.
    const slashes = recorder.seen.filter((e) => e.name === 'ExecutorSlashed');
    assert.deepEqual(executorsOf(slashes), ['Charlie'], `slashed: ${executorsOf(slashes)}`);
    assert.ok(slashes[0].data.reason.isNoShow);
    const noShow = api.consts.inference.noShowSlash.toBigInt();
    const cut = (pool.active * noShow + 999_999_999n) / 1_000_000_000n;
    assert.equal(slashes[0].data.amount.toBigInt(), cut);
    const covered = recorder.seen.filter((e) => e.name === 'OffenceCovered');
    assert.equal(covered.length, 19);
    assert.ok(covered.every((e) => e.data.executor.toString() === charlie && e.data.reason.isNoShow));
    const last = Math.max(...ends().map((e) => e.block));
    assert.equal((await poolOf(api, charlie, await api.rpc.chain.getBlockHash(last))).active, pool.active - cut);
    const span = (await api.query.inference.offenceSpans(charlie)).unwrap();
    assert.ok(span.reason.isNoShow && span.fraction.toBigInt() === noShow);
    // The covered no-shows still count as faults: the third jails (and chills) Charlie, so he is
    // drawn for no new task while he is down.
    const jailed = recorder.seen.filter((e) => e.name === 'Jailed');
    assert.equal(jailed.length, 1, `jailed ${jailed.length} times`);
    assert.equal(jailed[0].data.validator.toString(), charlie);
  } finally {
    recorder?.stop();
    await network.restart('Charlie');
  }
});

test('a task of a model nobody holds fails at its commit deadline, slashes nobody, and the escrow is refunded in full', { timeout: 180_000 }, async () => {
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
    assert.ok(end.data.reason.isNoCommits);
    assert.equal(end.block, watcher.first('TaskAssigned').data.commitDeadline.toNumber(), 'it failed at the commit deadline');
    assert.equal(watcher.all('ResultCommitted').length, 0);
    // Every node drawn declined on its own (no files), the replacement too.
    const declined = watcher.all('TaskDeclined');
    assert.ok(declined.length >= 3 && declined.every((e) => e.data.reason.isMissingFiles), watcher.trail());
    assert.equal(end.data.refunded.toBigInt(), request.escrow);
    // Nobody committed, so nothing tells an honest executor from a faulty one: nobody is slashed.
    assert.equal(watcher.all('ExecutorSlashed').length + watcher.all('OffenceCovered').length, 0);

    // Nothing held any more; Ferdie is down only the request's transaction fee.
    const endHash = await api.rpc.chain.getBlockHash(end.block);
    const held = await api.at(endHash).then((at) => at.query.balances.holds(ferdie));
    assert.equal(held.filter((h) => h.id.type === 'Inference').length, 0);
    assert.equal(await freeAt(api, endHash, ferdie), freeBefore - request.txFee);
  } finally {
    watcher.stop();
  }
});
