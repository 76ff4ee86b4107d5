// Staking from polkadot.js on a dev node (fast-runtime build: 2 s blocks, 40-block unbonding):
// Alice becomes a validator, a token holder (Charlie) delegates to her, reads the position back
// from chain state, undelegates part of it, cannot withdraw before the unbonding period, and
// withdraws exactly that part after it. Funds are held, never transferred away.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpgNode, stopAll, waitForHeader } from './lib/node.mjs';
import { OPG, dev, submit, moduleError, heldFor, freeAt } from './lib/chain.mjs';

let api;
let alice;
let charlie;

before(async () => {
  const node = await new OpgNode('staking', ['--dev']).start();
  api = await node.api();
  alice = dev('Alice');
  charlie = dev('Charlie');
});

after(async () => {
  await stopAll();
});

test('Alice registers as a validator with a held bond', async () => {
  const bond = api.consts.inferenceStaking.minValidatorBond.toBigInt();
  const { dispatchError, events } = await submit(api, api.tx.inferenceStaking.registerValidator(bond, 50_000_000), alice);
  assert.equal(dispatchError, undefined);
  assert.ok(events.some(({ event }) => api.events.inferenceStaking.ValidatorRegistered.is(event)));
  assert.ok((await api.query.inferenceStaking.validators(alice.address)).isSome);
  assert.equal(await heldFor(api, alice.address, 'InferenceStaking', 'Staking'), bond);
});

test('a token holder delegates, undelegates, and withdraws after the unbonding period', async () => {
  const amount = 100n * OPG;
  const part = 40n * OPG;
  const start = await api.rpc.chain.getFinalizedHead();
  const free0 = await freeAt(api, start, charlie.address);

  // Delegate 100 OPG: held on Charlie's own account.
  const delegated = await submit(api, api.tx.inferenceStaking.delegate(alice.address, amount), charlie);
  assert.equal(delegated.dispatchError, undefined);
  const event = delegated.events.find(({ event }) => api.events.inferenceStaking.Delegated.is(event));
  assert.equal(event.event.data.amount.toBigInt(), amount);
  const position = (await api.query.inferenceStaking.delegations(charlie.address, alice.address)).unwrap();
  assert.equal(position.principal.toBigInt(), amount);
  assert.equal(await heldFor(api, charlie.address, 'InferenceStaking', 'Staking'), amount);
  const free1 = await freeAt(api, delegated.finalized, charlie.address);
  assert.equal(free0 - free1, amount + delegated.fee);
  assert.equal((await api.query.inferenceStaking.delegationCount(charlie.address)).toNumber(), 1);

  // Undelegate 40 OPG: it moves to an unbonding chunk and stays held (and slashable).
  const undelegated = await submit(api, api.tx.inferenceStaking.undelegate(alice.address, part), charlie);
  assert.equal(undelegated.dispatchError, undefined);
  const unEvent = undelegated.events.find(({ event }) => api.events.inferenceStaking.Undelegated.is(event));
  const unlockAt = unEvent.event.data.unlockAt.unwrap().toNumber();
  const included = (await api.rpc.chain.getHeader(undelegated.inBlock)).number.toNumber();
  assert.equal(unlockAt, included + api.consts.inferenceStaking.unbondingPeriod.toNumber());
  const chunks = await api.query.inferenceStaking.unbonding(charlie.address);
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0].principal.toBigInt(), part);
  assert.equal(chunks[0].validator.toString(), alice.address);
  assert.equal((await api.query.inferenceStaking.delegations(charlie.address, alice.address)).unwrap().principal.toBigInt(), amount - part);
  assert.equal(await heldFor(api, charlie.address, 'InferenceStaking', 'Staking'), amount);

  // Too early: nothing has matured.
  const early = await submit(api, api.tx.inferenceStaking.withdrawUnbonded(), charlie);
  assert.equal(moduleError(api, early.dispatchError), 'inferenceStaking.NothingToWithdraw');

  // After the unbonding period the 40 OPG come back to the free balance.
  await waitForHeader(api, { finalized: true, timeoutMs: 120_000 }, (h) => h.number.toNumber() >= unlockAt);
  const before = await freeAt(api, await api.rpc.chain.getFinalizedHead(), charlie.address);
  const withdrawn = await submit(api, api.tx.inferenceStaking.withdrawUnbonded(), charlie);
  assert.equal(withdrawn.dispatchError, undefined);
  const wEvent = withdrawn.events.find(({ event }) => api.events.inferenceStaking.Withdrawn.is(event));
  assert.equal(wEvent.event.data.amount.toBigInt(), part);
  assert.equal(wEvent.event.data.slashed.toBigInt(), 0n);
  assert.equal(await heldFor(api, charlie.address, 'InferenceStaking', 'Staking'), amount - part);
  assert.equal((await api.query.inferenceStaking.unbonding(charlie.address)).length, 0);
  const after = await freeAt(api, withdrawn.finalized, charlie.address);
  assert.equal(after - before, part - withdrawn.fee);
});
