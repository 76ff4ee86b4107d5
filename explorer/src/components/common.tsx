import type { ReactNode } from 'react';
import { useApi } from '../lib/api';
import { useAccounts } from '../lib/accounts';
import { formatBalance, shortAddress } from '../lib/format';
import type { TxProgress } from '../lib/tx';

export function Balance({ planck, testId }: { planck: bigint | null; testId?: string }) {
  const { chain } = useApi();
  if (planck === null) return <span data-testid={testId} data-value="">–</span>;
  return (
    <span data-testid={testId} data-value={planck.toString()} title={`${planck} planck`}>
      {formatBalance(planck, chain?.decimals ?? 18, chain?.symbol ?? 'OPG')}
    </span>
  );
}

export function useFormat(): (planck: bigint) => string {
  const { chain } = useApi();
  return (planck) => formatBalance(planck, chain?.decimals ?? 18, chain?.symbol ?? 'OPG');
}

/** An account, with its name when it is one of the selector's accounts (//Alice …). */
export function Address({ address, full = false }: { address: string; full?: boolean }) {
  const { accounts } = useAccounts();
  const known = accounts.find((a) => a.address === address);
  return (
    <span title={address}>
      {known && <b className="account-name">{known.label} </b>}
      <span className="mono">{full ? address : shortAddress(address)}</span>
    </span>
  );
}

export function TxStatusView({ progress }: { progress: TxProgress | null }) {
  if (!progress || progress.state === 'idle') return null;
  return (
    <div className="tx">
      <span data-testid="tx-status" data-state={progress.state} className={`tx-${progress.state}`}>
        {progress.state === 'error' ? 'failed' : progress.message}
      </span>
      {progress.state === 'error' && <div data-testid="tx-error" className="error" role="alert">{progress.message}</div>}
    </div>
  );
}

export function NeedsApi({ children }: { children: ReactNode }) {
  const { api, state, rpc } = useApi();
  if (!api) return <p className="muted">{state === 'connecting' ? `Connecting to ${rpc}…` : `Not connected to ${rpc}.`}</p>;
  return <>{children}</>;
}

export function ErrorText({ children, testId }: { children: ReactNode; testId?: string }) {
  return <div className="error" role="alert" data-testid={testId}>{children}</div>;
}
