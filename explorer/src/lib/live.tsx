// The live view's data: best and finalized block numbers, tasks moving through their phases (from
// each new block's events), and each settlement's time and latency. On connecting it backfills
// from the chain's own records: the latest `BACKFILL_TASKS` tasks still kept in `inference.tasks`
// (ended tasks are kept `ResultTtl` blocks), with the time of each settlement's block, so the
// charts cover the last hour, not only what arrived since the page opened. Kept at the app's
// level so that it keeps collecting while other pages are open.

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
/** Most tasks read back on connecting (the latest ids). */
export const BACKFILL_TASKS = 500;
/** Blocks whose timestamps are read at once while backfilling. */
const BATCH = 25;

/** The phase word of a task's `status` (a `TaskStatus`). */
function phaseOf(status: ChainValue): string {
  return status.type as string;
}

/**
 * The latest tasks still in storage at the best block, and the settlements among them within
 * the last hour (by their block's timestamp).
 */
async function backfill(api: ChainValue): Promise<{ tasks: LiveTask[]; settlements: Settlement[] }> {
  const next = toNum(await api.query.inference.nextTaskId());
  const ids: number[] = [];
  for (let id = next - 1; id >= 0 && ids.length < BACKFILL_TASKS; id--) ids.push(id);
  if (ids.length === 0) return { tasks: [], settlements: [] };
  const records = await api.query.inference.tasks.multi(ids);
  const tasks: LiveTask[] = [];
  const ended: Array<{ id: number; block: number; latency: number }> = [];
  records.forEach((record: ChainValue, i: number) => {
    if (!record.isSome) return;
    const task = record.unwrap();
    const createdAt = toNum(task.createdAt);
    const status = task.status;
    const at = status.isSettled ? toNum(status.asSettled.at) : status.isRejected ? toNum(status.asRejected.at) : null;
    const endedAt = status.isFailed ? toNum(status.asFailed.at) : status.isCancelled ? toNum(status.asCancelled.at) : at;
    tasks.push({ id: ids[i], status: phaseOf(status), createdAt, updatedAt: endedAt ?? createdAt, lastEvent: '(read back from storage)' });
    if (at !== null) ended.push({ id: ids[i], block: at, latency: at - createdAt });
  });
  const times = new Map<number, number>();
  const blocks = [...new Set(ended.map((e) => e.block))];
  for (let i = 0; i < blocks.length; i += BATCH) {
    await Promise.all(blocks.slice(i, i + BATCH).map(async (block) => {
      const hash = await api.rpc.chain.getBlockHash(block);
      times.set(block, Number((await api.query.timestamp.now.at(hash)).toString()));
    }));
  }
  const cutoff = Date.now() - HOUR;
  const settlements = ended
    .map((e) => ({ id: e.id, block: e.block, latency: e.latency, time: times.get(e.block) ?? 0 }))
    .filter((s) => s.time > cutoff)
    .sort((x, y) => x.block - y.block);
  return { tasks, settlements };
}

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
      // What the chain still keeps, merged under what the subscription has seen meanwhile.
      backfill(api as ChainValue).then((old) => {
        if (!alive) return;
        setTasks((prev) => {
          const merged = new Map(old.tasks.map((t) => [t.id, t]));
          for (const [id, t] of prev) merged.set(id, { ...t, createdAt: t.createdAt ?? merged.get(id)?.createdAt ?? null });
          const sorted = [...merged.values()].sort((x, y) => y.id - x.id).slice(0, KEEP_TASKS);
          return new Map(sorted.map((t) => [t.id, t]));
        });
        setSettlements((prev) => {
          const seen = new Set(prev.map((s) => s.id));
          return [...old.settlements.filter((s) => !seen.has(s.id)), ...prev];
        });
      }).catch(() => {});
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
