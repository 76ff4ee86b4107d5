// #/request — pick a model, enter its input, see the fee, sign with the selected account, then
// follow the task until it ends.

import { useEffect, useMemo, useState } from 'react';
import { Link } from 'react-router';
import { useApi } from '../lib/api';
import { useAccounts } from '../lib/accounts';
import { useLive } from '../lib/live';
import { type ChainValue, toBig, toNum, unwrap } from '../lib/chain';
import { type ChatMessage, CHAT_ROLES, digitInput, encodeChat, encodeF32, parseF32List } from '../lib/decode';
import { requestFee } from '../lib/fees';
import { parseTokens } from '../lib/format';
import { useTx } from '../lib/useTx';
import { ErrorText, NeedsApi, TxStatusView, useFormat } from '../components/common';
import { inputKindText } from '../components/ModelDescription';
import { u8aToHex } from '@polkadot/util';

/** Sample 7 of scikit-learn's digits (as examples/request-inference.mjs): a 7. */
export const SEVEN = [
  0, 0, 7, 8, 13, 16, 15, 1, 0, 0, 7, 7, 4, 11, 12, 0, 0, 0, 0, 0, 8, 13, 1, 0, 0, 4, 8, 8, 15, 15, 6, 0,
  0, 2, 11, 15, 15, 4, 0, 0, 0, 0, 0, 16, 5, 0, 0, 0, 0, 0, 9, 15, 1, 0, 0, 0, 0, 0, 13, 5, 0, 0, 0, 0,
];

export function RequestPage() {
  return <section><h2>Request an inference</h2><NeedsApi><Request /></NeedsApi></section>;
}

function Request() {
  const { api, chain } = useApi();
  const { selected } = useAccounts();
  const fmt = useFormat();
  const [models, setModels] = useState<Array<{ id: number; model: ChainValue }> | null>(null);
  const [modelId, setModelId] = useState<number | null>(null);
  const [numbers, setNumbers] = useState('');
  const [text, setText] = useState('');
  const [chat, setChat] = useState<ChatMessage[]>([{ role: 'user', content: '' }]);
  const [pixels, setPixels] = useState<number[]>(() => new Array(64).fill(0));
  const [brush, setBrush] = useState(16);
  const [maxFeeText, setMaxFeeText] = useState('');
  const { progress, send: sendTx, fail } = useTx();
  const [taskId, setTaskId] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!api) return;
    (api.query as ChainValue).models.models.entries().then((entries: ChainValue[]) => {
      const active = entries.filter(([, v]: ChainValue) => v.isSome && v.unwrap().status.isActive)
        .map(([k, v]: ChainValue) => ({ id: toNum(k.args[0]), model: v.unwrap() })).sort((a, b) => a.id - b.id);
      setModels(active);
      setModelId((current) => current ?? active[0]?.id ?? null);
    }).catch((e: Error) => setError(`Reading the registry failed: ${e.message}`));
  }, [api]);

  const model = models?.find((m) => m.id === modelId)?.model ?? null;
  const fee = useMemo(() => (api && model ? requestFee(model, toBig((api.consts as ChainValue).inference.protocolFee)) : null), [api, model]);
  const kind = model?.input;
  const isDigits = kind?.isF32Vector && toNum(kind.asF32Vector.len) === 64;

  /** The input bytes, or an error in words. */
  const input = useMemo((): { bytes: Uint8Array } | { error: string } => {
    if (!kind) return { error: 'pick a model' };
    try {
      if (kind.isF32Vector) {
        const len = toNum(kind.asF32Vector.len);
        const values = isDigits && numbers.trim() === '' ? digitInput(pixels) : parseF32List(numbers);
        if (values.length !== len) return { error: `the model takes ${len} values, not ${values.length}` };
        return { bytes: encodeF32(values) };
      }
      if (kind.isText) {
        const bytes = new TextEncoder().encode(text);
        if (bytes.length === 0) return { error: 'enter some text' };
        if (bytes.length > toNum(kind.asText.maxBytes)) return { error: `at most ${kind.asText.maxBytes} bytes` };
        return { bytes };
      }
      if (kind.isChat) {
        const bytes = encodeChat(chat.filter((m) => m.content.trim() !== ''));
        if (chat.every((m) => m.content.trim() === '')) return { error: 'write a message' };
        if (bytes.length > toNum(kind.asChat.maxBytes)) return { error: `at most ${kind.asChat.maxBytes} bytes` };
        return { bytes };
      }
      return { error: `unknown input kind ${kind.type}` };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }, [kind, isDigits, numbers, pixels, text, chat]);

  const submit = async () => {
    if (!api || !selected || !fee || modelId === null || !chain) { fail('Select an account and a model first.'); return; }
    if ('error' in input) { fail(`Input: ${input.error}`); return; }
    let maxFee = fee.escrow;
    if (maxFeeText.trim() !== '') {
      try { maxFee = parseTokens(maxFeeText, chain.decimals); } catch (e) { fail(`Max fee: ${(e as Error).message}`); return; }
    }
    setTaskId(null);
    const call = (api.tx as ChainValue).inference.requestInference(modelId, u8aToHex(input.bytes), maxFee, null);
    const events = await sendTx(api, call, selected);
    const created = events?.find(({ event }: ChainValue) => event.section === 'inference' && event.method === 'TaskCreated');
    if (created) setTaskId(toNum(created.event.data.taskId));
  };

  if (error) return <ErrorText>{error}</ErrorText>;
  if (!models) return <p className="muted">Loading models…</p>;
  if (models.length === 0) return <p className="muted">No active model is registered.</p>;

  return (
    <div className="request">
      <label>Model{' '}
        <select data-testid="model-select" value={modelId ?? ''} onChange={(e) => setModelId(Number(e.target.value))}>
          {models.map(({ id, model: m }) => <option key={id} value={id}>{id}: {m.name.toUtf8()} v{m.version.toString()} ({inputKindText(m.input)})</option>)}
        </select>
      </label>

      {kind?.isF32Vector && (
        <div className="input-editor">
          {isDigits && (
            <>
              <p>Draw a digit: clicking a cell paints it with the brush intensity (default 16, full); clicking a cell that already has it clears it to 0. Pixels 0..16 are scaled to [0, 1] as the demo MLP expects.</p>
              <div className="digit-controls">
                <label>Brush <select value={brush} onChange={(e) => setBrush(Number(e.target.value))}>{[4, 8, 12, 16].map((b) => <option key={b} value={b}>{b}</option>)}</select></label>
                <button type="button" onClick={() => setPixels(SEVEN.slice())}>Load a 7</button>
                <button type="button" onClick={() => setPixels(new Array(64).fill(0))}>Clear</button>
              </div>
              <div className="digit-grid">
                {pixels.map((p, i) => (
                  <button key={i} type="button" data-testid="digit-cell" data-index={i} data-value={p} aria-label={`pixel ${i}: ${p}`}
                    className="digit-cell" style={{ background: `rgb(${255 - p * 15},${255 - p * 15},${255 - p * 15})` }}
                    onClick={() => setPixels((prev) => prev.map((v, j) => (j === i ? (v === brush ? 0 : brush) : v)))} />
                ))}
              </div>
              <p className="muted small">Or type the 64 values below (overrides the drawing when not empty).</p>
            </>
          )}
          <label className="block">{toNum(kind.asF32Vector.len)} numbers, comma-separated (f32)
            <textarea data-testid="text-input" rows={3} value={numbers} onChange={(e) => setNumbers(e.target.value)} placeholder="0.5, 1, 0, …" />
          </label>
        </div>
      )}
      {kind?.isText && (
        <label className="block">Text ({inputKindText(kind)})
          <textarea data-testid="text-input" rows={4} value={text} onChange={(e) => setText(e.target.value)} />
        </label>
      )}
      {kind?.isChat && (
        <div className="input-editor">
          {chat.map((m, i) => (
            <div key={i} className="chat-row">
              <select value={m.role} onChange={(e) => setChat(chat.map((x, j) => (j === i ? { ...x, role: e.target.value } : x)))}>
                {CHAT_ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
              </select>
              <textarea data-testid={i === chat.length - 1 ? 'text-input' : undefined} rows={2} value={m.content}
                onChange={(e) => setChat(chat.map((x, j) => (j === i ? { ...x, content: e.target.value } : x)))} />
            </div>
          ))}
          <button type="button" onClick={() => setChat([...chat, { role: 'user', content: '' }])}>Add a message</button>
        </div>
      )}
      {'error' in input && <p className="warn">{input.error}</p>}

      {fee && (
        <p>
          Fee: <span data-testid="fee" data-value={fee.escrow.toString()}>{fmt(fee.escrow)}</span>{' '}
          <span className="muted">= {fmt(fee.perExecutor)} × {fee.redundancy.toString()} executors + protocol fee {fmt(fee.protocolFee)} (held in escrow; what the executors do not earn is refunded)</span>
        </p>
      )}
      <label>Max fee ({chain?.symbol}){' '}<input value={maxFeeText} onChange={(e) => setMaxFeeText(e.target.value)} placeholder={fee ? fmt(fee.escrow) : ''} size={14} /></label>
      <p>
        <button type="button" data-testid="submit-request" onClick={submit} disabled={!selected}>Request, signed by {selected?.label ?? '(no account)'}</button>
      </p>
      <TxStatusView progress={progress} />
      {taskId !== null && <FollowTask taskId={taskId} />}
    </div>
  );
}

function FollowTask({ taskId }: { taskId: number }) {
  const { api } = useApi();
  const { best } = useLive();
  const [status, setStatus] = useState<string>('Queued');
  useEffect(() => {
    if (!api) return;
    (api.query as ChainValue).inference.tasks(taskId).then((t: ChainValue) => { const task = unwrap(t); if (task) setStatus(task.status.type); });
  }, [api, best, taskId]);
  return (
    <p>
      Task <Link data-testid="task-link" data-task-id={taskId} to={`/task/${taskId}`}>{taskId}</Link>:{' '}
      <span data-testid="followed-status" data-status={status} className={`pill ${status.toLowerCase()}`}>{status}</span>
    </p>
  );
}
