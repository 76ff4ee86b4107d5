// One page's transaction status: only the latest transaction's progress is shown (a previous
// one's late "finalized" must not overwrite a newer one's status or error).

import { useCallback, useRef, useState } from 'react';
import type { ApiPromise } from '@polkadot/api';
import type { SubmittableExtrinsic } from '@polkadot/api/types';
import type { Account } from './accounts';
import type { ChainValue } from './chain';
import { signAndSend, type TxProgress } from './tx';

export function useTx() {
  const [progress, setProgress] = useState<TxProgress | null>(null);
  const latest = useRef(0);
  /** Shows a message (an input error) as the page's status, superseding any transaction. */
  const fail = useCallback((message: string) => {
    latest.current += 1;
    setProgress({ state: 'error', message });
  }, []);
  /** Sends `tx`; resolves with its block's events of it, or `null` when it failed (the status
   * says why). */
  const send = useCallback(async (api: ApiPromise, tx: SubmittableExtrinsic<'promise'>, account: Account): Promise<ChainValue[] | null> => {
    const mine = ++latest.current;
    try {
      const { events } = await signAndSend(api, tx, account, (p) => { if (latest.current === mine) setProgress(p); });
      return events;
    } catch {
      return null;
    }
  }, []);
  return { progress, send, fail };
}
