// The signing account, shared by every page: the development accounts //Alice … //Ferdie (sr25519,
// in the page, offered only on a development or local chain) and the accounts of the polkadot.js
// browser extension (`@polkadot/extension-dapp`).

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Keyring } from '@polkadot/keyring';
import type { KeyringPair } from '@polkadot/keyring/types';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { useApi } from './api';

export const DEV_NAMES = ['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie'];

export type Account = { address: string; label: string; source: 'dev' | 'extension'; pair?: KeyringPair };

type AccountsValue = {
  accounts: Account[];
  selected: Account | null;
  select: (address: string) => void;
  enableExtension: () => Promise<void>;
  extensionMessage: string | null;
};

const AccountsContext = createContext<AccountsValue | null>(null);

export function AccountsProvider({ children }: { children: ReactNode }) {
  const { chain } = useApi();
  const [devAccounts, setDevAccounts] = useState<Account[]>([]);
  const [extAccounts, setExtAccounts] = useState<Account[]>([]);
  const [selectedAddress, setSelectedAddress] = useState<string | null>(() => localStorage.getItem('opg-explorer.account'));
  const [extensionMessage, setExtensionMessage] = useState<string | null>(null);
  const ss58 = chain?.ss58 ?? 42;
  const isDev = chain?.isDev ?? false;

  useEffect(() => {
    let alive = true;
    if (!isDev) { setDevAccounts([]); return; }
    cryptoWaitReady().then(() => {
      if (!alive) return;
      const keyring = new Keyring({ type: 'sr25519', ss58Format: ss58 });
      setDevAccounts(DEV_NAMES.map((name) => {
        const pair = keyring.addFromUri(`//${name}`, { name });
        return { address: pair.address, label: name, source: 'dev' as const, pair };
      }));
    });
    return () => { alive = false; };
  }, [isDev, ss58]);

  const enableExtension = useCallback(async () => {
    const { web3Accounts, web3Enable } = await import('@polkadot/extension-dapp');
    const extensions = await web3Enable('OPG chain explorer');
    if (extensions.length === 0) {
      setExtensionMessage('No polkadot.js extension found (or access was refused).');
      return;
    }
    const found = await web3Accounts({ ss58Format: ss58 });
    setExtAccounts(found.map((a) => ({ address: a.address, label: `${a.meta.name ?? 'account'} (${a.meta.source})`, source: 'extension' as const })));
    setExtensionMessage(`${found.length} account(s) from ${extensions.map((e) => e.name).join(', ')}`);
  }, [ss58]);

  const accounts = useMemo(() => [...devAccounts, ...extAccounts], [devAccounts, extAccounts]);
  const selected = accounts.find((a) => a.address === selectedAddress) ?? accounts[0] ?? null;
  const select = useCallback((address: string) => {
    localStorage.setItem('opg-explorer.account', address);
    setSelectedAddress(address);
  }, []);

  const value = useMemo(() => ({ accounts, selected, select, enableExtension, extensionMessage }), [accounts, selected, select, enableExtension, extensionMessage]);
  return <AccountsContext.Provider value={value}>{children}</AccountsContext.Provider>;
}

export function useAccounts(): AccountsValue {
  const ctx = useContext(AccountsContext);
  if (!ctx) throw new Error('useAccounts outside AccountsProvider');
  return ctx;
}
