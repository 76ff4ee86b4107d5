//! `try_state`: the pallet's invariants, checked by tests after every scenario and by
//! try-runtime.

use crate::{pallet::*, types::*};
use alloc::collections::{btree_map::BTreeMap, btree_set::BTreeSet};
use frame_support::{
	ensure,
	traits::{fungible::InspectHold, Get},
	weights::Weight,
};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::staking::InferenceStaking;
use sp_runtime::{
	traits::{CheckedAdd, CheckedMul, Saturating, Zero},
	TryRuntimeError,
};

impl<T: Config> Pallet<T> {
	/// Checks:
	/// - every requester's escrow hold equals the escrow of its open tasks;
	/// - `OpenTasks` counts the open tasks of each model;
	/// - open tasks have inputs, ended tasks have none and an expiry; settled ones a result;
	/// - executors are distinct, and `ExecutorTasks` lists exactly the (executor, open task)
	///   pairs still waiting for that executor's commit or reveal;
	/// - every open task has the agenda item that ends its current phase at a block not before
	///   the cursor, and every task its expiry (no task stays open past its deadlines);
	/// - each block's [`AgendaLoad`] counts its items, and its reserved weight covers what
	///   they may use and fits the agenda's budget;
	/// - inference keys belong to registered validators, and `KeyOwners` is the reverse of
	///   `InferenceKeys`;
	/// - every [`TaskTokenCharges`] entry belongs to a stored task, whose escrow is the fee of
	///   its longest prompt and generation (and the protocol fee);
	/// - the reliability records are consistent (see [`Self::check_records`]).
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let mut escrow: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut open: BTreeMap<u32, u32> = BTreeMap::new();
		// Open tasks counted in the records, by model.
		let mut counted_open: BTreeMap<u32, u32> = BTreeMap::new();
		let mut waiting = BTreeSet::new();
		let mut scheduled = BTreeSet::new();
		let cursor = AgendaCursor::<T>::get();
		for (block, items) in Agenda::<T>::iter() {
			ensure!(
				block >= cursor || cursor == Default::default(),
				"agenda item behind the cursor"
			);
			for item in items {
				scheduled.insert((item, block));
			}
		}
		let has_item = |item: AgendaItem, at: BlockNumberFor<T>| scheduled.contains(&(item, at));
		for (block, load) in AgendaLoad::<T>::iter() {
			let items = Agenda::<T>::get(block);
			ensure!(
				usize::try_from(load.items).ok() == Some(items.len()),
				"AgendaLoad miscounts the block's items"
			);
			// Of equal items in one block only the first can be live (a re-planned task's new
			// expiry may share its block with its old one), replacement draws aside.
			let mut seen = BTreeSet::new();
			let may_use = items.iter().fold(Weight::zero(), |sum, item| {
				let live = matches!(item, AgendaItem::Replace(_)) || seen.insert(*item);
				let weight =
					if live { Self::item_weight(*item, block) } else { Self::stale_weight() };
				sum.saturating_add(weight)
			});
			ensure!(load.weight.all_gte(may_use), "a block's items may use more than it reserved");
			ensure!(load.weight.all_lte(Self::agenda_budget()), "a block reserved over budget");
		}
		for (block, items) in Agenda::<T>::iter() {
			ensure!(AgendaLoad::<T>::contains_key(block), "agenda items without a load");
			// Every draw the block will make was counted: live assignments and replacements.
			let draws = items
				.iter()
				.filter(|item| match item {
					AgendaItem::Assign(task_id) => Tasks::<T>::get(task_id)
						.is_some_and(|task| task.status == TaskStatus::Queued { assign_at: block }),
					AgendaItem::Replace(_) => true,
					_ => false,
				})
				.count();
			ensure!(
				usize::try_from(AgendaDraws::<T>::get(block)).ok() >= Some(draws),
				"a block makes draws it did not count"
			);
		}
		for (block, draws) in AgendaDraws::<T>::iter() {
			// More only where the upgrade to storage version 1 found them already planned.
			let items = u32::try_from(Agenda::<T>::decode_len(block).unwrap_or(0)).unwrap_or(0);
			ensure!(
				draws <= T::MaxDrawsPerBlock::get().max(items),
				"a block plans more than MaxDrawsPerBlock"
			);
		}

		for (task_id, task) in Tasks::<T>::iter() {
			ensure!(task_id < NextTaskId::<T>::get(), "task id not yet handed out");
			let mut seen = BTreeSet::new();
			for executor in task.executors.iter() {
				ensure!(seen.insert(executor.who.clone()), "executor assigned twice");
				ensure!(
					executor.revealed.is_none() || executor.commitment.is_some(),
					"reveal without commit"
				);
			}
			ensure!(
				has_item(AgendaItem::Expire(task_id), task.plan.expires_at),
				"expiry not scheduled"
			);
			if task.status.is_open() {
				let held = escrow.entry(task.requester.clone()).or_default();
				*held = held.saturating_add(task.escrow);
				let count = open.entry(task.model_id).or_default();
				*count = count.saturating_add(1);
				if task_id >= RecordsSince::<T>::get() {
					let counted = counted_open.entry(task.model_id).or_default();
					*counted = counted.saturating_add(1);
				}
				ensure!(TaskInputs::<T>::contains_key(task_id), "open task without input");
				let phase_end = match task.status {
					TaskStatus::Queued { assign_at } => {
						has_item(AgendaItem::Assign(task_id), assign_at)
					},
					TaskStatus::Committing { commit_deadline } => {
						has_item(AgendaItem::CommitDeadline(task_id), commit_deadline)
					},
					TaskStatus::Revealing { reveal_deadline } => {
						has_item(AgendaItem::RevealDeadline(task_id), reveal_deadline)
					},
					_ => false,
				};
				ensure!(phase_end, "open task without the agenda item ending its phase");
				ensure!(
					task.executors.iter().all(|e| !task.declined.contains(&e.who)),
					"a validator that declined a task is still its executor"
				);
				let pending = usize::try_from(task.replacements_pending).unwrap_or(usize::MAX);
				ensure!(
					task.executors.len().saturating_add(pending)
						<= usize::try_from(task.redundancy).unwrap_or(usize::MAX),
					"more executors (drawn or pending) than the task's redundancy"
				);
				if pending > 0 && matches!(task.status, TaskStatus::Committing { .. }) {
					let replaces = Agenda::<T>::iter_values()
						.flat_map(|items| items.into_inner())
						.filter(|item| *item == AgendaItem::Replace(task_id))
						.count();
					ensure!(replaces == pending, "pending replacements without their agenda items");
				}
				for executor in task.executors.iter() {
					let needs_action = match task.status {
						TaskStatus::Committing { .. } => true,
						TaskStatus::Revealing { .. } => {
							executor.commitment.is_some() && executor.revealed.is_none()
						},
						_ => false,
					};
					if needs_action {
						waiting.insert((executor.who.clone(), task_id));
					}
				}
			} else {
				ensure!(!TaskInputs::<T>::contains_key(task_id), "ended task kept its input");
				if matches!(task.status, TaskStatus::Settled { .. }) {
					ensure!(TaskResults::<T>::contains_key(task_id), "settled task without result");
				}
				ensure!(
					RevealedOutputs::<T>::iter_prefix(task_id).next().is_none(),
					"ended task kept revealed outputs"
				);
			}
		}
		for (who, expected) in escrow.iter() {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::Escrow.into(), who) == *expected,
				"escrow hold differs from the open tasks' escrow"
			);
		}
		for (model_id, count) in OpenTasks::<T>::iter() {
			ensure!(open.get(&model_id) == Some(&count), "OpenTasks differs from the open tasks");
		}
		ensure!(
			OpenTasks::<T>::iter().count() == open.len(),
			"a model with open tasks is missing from OpenTasks"
		);
		for (task_id, charge) in TaskTokenCharges::<T>::iter() {
			let task = Tasks::<T>::get(task_id).ok_or("a token charge outlived its task")?;
			let held = charge
				.max()
				.and_then(|max| max.checked_add(&task.fee_per_executor))
				.and_then(|per_executor| per_executor.checked_mul(&task.redundancy.into()))
				.ok_or("a token charge overflows")?;
			ensure!(
				held.saturating_add(task.protocol_fee) == task.escrow,
				"a task's escrow is not its longest prompt and generation's fees"
			);
		}
		let indexed: BTreeSet<_> = ExecutorTasks::<T>::iter_keys().collect();
		ensure!(indexed == waiting, "ExecutorTasks differs from the executors still to act");

		for (validator, key) in InferenceKeys::<T>::iter() {
			ensure!(
				T::Staking::is_validator(&validator)
					|| ExecutorTasks::<T>::iter_key_prefix(&validator).next().is_some(),
				"inference key of a former validator with no task left"
			);
			ensure!(
				KeyOwners::<T>::get(&key).as_ref() == Some(&validator),
				"KeyOwners is not the reverse of InferenceKeys"
			);
		}
		ensure!(
			KeyOwners::<T>::iter()
				.all(|(key, validator)| InferenceKeys::<T>::get(&validator) == Some(key)),
			"KeyOwners is not the reverse of InferenceKeys"
		);
		Self::check_records(&counted_open)
	}

	/// Checks the reliability records (see [`crate::records`]), given the open counted tasks
	/// of each model:
	/// - per validator, one executor's part in a task lands in at most one counter of each
	///   phase: `committed + declined + missed_commits <= assigned`, `revealed +
	///   missed_reveals <= committed`, `agreed + mismatched <= revealed`; every slash is a
	///   charged fault (`slashes <= mismatched + missed_commits + missed_reveals`), nothing is
	///   slashed without a slash, and the kept slashes are at most the slashes counted and sum
	///   to at most `slashed`;
	/// - per model, every counted request is open or ended once (`requests == settled +
	///   rejected + failed + cancelled + open`), and the settlement histogram counts each
	///   settled or rejected task once.
	///
	/// Saturating sums keep each relation true when a counter saturates, but for the model's
	/// equality, checked only below `u32::MAX` requests.
	fn check_records(counted_open: &BTreeMap<u32, u32>) -> Result<(), TryRuntimeError> {
		for (who, r) in ValidatorRecords::<T>::iter() {
			ensure!(
				r.committed.saturating_add(r.declined).saturating_add(r.missed_commits)
					<= r.assigned,
				"a validator committed, declined or missed more tasks than it was drawn for"
			);
			ensure!(
				r.revealed.saturating_add(r.missed_reveals) <= r.committed,
				"a validator revealed or withheld more than it committed"
			);
			ensure!(
				r.agreed.saturating_add(r.mismatched) <= r.revealed,
				"a validator agreed or dissented more than it revealed"
			);
			ensure!(
				r.slashes
					<= r.mismatched
						.saturating_add(r.missed_commits)
						.saturating_add(r.missed_reveals),
				"a validator was slashed more often than it was charged"
			);
			ensure!(r.slashes > 0 || r.slashed.is_zero(), "slashed stake without a slash");
			let kept = ValidatorSlashes::<T>::get(&who);
			ensure!(
				u32::try_from(kept.len()).unwrap_or(u32::MAX) <= r.slashes,
				"more slashes kept than counted"
			);
			let kept_total = kept
				.iter()
				.fold(BalanceOf::<T>::zero(), |sum, slash| sum.saturating_add(slash.amount));
			ensure!(kept_total <= r.slashed, "kept slashes exceed the slashed total");
		}
		for who in ValidatorSlashes::<T>::iter_keys() {
			ensure!(ValidatorRecords::<T>::contains_key(&who), "slashes kept without a record");
		}
		for (model_id, m) in ModelStats::<T>::iter() {
			let open = counted_open.get(&model_id).copied().unwrap_or(0);
			let accounted = m
				.settled
				.saturating_add(m.rejected)
				.saturating_add(m.failed)
				.saturating_add(m.cancelled)
				.saturating_add(open);
			ensure!(
				m.requests == u32::MAX || accounted == m.requests,
				"a model's requests differ from its ended and open tasks"
			);
			let histogram =
				m.settle_blocks.iter().fold(0u32, |sum, count| sum.saturating_add(*count));
			ensure!(
				histogram == m.settled.saturating_add(m.rejected),
				"a model's settlement histogram miscounts its settled tasks"
			);
		}
		for model_id in counted_open.keys() {
			ensure!(ModelStats::<T>::contains_key(model_id), "an open task of an uncounted model");
		}
		Ok(())
	}
}
