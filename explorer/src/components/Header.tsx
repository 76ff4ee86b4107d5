import { useEffect, useState } from 'react';
import { NavLink, useNavigate } from 'react-router';
import { useApi } from '../lib/api';
import { useAccounts } from '../lib/accounts';

export function Header() {
  const { rpc, setRpc, state, dropped, error, chain } = useApi();
  const { accounts, selected, select, enableExtension, extensionMessage } = useAccounts();
  const [draft, setDraft] = useState(rpc);
  const [taskId, setTaskId] = useState('');
  const navigate = useNavigate();
  useEffect(() => setDraft(rpc), [rpc]);

  const apply = () => {
    const next = draft.trim();
    if (/^wss?:\/\/.+/.test(next) && next !== rpc) setRpc(next);
  };
  const statusText = state === 'connected' ? `connected${chain ? ` to ${chain.name} (${chain.chainType})` : ''}`
    : state === 'connecting' ? `connecting to ${rpc}…` : `disconnected from ${rpc}`;

  return (
    <header>
      <div className="bar">
        <strong className="brand">OPG explorer</strong>
        <nav>
          <NavLink to="/live">Live</NavLink>
          <NavLink to="/models">Models</NavLink>
          <NavLink to="/validators">Validators</NavLink>
          <NavLink to="/request">Request</NavLink>
        </nav>
        <form className="goto" onSubmit={(e) => { e.preventDefault(); if (/^\d+$/.test(taskId.trim())) navigate(`/task/${taskId.trim()}`); }}>
          <input aria-label="task id" placeholder="task id" value={taskId} onChange={(e) => setTaskId(e.target.value)} size={8} />
          <button type="submit">Open task</button>
        </form>
        <label className="rpc">
          RPC{' '}
          <input data-testid="rpc-input" value={draft} size={28} onChange={(e) => setDraft(e.target.value)}
            onBlur={apply} onKeyDown={(e) => { if (e.key === 'Enter') apply(); }} />
        </label>
        <label>
          Account{' '}
          <select data-testid="account-select" value={selected?.address ?? ''} onChange={(e) => select(e.target.value)}>
            {accounts.length === 0 && <option value="">(no account)</option>}
            {accounts.map((a) => <option key={a.address} value={a.address}>{a.label}</option>)}
          </select>
        </label>
        <button type="button" onClick={() => enableExtension()} title={extensionMessage ?? 'Use the accounts of the polkadot.js extension'}>Extension</button>
        <span data-testid="connection-status" data-state={state} className={`status ${state}`}>{statusText}</span>
      </div>
      {dropped && state !== 'connected' && (
        <div className="banner error" role="alert">The connection to {rpc} dropped; reconnecting… (pages show the last data they read)</div>
      )}
      {state === 'connecting' && !dropped && error && (
        <div className="banner warn" role="alert">Cannot reach {rpc} yet ({error}); retrying. Is a node running there? Change the RPC field to connect elsewhere.</div>
      )}
      {extensionMessage && <div className="banner info">{extensionMessage}</div>}
    </header>
  );
}
