// #/validators — every validator's stake, commission, status, the models it serves, its
// reliability record and latest slashes; delegate and undelegate with the selected account.

import { useCallback, useEffect, useState } from 'react';
import { Link } from 'react-router';
import { useApi } from '../lib/api';
import { useAccounts } from '../lib/accounts';
import { useLive } from '../lib/live';
import { type ChainValue, storage, toBig, toNum, unwrap } from '../lib/chain';
import { parseTokens } from '../lib/format';
import { positionValue } from '../lib/staking';
import { useTx } from '../lib/useTx';
import type { ColumnDef } from '@tanstack/react-table';
import { Address, Balance, ErrorText, NeedsApi, TxStatusView, useFormat } from '../components/common';
import { DataTable } from '../components/DataTable';

const RECORD_FIELDS = ['assigned', 'committed', 'revealed', 'agreed', 'mismatched', 'missedCommits', 'missedReveals', 'declined', 'slashes'] as const;
type RecordField = (typeof RECORD_FIELDS)[number];
type Reliability = Record<RecordField, number> & { slashed: bigint };
type Slash = { taskId: number; reason: string; amount: bigint; at: number };

type Row = {
  who: string; own: bigint; ownPrincipal: bigint; delegated: bigint; unbonding: bigint; commission: string; status: string; jailedUntil: number | null;
  serves: number[]; record: Reliability | null; slashes: Slash[] | null; mine: bigint;
};

export function ValidatorsPage() {
  return <section><h2>Validators</h2><NeedsApi><Validators /></NeedsApi></section>;
}

function Validators() {
  const { api, chain } = useApi();
  const { selected } = useAccounts();
  const { best } = useLive();
  const fmt = useFormat();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [recordsAvailable, setRecordsAvailable] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [amounts, setAmounts] = useState<Record<string, string>>({});
  const { progress, send: sendTx, fail } = useTx();
  const [reload, setReload] = useState(0);
  const [modelNames, setModelNames] = useState<Map<number, string>>(new Map());

  const load = useCallback(async () => {
    if (!api) return;
    const q = api.query as ChainValue;
    const now = (await api.rpc.chain.getHeader()).number.toNumber();
    const recordsQuery = storage(api, 'inference', 'validatorRecords');
    const slashesQuery = storage(api, 'inference', 'validatorSlashes');
    const [validators, servers, models] = await Promise.all([q.inferenceStaking.validators.entries(), q.models.servers.entries(), q.models.models.entries()]);
    const names = new Map<number, string>();
    for (const [k, m] of models) if (m.isSome) names.set(toNum(k.args[0]), `${m.unwrap().name.toUtf8()} v${toNum(m.unwrap().version)}`);
    setModelNames(names);
    const serves = new Map<string, number[]>();
    for (const [k, list] of servers) for (const v of list) serves.set(v.toString(), [...(serves.get(v.toString()) ?? []), toNum(k.args[0])]);
    const out: Row[] = await Promise.all(validators.filter(([, v]: ChainValue) => v.isSome).map(async ([k, v]: ChainValue) => {
      const who = k.args[0].toString();
      const info = v.unwrap();
      const [poolOpt, recordRaw, slashesRaw, mineOpt] = await Promise.all([
        q.inferenceStaking.pools(who), recordsQuery?.(who), slashesQuery?.(who),
        selected ? q.inferenceStaking.delegations(selected.address, who) : Promise.resolve(null),
      ]);
      const pool = unwrap(poolOpt);
      const own = pool ? positionValue(info.selfStake, pool.active) : 0n;
      const active = pool ? toBig(pool.active.value) : 0n;
      const jailedUntil = unwrap(info.jailedUntil) ? toNum(unwrap(info.jailedUntil)) : null;
      const rec = recordRaw && recordRaw.isSome !== undefined ? unwrap(recordRaw) : recordRaw;
      const record = rec ? { ...Object.fromEntries(RECORD_FIELDS.map((f) => [f, toNum(rec[f])])), slashed: toBig(rec.slashed) } as Reliability : null;
      const sl = slashesRaw && slashesRaw.isSome !== undefined ? unwrap(slashesRaw) : slashesRaw;
      const slashes = sl ? sl.map((s: ChainValue) => ({ taskId: toNum(s.taskId), reason: s.reason.type, amount: toBig(s.amount), at: toNum(s.at) })) : (slashesQuery ? [] : null);
      const mine = unwrap(mineOpt);
      return {
        who, own, ownPrincipal: toBig(info.selfStake.principal), delegated: active > own ? active - own : 0n, unbonding: pool ? toBig(pool.unbonding.value) : 0n,
        commission: info.commission.toHuman(), status: jailedUntil !== null && jailedUntil > now ? 'jailed' : info.status.type.toLowerCase(),
        jailedUntil, serves: (serves.get(who) ?? []).sort((a, b) => a - b), record, slashes, mine: mine && pool ? positionValue(mine, pool.active) : 0n,
      };
    }));
    setRecordsAvailable(!!recordsQuery);
    // A stable order (by account), so that rows do not move under the pointer when stake changes;
    // the headers sort.
    setRows(out.sort((a, b) => (a.who < b.who ? -1 : a.who > b.who ? 1 : 0)));
  }, [api, selected]);

  useEffect(() => { load().catch((e) => setError(`Reading the validators failed: ${e.message}`)); }, [load, reload]);
  // Refresh every few blocks (stake moves with rewards and slashes).
  useEffect(() => { if (best !== null && best % 5 === 0) load().catch(() => {}); }, [best, load]);

  const send = async (who: string, action: 'delegate' | 'undelegate') => {
    if (!api || !selected || !chain) { fail('Select an account first (header).'); return; }
    let amount: bigint;
    try {
      const text = amounts[who] ?? '';
      const row = rows?.find((r) => r.who === who);
      amount = text.trim() === '' && action === 'undelegate' && row ? row.mine : parseTokens(text, chain.decimals);
      if (amount <= 0n) throw new Error('enter an amount above zero');
    } catch (e) {
      fail(`Amount: ${(e as Error).message}`);
      return;
    }
    const tx = (api.tx as ChainValue).inferenceStaking[action](who, amount);
    if (await sendTx(api, tx, selected)) setReload((n) => n + 1);
  };

  if (error) return <ErrorText>{error}</ErrorText>;
  if (!rows) return <p className="muted">Loading validators…</p>;
  const columns: ColumnDef<Row, ChainValue>[] = [
    { header: 'validator', accessorFn: (r) => r.who, cell: (c) => <Address address={c.getValue()} /> },
    {
      header: 'own', accessorFn: (r) => r.own, sortingFn: 'basic',
      cell: (c) => <span title={`after slashes; bonded (principal) ${c.row.original.ownPrincipal}`}><Balance planck={c.getValue()} /></span>,
    },
    { header: 'delegated', accessorFn: (r) => r.delegated, cell: (c) => <Balance planck={c.getValue()} />, sortingFn: 'basic' },
    { header: 'unbonding', accessorFn: (r) => r.unbonding, cell: (c) => <Balance planck={c.getValue()} />, sortingFn: 'basic' },
    { header: 'commission', accessorFn: (r) => r.commission },
    { header: 'status', accessorFn: (r) => r.status, cell: (c) => <span className={`st-${c.getValue()}`}>{c.getValue()}{c.getValue() === 'jailed' ? ` until block ${c.row.original.jailedUntil}` : ''}</span> },
    {
      header: 'serves models', accessorFn: (r) => r.serves.join(', ') || 'none', cell: (c) => {
        const ids = c.row.original.serves;
        return <span className="small">{ids.length === 0 ? 'none' : ids.map((id) => (
          <div key={id}><Link to="/models">{modelNames.get(id) ?? 'model'} ({id})</Link></div>))}</span>;
      },
    },
    {
      header: 'record', accessorFn: (r) => r.record?.agreed ?? -1, cell: (c) => {
        const rec = c.row.original.record;
        if (!rec) return <span className="small">{recordsAvailable ? 'no record yet' : 'not available on this runtime'}</span>;
        const lines: Array<[string, string | number]> = [
          ['assigned', rec.assigned], ['committed', rec.committed], ['revealed', rec.revealed], ['agreed', rec.agreed],
          ['mismatched', rec.mismatched], ['missed commits', rec.missedCommits], ['missed reveals', rec.missedReveals],
          ['declined', rec.declined], ['slashes', `${rec.slashes} (${fmt(rec.slashed)})`],
        ];
        return <dl className="record small">{lines.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}</dl>;
      },
    },
    {
      header: 'slashes', accessorFn: (r) => r.slashes?.length ?? -1, cell: (c) => {
        const sl = c.row.original.slashes;
        return <span className="small">{sl === null ? 'not available on this runtime' : sl.length === 0 ? 'none' : sl.map((s) => (
          <div key={`${s.taskId}-${s.at}`}><Link to={`/task/${s.taskId}`}>task {s.taskId}</Link>: {s.reason}, {fmt(s.amount)} at block {s.at}</div>))}</span>;
      },
    },
    { header: 'your delegation', accessorFn: (r) => r.mine, sortingFn: 'basic', cell: (c) => <span data-testid="my-delegation" data-value={c.getValue().toString()}><Balance planck={c.getValue()} /></span> },
    {
      header: 'delegate / undelegate', enableSorting: false, cell: (c) => {
        const who = c.row.original.who;
        return (
          <span className="nowrap">
            <input data-testid="delegate-amount" size={8} placeholder={chain?.symbol ?? 'amount'} value={amounts[who] ?? ''}
              onChange={(e) => setAmounts((prev) => ({ ...prev, [who]: e.target.value }))} />
            <button type="button" data-testid="delegate-button" onClick={() => send(who, 'delegate')}>Delegate</button>
            <button type="button" data-testid="undelegate-button" onClick={() => send(who, 'undelegate')}>Undelegate</button>
          </span>
        );
      },
    },
  ];


  return (
    <>
      <TxStatusView progress={progress} />
      {!recordsAvailable && <p className="warn">Reliability records (inference.validatorRecords, validatorSlashes): not available on this runtime.</p>}
      <p className="muted small">Amounts in whole {chain?.symbol ?? 'tokens'}. Undelegate with an empty amount takes the whole delegation of the selected account ({selected?.label ?? 'none'}).</p>
      <DataTable data={rows} columns={columns} rowKey={(r) => r.who} rowProps={(r) => ({
        'data-testid': 'validator-row', 'data-account': r.who, 'data-own': r.own.toString(), 'data-own-principal': r.ownPrincipal.toString(), 'data-delegated': r.delegated.toString(),
        'data-unbonding': r.unbonding.toString(), 'data-status': r.status,
        'data-agreed': r.record ? String(r.record.agreed) : '', 'data-mismatched': r.record ? String(r.record.mismatched) : '',
        'data-missed-commits': r.record ? String(r.record.missedCommits) : '', 'data-missed-reveals': r.record ? String(r.record.missedReveals) : '',
        'data-declined': r.record ? String(r.record.declined) : '', 'data-slashes': r.record ? String(r.record.slashes) : '',
      })} />
      {rows.length === 0 && <p className="muted">No validator registered.</p>}
    </>
  );
}
