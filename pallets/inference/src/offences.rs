//! Offences: what a fault costs an executor, and why one outage is one slash.
//!
//! | fault | evidence | slash | counts in |
//! |---|---|---|---|
//! | revealed a result other than the quorum's (output or rejection) | a quorum revealed another digest | `MismatchSlash` | the executor's offence span |
//! | committed and never revealed (withholding) | its commitment, no reveal by the reveal deadline | `MismatchSlash` | the executor's offence span |
//! | never committed while a quorum of the task's executors did | the quorum's commits by the commit deadline | `NoShowSlash` | the executor's offence span |
//! | never committed, and fewer than a quorum did | none: one executor could commit anything to have the others charged, and an input or model no node can run looks the same | nothing | — |
//! | revealed with no quorum on any digest | none: there is no majority to dissent from | nothing | — |
//!
//! An input the model refuses is not a fault: executors reveal the
//! [`Rejection`](opg_primitives::inference::Rejection) and are paid
//! for it when a quorum agrees (`TaskRejected`).
//!
//! **Offence spans.** A validator's first slashed fault opens a span of `OffenceWindow` blocks
//! ([`OffenceSpans`]). Within it only the largest slash applies, as with polkadot-sdk's slashing
//! spans: a later fault whose slash is no larger takes nothing (`OffenceCovered`) but still
//! counts towards the jail (`InferenceStaking::note_fault`), a larger one
//! takes only the difference, computed on what is left after the span's earlier slash, so that
//! the span's total is the largest fraction of the stake at its start. The window is at least a
//! task's whole life (assignment delay, commit and reveal periods, checked by `integrity_test`),
//! so a node that is down while it holds any number of tasks loses `NoShowSlash` once, not once
//! per task. The staking side jails (and chills) a validator on its `MaxFaultsBeforeJail`-th
//! fault within its `FaultWindow`, covered ones included, which stops new assignments: a node
//! that is down while it holds many tasks is slashed once and jailed, and a lazy executor cannot
//! keep guessing for free until its span ends.
//!
//! Withholding costs as much as a mismatch: otherwise a lazy executor could commit a guess and
//! reveal only when the others' (public) reveals show it matches.

use crate::{pallet::*, types::*};
use opg_primitives::{
	inference::TaskId,
	staking::{InferenceStaking, SlashReason},
};
use sp_runtime::{
	traits::{Get, Saturating},
	PerThing, Perbill,
};

impl<T: Config> Pallet<T> {
	/// The slash of a fault, as a share of the executor's stake.
	pub fn slash_fraction(reason: SlashReason) -> Perbill {
		match reason {
			SlashReason::Mismatch | SlashReason::Withheld => T::MismatchSlash::get(),
			SlashReason::NoShow => T::NoShowSlash::get(),
		}
	}

	/// Charges `executor` for `reason` in `task_id` within its offence span: opens a span and
	/// slashes in full when none is running, slashes the difference when this fault's slash is
	/// larger than the span's, and takes nothing otherwise. Every path records an event.
	pub(crate) fn punish(task_id: TaskId, executor: &T::AccountId, reason: SlashReason) {
		let now = frame_system::Pallet::<T>::block_number();
		let fraction = Self::slash_fraction(reason);
		let running = OffenceSpans::<T>::get(executor)
			.filter(|span| now < span.start.saturating_add(T::OffenceWindow::get()));
		Self::record_fault(task_id, executor, reason);
		let (extra, start) = match running {
			None => (fraction, now),
			Some(span) if fraction > span.fraction => {
				// (f − a) / (1 − a) of what is left takes the span's total to f of its start.
				let extra = Perbill::from_rational(
					fraction.saturating_sub(span.fraction).deconstruct(),
					span.fraction.left_from_one().deconstruct(),
				);
				(extra, span.start)
			},
			Some(_) => {
				// No stake taken, but the fault counts towards the jail: a validator cannot go
				// on faulting for free while its span lasts.
				T::Staking::note_fault(executor);
				Self::deposit_event(Event::OffenceCovered {
					task_id,
					executor: executor.clone(),
					reason,
				});
				return;
			},
		};
		OffenceSpans::<T>::insert(executor, OffenceSpan { start, fraction, reason, task_id });
		let amount = T::Staking::slash(executor, extra, reason);
		Self::record_slash(task_id, executor, reason, amount);
		Self::deposit_event(Event::ExecutorSlashed {
			task_id,
			executor: executor.clone(),
			reason,
			fraction: extra,
			amount,
		});
	}
}
