//! The per-block agenda: assignments, deadlines, replacement draws and expiries, processed in
//! `on_finalize`, admitted by weight.
//!
//! # Admission
//!
//! Every future block has a budget for agenda work: `AgendaWeight`, less the fixed cost of
//! processing a block's agenda ([`Pallet::block_overhead_weight`]). A request is admitted only
//! when every item it will cause fits the budget of the block where it falls due
//! ([`Pallet::admit`]):
//!
//! - the assignment at `a`, the first block from the next one (trying up to
//!   [`SCHEDULE_PROBE`] later ones) where the whole plan fits and fewer than
//!   [`Pallet::assignment_draws`] executor draws are planned ([`AgendaDraws`]);
//! - the commit deadline at `a + CommitPeriod`;
//! - the reveal deadline at `a + CommitPeriod + RevealPeriod` (also when every executor commits
//!   early: reveals then open at once and stay open until this block);
//! - the expiry at `reveal deadline + ResultTtl`, or up to [`EXPIRY_PROBE`] blocks later.
//!
//! Each item reserves its worst case for the task's redundancy and its model's servers at the
//! request ([`Pallet::assign_reserve`] and friends), in [`AgendaLoad`]. Otherwise the request
//! fails with `AgendaFull` and nothing is held. A decline reserves its replacement draw in the
//! next block (a draw too), or is not replaced (and the decliner not charged) when that block
//! is full. When a task ends early, or its reveals open early, the items it no longer needs give
//! their reservation back, less the read that finds them stale; a task cancelled before its
//! assignment gives its draw back.
//!
//! # Execution capacity
//!
//! Weight bounds what the chain does with a task; [`AgendaDraws`] bounds what its executors
//! do. A block draws executors for at most `MaxDrawsPerBlock` tasks (assignments take at most
//! seven eighths of them, [`Pallet::assignment_draws`], and replacement draws the rest), and a
//! validator is drawn at most once per task, so no validator, whatever its share of the stake,
//! is ever given more than `MaxDrawsPerBlock` new tasks in one block. (The one exception is the
//! backlog safety net below: a block that carries over items after weights rose runs them in
//! the next block beside that block's own.) Its off-chain worker executes up to twice
//! that per block ([`crate::offchain::max_executions`]), so a node that keeps up with the rate
//! never declines for overload. Past that rate, requests queue: each is assigned in the first
//! of the next `SCHEDULE_PROBE + 1` blocks with a free draw, and its deadlines count from its
//! assignment, so a queued task's executors get their full periods. Past the queue, requests
//! are refused with `AgendaFull` before anything is held. Load therefore never turns into a
//! decline, a no-show, a slash or a jail.
//!
//! The request's weight includes the reservation, so that its transaction fee pays for the
//! work it causes (see [`Pallet::request_weight`]).
//!
//! # Processing
//!
//! `on_initialize` reserves the block's [`AgendaLoad`] and the block overhead, and
//! `on_finalize` processes the block's items. An item never weighs more than it reserved (its
//! weight is computed from the same task fields), so **every admitted item runs in the block
//! it was planned for**: the bound between due block and processing is zero blocks. This holds
//! as long as the weights are the ones the items were admitted with. A runtime upgrade that
//! raises them can leave a block with more work than its budget; what does not fit then stays
//! for the next block ([`AgendaCursor`] remembers where to resume, and a lagging agenda reserves
//! the whole `AgendaWeight`). No request is admitted while the agenda lags, so the backlog
//! drains by what the blocks admitted before leave of `AgendaWeight`.
//! A late assignment still runs while the executors keep `ReplacementWindow` blocks to commit,
//! a late commit deadline fails the task with `FailReason::AgendaFull` and slashes nobody (its
//! executors would have less time to reveal than promised), and a late reveal deadline or
//! expiry only acts late: calls check deadlines against the block number themselves.

use crate::{pallet::*, types::*, weights::WeightInfo, LOG_TARGET};
use alloc::{collections::btree_map::BTreeMap, vec::Vec};
use frame_support::{pallet_prelude::*, traits::Get};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::{inference::TaskId, staking::InferenceStaking};
use sp_runtime::traits::{One, Saturating, Zero};

/// Bytes of a [`TaskTokenCharges`] key: the storage prefix (32), the `Twox64Concat` hash (8)
/// and the task id (8).
const TOKEN_CHARGE_KEY_LEN: u64 = 48;

/// Blocks tried after the first possible assignment block when a request's plan does not fit.
pub const SCHEDULE_PROBE: u32 = 16;
/// Blocks tried after the planned expiry when its block is full (a late expiry only keeps a
/// record longer).
pub const EXPIRY_PROBE: u32 = 16;
/// Blocks tried after the next one when a postponed assignment plans anew.
pub const REPLAN_PROBE: u32 = 0;

/// A reserved item: its block and its weight.
type Reservation<T> = (BlockNumberFor<T>, AgendaItem, Weight);
/// What admission returns: the plan and the loads read, or why not and the loads read.
type Admission<T> = Result<(TaskPlan<BlockNumberFor<T>>, u32), (Error<T>, u32)>;

impl<T: Config> Pallet<T> {
	/// The weight one stale item costs: reading its task to find it has nothing to do.
	pub fn stale_weight() -> Weight {
		T::DbWeight::get().reads(1)
	}

	/// The fixed cost of processing a block's agenda, on top of its items: reading and removing
	/// its items and load, removing its draws, moving the cursor and taking the reservation.
	pub fn block_overhead_weight() -> Weight {
		T::DbWeight::get().reads_writes(4, 5)
	}

	/// What agenda items of one block may reserve: `AgendaWeight` less the block overhead.
	pub fn agenda_budget() -> Weight {
		T::AgendaWeight::get().saturating_sub(Self::block_overhead_weight())
	}

	/// Worst-case weight of `r` calls into the staking side beyond what the benchmarks measured:
	/// they run against validators without delegators.
	pub(crate) fn staking_calls_weight(r: u32) -> Weight {
		T::Staking::delegators_weight().saturating_mul(r.into())
	}

	/// Giving back the reservations of up to three items when a task ends early, and its
	/// assignment's draw.
	pub(crate) fn release_plan_weight() -> Weight {
		T::DbWeight::get().reads_writes(4, 4)
	}

	/// Counting a replacement draw in [`AgendaDraws`]: what `decline` does beyond its
	/// benchmark, which was measured before draws were counted.
	pub(crate) fn replacement_draw_weight() -> Weight {
		T::DbWeight::get().reads_writes(1, 1)
	}

	/// Worst-case weight of closing the commit phase of a task of redundancy `r`. It never
	/// slashes: with fewer commits than the quorum nobody is charged, and with a quorum the
	/// reveals open (no-shows are charged at the reveal deadline).
	pub(crate) fn close_commits_weight(r: u32) -> Weight {
		T::WeightInfo::close_commits(r).saturating_add(Self::release_tasks_weight(r))
	}

	/// What ending a task does for its `r` executors beyond the benchmarks (whose executors have
	/// no inference key): [`Pallet::release_task`] at its worst for each.
	pub(crate) fn release_tasks_weight(r: u32) -> Weight {
		Self::release_task_weight().saturating_mul(r.into())
	}

	/// Worst-case weight of ending the reveal phase of a task of redundancy `r`, whether it
	/// settles (`settle`) or fails without a quorum (`fail_reveals`), with each executor's reward
	/// or slash at its most delegators.
	pub(crate) fn reveal_deadline_weight(r: u32) -> Weight {
		T::WeightInfo::settle(r)
			.max(T::WeightInfo::fail_reveals(r))
			.saturating_add(Self::staking_calls_weight(r))
			.saturating_add(Self::release_tasks_weight(r))
			.saturating_add(Self::token_charge_read_weight())
	}

	/// Reading a task's [`TaskTokenCharges`] entry at settlement, beyond the benchmark (whose
	/// model has no token fees): one read and its proof. (Settling on a generation decodes it
	/// once more to count its tokens, which costs less than the benchmark's canonicalisation
	/// of the longest `Quantized` output.)
	pub(crate) fn token_charge_read_weight() -> Weight {
		let proof = u64::try_from(TokenChargeOf::<T>::max_encoded_len())
			.unwrap_or(u64::MAX)
			.saturating_add(TOKEN_CHARGE_KEY_LEN);
		T::DbWeight::get().reads(1).saturating_add(Weight::from_parts(0, proof))
	}

	/// Worst-case weight of `cancel` for a task of redundancy `r`, which pays its executors and
	/// gives back its reservations.
	pub(crate) fn cancel_weight(r: u32) -> Weight {
		T::WeightInfo::cancel(r)
			.saturating_add(Self::staking_calls_weight(r))
			.saturating_add(Self::release_tasks_weight(r))
			.saturating_add(Self::release_plan_weight())
	}

	/// Most `AgendaLoad` reads a postponed assignment's new plan makes.
	fn replan_probes() -> u32 {
		Self::plan_probes(REPLAN_PROBE)
	}

	/// Most `AgendaLoad` and `AgendaDraws` reads planning with `probe` makes: three loads and
	/// one draw count per try, then the expiry's load.
	fn plan_probes(probe: u32) -> u32 {
		probe.saturating_add(1).saturating_mul(4).saturating_add(EXPIRY_PROBE.saturating_add(1))
	}

	/// Most `AgendaLoad` and `AgendaDraws` reads a request's admission makes.
	pub fn max_admission_probes() -> u32 {
		Self::plan_probes(SCHEDULE_PROBE)
	}

	/// Weight of planning a task after reading `probed` loads and draw counts: the reads, and
	/// writing four items, their loads and the assignment block's draws.
	pub(crate) fn plan_weight(probed: u32) -> Weight {
		T::DbWeight::get().reads_writes(u64::from(probed).saturating_add(5), 9)
	}

	/// Reservation of the assignment of a task of redundancy `r` among `servers` servers: the
	/// draw, or planning anew when randomness is unavailable; plus the read that finds it.
	pub fn assign_reserve(r: u32, servers: u32) -> Weight {
		let draw = T::WeightInfo::assign(r, servers).saturating_add(T::DbWeight::get().reads(2));
		let replan = Self::plan_weight(Self::replan_probes())
			.saturating_add(Self::release_plan_weight())
			.saturating_add(T::DbWeight::get().reads_writes(2, 2));
		Self::stale_weight().saturating_add(draw.max(replan))
	}

	/// Reservation of the commit deadline of a task of redundancy `r`.
	pub fn commit_deadline_reserve(r: u32) -> Weight {
		Self::stale_weight().saturating_add(Self::close_commits_weight(r))
	}

	/// Reservation of the reveal deadline of a task of redundancy `r`.
	pub fn reveal_deadline_reserve(r: u32) -> Weight {
		Self::stale_weight().saturating_add(Self::reveal_deadline_weight(r))
	}

	/// Reservation of an expiry: the benchmark, and the removal of a [`TaskTokenCharges`]
	/// entry that its task did not have.
	pub fn expire_reserve() -> Weight {
		Self::stale_weight()
			.saturating_add(T::WeightInfo::expire())
			.saturating_add(T::DbWeight::get().writes(1))
	}

	/// Reservation of one replacement draw among `servers` servers.
	pub fn replace_reserve(servers: u32) -> Weight {
		let draw = T::WeightInfo::replace(T::MaxRedundancy::get(), servers)
			.saturating_add(T::DbWeight::get().reads(2));
		Self::stale_weight().saturating_add(draw)
	}

	/// Everything a task of redundancy `r` among `servers` servers reserves at its request.
	pub fn task_reserve(r: u32, servers: u32) -> Weight {
		Self::assign_reserve(r, servers)
			.saturating_add(Self::commit_deadline_reserve(r))
			.saturating_add(Self::reveal_deadline_reserve(r))
			.saturating_add(Self::expire_reserve())
	}

	/// The weight of `request_inference` with an input of `input_len` bytes, a model of
	/// `servers` servers and redundancy `r`, after `probed` load reads: the call, its planning
	/// (counted on top of the benchmark, which planned on an empty agenda), and the agenda work
	/// it reserves, so that its fee pays for all of it.
	pub fn request_weight(input_len: u32, servers: u32, r: u32, probed: u32) -> Weight {
		T::WeightInfo::request_inference(input_len, servers)
			// A token charge written, beyond the benchmark (whose model has no token fees).
			.saturating_add(T::DbWeight::get().writes(1))
			.saturating_add(Self::plan_weight(probed))
			.saturating_add(Self::task_reserve(r, servers))
	}

	/// The worst-case reservation of any one agenda item.
	pub fn max_item_weight() -> Weight {
		let r = T::MaxRedundancy::get();
		let servers = Self::max_servers();
		Self::assign_reserve(r, servers)
			.max(Self::commit_deadline_reserve(r))
			.max(Self::reveal_deadline_reserve(r))
			.max(Self::expire_reserve())
			.max(Self::replace_reserve(servers))
	}

	/// Whether an item reserving `weight` fits a block with `load`.
	fn fits(load: &BlockLoad, weight: Weight) -> bool {
		load.items < T::MaxAgendaItems::get()
			&& load.weight.saturating_add(weight).all_lte(Self::agenda_budget())
	}

	/// Whether a block with `draws` executor draws planned has room for one more replacement
	/// draw: all of `MaxDrawsPerBlock`.
	fn draw_fits(draws: u32) -> bool {
		draws < T::MaxDrawsPerBlock::get()
	}

	/// The draws of a block that assignments may take: `MaxDrawsPerBlock` less an eighth kept
	/// for replacement draws, so that a saturated chain still replaces the executors that
	/// decline (a decline without a replacement costs its task an executor).
	pub fn assignment_draws() -> u32 {
		let all = T::MaxDrawsPerBlock::get();
		all.saturating_sub(all / 8).max(1)
	}

	/// Plans one more executor draw at `at`, which [`Self::draw_fits`] admitted.
	fn push_draw(at: BlockNumberFor<T>) {
		AgendaDraws::<T>::mutate(at, |draws| *draws = draws.saturating_add(1));
	}

	/// Gives back a draw planned at `at` that will not happen (its task ended first). Nothing
	/// for the current block or earlier ones.
	fn release_draw(at: BlockNumberFor<T>) {
		if at <= frame_system::Pallet::<T>::block_number() {
			return;
		}
		AgendaDraws::<T>::mutate_exists(at, |draws| {
			*draws = draws.map(|d| d.saturating_sub(1)).filter(|d| *d > 0);
		});
	}

	/// Pushes `item` reserving `weight` at `at`, which [`Self::fits`] admitted.
	fn push(at: BlockNumberFor<T>, item: AgendaItem, weight: Weight) {
		AgendaLoad::<T>::mutate(at, |load| {
			load.weight.saturating_accrue(weight);
			load.items = load.items.saturating_add(1);
		});
		if Agenda::<T>::try_append(at, item).is_err() {
			// Cannot happen: `fits` counted the items.
			log::error!(target: LOG_TARGET, "agenda of block {at:?} full despite its load");
		}
	}

	/// Gives back the reservation of an item at `at` reserving `weight` that is no longer
	/// needed, less what reading it stale costs. Nothing for the current block or earlier
	/// ones, whose reservation is spent.
	fn release_reservation(at: BlockNumberFor<T>, weight: Weight) {
		if at <= frame_system::Pallet::<T>::block_number() {
			return;
		}
		let refund = weight.saturating_sub(Self::stale_weight());
		AgendaLoad::<T>::mutate_exists(at, |load| {
			if let Some(load) = load {
				load.weight = load.weight.saturating_sub(refund);
			}
		});
	}

	/// Plans and reserves the agenda items of `task_id`, of redundancy `r` among `servers`
	/// servers, its assignment at `first` or up to `probe` blocks later; returns the plan and
	/// the loads read, or `AgendaFull` and the loads read.
	pub(crate) fn admit(
		task_id: TaskId,
		first: BlockNumberFor<T>,
		probe: u32,
		r: u32,
		servers: u32,
	) -> Admission<T> {
		let cursor = AgendaCursor::<T>::get();
		if !cursor.is_zero() && cursor < frame_system::Pallet::<T>::block_number() {
			// The agenda lags (weights rose since earlier admissions): admit nothing more until
			// it has caught up.
			return Err((Error::<T>::AgendaFull, 0));
		}
		let mut loads: BTreeMap<BlockNumberFor<T>, BlockLoad> = BTreeMap::new();
		let mut load =
			|at: BlockNumberFor<T>| *loads.entry(at).or_insert_with(|| AgendaLoad::<T>::get(at));
		let mut draws_read = 0u32;
		let commit_period = T::CommitPeriod::get();
		let reveal_period = T::RevealPeriod::get();
		let weights = [
			Self::assign_reserve(r, servers),
			Self::commit_deadline_reserve(r),
			Self::reveal_deadline_reserve(r),
		];
		let mut planned = None;
		let mut assign_at = first;
		for _ in 0..=probe {
			let commit_deadline = assign_at.saturating_add(commit_period);
			let reveal_deadline = commit_deadline.saturating_add(reveal_period);
			let blocks = [assign_at, commit_deadline, reveal_deadline];
			draws_read = draws_read.saturating_add(1);
			if AgendaDraws::<T>::get(assign_at) < Self::assignment_draws()
				&& blocks.iter().zip(weights.iter()).all(|(at, w)| Self::fits(&load(*at), *w))
			{
				planned = Some((assign_at, commit_deadline, reveal_deadline));
				break;
			}
			assign_at = assign_at.saturating_add(One::one());
		}
		let expire = Self::expire_reserve();
		let plan = planned.and_then(|(assign_at, commit_deadline, reveal_deadline)| {
			let mut expires_at = reveal_deadline.saturating_add(T::ResultTtl::get());
			for _ in 0..=EXPIRY_PROBE {
				if Self::fits(&load(expires_at), expire) {
					return Some(TaskPlan {
						assign_at,
						commit_deadline,
						reveal_deadline,
						expires_at,
					});
				}
				expires_at = expires_at.saturating_add(One::one());
			}
			None
		});
		let probed = u32::try_from(loads.len()).unwrap_or(u32::MAX).saturating_add(draws_read);
		let Some(plan) = plan else { return Err((Error::<T>::AgendaFull, probed)) };
		for (at, item, weight) in Self::plan_items(task_id, &plan, r, servers) {
			Self::push(at, item, weight);
		}
		Self::push_draw(plan.assign_at);
		Ok((plan, probed))
	}

	/// The items of `plan` (for `task_id`) with their reservations.
	fn plan_items(
		task_id: TaskId,
		plan: &TaskPlan<BlockNumberFor<T>>,
		r: u32,
		servers: u32,
	) -> [Reservation<T>; 4] {
		[
			(plan.assign_at, AgendaItem::Assign(task_id), Self::assign_reserve(r, servers)),
			(
				plan.commit_deadline,
				AgendaItem::CommitDeadline(task_id),
				Self::commit_deadline_reserve(r),
			),
			(
				plan.reveal_deadline,
				AgendaItem::RevealDeadline(task_id),
				Self::reveal_deadline_reserve(r),
			),
			(plan.expires_at, AgendaItem::Expire(task_id), Self::expire_reserve()),
		]
	}

	/// Gives back the reservations of the items of the open `task` that it will no longer need
	/// once it ends now (in its phase `status`): those of its current phase and the later ones,
	/// but not its expiry.
	pub(crate) fn release_plan(task: &TaskInfoOf<T>, status: &TaskStatus<BlockNumberFor<T>>) {
		let [assign, commit, reveal, _] =
			Self::plan_items(0, &task.plan, task.redundancy, task.servers);
		let pending: &[Reservation<T>] = match status {
			TaskStatus::Queued { .. } => &[assign, commit, reveal],
			TaskStatus::Committing { .. } => &[commit, reveal],
			TaskStatus::Revealing { .. } => &[reveal],
			_ => &[],
		};
		for (at, _, weight) in pending {
			Self::release_reservation(*at, *weight);
		}
		if let TaskStatus::Queued { assign_at } = status {
			Self::release_draw(*assign_at);
		}
	}

	/// Gives back the commit deadline's reservation of `task`, whose reveals opened early.
	pub(crate) fn release_commit_deadline(task: &TaskInfoOf<T>) {
		Self::release_reservation(
			task.plan.commit_deadline,
			Self::commit_deadline_reserve(task.redundancy),
		);
	}

	/// Reserves a replacement draw of `task` in the block after `now`; whether it fit.
	pub(crate) fn reserve_replacement(
		task_id: TaskId,
		task: &TaskInfoOf<T>,
		now: BlockNumberFor<T>,
	) -> bool {
		let at = now.saturating_add(One::one());
		let weight = Self::replace_reserve(task.servers);
		let fits = Self::draw_fits(AgendaDraws::<T>::get(at))
			&& Self::fits(&AgendaLoad::<T>::get(at), weight);
		if fits {
			Self::push(at, AgendaItem::Replace(task_id), weight);
			Self::push_draw(at);
		}
		fits
	}

	/// Plans the queued `task` anew from the next block, its assignment having been postponed:
	/// gives back the old plan's reservations (its expiry's too) and reserves the new one.
	pub(crate) fn replan(
		task_id: TaskId,
		task: &mut TaskInfoOf<T>,
		now: BlockNumberFor<T>,
	) -> Result<(), Error<T>> {
		// Plan first: should nothing fit, the old plan stays whole (its items then end the task
		// as any other failure does).
		let first = now.saturating_add(One::one());
		let (plan, _) = Self::admit(task_id, first, REPLAN_PROBE, task.redundancy, task.servers)
			.map_err(|(error, _)| error)?;
		// The old assignment is running now; its other items are stale from here on.
		let old = Self::plan_items(task_id, &task.plan, task.redundancy, task.servers);
		for (at, _, weight) in old.iter().skip(1) {
			Self::release_reservation(*at, *weight);
		}
		task.plan = plan;
		task.status = TaskStatus::Queued { assign_at: plan.assign_at };
		Ok(())
	}

	/// Reserves the agenda's weight for this block: its items' load and the block overhead, or
	/// the whole `AgendaWeight` while the agenda lags behind; otherwise only what the check read.
	pub(crate) fn reserve_agenda_weight(now: BlockNumberFor<T>) -> Weight {
		let check = T::DbWeight::get().reads_writes(2, 1);
		let cursor = AgendaCursor::<T>::get();
		let reserved = if !cursor.is_zero() && cursor < now {
			T::AgendaWeight::get()
		} else {
			let load = AgendaLoad::<T>::get(now);
			if load.items == 0 {
				// Nothing due: move the cursor with time so that it never has to catch up.
				AgendaCursor::<T>::put(now.saturating_add(One::one()));
				return check;
			}
			load.weight.saturating_add(Self::block_overhead_weight())
		};
		AgendaReserved::<T>::put(reserved);
		check.saturating_add(reserved)
	}

	/// Processes due items from the cursor on, within `budget`; returns the weight used.
	pub(crate) fn process_agenda(now: BlockNumberFor<T>, budget: Weight) -> Weight {
		let db = T::DbWeight::get();
		let item_max = Self::max_item_weight();
		// The cursor and the reservation, read and written.
		let mut used = db.reads_writes(2, 2);
		let mut cursor = AgendaCursor::<T>::get();
		if cursor.is_zero() || cursor > now {
			cursor = now;
		}
		while cursor <= now {
			// The block's items and load, read and removed (or rewritten), and its draws removed.
			used.saturating_accrue(db.reads_writes(2, 3));
			let items = Agenda::<T>::get(cursor);
			let mut done = 0usize;
			for item in items.iter() {
				// Never more than `item_max`, so that a backlog always advances.
				let item_weight = Self::item_weight(*item, cursor).min(item_max);
				if used.saturating_add(item_weight).any_gt(budget) {
					break;
				}
				used.saturating_accrue(Self::process_item(*item, cursor));
				done = done.saturating_add(1);
			}
			if done < items.len() {
				// Out of budget (only when weights rose since admission): keep the rest for the
				// next block. Processing never schedules at or before `now`, so the stored list
				// is still `items`.
				let rest: Vec<AgendaItem> = items.into_iter().skip(done).collect();
				let left = u32::try_from(rest.len()).unwrap_or(u32::MAX);
				Agenda::<T>::insert(cursor, BoundedVec::truncate_from(rest));
				AgendaLoad::<T>::mutate(cursor, |load| load.items = left);
				log::warn!(
					target: LOG_TARGET,
					"agenda of block {cursor:?}: {left} items over budget carried over"
				);
				break;
			}
			Agenda::<T>::remove(cursor);
			AgendaLoad::<T>::remove(cursor);
			AgendaDraws::<T>::remove(cursor);
			cursor = cursor.saturating_add(One::one());
		}
		AgendaCursor::<T>::put(cursor);
		used
	}

	/// The weight `process_item` may use for `item` due at `at`: its reservation, computed
	/// from the same task fields, or reading a stale item.
	pub(crate) fn item_weight(item: AgendaItem, at: BlockNumberFor<T>) -> Weight {
		let stale = Self::stale_weight();
		let (AgendaItem::Assign(task_id)
		| AgendaItem::CommitDeadline(task_id)
		| AgendaItem::RevealDeadline(task_id)
		| AgendaItem::Expire(task_id)
		| AgendaItem::Replace(task_id)) = item;
		let Some(task) = Tasks::<T>::get(task_id) else { return stale };
		let r = task.redundancy;
		match (item, task.status) {
			(AgendaItem::Assign(_), TaskStatus::Queued { assign_at }) if assign_at == at => {
				Self::assign_reserve(r, task.servers)
			},
			(AgendaItem::CommitDeadline(_), TaskStatus::Committing { commit_deadline })
				if commit_deadline == at =>
			{
				Self::commit_deadline_reserve(r)
			},
			(AgendaItem::RevealDeadline(_), TaskStatus::Revealing { reveal_deadline })
				if reveal_deadline == at =>
			{
				Self::reveal_deadline_reserve(r)
			},
			(AgendaItem::Expire(_), status) if !status.is_open() && task.plan.expires_at == at => {
				Self::expire_reserve()
			},
			(AgendaItem::Replace(_), TaskStatus::Committing { .. }) => {
				Self::replace_reserve(task.servers)
			},
			_ => stale,
		}
	}

	/// Runs one item due at `at`; returns its weight.
	fn process_item(item: AgendaItem, at: BlockNumberFor<T>) -> Weight {
		match item {
			AgendaItem::Assign(task_id) => Self::on_assign(task_id, at),
			AgendaItem::CommitDeadline(task_id) => Self::on_commit_deadline(task_id, at),
			AgendaItem::RevealDeadline(task_id) => Self::on_reveal_deadline(task_id, at),
			AgendaItem::Expire(task_id) => Self::on_expire(task_id, at),
			AgendaItem::Replace(task_id) => Self::on_replace(task_id),
		}
	}

	/// Closes the commit phase of `task_id` if its deadline is `at` and still open: with fewer
	/// commits than the quorum the task fails; otherwise reveals open until the planned reveal
	/// deadline. Processed late (a backlog), it fails the task and slashes nobody.
	pub(crate) fn on_commit_deadline(task_id: TaskId, at: BlockNumberFor<T>) -> Weight {
		let stale = Self::stale_weight();
		let Some(mut task) = Tasks::<T>::get(task_id) else { return stale };
		let TaskStatus::Committing { commit_deadline } = task.status else { return stale };
		if commit_deadline != at {
			return stale;
		}
		let weight = Self::commit_deadline_reserve(task.redundancy);
		let now = frame_system::Pallet::<T>::block_number();
		if now > at {
			Self::fail(task_id, task, FailReason::AgendaFull);
			return weight;
		}
		if task.commits() == 0 {
			Self::fail(task_id, task, FailReason::NoCommits);
			return weight;
		}
		if task.commits() < task.quorum {
			Self::fail(task_id, task, FailReason::NoQuorum);
			return weight;
		}
		// Executors that did not commit have nothing left to do.
		for executor in task.executors.iter().filter(|e| e.commitment.is_none()) {
			Self::release_task(&executor.who, task_id);
		}
		let reveal_deadline = task.plan.reveal_deadline;
		task.status = TaskStatus::Revealing { reveal_deadline };
		// A replacement draw still on the agenda finds the task revealing and draws nobody.
		task.replacements_pending = 0;
		Tasks::<T>::insert(task_id, task);
		Self::deposit_event(Event::RevealStarted { task_id, reveal_deadline });
		weight
	}

	/// Settles `task_id` at its reveal deadline `at` if it is still revealing.
	pub(crate) fn on_reveal_deadline(task_id: TaskId, at: BlockNumberFor<T>) -> Weight {
		let stale = Self::stale_weight();
		let Some(task) = Tasks::<T>::get(task_id) else { return stale };
		let TaskStatus::Revealing { reveal_deadline } = task.status else { return stale };
		if reveal_deadline != at {
			return stale;
		}
		let weight = Self::reveal_deadline_reserve(task.redundancy);
		Self::settle(task_id, task);
		weight
	}

	/// Prunes an ended task's record, result and leftover outputs at its expiry `at`.
	pub(crate) fn on_expire(task_id: TaskId, at: BlockNumberFor<T>) -> Weight {
		let stale = Self::stale_weight();
		let Some(task) = Tasks::<T>::get(task_id) else { return stale };
		if task.status.is_open() || task.plan.expires_at != at {
			return stale;
		}
		Tasks::<T>::remove(task_id);
		TaskResults::<T>::remove(task_id);
		TaskTokenCharges::<T>::remove(task_id);
		let _ = RevealedOutputs::<T>::clear_prefix(task_id, T::MaxRedundancy::get(), None);
		Self::deposit_event(Event::TaskExpired { task_id });
		Self::expire_reserve()
	}
}
