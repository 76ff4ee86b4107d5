// A single `opg-node --dev` node (fast-runtime build: 2 s slots) driven through @polkadot/api:
// the chain advertises OPG/18/42, produces and finalizes blocks, and a transfer moves exactly
// the amount plus the fee, which goes to the treasury.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { OpgNode, stopAll, waitForHeader, sendAndFinalize } from './lib/node.mjs';

const OPG = 10n ** 18n;
// PalletId(*b"opg/trsy").into_account_truncating(): "modl" ++ "opg/trsy" padded with zeros.
const TREASURY = '0x' + Buffer.from('modlopg/trsy').toString('hex').padEnd(64, '0');

let node;
let api;
let keyring;

before(async () => {
  node = await new OpgNode('dev', ['--dev']).start();
  api = await node.api();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
});

after(async () => {
  await stopAll();
});

test('chain properties are OPG, 18 decimals, ss58 42', async () => {
  const props = await api.rpc.system.properties();
  assert.deepEqual(props.tokenSymbol.unwrap().map((s) => s.toString()), ['OPG']);
  assert.deepEqual(props.tokenDecimals.unwrap().map((d) => d.toNumber()), [18]);
  assert.equal(props.ss58Format.unwrap().toNumber(), 42);
  assert.equal(api.registry.chainSS58, 42);
  assert.deepEqual(api.registry.chainTokens, ['OPG']);
  assert.equal((await api.rpc.system.chain()).toString(), 'OPG Development');
  assert.equal(api.runtimeVersion.specName.toString(), 'opg');
  // The metadata polkadot.js reads carries the runtime's pallets.
  for (const pallet of ['system', 'babe', 'timestamp', 'balances', 'transactionPayment', 'grandpa', 'sudo']) {
    assert.ok(api.tx[pallet] || api.query[pallet], `metadata has ${pallet}`);
  }
  assert.equal(api.consts.balances.existentialDeposit.toBigInt(), OPG / 1000n);
});

test('blocks are produced by BABE and finalized by GRANDPA', async () => {
  const finalized = await waitForHeader(api, { finalized: true, timeoutMs: 60_000 }, (h) => h.number.toNumber() >= 3);
  assert.ok(finalized.number.toNumber() >= 3);
  const block = await api.rpc.chain.getBlock(finalized.hash);
  const babeDigest = block.block.header.digest.logs.find((log) => log.isPreRuntime && log.asPreRuntime[0].toString() === 'BABE');
  assert.ok(babeDigest, 'finalized block carries a BABE pre-digest');
  const slotMs = api.consts.babe.expectedBlockTime.toNumber();
  assert.ok(slotMs === 2000 || slotMs === 6000, `slot duration ${slotMs}`);
});

test('a transfer Alice -> Bob is included and finalized; balances and fee are exact', async () => {
  const alice = keyring.addFromUri('//Alice');
  const bob = keyring.addFromUri('//Bob');
  const amount = 12n * OPG + 345n;

  const [aliceBefore, bobBefore, treasuryBefore] = await Promise.all(
    [alice.address, bob.address, TREASURY].map((who) => api.query.system.account(who)),
  );
  const tx = api.tx.balances.transferKeepAlive(bob.address, amount);
  const estimate = (await tx.paymentInfo(alice)).partialFee.toBigInt();
  assert.ok(estimate > 0n);

  const { inBlock, finalized, events, dispatchError } = await sendAndFinalize(tx, alice);
  assert.equal(dispatchError, undefined, 'transfer dispatched without error');
  assert.ok(inBlock, 'transfer was included in a block');
  assert.equal(inBlock, finalized, 'the block that included it was finalized');

  const feeEvent = events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  assert.ok(feeEvent, 'TransactionFeePaid emitted');
  const fee = feeEvent.event.data.actualFee.toBigInt() + feeEvent.event.data.tip.toBigInt();
  assert.ok(fee > 0n && fee <= estimate, `fee ${fee} within estimate ${estimate}`);
  const transfer = events.find(({ event }) => api.events.balances.Transfer.is(event));
  assert.equal(transfer.event.data.amount.toBigInt(), amount);

  const at = await api.at(finalized);
  const [aliceAfter, bobAfter, treasuryAfter] = await Promise.all(
    [alice.address, bob.address, TREASURY].map((who) => at.query.system.account(who)),
  );
  assert.equal(aliceBefore.data.free.toBigInt() - aliceAfter.data.free.toBigInt(), amount + fee);
  assert.equal(bobAfter.data.free.toBigInt() - bobBefore.data.free.toBigInt(), amount);
  assert.equal(treasuryAfter.data.free.toBigInt() - treasuryBefore.data.free.toBigInt(), fee);
  assert.equal(aliceAfter.nonce.toNumber(), aliceBefore.nonce.toNumber() + 1);
});
