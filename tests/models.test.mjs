// The model registry from polkadot.js on a dev node (fast-runtime build): register a model, read
// it back from storage and through the ModelsApi runtime API, check the deposit held on the
// owner, let a validator serve it, and remove it to release the deposit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpgNode, stopAll } from './lib/node.mjs';
import { OPG, dev, submit, moduleError, heldFor } from './lib/chain.mjs';

let api;
let alice;
let bob;

before(async () => {
  const node = await new OpgNode('models', ['--dev']).start();
  api = await node.api();
  alice = dev('Alice');
  bob = dev('Bob');
});

after(async () => {
  await stopAll();
});

const SPEC = {
  name: 'demo-mlp',
  descriptor: {
    weightsHash: '0x' + '11'.repeat(32),
    format: 'Safetensors',
    architecture: { Mlp: { configHash: '0x' + '22'.repeat(32) } },
    profile: { kernels: 'FixedOrderFma2', dtype: 'F32' },
  },
  sizeBytes: 123_456,
  input: { F32Vector: { len: 784 } },
  output: 'Logits',
  feePerExecutor: 2n * OPG,
  redundancy: 3,
  quorum: null,
  comparison: { Argmax: null },
  sourceUri: null,
};

test('register a model and read it back; the deposit is held on the owner', async () => {
  const modelId = (await api.query.models.nextModelId()).toNumber();
  const before = (await api.query.system.account(alice.address)).data;

  const { events, dispatchError, fee, finalized } = await submit(api, api.tx.models.registerModel(SPEC), alice);
  assert.equal(dispatchError, undefined);
  const registered = events.find(({ event }) => api.events.models.ModelRegistered.is(event));
  assert.ok(registered, 'ModelRegistered emitted');
  assert.equal(registered.event.data.modelId.toNumber(), modelId);
  const deposit = registered.event.data.deposit.toBigInt();

  const stored = (await api.query.models.models(modelId)).unwrap();
  assert.equal(stored.owner.toString(), alice.address);
  assert.equal(stored.name.toUtf8(), 'demo-mlp');
  assert.equal(stored.descriptor.weightsHash.toHex(), SPEC.descriptor.weightsHash);
  assert.equal(stored.sizeBytes.toNumber(), SPEC.sizeBytes);
  assert.ok(stored.descriptor.format.isSafetensors);
  assert.equal(stored.descriptor.architecture.asMlp.configHash.toHex(), '0x' + '22'.repeat(32));
  assert.ok(stored.descriptor.profile.kernels.isFixedOrderFma2, 'the engine profile is recorded');
  assert.ok(stored.descriptor.profile.dtype.isF32);
  assert.equal(stored.feePerExecutor.toBigInt(), 2n * OPG);
  assert.equal(stored.redundancy.toNumber(), 3);
  assert.equal(stored.quorum.toNumber(), 2, 'quorum defaults to a majority');
  assert.ok(stored.comparison.isArgmax);
  assert.ok(stored.status.isActive);
  assert.equal(stored.version.toNumber(), 1);

  // The same through the runtime API polkadot.js decorates from the metadata.
  const viaApi = (await api.call.modelsApi.model(modelId)).unwrap();
  assert.equal(viaApi.toHex(), stored.toHex());

  // Deposit = base + per byte × the stored entry's encoded size, held (not transferred).
  const base = api.consts.models.modelDepositBase.toBigInt();
  const perByte = api.consts.models.modelDepositPerByte.toBigInt();
  assert.equal(deposit, base + perByte * BigInt(stored.encodedLength));
  assert.equal(stored.deposit.toBigInt(), deposit);
  assert.equal(await heldFor(api, alice.address, 'Models', 'ModelDeposit'), deposit);
  const afterData = (await (await api.at(finalized)).query.system.account(alice.address)).data;
  assert.equal(before.free.toBigInt() - afterData.free.toBigInt(), deposit + fee);
  assert.equal(afterData.reserved.toBigInt() - before.reserved.toBigInt(), deposit);
});

test('only the owner updates a model; errors come back as module errors', async () => {
  const modelId = (await api.query.models.nextModelId()).toNumber() - 1;
  const denied = await submit(api, api.tx.models.updateFee(modelId, OPG), bob);
  assert.equal(moduleError(api, denied.dispatchError), 'models.NotOwner');

  const updated = await submit(api, api.tx.models.updateFee(modelId, 5n * OPG), alice);
  assert.equal(updated.dispatchError, undefined);
  assert.equal((await api.query.models.models(modelId)).unwrap().feePerExecutor.toBigInt(), 5n * OPG);

  // No model pays an executor less than the chain's minimum, the price of its share of a task.
  const minFee = api.consts.models.minFeePerExecutor.toBigInt();
  assert.equal(minFee, 4n * OPG / 10n);
  const tooCheap = await submit(api, api.tx.models.updateFee(modelId, minFee - 1n), alice);
  assert.equal(moduleError(api, tooCheap.dispatchError), 'models.FeeBelowMinimum');
  assert.equal((await api.query.models.models(modelId)).unwrap().feePerExecutor.toBigInt(), 5n * OPG);
});

test('a validator serves the model; a non-validator cannot', async () => {
  const modelId = (await api.query.models.nextModelId()).toNumber() - 1;
  const notValidator = await submit(api, api.tx.models.serveModel(modelId), bob);
  assert.equal(moduleError(api, notValidator.dispatchError), 'models.NotValidator');

  const bond = api.consts.inferenceStaking.minValidatorBond.toBigInt();
  const registered = await submit(api, api.tx.inferenceStaking.registerValidator(bond, 100_000_000), alice);
  assert.equal(registered.dispatchError, undefined);
  const served = await submit(api, api.tx.models.serveModel(modelId), alice);
  assert.equal(served.dispatchError, undefined);
  assert.ok(served.events.some(({ event }) => api.events.models.ServingStarted.is(event)));

  const servers = await api.call.modelsApi.modelServers(modelId);
  assert.deepEqual(servers.map((s) => s.toString()), [alice.address]);
  assert.deepEqual((await api.query.models.servers(modelId)).map((s) => s.toString()), [alice.address]);
});

test('removing the model releases its deposit', async () => {
  const modelId = (await api.query.models.nextModelId()).toNumber() - 1;
  const held = await heldFor(api, alice.address, 'Models', 'ModelDeposit');
  assert.ok(held > 0n);
  const removed = await submit(api, api.tx.models.removeModel(modelId), alice);
  assert.equal(removed.dispatchError, undefined);
  const event = removed.events.find(({ event }) => api.events.models.ModelRemoved.is(event));
  assert.equal(event.event.data.released.toBigInt(), held);
  assert.equal(await heldFor(api, alice.address, 'Models', 'ModelDeposit'), 0n);
  assert.ok((await api.query.models.models(modelId)).isNone);
  assert.equal((await api.query.models.servers(modelId)).length, 0);
});
