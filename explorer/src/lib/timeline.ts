// A task's events as timeline entries.

import type { TaskEvent } from './history';
import { toBig } from './chain';

export type TimelineKind =
  | 'requested' | 'postponed' | 'assigned' | 'committed' | 'reveal-started' | 'revealed' | 'declined' | 'replaced'
  | 'rewarded' | 'slashed' | 'covered' | 'settled' | 'rejected' | 'failed' | 'cancelled' | 'expired' | 'batch-entry-failed';

export type TimelineItem = {
  kind: TimelineKind;
  event: TaskEvent;
  /** The account the event names (requester, executor), if one. */
  account: string | null;
  text: string;
};

const KINDS: Record<string, TimelineKind> = {
  TaskCreated: 'requested',
  AssignmentPostponed: 'postponed',
  TaskAssigned: 'assigned',
  ResultCommitted: 'committed',
  RevealStarted: 'reveal-started',
  ResultRevealed: 'revealed',
  TaskDeclined: 'declined',
  ExecutorReplaced: 'replaced',
  ExecutorRewarded: 'rewarded',
  ExecutorSlashed: 'slashed',
  OffenceCovered: 'covered',
  TaskSettled: 'settled',
  TaskRejected: 'rejected',
  TaskFailed: 'failed',
  TaskCancelled: 'cancelled',
  TaskExpired: 'expired',
  BatchEntryFailed: 'batch-entry-failed',
};

export function timelineOf(events: TaskEvent[], fmt: (planck: bigint) => string): TimelineItem[] {
  return events.flatMap((event): TimelineItem[] => {
    const kind = KINDS[event.name];
    if (!kind) return [];
    const d = event.data;
    const who = (d.executor ?? d.requester)?.toString() ?? null;
    let text = event.name;
    switch (event.name) {
      case 'TaskCreated': text = `requested by ${who}, ${fmt(toBig(d.fee))} held in escrow`; break;
      case 'TaskAssigned': text = `executors drawn: ${d.executors.map((e: { toString(): string }) => e.toString()).join(', ')}; commits before block ${d.commitDeadline}`; break;
      case 'ResultCommitted': text = `${who} committed`; break;
      case 'RevealStarted': text = `reveals open, until block ${d.revealDeadline}`; break;
      case 'ResultRevealed': text = `${who} revealed digest ${d.digest.toHex()}`; break;
      case 'TaskDeclined': text = `${who} declined (${d.reason.type})${d.replaced.isTrue ? ', replacement drawn next block' : ''}`; break;
      case 'ExecutorReplaced': text = `${who} drawn as a replacement`; break;
      case 'ExecutorRewarded': text = `${who} paid ${fmt(toBig(d.amount))}`; break;
      case 'ExecutorSlashed': text = `${who} slashed ${fmt(toBig(d.amount))} (${d.reason.type}, ${d.fraction.toHuman()})`; break;
      case 'OffenceCovered': text = `${who}: ${d.reason.type}, covered by its offence span's earlier slash (nothing more taken)`; break;
      case 'TaskSettled': text = `settled on digest ${d.digest.toHex()}: paid ${fmt(toBig(d.paid))}, protocol fee ${fmt(toBig(d.protocolFee))}, refunded ${fmt(toBig(d.refunded))}`; break;
      case 'TaskRejected': text = `the model rejects the input (${d.rejection.type}): paid ${fmt(toBig(d.paid))}, refunded ${fmt(toBig(d.refunded))}`; break;
      case 'TaskFailed': text = `failed (${d.reason.type}): ${fmt(toBig(d.refunded))} refunded`; break;
      case 'TaskCancelled': text = `cancelled: paid ${fmt(toBig(d.paid))}, refunded ${fmt(toBig(d.refunded))}`; break;
      case 'AssignmentPostponed': text = 'assignment postponed (no randomness)'; break;
      case 'BatchEntryFailed': text = `a batch entry failed: ${d.error.toString()}`; break;
      default: break;
    }
    return [{ kind, event, account: event.name === 'TaskAssigned' ? null : who, text }];
  });
}
