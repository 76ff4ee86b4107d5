// Helpers the end-to-end tests share for talking to the chain through @polkadot/api.

import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { sendAndFinalize } from './node.mjs';

export const OPG = 10n ** 18n;

/** The well-known development accounts (sr25519, ss58 42) by name: `dev('Alice')`. */
export function dev(name) {
  return new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri(`//${name}`);
}

/** Signs and sends `tx`, waits for finality, and adds the fee it paid (`actualFee`). */
export async function submit(api, tx, signer) {
  const result = await sendAndFinalize(tx, signer);
  const feeEvent = result.events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  return { ...result, fee: feeEvent ? feeEvent.event.data.actualFee.toBigInt() : 0n };
}

/** `pallet.ErrorName` of a failed dispatch; fails the test when it is not a module error. */
export function moduleError(api, dispatchError) {
  assert.ok(dispatchError?.isModule, `expected a module error, got ${dispatchError}`);
  const { section, name } = api.registry.findMetaError(dispatchError.asModule);
  return `${section}.${name}`;
}

/** The amount held on `who` for `pallet`'s hold reason `reason` (0 when there is none). */
export async function heldFor(api, who, pallet, reason) {
  const holds = await api.query.balances.holds(who);
  const hold = holds.find((h) => h.id.type === pallet && h.id.value.type === reason);
  return hold ? hold.amount.toBigInt() : 0n;
}

/** `who`'s free balance at block `hash`. */
export async function freeAt(api, hash, who) {
  return (await (await api.at(hash)).query.system.account(who)).data.free.toBigInt();
}
