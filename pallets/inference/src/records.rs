//! Reliability records: per validator and per model counters that an explorer reads straight
//! from storage, without an indexer.
//!
//! Three maps, each updated where the event it summarises is emitted (so no event of its own
//! is needed: every change accompanies one of the events below, and replaying those events
//! rebuilds the maps):
//!
//! - [`ValidatorRecords`]: a [`ReliabilityRecord`] per validator (the stash that was drawn, not
//!   its inference key);
//! - [`ValidatorSlashes`]: a validator's latest `MaxSlashRecords` slashes ([`SlashRecord`]),
//!   the oldest dropped when full;
//! - [`ModelStats`]: a [`ModelRecord`] per model: requests, outcomes, and a histogram of the
//!   blocks from request to settlement.
//!
//! Only tasks with an id from [`RecordsSince`] on are counted (the first task id after the
//! upgrade that introduced the records; 0 on a chain that had them from genesis), so that every
//! counted task is counted from its request to its end and the relations below always hold.
//!
//! | counter | incremented where | event |
//! |---|---|---|
//! | `assigned` | each executor drawn at assignment; each replacement drawn | `TaskAssigned`, `ExecutorReplaced` |
//! | `committed` | an accepted commit | `ResultCommitted` |
//! | `revealed` | an accepted reveal | `ResultRevealed` |
//! | `agreed` | settlement (output or rejection): a revealer of the quorum's digest | `TaskSettled` / `TaskRejected` |
//! | `mismatched` | settlement: a revealer of another digest, charged `Mismatch` | `ExecutorSlashed` / `OffenceCovered` |
//! | `missed_commits` | settlement or failure: charged `NoShow` (a quorum committed, it did not) | `ExecutorSlashed` / `OffenceCovered` |
//! | `missed_reveals` | settlement or failure: charged `Withheld` (committed, never revealed) | `ExecutorSlashed` / `OffenceCovered` |
//! | `declined` | an accepted decline | `TaskDeclined` |
//! | `slashes`, `slashed` | a slash that took stake (and its amount) | `ExecutorSlashed` |
//! | model `requests` | a request | `TaskCreated` |
//! | model `settled`, `rejected` (and `settle_blocks`) | settlement | `TaskSettled`, `TaskRejected` |
//! | model `failed`, `cancelled` | failure, cancellation | `TaskFailed`, `TaskCancelled` |
//!
//! The three fault counters follow [`crate::offences`] exactly: they count the faults the chain
//! charges (whether the offence span slashed them or covered them), and nothing the chain does
//! not charge. So revealers of a task without a quorum count as `revealed` only, and executors
//! that did not commit to a task that fewer than a quorum committed to (or to a cancelled
//! task, or one failed for `AgendaFull`) count as `assigned` only.
//!
//! ## Bounds
//!
//! - [`ValidatorRecords`]: one entry per account ever drawn for a task, and only eligible
//!   validators are drawn, each of which bonded `MinValidatorBond` (as [`OffenceSpans`]). An
//!   entry is 52 bytes and outlives the validator, so that its history stays readable.
//! - [`ValidatorSlashes`]: one entry per validator ever slashed (a subset of the above), each
//!   at most `MaxSlashRecords` records.
//! - [`ModelStats`]: one entry per model ever requested: model ids are never reused, each was
//!   registered with a deposit, and the entry is created by a request, which pays at least
//!   `MinFeePerExecutor` per executor. It outlives the model, so that its history stays
//!   readable.

use crate::{pallet::*, types::*};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::{inference::TaskId, models::ModelId, staking::SlashReason};
use sp_runtime::{
	traits::{Get, Saturating, Zero},
	SaturatedConversion,
};

impl<T: Config> Pallet<T> {
	/// Whether `task_id` is counted in the records (see [`RecordsSince`]).
	fn counted(task_id: TaskId) -> bool {
		task_id >= RecordsSince::<T>::get()
	}

	/// Applies `update` to `who`'s record if `task_id` is counted.
	fn update_record(
		task_id: TaskId,
		who: &T::AccountId,
		update: impl FnOnce(&mut ReliabilityRecordOf<T>),
	) {
		if Self::counted(task_id) {
			ValidatorRecords::<T>::mutate(who, update);
		}
	}

	/// Applies `update` to `model_id`'s figures if `task_id` is counted.
	fn update_model(task_id: TaskId, model_id: ModelId, update: impl FnOnce(&mut ModelRecord)) {
		if Self::counted(task_id) {
			ModelStats::<T>::mutate(model_id, update);
		}
	}

	/// `who` was drawn for `task_id` (at assignment or as a replacement).
	pub(crate) fn record_assigned(task_id: TaskId, who: &T::AccountId) {
		Self::update_record(task_id, who, |r| r.assigned.saturating_inc());
	}

	/// `who` committed to `task_id`.
	pub(crate) fn record_committed(task_id: TaskId, who: &T::AccountId) {
		Self::update_record(task_id, who, |r| r.committed.saturating_inc());
	}

	/// `who` revealed its commitment to `task_id`.
	pub(crate) fn record_revealed(task_id: TaskId, who: &T::AccountId) {
		Self::update_record(task_id, who, |r| r.revealed.saturating_inc());
	}

	/// `who` declined `task_id`.
	pub(crate) fn record_declined(task_id: TaskId, who: &T::AccountId) {
		Self::update_record(task_id, who, |r| r.declined.saturating_inc());
	}

	/// `who` revealed the digest `task_id` settled on.
	pub(crate) fn record_agreed(task_id: TaskId, who: &T::AccountId) {
		Self::update_record(task_id, who, |r| r.agreed.saturating_inc());
	}

	/// `who` is charged `reason` in `task_id` (slashed or covered by its offence span).
	pub(crate) fn record_fault(task_id: TaskId, who: &T::AccountId, reason: SlashReason) {
		Self::update_record(task_id, who, |r| match reason {
			SlashReason::Mismatch => r.mismatched.saturating_inc(),
			SlashReason::NoShow => r.missed_commits.saturating_inc(),
			SlashReason::Withheld => r.missed_reveals.saturating_inc(),
		});
	}

	/// `who` was slashed `amount` for `reason` in `task_id`: counted in its record and kept
	/// in its latest slashes, the oldest dropped when the list is full. Nothing is recorded when
	/// the slash took nothing.
	pub(crate) fn record_slash(
		task_id: TaskId,
		who: &T::AccountId,
		reason: SlashReason,
		amount: BalanceOf<T>,
	) {
		// A slash that took nothing (the validator's pool was already empty) is no slash: the
		// record counts the stake taken.
		if !Self::counted(task_id) || amount.is_zero() {
			return;
		}
		ValidatorRecords::<T>::mutate(who, |r| {
			r.slashes.saturating_inc();
			r.slashed.saturating_accrue(amount);
		});
		let at = frame_system::Pallet::<T>::block_number();
		let bound = usize::try_from(T::MaxSlashRecords::get()).unwrap_or(usize::MAX);
		ValidatorSlashes::<T>::mutate(who, |slashes| {
			if slashes.len() >= bound && !slashes.is_empty() {
				slashes.remove(0);
			}
			// Cannot fail once room was made (`integrity_test`: the bound is at least 1).
			let _ = slashes.try_push(SlashRecord { task_id, reason, amount, at });
		});
	}

	/// `task_id` of `model_id` was requested.
	pub(crate) fn record_request(task_id: TaskId, model_id: ModelId) {
		Self::update_model(task_id, model_id, |m| m.requests.saturating_inc());
	}

	/// `task` (`task_id`) settled now, on an output or (`rejected`) on a rejection.
	pub(crate) fn record_settled(task_id: TaskId, task: &TaskInfoOf<T>, rejected: bool) {
		let now = frame_system::Pallet::<T>::block_number();
		let blocks: BlockNumberFor<T> = now.saturating_sub(task.created_at);
		let bucket = blocks.saturated_into::<usize>().min(SETTLE_BUCKETS.saturating_sub(1));
		Self::update_model(task_id, task.model_id, |m| {
			if rejected {
				m.rejected.saturating_inc();
			} else {
				m.settled.saturating_inc();
			}
			if let Some(count) = m.settle_blocks.get_mut(bucket) {
				count.saturating_inc();
			}
		});
	}

	/// `task_id` of `model_id` failed.
	pub(crate) fn record_failed(task_id: TaskId, model_id: ModelId) {
		Self::update_model(task_id, model_id, |m| m.failed.saturating_inc());
	}

	/// `task_id` of `model_id` was cancelled.
	pub(crate) fn record_cancelled(task_id: TaskId, model_id: ModelId) {
		Self::update_model(task_id, model_id, |m| m.cancelled.saturating_inc());
	}
}
