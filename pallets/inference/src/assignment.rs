//! Drawing a task's executors: `redundancy` distinct eligible validators that serve the model,
//! each with probability proportional to its stake.
//!
//! # Randomness
//!
//! Assignment runs in `on_finalize` of the block after the request's inclusion, seeded by
//! `Config::Randomness` with the task id as subject. In the runtime that is the block's BABE VRF
//! output, which exists only once the block's author has claimed its slot, so neither the
//! requester nor anyone else knows the executors when the request is signed.
//!
//! What a block author can still bias: the author of the assigning block knows its VRF output
//! (it is fixed by its key, the slot and the epoch randomness) and may see the request in the
//! pool before including it; an author who holds the slot after the request's inclusion can
//! therefore compute the draw in advance and choose to include a request (or not) in the block
//! before its own, or withhold its own block (forfeiting its reward) so that another slot's VRF
//! draws instead. It cannot choose the output itself. Requesters who fear such an author can only
//! rely on the honest majority of slots.
//!
//! # Drawing
//!
//! Each draw picks a point uniformly in `[0, total eligible stake)` from the seeded stream and
//! asks the staking pallet for the validator whose stake interval contains it
//! (`O(log MaxValidators)`, a Fenwick tree). A validator that does not serve the model, or was
//! already drawn, is rejected and the draw repeated: rejection sampling gives each remaining
//! eligible server exactly its stake-proportional chance. After `MaxSamplingAttempts × redundancy`
//! draws (servers of this model hold little of the total stake), the remaining executors are
//! drawn from a bounded scan of the model's servers with the same stake weights, so assignment
//! never fails while enough eligible servers exist. The scan covers at most as many servers as
//! the model had at the request, whose weight the agenda reserved: should the list have grown
//! since (between the request and its assignment, usually one block), it covers that many
//! consecutive servers from a random position in the list, and servers outside that window
//! have no chance in the fallback.

use crate::{pallet::*, types::*, LOG_TARGET};
use alloc::vec::Vec;
use codec::Encode;
use frame_support::{pallet_prelude::*, traits::Randomness};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::{inference::TaskId, models::ModelProvider, staking::InferenceStaking};
use sp_runtime::{
	traits::{Hash, Saturating},
	SaturatedConversion,
};

/// Prefix of the randomness subject of an assignment.
pub const ASSIGN_SUBJECT: &[u8; 10] = b"opg/assign";
/// Prefix of the randomness subject of a replacement draw.
pub const REPLACE_SUBJECT: &[u8; 11] = b"opg/replace";

/// A stream of `u128`s: `blake2_256(seed ‖ counter)`, counter from 0.
pub struct DrawStream<'a> {
	seed: &'a [u8],
	counter: u32,
}

impl<'a> DrawStream<'a> {
	/// A stream seeded with `seed`.
	pub fn new(seed: &'a [u8]) -> Self {
		Self { seed, counter: 0 }
	}

	/// The next number.
	pub fn next_u128(&mut self) -> u128 {
		let hash = sp_runtime::traits::BlakeTwo256::hash_of(&(self.seed, self.counter));
		self.counter = self.counter.wrapping_add(1);
		let mut bytes = [0u8; 16];
		bytes.copy_from_slice(hash.as_bytes().get(..16).unwrap_or(&[0u8; 16]));
		u128::from_le_bytes(bytes)
	}

	/// A number uniform in `[0, bound)` (bias at most `bound / 2^128`); 0 when `bound` is 0.
	pub fn below(&mut self, bound: u128) -> u128 {
		self.next_u128().checked_rem(bound).unwrap_or(0)
	}
}

impl<T: Config> Pallet<T> {
	/// The bound on a model's servers.
	pub fn max_servers() -> u32 {
		<<T::Models as ModelProvider<T::AccountId>>::MaxServers as Get<u32>>::get()
	}

	/// Draws one executor of a committing task in place of one that declined (see
	/// [`Pallet::decline`]), from this block's randomness, among the model's eligible servers
	/// that are neither executors of the task nor declined it. No replacement when the draw
	/// comes later than `ReplacementWindow` blocks before the commit deadline, when randomness
	/// is unavailable or when no such server is left; the task then goes on with the executors
	/// it has. Returns the weight used.
	pub(crate) fn on_replace(task_id: TaskId) -> Weight {
		let read = T::DbWeight::get().reads(1);
		let Some(task) = Tasks::<T>::get(task_id) else { return read };
		let TaskStatus::Committing { .. } = task.status else { return read };
		let weight = Self::replace_reserve(task.servers);
		let round = u32::try_from(task.declined.len()).unwrap_or(u32::MAX);
		let (random, _) = T::Randomness::random(&(REPLACE_SUBJECT, task_id, round).encode());
		Self::replace_with_seed(task_id, task, random.as_ref().map(AsRef::as_ref));
		weight
	}

	/// Draws one replacement executor of the committing `task` from `seed` (none without a
	/// seed or when too late), or opens its reveals when that leaves every executor committed.
	pub(crate) fn replace_with_seed(task_id: TaskId, mut task: TaskInfoOf<T>, seed: Option<&[u8]>) {
		let TaskStatus::Committing { commit_deadline } = task.status else { return };
		let now = frame_system::Pallet::<T>::block_number();
		task.replacements_pending = task.replacements_pending.saturating_sub(1);
		let in_time = now.saturating_add(T::ReplacementWindow::get()) <= commit_deadline;
		let drawn = seed
			.filter(|_| in_time)
			.and_then(|seed| {
				let mut exclude: Vec<T::AccountId> =
					task.executors.iter().map(|executor| executor.who.clone()).collect();
				exclude.extend(task.declined.iter().cloned());
				let servers = T::Models::servers(task.model_id);
				Self::draw_executors_excluding(&servers, 1, seed, &exclude, task.servers)
			})
			.and_then(|mut drawn| drawn.pop());
		match drawn {
			Some(executor)
				if task
					.executors
					.try_push(Executor { who: executor.clone(), commitment: None, revealed: None })
					.is_ok() =>
			{
				ExecutorTasks::<T>::insert(&executor, task_id, ());
				Self::record_assigned(task_id, &executor);
				Self::deposit_event(Event::ExecutorReplaced { task_id, executor, commit_deadline });
			},
			_ => {
				log::info!(
					target: LOG_TARGET,
					"task {task_id}: no replacement drawn for a declined executor (too late, no \
					 randomness, or no eligible server left)"
				);
				Self::open_reveals_if_all_in(task_id, &mut task);
			},
		}
		Tasks::<T>::insert(task_id, task);
	}

	/// Draws the executors of `task_id` if its assignment is due at `at`; returns the weight
	/// used. Without randomness the assignment is postponed (planned anew from the next block)
	/// until `MaxAssignmentDelay` blocks after the request.
	pub(crate) fn on_assign(task_id: TaskId, at: BlockNumberFor<T>) -> Weight {
		let stale = Self::stale_weight();
		let Some(mut task) = Tasks::<T>::get(task_id) else { return stale };
		let TaskStatus::Queued { assign_at } = task.status else { return stale };
		if assign_at != at {
			return stale;
		}
		let now = frame_system::Pallet::<T>::block_number();
		let weight = Self::assign_reserve(task.redundancy, task.servers);

		let (random, _) = T::Randomness::random(&(ASSIGN_SUBJECT, task_id).encode());
		let Some(random) = random else {
			let waited = now.saturating_sub(task.created_at);
			if waited >= T::MaxAssignmentDelay::get() {
				Self::fail(task_id, task, FailReason::NoRandomness);
				return weight;
			}
			match Self::replan(task_id, &mut task, now) {
				Ok(()) => {
					Tasks::<T>::insert(task_id, task);
					Self::deposit_event(Event::AssignmentPostponed { task_id });
				},
				Err(_) => Self::fail(task_id, task, FailReason::AgendaFull),
			}
			return weight;
		};

		Self::assign_with_seed(task_id, task, random.as_ref());
		weight
	}

	/// Draws the executors of the queued `task` from `seed` and opens its commit phase until
	/// its planned commit deadline, or fails it when too few eligible validators serve its
	/// model, or when a backlog left its executors less than `ReplacementWindow` blocks.
	pub(crate) fn assign_with_seed(task_id: TaskId, mut task: TaskInfoOf<T>, seed: &[u8]) {
		let now = frame_system::Pallet::<T>::block_number();
		let commit_deadline = task.plan.commit_deadline;
		if now.saturating_add(T::ReplacementWindow::get()) > commit_deadline {
			Self::fail(task_id, task, FailReason::AgendaFull);
			return;
		}
		let servers = T::Models::servers(task.model_id);
		let Some(executors) =
			Self::draw_executors_excluding(&servers, task.redundancy, seed, &[], task.servers)
		else {
			Self::fail(task_id, task, FailReason::NotEnoughExecutors);
			return;
		};
		let executors: ExecutorsOf<T> = BoundedVec::truncate_from(executors);
		task.executors = BoundedVec::truncate_from(
			executors
				.iter()
				.map(|who| Executor { who: who.clone(), commitment: None, revealed: None })
				.collect(),
		);
		task.status = TaskStatus::Committing { commit_deadline };
		for who in executors.iter() {
			ExecutorTasks::<T>::insert(who, task_id, ());
			Self::record_assigned(task_id, who);
		}
		Tasks::<T>::insert(task_id, task);
		Self::deposit_event(Event::TaskAssigned { task_id, executors, commit_deadline });
	}

	/// Draws `count` distinct eligible validators among `servers` (sorted), by stake, from
	/// `seed`; `None` when fewer than `count` are eligible.
	pub fn draw_executors(
		servers: &[T::AccountId],
		count: u32,
		seed: &[u8],
	) -> Option<Vec<T::AccountId>> {
		let all = u32::try_from(servers.len()).unwrap_or(u32::MAX);
		Self::draw_executors_excluding(servers, count, seed, &[], all)
	}

	/// [`Self::draw_executors`] among the servers not in `exclude`, the fallback scanning at
	/// most `scan` servers: all of them when there are no more, else `scan` consecutive ones
	/// (cyclically) from a position drawn from `seed`.
	pub fn draw_executors_excluding(
		servers: &[T::AccountId],
		count: u32,
		seed: &[u8],
		exclude: &[T::AccountId],
		scan: u32,
	) -> Option<Vec<T::AccountId>> {
		let wanted = usize::try_from(count).ok()?;
		let mut stream = DrawStream::new(seed);
		let mut chosen: Vec<T::AccountId> = Vec::with_capacity(wanted);
		let total: u128 = T::Staking::total_eligible_stake().saturated_into();
		if total > 0 {
			let attempts = T::MaxSamplingAttempts::get().saturating_mul(count);
			for _ in 0..attempts {
				if chosen.len() >= wanted {
					break;
				}
				let point = stream.below(total).saturated_into::<BalanceOf<T>>();
				let Some(who) = T::Staking::eligible_validator_at(point) else { continue };
				if servers.binary_search(&who).is_ok()
					&& !chosen.contains(&who)
					&& !exclude.contains(&who)
				{
					chosen.push(who);
				}
			}
		}
		if chosen.len() < wanted {
			// Fallback: the servers hold too little of the total stake for rejection sampling
			// to find them quickly. Same weights, drawn from the bounded server list.
			let scan = usize::try_from(scan).unwrap_or(usize::MAX).min(servers.len());
			let start = if scan < servers.len() {
				let len = u128::try_from(servers.len()).unwrap_or(u128::MAX);
				usize::try_from(stream.below(len)).unwrap_or(0)
			} else {
				0
			};
			let mut candidates: Vec<(T::AccountId, u128)> = servers
				.iter()
				.cycle()
				.skip(start)
				.take(scan)
				.filter(|who| {
					!chosen.contains(who) && !exclude.contains(who) && T::Staking::is_eligible(who)
				})
				.map(|who| (who.clone(), T::Staking::total_stake(who).saturated_into::<u128>()))
				.filter(|(_, stake)| *stake > 0)
				.collect();
			while chosen.len() < wanted && !candidates.is_empty() {
				let sum =
					candidates.iter().fold(0u128, |sum, (_, stake)| sum.saturating_add(*stake));
				let mut point = stream.below(sum);
				let index = candidates
					.iter()
					.position(|(_, stake)| {
						if point < *stake {
							true
						} else {
							point = point.saturating_sub(*stake);
							false
						}
					})
					.unwrap_or(0);
				if index >= candidates.len() {
					break;
				}
				let (who, _) = candidates.swap_remove(index);
				chosen.push(who);
			}
		}
		(chosen.len() == wanted).then_some(chosen)
	}
}
