// Staking from polkadot.js on a dev node (fast-runtime build: 2 s blocks, 10-block unbonding):
// Alice becomes a validator, a token holder (Charlie) delegates to her, reads the position back
// from chain state, undelegates part of it, cannot withdraw before the unbonding period, and
// withdraws exactly that part after it. Funds are held, never transferred away.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { OpgNode, stopAll, sendAndFinalize, waitForHeader } from './lib/node.mjs';

const OPG = 10n ** 18n;
let api;
let alice;
let charlie;

before(async () => {
  const node = await new OpgNode('staking', ['--dev']).start();
  api = await node.api();
  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  alice = keyring.addFromUri('//Alice');
  charlie = keyring.addFromUri('//Charlie');
});

after(async () => {
  await stopAll();
});

async function submit(tx, signer) {
  const result = await sendAndFinalize(tx, signer);
  const feeEvent = result.events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  return { ...result, fee: feeEvent ? feeEvent.event.data.actualFee.toBigInt() : 0n };
}

function moduleError(dispatchError) {
  assert.ok(dispatchError?.isModule, `expected a module error, got ${dispatchError}`);
  const { section, name } = api.registry.findMetaError(dispatchError.asModule);
  return `${section}.${name}`;
}

async function stakingHold(who, at = api) {
  const holds = await at.query.balances.holds(who);
  const hold = holds.find((h) => h.id.isInferenceStaking && h.id.asInferenceStaking.isStaking);
  return hold ? hold.amount.toBigInt() : 0n;
}

async function freeAt(blockHash, who) {
  return (await (await api.at(blockHash)).query.system.account(who)).data.free.toBigInt();
}

test('Alice registers as a validator with a held bond', async () => {
  const bond = api.consts.inferenceStaking.minValidatorBond.toBigInt();
  const { dispatchError, events } = await submit(api.tx.inferenceStaking.registerValidator(bond, 50_000_000), alice);
  assert.equal(dispatchError, undefined);
  assert.ok(events.some(({ event }) => api.events.inferenceStaking.ValidatorRegistered.is(event)));
  assert.ok((await api.query.inferenceStaking.validators(alice.address)).isSome);
  assert.equal(await stakingHold(alice.address), bond);
});

test('a token holder delegates, undelegates, and withdraws after the unbonding period', async () => {
  const amount = 100n * OPG;
  const part = 40n * OPG;
  const start = await api.rpc.chain.getFinalizedHead();
  const free0 = await freeAt(start, charlie.address);

  // Delegate 100 OPG: held on Charlie's own account.
  const delegated = await submit(api.tx.inferenceStaking.delegate(alice.address, amount), charlie);
  assert.equal(delegated.dispatchError, undefined);
  const event = delegated.events.find(({ event }) => api.events.inferenceStaking.Delegated.is(event));
  assert.equal(event.event.data.amount.toBigInt(), amount);
  const position = (await api.query.inferenceStaking.delegations(charlie.address, alice.address)).unwrap();
  assert.equal(position.principal.toBigInt(), amount);
  assert.equal(await stakingHold(charlie.address), amount);
  const free1 = await freeAt(delegated.finalized, charlie.address);
  assert.equal(free0 - free1, amount + delegated.fee);
  assert.equal((await api.query.inferenceStaking.delegationCount(charlie.address)).toNumber(), 1);

  // Undelegate 40 OPG: it moves to an unbonding chunk and stays held (and slashable).
  const undelegated = await submit(api.tx.inferenceStaking.undelegate(alice.address, part), charlie);
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
  assert.equal(await stakingHold(charlie.address), amount);

  // Too early: nothing has matured.
  const early = await submit(api.tx.inferenceStaking.withdrawUnbonded(), charlie);
  assert.equal(moduleError(early.dispatchError), 'inferenceStaking.NothingToWithdraw');

  // After the unbonding period the 40 OPG come back to the free balance.
  await waitForHeader(api, { finalized: true, timeoutMs: 120_000 }, (h) => h.number.toNumber() >= unlockAt);
  const before = await freeAt(await api.rpc.chain.getFinalizedHead(), charlie.address);
  const withdrawn = await submit(api.tx.inferenceStaking.withdrawUnbonded(), charlie);
  assert.equal(withdrawn.dispatchError, undefined);
  const wEvent = withdrawn.events.find(({ event }) => api.events.inferenceStaking.Withdrawn.is(event));
  assert.equal(wEvent.event.data.amount.toBigInt(), part);
  assert.equal(wEvent.event.data.slashed.toBigInt(), 0n);
  assert.equal(await stakingHold(charlie.address), amount - part);
  assert.equal((await api.query.inferenceStaking.unbonding(charlie.address)).length, 0);
  const after = await freeAt(withdrawn.finalized, charlie.address);
  assert.equal(after - before, part - withdrawn.fee);
});
