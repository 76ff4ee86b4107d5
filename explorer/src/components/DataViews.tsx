// Inputs and outputs decoded by the model's input and output kinds.

import { Bar } from 'react-chartjs-2';
import './charts';
import type { ChainValue } from '../lib/chain';
import { decodeChat, decodeF32, decodeGeneration, decodeText, l2Norm } from '../lib/decode';
import type { Outcome } from '../lib/digest';
import { argmaxIndex } from '../lib/stats';

/** An 8×8 digit image (64 values in [0, 1]) drawn as grey cells. */
export function DigitImage({ values }: { values: number[] }) {
  return (
    <div className="digit-grid small" aria-label="8×8 input image">
      {values.map((v, i) => (
        <span key={i} className="digit-px" style={{ background: `rgb(${255 - Math.round(255 * Math.min(Math.max(v, 0), 1))},${255 - Math.round(255 * Math.min(Math.max(v, 0), 1))},${255 - Math.round(255 * Math.min(Math.max(v, 0), 1))})` }} title={v.toString()} />
      ))}
    </div>
  );
}

export function InputView({ input, kind }: { input: Uint8Array | null; kind: ChainValue | null }) {
  if (!input) return <p className="muted">The input is not available.</p>;
  if (!kind) return <pre className="mono wrap">{`0x${Array.from(input, (b) => b.toString(16).padStart(2, '0')).join('')}`}</pre>;
  if (kind.isF32Vector) {
    const values = decodeF32(input);
    if (!values) return <p className="error">Not whole f32 values ({input.length} bytes).</p>;
    return (
      <div className="input-view">
        {values.length === 64 && <DigitImage values={values} />}
        <details open={values.length <= 16}><summary>{values.length} f32 values</summary>
          <pre className="mono wrap">{values.map((v) => Number(v.toPrecision(7))).join(', ')}</pre></details>
      </div>
    );
  }
  if (kind.isChat) {
    const chat = decodeChat(input);
    if ('error' in chat) return <div><p className="error">Malformed chat input: {chat.error}</p><pre className="wrap">{decodeText(input)}</pre></div>;
    return <ol className="chat">{chat.messages.map((m, i) => <li key={i}><b>{m.role}</b>: {m.content}</li>)}</ol>;
  }
  const text = decodeText(input);
  return text === null ? <p className="error">Not UTF-8.</p> : <blockquote className="wrap">{text}</blockquote>;
}

export function ScoresChart({ values, highlight }: { values: number[]; highlight: number | null }) {
  const labels = values.map((_, i) => String(i));
  return (
    <div className="chart-box">
      <Bar
        data={{ labels, datasets: [{ label: 'score', data: values, backgroundColor: values.map((_, i) => (i === highlight ? '#2b7a3d' : '#7a8ca5')) }] }}
        options={{ responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } }}
      />
    </div>
  );
}

/** One executor's revealed outcome, decoded by the model's output kind. */
export function OutputView({ outcome, outputKind, account }: { outcome: Outcome; outputKind: ChainValue | null; account: string }) {
  if ('rejection' in outcome) {
    return <div data-testid="output" data-account={account} data-kind="rejection">The model rejects the input: <b>{outcome.rejection}</b></div>;
  }
  const bytes = outcome.output;
  if (outputKind?.isGeneration) {
    const g = decodeGeneration(bytes);
    if (!g) return <div data-testid="output" data-account={account} data-kind="malformed" className="error">Not a SCALE Generation ({bytes.length} bytes).</div>;
    return (
      <div data-testid="output" data-account={account} data-kind="generation">
        <blockquote className="wrap">{g.text}</blockquote>
        <p className="muted">{g.tokens.length} tokens generated from a prompt of {g.promptTokens} tokens</p>
        <details><summary>token ids</summary><pre className="mono wrap">[{g.tokens.join(', ')}]</pre></details>
      </div>
    );
  }
  const values = decodeF32(bytes);
  if (!values) return <div data-testid="output" data-account={account} data-kind="malformed" className="error">Not whole f32 values ({bytes.length} bytes).</div>;
  if (outputKind?.isLogits) {
    const best = argmaxIndex(values);
    return (
      <div data-testid="output" data-account={account} data-kind="logits" data-argmax={best ?? ''}>
        <ScoresChart values={values} highlight={best} />
        <p>Highest score: class <b>{best}</b> ({best !== null ? values[best].toPrecision(6) : ''})</p>
      </div>
    );
  }
  if (outputKind?.isEmbedding) {
    return (
      <div data-testid="output" data-account={account} data-kind="embedding" data-norm={l2Norm(values)}>
        <p>{values.length}-dimensional embedding, L2 norm {l2Norm(values).toFixed(6)}</p>
        <details><summary>values</summary><pre className="mono wrap">{values.map((v) => v.toPrecision(6)).join(', ')}</pre></details>
      </div>
    );
  }
  return (
    <div data-testid="output" data-account={account} data-kind="values">
      <pre className="mono wrap">{values.map((v) => v.toPrecision(6)).join(', ')}</pre>
    </div>
  );
}
