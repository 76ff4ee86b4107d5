// #/models — every registry entry (all versions), its servers, fees, rule and status, and the
// request figures of `inference.modelStats` when the runtime has them.

import { useEffect, useState } from 'react';
import type { ColumnDef } from '@tanstack/react-table';
import { useApi } from '../lib/api';
import { type ChainValue, storage, toBig, toNum } from '../lib/chain';
import { ruleName, ruleOf } from '../lib/digest';
import { histogramMedian } from '../lib/format';
import { requestFee } from '../lib/fees';
import { Address, Balance, ErrorText, NeedsApi } from '../components/common';
import { DataTable } from '../components/DataTable';
import { architectureText, inputKindText } from '../components/ModelDescription';

type Stats = { requests: number; settled: number; rejected: number; failed: number; cancelled: number; median: number | null; histogram: number[] };
type Row = { id: number; model: ChainValue; servers: string[]; stats: Stats | null; escrow: bigint };

export function ModelsPage() {
  return <section><h2>Models</h2><NeedsApi><Models /></NeedsApi></section>;
}

function Models() {
  const { api } = useApi();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [statsAvailable, setStatsAvailable] = useState(true);
  const [since, setSince] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    if (!api) return;
    let alive = true;
    (async () => {
      const q = api.query as ChainValue;
      const statsQuery = storage(api, 'inference', 'modelStats');
      const protocolFee = toBig((api.consts as ChainValue).inference.protocolFee);
      const [entries, servers] = await Promise.all([q.models.models.entries(), q.models.servers.entries()]);
      const serversOf = new Map<number, string[]>(servers.map(([k, v]: ChainValue) => [toNum(k.args[0]), v.map((a: ChainValue) => a.toString())]));
      const out: Row[] = await Promise.all(entries.filter(([, v]: ChainValue) => v.isSome).map(async ([k, v]: ChainValue) => {
        const id = toNum(k.args[0]);
        const model = v.unwrap();
        let stats: Stats | null = null;
        if (statsQuery) {
          const s = await statsQuery(id);
          const histogram = s.settleBlocks.map((c: ChainValue) => toNum(c));
          stats = { requests: toNum(s.requests), settled: toNum(s.settled), rejected: toNum(s.rejected), failed: toNum(s.failed), cancelled: toNum(s.cancelled), median: histogramMedian(histogram), histogram };
        }
        return { id, model, servers: serversOf.get(id) ?? [], stats, escrow: requestFee(model, protocolFee).escrow };
      }));
      if (!alive) return;
      setStatsAvailable(!!statsQuery);
      const sinceQuery = storage(api, 'inference', 'recordsSince');
      if (sinceQuery) setSince(toNum(await sinceQuery()));
      setRows(out.sort((a, b) => a.id - b.id));
    })().catch((e) => alive && setError(`Reading the registry failed: ${e.message}`));
    return () => { alive = false; };
  }, [api, reload]);

  if (error) return <ErrorText>{error}</ErrorText>;
  if (!rows) return <p className="muted">Loading the registry…</p>;
  if (rows.length === 0) return <p className="muted">No model is registered.</p>;

  const stat = (key: keyof Omit<Stats, 'histogram' | 'median'>) => (r: Row) => r.stats?.[key] ?? -1;
  const na = 'not available on this runtime';
  const columns: ColumnDef<Row, ChainValue>[] = [
    { header: 'id', accessorFn: (r) => r.id },
    { header: 'name', accessorFn: (r) => r.model.name.toUtf8(), cell: (c) => <>{c.getValue()} <span className="muted">v{c.row.original.model.version.toString()}</span></> },
    { header: 'owner', accessorFn: (r) => r.model.owner.toString(), cell: (c) => <Address address={c.getValue()} /> },
    { header: 'architecture', accessorFn: (r) => architectureText(r.model.descriptor.architecture), cell: (c) => <span className="small">{c.getValue()}</span> },
    { header: 'input → output', accessorFn: (r) => `${inputKindText(r.model.input)} → ${r.model.output.type}` },
    { header: 'deposit', accessorFn: (r) => toBig(r.model.deposit), cell: (c) => <Balance planck={c.getValue()} />, sortingFn: 'basic' },
    { header: 'servers', accessorFn: (r) => r.servers.length, cell: (c) => <span title={c.row.original.servers.join('\n')}>{c.row.original.servers.length ? c.row.original.servers.map((s) => <div key={s}><Address address={s} /></div>) : 'none'}</span> },
    { header: 'fee / executor', accessorFn: (r) => toBig(r.model.feePerExecutor), cell: (c) => <Balance planck={c.getValue()} />, sortingFn: 'basic' },
    { header: 'token fees', accessorFn: (r) => (r.model.tokenFees.isSome ? 'yes' : ''), cell: (c) => { const tf = c.row.original.model.tokenFees; return tf.isSome ? <span className="small"><Balance planck={toBig(tf.unwrap().perPromptToken)} />/prompt token, <Balance planck={toBig(tf.unwrap().perGeneratedToken)} />/new token</span> : '–'; } },
    { header: 'request costs', accessorFn: (r) => r.escrow, cell: (c) => <Balance planck={c.getValue()} />, sortingFn: 'basic' },
    { header: 'redundancy / quorum', accessorFn: (r) => `${r.model.redundancy} / ${r.model.quorum}` },
    { header: 'rule', accessorFn: (r) => ruleName(ruleOf(r.model.comparison)) },
    { header: 'status', accessorFn: (r) => r.model.status.type },
    { header: 'requests', accessorFn: stat('requests'), cell: (c) => (c.row.original.stats ? c.getValue() : '–') },
    { header: 'settled', accessorFn: stat('settled'), cell: (c) => (c.row.original.stats ? c.getValue() : '–') },
    { header: 'rejected', accessorFn: stat('rejected'), cell: (c) => (c.row.original.stats ? c.getValue() : '–') },
    { header: 'failed', accessorFn: stat('failed'), cell: (c) => (c.row.original.stats ? c.getValue() : '–') },
    { header: 'cancelled', accessorFn: stat('cancelled'), cell: (c) => (c.row.original.stats ? c.getValue() : '–') },
    { header: 'median blocks to settle', accessorFn: (r) => r.stats?.median ?? -1, cell: (c) => { const s = c.row.original.stats; return !s ? '–' : s.median === null ? 'no settlement yet' : s.median === 63 ? '≥ 63' : s.median; } },
  ];

  return (
    <>
      <button type="button" onClick={() => setReload((n) => n + 1)}>Refresh</button>
      {!statsAvailable && <p className="warn" data-testid="stats-unavailable">Request figures (inference.modelStats): {na}.</p>}
      {statsAvailable && since !== null && since > 0 && <p className="muted small">Request figures count the tasks from task {since} on (the runtime upgrade that introduced them).</p>}
      <DataTable data={rows} columns={columns} rowKey={(r) => String(r.id)} rowProps={(r) => ({
        'data-testid': 'model-row', 'data-model-id': String(r.id),
        'data-requests': r.stats ? String(r.stats.requests) : '', 'data-settled': r.stats ? String(r.stats.settled) : '',
        'data-failed': r.stats ? String(r.stats.failed) : '', 'data-median-blocks': r.stats?.median != null ? String(r.stats.median) : '',
      })} />
      <p className="muted small">Request cost: fee per executor (plus, for a language model with token fees, those of its longest prompt and answer) × redundancy, plus the protocol fee of that, rounded up — what request_inference holds in escrow. Median: the first bucket of settle_blocks at which the running count reaches half the settled and rejected tasks (63 means 63 blocks or more).</p>
    </>
  );
}
