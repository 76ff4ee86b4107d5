// Admission past the chain's execution capacity, from polkadot.js on a dev node (fast-runtime
// build: 2 s blocks): Alice, Eve and Ferdie send 270 requests at once, far more than one block
// may assign (so that at least one block includes more than it may assign even if the
// submissions spread over four blocks). The chain draws executors for at most `MaxDrawsPerBlock` less its replacement share
// (`Pallet::assignment_draws`) tasks a block: the requests of a crowded block are planned for
// later blocks, with their deadlines counted from their own assignment, and the planned draws
// are visible in `inference.agendaDraws`. (No node executes here: the tasks end without commits,
// which slashes nobody.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpgNode, stopAll, sleep } from './lib/node.mjs';
import { dev } from './lib/chain.mjs';
import { DEMO_MLP, mlpModel, setupChain } from './lib/network.mjs';
import { followChain, escrowOf, f32Hex, digitSample } from './lib/tasks.mjs';

let api;

before(async () => {
  const node = await new OpgNode('admission', ['--dev']).start();
  api = await node.api();
});

after(async () => {
  await stopAll();
});

test('requests past a block\'s executor draws queue for later blocks with full deadlines', async () => {
  const demo = mlpModel({ name: 'admission-mlp', ...DEMO_MLP });
  const { models } = await setupChain(api, { models: [demo], validators: ['Bob', 'Charlie', 'Dave'] });
  const modelId = models['admission-mlp'];
  const draws = api.consts.inference.maxDrawsPerBlock.toNumber();
  const assignments = Math.max(1, draws - Math.floor(draws / 8));
  const commitPeriod = api.consts.inference.commitPeriod.toNumber();
  const model = (await api.query.models.models(modelId)).unwrap();
  const maxFee = escrowOf(api, model.feePerExecutor.toBigInt(), model.redundancy.toNumber());

  // Every TaskCreated of the requesters, with the block that included it.
  const requesters = [dev('Alice'), dev('Eve'), dev('Ferdie')];
  const mine = new Set(requesters.map((r) => r.address));
  const created = new Map(); // task id -> request block
  let refused = 0;
  let failed = 0;
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  const stop = followChain(api, { from: head + 1, best: true }, ({ number, events, block }) => {
    for (const { phase, event } of events) {
      if (api.events.inference.TaskCreated.is(event) && mine.has(event.data.requester.toString())) {
        created.set(event.data.taskId.toNumber(), number);
      }
      if (api.events.system.ExtrinsicFailed.is(event) && phase.isApplyExtrinsic
        && mine.has(block.extrinsics[phase.asApplyExtrinsic.toNumber()]?.signer?.toString())) {
        const error = event.data.dispatchError;
        const name = error.isModule ? api.registry.findMetaError(error.asModule).name : error.type;
        if (name === 'AgendaFull') refused += 1;
        else failed += 1;
      }
    }
  });

  const perAccount = 90;
  const sent = [];
  for (const [i, requester] of requesters.entries()) {
    let nonce = (await api.rpc.system.accountNextIndex(requester.address)).toNumber();
    for (let k = 0; k < perAccount; k += 1) {
      const input = f32Hex(digitSample(i * perAccount + k).pixels);
      sent.push(api.tx.inference.requestInference(modelId, input, maxFee, null).signAndSend(requester, { nonce: nonce++ }));
    }
  }
  await Promise.all(sent);
  const total = requesters.length * perAccount;
  for (let waited = 0; created.size + refused < total && waited < 120; waited += 1) await sleep(1_000);
  stop();
  assert.equal(failed, 0, 'no request failed for another reason');
  assert.equal(created.size + refused, total, `all ${total} requests were included`);

  // Tasks per assignment block, and how far each was queued.
  const perBlock = new Map();
  const requestsPerBlock = new Map();
  let queued = 0;
  for (const [taskId, requestBlock] of created) {
    const task = (await api.query.inference.tasks(taskId)).unwrap();
    const { assignAt, commitDeadline, revealDeadline } = task.plan;
    const at = assignAt.toNumber();
    perBlock.set(at, (perBlock.get(at) ?? 0) + 1);
    requestsPerBlock.set(requestBlock, (requestsPerBlock.get(requestBlock) ?? 0) + 1);
    if (at > requestBlock + 1) queued += 1;
    assert.ok(at > requestBlock, 'assigned after its request');
    assert.equal(commitDeadline.toNumber(), at + commitPeriod, 'a queued task keeps its full commit period');
    assert.ok(revealDeadline.toNumber() > commitDeadline.toNumber());
  }
  for (const [at, n] of perBlock) {
    assert.ok(n <= assignments, `block ${at} assigns ${n} tasks, more than its ${assignments} assignment draws`);
  }
  const crowded = [...requestsPerBlock.values()].some((n) => n > assignments);
  assert.ok(crowded, `some block included more than ${assignments} requests (${[...requestsPerBlock.values()]})`);
  assert.ok(queued > 0, 'the requests of a crowded block were queued for later blocks');

  // The chain counts the draws it planned: after the last request's block, every later
  // assignment block holds exactly its tasks' draws.
  const lastRequest = Math.max(...requestsPerBlock.keys());
  const at = await api.rpc.chain.getBlockHash(lastRequest);
  const ahead = [...perBlock].filter(([block]) => block > lastRequest);
  assert.ok(ahead.length > 0, 'the last request block planned assignments after it');
  for (const [block, n] of ahead) {
    assert.equal((await api.query.inference.agendaDraws.at(at, block)).toNumber(), n, `draws planned for block ${block}`);
  }
});
