// What the session has seen since it connected: best and finalized block numbers, tasks moving
// through their phases (from each new block's events), and each settlement's time and latency.
// Kept at the app's level so that it keeps collecting while other pages are open.

import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useApi } from './api';
import { type ChainValue, toNum } from './chain';

export type LiveTask = { id: number; status: string; createdAt: number | null; updatedAt: number; lastEvent: string };
export type Settlement = { id: number; time: number; block: number; latency: number | null };

type LiveValue = { best: number | null; finalized: number | null; tasks: LiveTask[]; settlements: Settlement[] };

const LiveContext = createContext<LiveValue>({ best: null, finalized: null, tasks: [], settlements: [] });

const PHASE: Record<string, string> = {
  TaskCreated: 'Queued', TaskAssigned: 'Committing', RevealStarted: 'Revealing', TaskSettled: 'Settled',
  TaskRejected: 'Rejected', TaskFailed: 'Failed', TaskCancelled: 'Cancelled', ExecutorReplaced: 'Committing',
};
const KEEP_TASKS = 100;
const HOUR = 3_600_000;

export function LiveProvider({ children }: { children: ReactNode }) {
  const { api } = useApi();
  const [best, setBest] = useState<number | null>(null);
  const [finalized, setFinalized] = useState<number | null>(null);
  const [tasks, setTasks] = useState<Map<number, LiveTask>>(new Map());
  const [settlements, setSettlements] = useState<Settlement[]>([]);

  useEffect(() => {
    if (!api) return;
    let alive = true;
    let last: number | null = null;
    const unsubs: Array<() => void> = [];
    const processBlock = async (n: number) => {
      const a = api as ChainValue;
      const hash = await a.rpc.chain.getBlockHash(n);
      const [records, now] = await Promise.all([a.query.system.events.at(hash), a.query.timestamp.now.at(hash)]);
      const time = Number(now.toString()) || Date.now();
      const changes: Array<[number, string, string]> = [];
      const settled: Settlement[] = [];
      for (const { event } of records) {
        if (event.section !== 'inference' || !PHASE[event.method]) continue;
        const id = toNum(event.data.taskId);
        changes.push([id, PHASE[event.method], event.method]);
        if (event.method === 'TaskSettled' || event.method === 'TaskRejected') settled.push({ id, time, block: n, latency: null });
      }
      if (!alive || changes.length === 0) return;
      // Latency: from the task's request block (its record, still there when it just settled).
      for (const s of settled) {
        const task = await a.query.inference.tasks.at(hash, s.id).catch(() => null);
        if (task?.isSome) s.latency = n - toNum(task.unwrap().createdAt);
      }
      setTasks((prev) => {
        const next = new Map(prev);
        for (const [id, status, name] of changes) {
          const old = next.get(id);
          next.set(id, { id, status, createdAt: old?.createdAt ?? (name === 'TaskCreated' ? n : null), updatedAt: n, lastEvent: name });
        }
        const sorted = [...next.values()].sort((x, y) => y.id - x.id).slice(0, KEEP_TASKS);
        return new Map(sorted.map((t) => [t.id, t]));
      });
      if (settled.length) setSettlements((prev) => [...prev.filter((s) => s.time > Date.now() - HOUR), ...settled]);
    };
    (async () => {
      unsubs.push(await api.rpc.chain.subscribeNewHeads(async (header) => {
        const n = header.number.toNumber();
        if (!alive) return;
        setBest(n);
        // Blocks the subscription skipped (at most 20), then this one.
        const from = last !== null && n > last ? Math.max(last + 1, n - 20) : n;
        if (last !== null && n <= last) return; // a re-org to a lower or equal height: seen already
        last = n;
        for (let b = from; b <= n; b++) await processBlock(b).catch(() => {});
      }));
      unsubs.push(await api.rpc.chain.subscribeFinalizedHeads((header) => {
        if (alive) setFinalized(header.number.toNumber());
      }));
    })().catch(() => {});
    return () => {
      alive = false;
      unsubs.forEach((u) => u());
    };
  }, [api]);

  const value = useMemo(() => ({ best, finalized, tasks: [...tasks.values()], settlements }), [best, finalized, tasks, settlements]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveValue {
  return useContext(LiveContext);
}
