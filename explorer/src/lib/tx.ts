// Signing and sending an extrinsic with the selected account, with its progress and its failure
// in words (a module error's name and documentation from the metadata).

import type { ApiPromise } from '@polkadot/api';
import type { SubmittableExtrinsic } from '@polkadot/api/types';
import type { Account } from './accounts';
import type { ChainValue } from './chain';

export type TxState = 'idle' | 'signing' | 'in-block' | 'finalized' | 'error';

export type TxProgress = { state: TxState; message: string; blockHash?: string; events?: ChainValue[] };

/** A dispatch error in words: `section.Name: docs` for a module error. */
export function describeDispatchError(api: ApiPromise, dispatchError: ChainValue): string {
  if (dispatchError.isModule) {
    const meta = api.registry.findMetaError(dispatchError.asModule);
    const docs = meta.docs.join(' ').trim();
    return `${meta.section}.${meta.name}${docs ? `: ${docs}` : ''}`;
  }
  if (dispatchError.isToken) return `token error: ${dispatchError.asToken.type}`;
  if (dispatchError.isArithmetic) return `arithmetic error: ${dispatchError.asArithmetic.type}`;
  return dispatchError.toString();
}

/**
 * Signs `tx` with `account` and sends it. `onProgress` hears signing, in-block (with the block's
 * events of this extrinsic) and finalized; resolves at inclusion with the block hash and events,
 * rejects with the error in words (a refused signature, an invalid transaction, a failed
 * dispatch).
 */
export async function signAndSend(
  api: ApiPromise,
  tx: SubmittableExtrinsic<'promise'>,
  account: Account,
  onProgress: (p: TxProgress) => void,
): Promise<{ blockHash: string; events: ChainValue[] }> {
  onProgress({ state: 'signing', message: `signing with ${account.label}…` });
  let signer: ChainValue;
  if (account.source === 'extension') {
    const { web3FromAddress } = await import('@polkadot/extension-dapp');
    signer = (await web3FromAddress(account.address)).signer;
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    let unsubscribe: (() => void) | null = null;
    const fail = (message: string) => {
      onProgress({ state: 'error', message });
      if (!settled) { settled = true; reject(new Error(message)); }
      unsubscribe?.();
    };
    const callback = (result: ChainValue) => {
      const { status, events, dispatchError } = result;
      if (status.isInBlock || status.isFinalized) {
        const blockHash = (status.isInBlock ? status.asInBlock : status.asFinalized).toHex();
        if (dispatchError) return fail(describeDispatchError(api, dispatchError));
        const state: TxState = status.isFinalized ? 'finalized' : 'in-block';
        onProgress({ state, message: `${state === 'finalized' ? 'finalized in' : 'included in'} block ${blockHash}`, blockHash, events });
        if (!settled) { settled = true; resolve({ blockHash, events }); }
        if (status.isFinalized) unsubscribe?.();
      } else if (status.isInvalid || status.isDropped || status.isUsurped) {
        fail(`transaction ${status.type.toLowerCase()}`);
      } else {
        onProgress({ state: 'signing', message: `${status.type.toLowerCase()}…` });
      }
    };
    const sending = account.source === 'dev' && account.pair
      ? tx.signAndSend(account.pair, callback)
      : tx.signAndSend(account.address, { signer }, callback);
    sending.then((u) => { unsubscribe = u; }, (e: Error) => fail(e.message));
  });
}
