// #/task/:id — one inference task: its input, model, executors and their stake, timeline, each
// executor's revealed digest and output, fees and slashes, and a check of every commitment.

import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { hexToU8a, u8aToHex } from '@polkadot/util';
import { useApi } from '../lib/api';
import { useLive } from '../lib/live';
import { type ChainValue, toBig, toNum } from '../lib/chain';
import { type CommitmentCheck, checkCommitment, ruleName } from '../lib/digest';
import { accountBytes, loadTaskHistory, type TaskHistory, TaskNotFound } from '../lib/history';
import { timelineOf } from '../lib/timeline';
import { verifyCommand } from '../lib/verify';
import { appsBlockLink, formatTime, shortHex } from '../lib/format';
import { Address, Balance, ErrorText, NeedsApi, useFormat } from '../components/common';
import { InputView, OutputView } from '../components/DataViews';
import { ModelDescription } from '../components/ModelDescription';

const OPEN = ['Queued', 'Committing', 'Revealing'];

export function TaskPage() {
  const { id } = useParams();
  const navigate = useNavigate();
  const [draft, setDraft] = useState(id ?? '');
  useEffect(() => setDraft(id ?? ''), [id]);
  return (
    <section>
      <form className="inline" onSubmit={(e) => { e.preventDefault(); if (/^\d+$/.test(draft.trim())) navigate(`/task/${draft.trim()}`); }}>
        <label>Task id <input value={draft} onChange={(e) => setDraft(e.target.value)} size={10} /></label>
        <button type="submit">Show</button>
      </form>
      {id === undefined ? <p className="muted">Enter a task id.</p>
        : !/^\d+$/.test(id) ? <ErrorText testId="task-error">“{id}” is not a task id (a whole number).</ErrorText>
        : <NeedsApi><TaskView key={id} taskId={Number(id)} /></NeedsApi>}
    </section>
  );
}

function TaskView({ taskId }: { taskId: number }) {
  const { api, rpc } = useApi();
  const { best } = useLive();
  const fmt = useFormat();
  const [history, setHistory] = useState<TaskHistory | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [progress, setProgress] = useState<string>('');
  const [checks, setChecks] = useState<Map<string, CommitmentCheck> | null>(null);
  const loading = useRef(false);

  const load = useCallback(async () => {
    if (!api || loading.current) return;
    loading.current = true;
    try {
      const h = await loadTaskHistory(api, taskId, (done, total) => setProgress(`reading block ${done} of ${total}…`));
      setHistory(h);
      setError(null);
    } catch (e) {
      setError(e instanceof TaskNotFound ? e.message : `Reading task ${taskId} failed: ${(e as Error).message}`);
    } finally {
      loading.current = false;
      setProgress('');
    }
  }, [api, taskId]);

  useEffect(() => { load(); }, [load]);
  // Follow an open task block by block.
  const open = history ? OPEN.includes(history.status) : false;
  useEffect(() => { if (open && best !== null) load(); }, [best, open, load]);

  if (error && !history) return <ErrorText testId="task-error">{error}</ErrorText>;
  if (!history) return <p className="muted">Loading task {taskId}… {progress}</p>;

  const h = history;
  const t = h.task;
  const timeline = timelineOf(h.events, fmt);
  const model = h.model;
  const slashes = h.events.filter((e) => e.name === 'ExecutorSlashed' || e.name === 'OffenceCovered');
  const rewarded = h.events.filter((e) => e.name === 'ExecutorRewarded').reduce((sum, e) => sum + toBig(e.data.amount), 0n);
  const paid = h.paid ?? (rewarded > 0n ? rewarded : null);
  const cmd = model ? verifyCommand(model, t.comparison, h.input, h.id, h.requestBlockHash ? hexToU8a(h.requestBlockHash) : null) : null;

  const runChecks = () => {
    const out = new Map<string, CommitmentCheck>();
    for (const ex of h.executors) {
      if (!ex.reveal) {
        out.set(ex.who, { result: 'unavailable', why: ex.revealed ? 'its reveal extrinsic was not found in the blocks read' : 'it did not reveal' });
        continue;
      }
      const c = checkCommitment(h.rule, ex.reveal.outcome, ex.reveal.salt, accountBytes(ex.who),
        ex.commitment ? hexToU8a(ex.commitment) : null, ex.revealed ? hexToU8a(ex.revealed) : null);
      // The chain only accepts a reveal from the executor or the key it had linked then; a key
      // rotated or cleared since is looked up in the state before the reveal, so it does not
      // turn an honest reveal into a mismatch.
      if (c.result === 'match' && ex.signerActsFor !== undefined && ex.signerActsFor !== ex.who) {
        out.set(ex.who, { ...c, result: 'mismatch', why: `the reveal was signed by ${ex.reveal.signer}, which does not act for ${ex.who}` });
      } else out.set(ex.who, c);
    }
    setChecks(out);
  };

  return (
    <div className="task">
      <h2>
        Task {h.id}{' '}
        <span data-testid="task-status" data-status={h.status} className={`pill ${h.status.toLowerCase()}`}>{h.status}</span>
      </h2>
      {error && <ErrorText>{error} (showing what was read before)</ErrorText>}
      <dl className="facts">
        <dt>Requester</dt><dd><Address address={t.requester.toString()} full /></dd>
        <dt>Model</dt><dd>{model ? `${model.name.toUtf8()} v${model.version}` : '(removed)'} (id {h.modelId}) <Link to="/models">registry</Link></dd>
        <dt>Requested in</dt><dd>block {h.fromBlock}</dd>
        <dt>Redundancy / quorum</dt><dd>{t.redundancy.toString()} executors, {t.quorum.toString()} matching results settle it</dd>
        <dt>Comparison</dt><dd>{ruleName(h.rule)}</dd>
        <dt>Plan</dt><dd>assign at {t.plan.assignAt.toString()}, commits before {t.plan.commitDeadline.toString()}, reveals before {t.plan.revealDeadline.toString()}, pruned at {t.plan.expiresAt.toString()}</dd>
        <dt>Escrow</dt><dd><Balance planck={toBig(t.escrow)} /> ({fmt(toBig(t.feePerExecutor))} per executor{h.tokenCharge ? ' and its token fees at the model\'s limits' : ''}, × {t.redundancy.toString()}, + protocol fee {fmt(toBig(t.protocolFee))})</dd>
        {t.status.isFailed && <><dt>Failure</dt><dd>{t.status.asFailed.reason.type}</dd></>}
        {t.status.isRejected && <><dt>Rejection</dt><dd>{t.status.asRejected.rejection.type}</dd></>}
      </dl>
      {h.truncated && <p className="warn">History cut at block {h.toBlock} ({h.toBlock - h.fromBlock + 1} blocks read).</p>}
      {h.missingBlocks.length > 0 && <p className="warn">The node no longer has the state of blocks {h.missingBlocks.join(', ')} (state pruning): their events are missing. An archive node (--state-pruning archive) has them.</p>}

      <h3>Input</h3>
      <InputView input={h.input} kind={model?.input ?? null} />

      <h3>Model</h3>
      {model ? <ModelDescription model={model} /> : <p className="muted">Model {h.modelId} is no longer in the registry.</p>}

      <h3>Executors</h3>
      <table className="grid">
        <thead><tr><th>validator</th><th>stake now</th><th>commitment</th><th>revealed digest</th><th>agrees</th><th>reveal signed by</th></tr></thead>
        <tbody>
          {h.executors.map((ex) => (
            <tr key={ex.who} data-testid="executor-row" data-account={ex.who} data-digest={ex.revealed ?? ''} data-commitment={ex.commitment ?? ''}
              data-agrees={ex.agrees === null ? '' : String(ex.agrees)} data-stake={ex.stake?.toString() ?? ''}
              className={ex.agrees === true ? 'agree' : ex.agrees === false && ex.revealed ? 'dissent' : ''}>
              <td><Address address={ex.who} full /></td>
              <td><Balance planck={ex.stake} /></td>
              <td className="mono">{ex.commitment ? shortHex(ex.commitment) : 'not committed'}</td>
              <td className="mono">{ex.revealed ? shortHex(ex.revealed) : 'not revealed'}</td>
              <td>{ex.agrees === true ? '✔ quorum' : ex.agrees === false ? (ex.revealed ? '✘ dissent' : 'no result') : '–'}</td>
              <td>{ex.reveal ? <><Address address={ex.reveal.signer} />{ex.reveal.signer !== ex.who ? ' (inference key)' : ''} in block {ex.reveal.block}</> : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {h.executors.length === 0 && <p className="muted">{toNum(t.declined.length) > 0 ? 'No executor left: every one drawn declined.' : OPEN.includes(h.status) ? 'No executor drawn yet.' : 'No executor was drawn.'}</p>}
      {h.quorumDigest && <p>Quorum digest: <span className="mono">{h.quorumDigest}</span></p>}

      <h3>Outputs</h3>
      {h.executors.filter((ex) => ex.reveal).map((ex) => (
        <div key={ex.who} className={`output-box ${ex.agrees === false ? 'dissent' : ex.agrees ? 'agree' : ''}`}>
          <h4><Address address={ex.who} /> {ex.agrees === false ? '(dissents)' : ex.agrees ? '(quorum)' : ''}</h4>
          <OutputView outcome={ex.reveal!.outcome} outputKind={model?.output ?? null} account={ex.who} />
        </div>
      ))}
      {h.result && !h.executors.some((ex) => ex.reveal) && (
        <div className="output-box agree">
          <h4>Published result (raw output of <Address address={h.result.publisher.toString()} />)</h4>
          <OutputView outcome={{ output: h.result.output.toU8a(true) }} outputKind={model?.output ?? null} account={h.result.publisher.toString()} />
        </div>
      )}
      {!h.executors.some((ex) => ex.reveal) && !h.result && <p className="muted">No output revealed yet.</p>}

      <h3>Fees and slashes</h3>
      <dl className="facts">
        <dt>Paid to executors</dt><dd><Balance testId="fee-paid" planck={paid} /></dd>
        <dt>Protocol fee</dt><dd><Balance testId="protocol-fee" planck={h.protocolFee} /></dd>
        <dt>Refunded</dt><dd><Balance testId="refunded" planck={h.refunded} /></dd>
      </dl>
      {slashes.length === 0 ? <p className="muted">No slash.</p> : (
        <table className="grid">
          <thead><tr><th>validator</th><th>fault</th><th>slashed</th><th>event</th></tr></thead>
          <tbody>{slashes.map((e) => {
            // A fault covered by its offence span's earlier, larger slash takes nothing more: it is
            // listed, but it is not a slash.
            const covered = e.name === 'OffenceCovered';
            return (
              <tr key={`${e.block}-${e.index}`} data-testid={covered ? 'covered-row' : 'slash-row'} data-account={e.data.executor.toString()}
                data-reason={e.data.reason.type} data-amount={covered ? '0' : toBig(e.data.amount).toString()}>
                <td><Address address={e.data.executor.toString()} full /></td>
                <td>{e.data.reason.type}{covered ? ' (covered by an earlier, larger slash of its offence span)' : ''}</td>
                <td>{covered ? 'nothing more' : <>{fmt(toBig(e.data.amount))} ({e.data.fraction.toHuman()})</>}</td>
                <td><a href={appsBlockLink(rpc, e.blockHash)} target="_blank" rel="noreferrer">#{e.block}-{e.index}</a></td>
              </tr>
            );
          })}
          </tbody>
        </table>
      )}

      <h3>Timeline</h3>
      <ol data-testid="timeline" className="timeline">
        {timeline.map((item) => (
          <li key={`${item.event.block}-${item.event.index}`} data-testid="timeline-item" data-kind={item.kind} data-block={item.event.block}
            data-account={item.account ?? ''} className={`tl-${item.kind}`}>
            <span className="tl-block"><a href={appsBlockLink(rpc, item.event.blockHash)} target="_blank" rel="noreferrer">#{item.event.block}-{item.event.index}</a></span>
            <span className="tl-time">{formatTime(item.event.time)}</span>
            <span className="tl-kind">{item.kind}</span>
            <span className="tl-text">{item.text}</span>
          </li>
        ))}
      </ol>

      <h3>Verify it yourself</h3>
      {cmd && 'command' in cmd ? (
        <>
          <p>Rerun the model on this input with your own node:</p>
          <pre data-testid="verify-command" className="mono wrap command">{cmd.command}</pre>
          <p className="muted">{cmd.note}</p>
        </>
      ) : <p className="muted">{cmd ? cmd.error : 'The model is not in the registry any more.'}</p>}
      <p>
        In this browser: for each reveal, read the outcome and salt from its extrinsic, recompute the canonical digest under {ruleName(h.rule)}, then
        blake2_256(digest ‖ salt ‖ executor account) and compare it with the commitment the executor made. (The chain binds the validator's account,
        not the inference key that signs.)
      </p>
      <button type="button" data-testid="verify-button" onClick={runChecks}>Check the commitments</button>
      {checks && (
        <ul className="checks">
          {h.executors.map((ex) => {
            const c = checks.get(ex.who)!;
            return (
              <li key={ex.who} data-testid="commitment-check" data-account={ex.who} data-result={c.result} className={`check-${c.result}`}>
                <Address address={ex.who} />: <b>{c.result}</b> — {c.why}
                {c.digest && <div className="mono small">digest {u8aToHex(c.digest)}; commitment {c.commitment ? u8aToHex(c.commitment) : ''}</div>}
                {ex.reveal && <div className="small">reveal: {ex.reveal.call} in <a href={appsBlockLink(rpc, ex.reveal.blockHash)} target="_blank" rel="noreferrer">block {ex.reveal.block}, extrinsic {ex.reveal.extrinsic}</a>, salt {shortHex(u8aToHex(ex.reveal.salt))}</div>}
              </li>
            );
          })}
        </ul>
      )}
      <p className="muted small">Read at best block {h.bestBlock}; events of blocks {h.fromBlock}–{h.toBlock}. {toNum(t.declined.length) > 0 ? `Declined: ${t.declined.map((d: ChainValue) => d.toString()).join(', ')}.` : ''}</p>
    </div>
  );
}
