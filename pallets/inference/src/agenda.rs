//! The per-block agenda: assignments, deadlines and expiries, processed in `on_finalize` with a
//! bounded amount of work per block.
//!
//! Items are scheduled for a block (or, when its list is full, the first of the next
//! [`SCHEDULE_PROBE`] blocks with room). [`AgendaCursor`] is the first block whose items may still
//! be unprocessed; each block processes from there, oldest first, while the worst-case weight of
//! the next item fits the budget, and leaves the rest (and the cursor) for the next block. A
//! backlog therefore delays deadlines but never skips them, and calls check deadlines against
//! the block number themselves, so a late-processed deadline still closes its phase at the
//! deadline.

use crate::{pallet::*, types::*, weights::WeightInfo};
use alloc::vec::Vec;
use frame_support::{pallet_prelude::*, traits::Get};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::{inference::TaskId, staking::InferenceStaking};
use sp_runtime::traits::{One, Saturating, Zero};

/// Blocks tried after the wanted one when its agenda is full.
pub const SCHEDULE_PROBE: u32 = 16;
/// Blocks tried for an expiry (a late expiry only keeps a record longer).
pub const EXPIRY_PROBE: u32 = 256;

impl<T: Config> Pallet<T> {
	/// Schedules `item` at `at` (never before the next block), or at the first of the following
	/// [`SCHEDULE_PROBE`] blocks with room; returns the block used.
	pub(crate) fn schedule(
		at: BlockNumberFor<T>,
		item: AgendaItem,
	) -> Result<BlockNumberFor<T>, Error<T>> {
		Self::schedule_within(at, item, SCHEDULE_PROBE)
	}

	/// Schedules the expiry of `task_id` at `at` or up to [`EXPIRY_PROBE`] blocks later.
	pub(crate) fn schedule_expiry(
		at: BlockNumberFor<T>,
		task_id: TaskId,
	) -> Result<BlockNumberFor<T>, Error<T>> {
		Self::schedule_within(at, AgendaItem::Expire(task_id), EXPIRY_PROBE)
	}

	fn schedule_within(
		at: BlockNumberFor<T>,
		item: AgendaItem,
		probe: u32,
	) -> Result<BlockNumberFor<T>, Error<T>> {
		let next = frame_system::Pallet::<T>::block_number().saturating_add(One::one());
		let mut block = at.max(next);
		for _ in 0..=probe {
			let pushed = Agenda::<T>::mutate(block, |items| items.try_push(item).is_ok());
			if pushed {
				return Ok(block);
			}
			block = block.saturating_add(One::one());
		}
		Err(Error::<T>::AgendaFull)
	}

	/// Worst-case weight of `r` calls into the staking side beyond what the benchmarks measured:
	/// they run against validators without delegators.
	pub(crate) fn staking_calls_weight(r: u32) -> Weight {
		T::Staking::delegators_weight().saturating_mul(r.into())
	}

	/// Worst-case weight of closing the commit phase of a task of redundancy `r`: the
	/// `close_commits` benchmark, and each executor's slash at its most delegators.
	pub(crate) fn close_commits_weight(r: u32) -> Weight {
		T::WeightInfo::close_commits(r).saturating_add(Self::staking_calls_weight(r))
	}

	/// Worst-case weight of ending the reveal phase of a task of redundancy `r`, whether it
	/// settles (`settle`) or fails without a quorum (`fail_reveals`), with each executor's reward
	/// or slash at its most delegators.
	pub(crate) fn reveal_deadline_weight(r: u32) -> Weight {
		T::WeightInfo::settle(r)
			.max(T::WeightInfo::fail_reveals(r))
			.saturating_add(Self::staking_calls_weight(r))
	}

	/// Worst-case weight of `cancel` for a task of redundancy `r`, which pays its executors.
	pub(crate) fn cancel_weight(r: u32) -> Weight {
		T::WeightInfo::cancel(r).saturating_add(Self::staking_calls_weight(r))
	}

	/// The worst-case weight of any one agenda item.
	pub fn max_item_weight() -> Weight {
		let r = T::MaxRedundancy::get();
		T::WeightInfo::assign(r, Self::max_servers())
			.saturating_add(T::DbWeight::get().reads(2))
			.max(Self::close_commits_weight(r))
			.max(Self::reveal_deadline_weight(r))
			.max(T::WeightInfo::expire())
			.max(Self::max_replace_weight())
	}

	/// Reserves the agenda's budget when items may be due (the cursor is at or before `now`
	/// and its block has items, or lags behind); otherwise only what the check read.
	pub(crate) fn reserve_agenda_weight(now: BlockNumberFor<T>) -> Weight {
		let check = T::DbWeight::get().reads_writes(2, 1);
		let cursor = AgendaCursor::<T>::get();
		let due = if cursor.is_zero() || cursor > now {
			!Agenda::<T>::decode_len(now).unwrap_or(0).is_zero()
		} else {
			cursor < now || !Agenda::<T>::decode_len(cursor).unwrap_or(0).is_zero()
		};
		if due {
			AgendaReserved::<T>::put(true);
			check.saturating_add(T::AgendaWeight::get())
		} else {
			// Nothing due: move the cursor with time so that it never has to catch up.
			AgendaCursor::<T>::put(now.saturating_add(One::one()));
			check
		}
	}

	/// Processes due items from the cursor on, within `budget`; returns the weight used.
	pub(crate) fn process_agenda(now: BlockNumberFor<T>, budget: Weight) -> Weight {
		let db = T::DbWeight::get();
		let item_max = Self::max_item_weight();
		let mut used = Weight::zero();
		let mut cursor = AgendaCursor::<T>::get();
		if cursor.is_zero() || cursor > now {
			cursor = now;
		}
		while cursor <= now {
			used.saturating_accrue(db.reads_writes(1, 1));
			let items = Agenda::<T>::get(cursor);
			let mut done = 0usize;
			for item in items.iter() {
				// The item's worst case for its task's actual redundancy (and model's servers),
				// plus reading the task to find them; never more than `item_max`.
				let item_weight = Self::item_weight(*item).min(item_max);
				if used.saturating_add(item_weight).any_gt(budget) {
					break;
				}
				used.saturating_accrue(Self::process_item(*item));
				done = done.saturating_add(1);
			}
			if done < items.len() {
				// Out of budget: keep the rest (and items scheduled meanwhile) for the next block.
				// Processing never schedules at or before `now` (see `schedule`), so the stored
				// list is still `items`.
				let rest: Vec<AgendaItem> = items.into_iter().skip(done).collect();
				Agenda::<T>::insert(cursor, BoundedVec::truncate_from(rest));
				break;
			}
			Agenda::<T>::remove(cursor);
			cursor = cursor.saturating_add(One::one());
		}
		AgendaCursor::<T>::put(cursor);
		used
	}

	/// The weight `process_item` may use for `item`, from its task's redundancy.
	fn item_weight(item: AgendaItem) -> Weight {
		let read = T::DbWeight::get().reads(1);
		let (AgendaItem::Assign(task_id)
		| AgendaItem::CommitDeadline(task_id)
		| AgendaItem::RevealDeadline(task_id)
		| AgendaItem::Expire(task_id)
		| AgendaItem::Replace(task_id)) = item;
		let Some(task) = Tasks::<T>::get(task_id) else { return read };
		read.saturating_add(match item {
			AgendaItem::Assign(_) => Self::assign_weight(&task),
			AgendaItem::CommitDeadline(_) => Self::close_commits_weight(task.redundancy),
			AgendaItem::RevealDeadline(_) => Self::reveal_deadline_weight(task.redundancy),
			AgendaItem::Expire(_) => T::WeightInfo::expire(),
			AgendaItem::Replace(_) => Self::replace_weight(&task),
		})
	}

	/// Runs one item; returns its weight.
	fn process_item(item: AgendaItem) -> Weight {
		match item {
			AgendaItem::Assign(task_id) => Self::on_assign(task_id),
			AgendaItem::CommitDeadline(task_id) => Self::on_commit_deadline(task_id),
			AgendaItem::RevealDeadline(task_id) => Self::on_reveal_deadline(task_id),
			AgendaItem::Expire(task_id) => Self::on_expire(task_id),
			AgendaItem::Replace(task_id) => Self::on_replace(task_id),
		}
	}

	/// Closes the commit phase of `task_id` if it is still open: with fewer commits than the
	/// quorum the task fails; otherwise reveals open.
	pub(crate) fn on_commit_deadline(task_id: TaskId) -> Weight {
		let read = T::DbWeight::get().reads(1);
		let Some(mut task) = Tasks::<T>::get(task_id) else { return read };
		let TaskStatus::Committing { .. } = task.status else { return read };
		let weight = Self::close_commits_weight(task.redundancy);
		if task.commits() == 0 {
			Self::fail(task_id, task, FailReason::NoCommits);
			return weight;
		}
		if task.commits() < task.quorum {
			Self::fail(task_id, task, FailReason::NoQuorum);
			return weight;
		}
		let now = frame_system::Pallet::<T>::block_number();
		match Self::schedule(
			now.saturating_add(T::RevealPeriod::get()),
			AgendaItem::RevealDeadline(task_id),
		) {
			Ok(reveal_deadline) => {
				// Executors that did not commit have nothing left to do.
				for executor in task.executors.iter().filter(|e| e.commitment.is_none()) {
					Self::release_task(&executor.who, task_id);
				}
				task.status = TaskStatus::Revealing { reveal_deadline };
				// A replacement draw still on the agenda (pushed past the deadline by a full
				// agenda) finds the task revealing and draws nobody.
				task.replacements_pending = 0;
				Tasks::<T>::insert(task_id, task);
				Self::deposit_event(Event::RevealStarted { task_id, reveal_deadline });
			},
			Err(_) => Self::fail(task_id, task, FailReason::NoQuorum),
		}
		weight
	}

	/// Settles `task_id` at its reveal deadline if it is still revealing.
	pub(crate) fn on_reveal_deadline(task_id: TaskId) -> Weight {
		let read = T::DbWeight::get().reads(1);
		let Some(task) = Tasks::<T>::get(task_id) else { return read };
		let TaskStatus::Revealing { .. } = task.status else { return read };
		let weight = Self::reveal_deadline_weight(task.redundancy);
		Self::settle(task_id, task);
		weight
	}

	/// Prunes an ended task's record, result and leftover outputs.
	pub(crate) fn on_expire(task_id: TaskId) -> Weight {
		let read = T::DbWeight::get().reads(1);
		let Some(task) = Tasks::<T>::get(task_id) else { return read };
		if task.status.is_open() {
			return read;
		}
		Tasks::<T>::remove(task_id);
		TaskResults::<T>::remove(task_id);
		let _ = RevealedOutputs::<T>::clear_prefix(task_id, T::MaxRedundancy::get(), None);
		Self::deposit_event(Event::TaskExpired { task_id });
		T::WeightInfo::expire()
	}
}
