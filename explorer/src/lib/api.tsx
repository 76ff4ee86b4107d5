// The connection to a node: the endpoint comes from `?rpc=` (default ws://127.0.0.1:9944) and can
// be changed in the header; the provider reconnects on its own after a drop.

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiPromise, WsProvider } from '@polkadot/api';

export const DEFAULT_RPC = 'ws://127.0.0.1:9944';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export type ChainInfo = { decimals: number; symbol: string; ss58: number; chainType: string; isDev: boolean; name: string };

type ApiContextValue = {
  rpc: string;
  setRpc: (rpc: string) => void;
  api: ApiPromise | null;
  /** `connected` once the API is ready and while the socket is up. */
  state: ConnectionState;
  /** Whether the connection was up before and dropped (the banner says it is reconnecting). */
  dropped: boolean;
  error: string | null;
  chain: ChainInfo | null;
};

const ApiContext = createContext<ApiContextValue | null>(null);

export function rpcFromUrl(): string {
  const fromQuery = new URLSearchParams(window.location.search).get('rpc');
  return fromQuery && /^wss?:\/\//.test(fromQuery) ? fromQuery : DEFAULT_RPC;
}

export function ApiProvider({ children }: { children: ReactNode }) {
  const [rpc, setRpcState] = useState(rpcFromUrl);
  const [api, setApi] = useState<ApiPromise | null>(null);
  const [state, setState] = useState<ConnectionState>('connecting');
  const [dropped, setDropped] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [chain, setChain] = useState<ChainInfo | null>(null);

  useEffect(() => {
    let alive = true;
    setState('connecting');
    setDropped(false);
    setError(null);
    setApi(null);
    setChain(null);
    const provider = new WsProvider(rpc, 2_000, {}, 60_000);
    const instance = new ApiPromise({ provider, noInitWarn: true, throwOnConnect: false });
    // Rejects on the first connection error: handled by the 'error' listener below, not unhandled.
    instance.isReadyOrError.catch(() => {});
    let wasReady = false;
    let wasConnected = false;
    instance.on('ready', async () => {
      if (!alive) return;
      try {
        const chainType = await instance.rpc.system.chainType();
        const name = (await instance.rpc.system.chain()).toString();
        if (!alive) return;
        setChain({
          decimals: instance.registry.chainDecimals[0] ?? 18,
          symbol: instance.registry.chainTokens[0] ?? 'UNIT',
          ss58: instance.registry.chainSS58 ?? 42,
          chainType: chainType.type,
          isDev: chainType.isDevelopment || chainType.isLocal,
          name,
        });
      } catch (e) {
        setError(`reading the chain's properties: ${(e as Error).message}`);
      }
      wasReady = true;
      setApi(instance);
      setState('connected');
      setDropped(false);
    });
    instance.on('connected', () => {
      wasConnected = true;
      if (alive && wasReady) { setState('connected'); setDropped(false); setError(null); }
    });
    instance.on('disconnected', () => {
      if (!alive) return;
      if (wasConnected) {
        setState('disconnected');
        setDropped(true);
      } else {
        // Never reached: still trying.
        setError(`no answer from ${rpc}`);
      }
    });
    instance.on('error', (e: unknown) => {
      if (!alive) return;
      setError(e instanceof Error ? e.message : `cannot reach ${rpc}`);
      if (!provider.isConnected) setState(wasConnected ? 'disconnected' : 'connecting');
    });
    return () => {
      alive = false;
      instance.disconnect().catch(() => {});
    };
  }, [rpc]);

  const setRpc = useCallback((next: string) => {
    const url = new URL(window.location.href);
    url.searchParams.set('rpc', next);
    window.history.replaceState(null, '', url.toString());
    setRpcState(next);
  }, []);

  const value = useMemo(() => ({ rpc, setRpc, api, state, dropped, error, chain }), [rpc, setRpc, api, state, dropped, error, chain]);
  return <ApiContext.Provider value={value}>{children}</ApiContext.Provider>;
}

export function useApi(): ApiContextValue {
  const ctx = useContext(ApiContext);
  if (!ctx) throw new Error('useApi outside ApiProvider');
  return ctx;
}
