//! Read-only queries, for the runtime API and the off-chain worker.

use crate::{pallet::*, types::*};
use alloc::vec::Vec;
use opg_primitives::inference::{PendingAction, TaskId};
use sp_runtime::SaturatedConversion;

/// Most tasks [`Pallet::pending_tasks`] looks at, whatever `limit` asks: at least every task a
/// validator can hold open at once (`MaxDrawsPerBlock` a block over a task's commit and reveal
/// periods, which `integrity_test` checks), so that the worker never misses one.
pub const MAX_PENDING_SCAN: usize = 4096;

impl<T: Config> Pallet<T> {
	/// The task `task_id`, while it is kept.
	pub fn task(task_id: TaskId) -> Option<TaskInfoOf<T>> {
		Tasks::<T>::get(task_id)
	}

	/// The input of an open task.
	pub fn task_input(task_id: TaskId) -> Option<Vec<u8>> {
		TaskInputs::<T>::get(task_id).map(|input| input.into_inner())
	}

	/// The raw output published for a settled task (its publisher's, see [`SettledResult`]),
	/// while it is kept.
	pub fn task_result(task_id: TaskId) -> Option<Vec<u8>> {
		TaskResults::<T>::get(task_id).map(|result| result.output.into_inner())
	}

	/// The published result of a settled task (canonical form, raw output, publisher), while it
	/// is kept.
	pub fn settled_result(task_id: TaskId) -> Option<SettledResultOf<T>> {
		TaskResults::<T>::get(task_id)
	}

	/// The open tasks of `executor` that still need its commit or reveal, oldest first, at most
	/// `limit` (looking at no more than [`MAX_PENDING_SCAN`] tasks).
	pub fn pending_tasks(executor: &T::AccountId, limit: u32) -> Vec<(TaskId, PendingAction)> {
		let mut ids: Vec<TaskId> =
			ExecutorTasks::<T>::iter_key_prefix(executor).take(MAX_PENDING_SCAN).collect();
		ids.sort_unstable();
		ids.into_iter()
			.filter_map(|task_id| {
				let task = Tasks::<T>::get(task_id)?;
				let executor = task.executors.iter().find(|e| e.who == *executor)?;
				let action = match task.status {
					TaskStatus::Committing { commit_deadline } => match executor.commitment {
						None => {
							PendingAction::Commit { deadline: commit_deadline.saturated_into() }
						},
						Some(_) => PendingAction::AwaitReveal {
							commit_deadline: commit_deadline.saturated_into(),
						},
					},
					TaskStatus::Revealing { reveal_deadline }
						if executor.commitment.is_some() && executor.revealed.is_none() =>
					{
						PendingAction::Reveal { deadline: reveal_deadline.saturated_into() }
					},
					_ => return None,
				};
				Some((task_id, action))
			})
			.take(usize::try_from(limit).unwrap_or(usize::MAX))
			.collect()
	}
}
