//! The executors' off-chain worker: validators' nodes run their assigned tasks and commit and
//! reveal on their own.
//!
//! On every block imported by a validator node, for each inference key
//! ([`KEY_TYPE`](opg_primitives::execution::KEY_TYPE)) in the node's keystore that a validator
//! linked with [`set_inference_key`](Pallet::set_inference_key), the worker takes the
//! validator's pending tasks (the same [`Pallet::pending_tasks`] the runtime API serves):
//!
//! - **commit phase**: runs the model on the task's input through the node's inference host
//!   function ([`opg_inference::run_batch`]: the tasks of one model due in the same block go
//!   to the engine as one batch of at most [`MAX_ENGINE_BATCH`] inputs, each output
//!   bit-identical to a run of that input alone), draws a salt from the node's randomness,
//!   stores output and salt in the node's *persistent* off-chain storage, and only then submits
//!   `commit_result(commitment(digest, salt, validator))` signed by the key;
//! - **reveal phase**: submits `reveal_result(outcome, salt)` from what it stored.
//!
//! A causal language model's tasks run **one input at a time** (a generation takes seconds and
//! the engine does not batch generations): each is its own engine call. Its output is the
//! SCALE-encoded [`Generation`](opg_primitives::models::Generation), checked against the rule
//! before it is committed. The worker times each generation and keeps its speed (milliseconds
//! per generated token) in the node's persistent off-chain storage; with it, a generation whose
//! longest run (`max_new_tokens` at that speed) would not end, and its commit land, before the
//! commit deadline is declined at once as [`DeclineReason::Overloaded`] while a replacement can
//! still be drawn, and the commit claim of a task being generated keeps other workers (of the
//! next blocks) off it for that long, not just [`RESUBMIT_AFTER`] blocks (with no measurement
//! yet, at [`DEFAULT_MS_PER_TOKEN`]).
//!
//! When the model refuses the input for a reason its files decide
//! ([`InferenceError::Rejected`]), that [`Rejection`](opg_primitives::inference::Rejection) is
//! the result: the worker commits to it and reveals it like an output, and a quorum on it ends
//! the task `Rejected` with the executors paid.
//!
//! Each task's progress is a [`TaskRecord`] changed only by compare-and-set, so that two workers
//! running at once (a slow block's worker overlapping the next one's) never both execute or
//! submit the same step: a step is claimed with the block it was attempted in, and retried only
//! after [`RESUBMIT_AFTER`] blocks if the task still needs it (a transaction dropped by the
//! pool). Because the output and salt are on disk before the commit leaves the node, a node
//! killed or restarted between its commit and its reveal still reveals the committed output.
//!
//! Off-chain storage is not fork-aware while workers run on every new best block, whatever its
//! fork. So a record is keyed by the task's *fingerprint* (its id, model, requester, creation
//! block and input): the same id on another fork with another input never reuses an output
//! computed for a different input. A record lives as long as its task, however late the chain
//! runs it: it is deleted [`RECORD_GRACE`] blocks after the task ended on the node's best chain,
//! or, once the task is gone from that chain (expired, or never there: another fork's),
//! `ResultTtl +` [`RECORD_GRACE`] blocks after a worker last saw it open. Never sooner, so a
//! reorg back to a fork on which the task is still open finds its output and salt. The records
//! a worker created are listed (with the last block it saw their task open) once per block, at
//! most [`MAX_TRACKED`] of them.
//!
//! A task the node cannot execute (model files missing from its store or failing their hash
//! check, a format it does not run, a time limit hit) is **declined** at once with
//! [`decline`](Pallet::decline), so that the chain draws a replacement while there is time; the
//! executor is neither paid nor charged. A node that has more tasks than it can execute declines
//! the commit-phase tasks it could not reach in a block once their deadline is
//! `ReplacementWindow +` [`OVERLOAD_DECLINE_EXTRA`] blocks away or less, still in time for a
//! replacement: the alternative is a no-show. Each block's worker submits reveals first (a
//! reveal left behind is a withholding slash), then commits, at most [`MAX_TASKS_PER_BLOCK`]
//! tasks, and starts no new engine batch after [`EXECUTION_BUDGET_MS`] nor more than
//! [`max_executions`] executions; a task already executed is committed whatever the
//! budget. A block's reveals go in [`reveal_results`](Pallet::reveal_results) batches and its
//! commits in [`commit_results`](Pallet::commit_results) batches, each of at most `MaxBatch`
//! entries declaring at most [`Pallet::batch_weight_limit`] (on the runtime, about 15 reveals or
//! 64 commits): one signature and one transaction for many tasks, and no fee when valid. Nonces of the key account are
//! allocated locally ([`NonceState`]) so that one block's worker can submit several
//! transactions.

use crate::{pallet::*, types::DeclineReason, LOG_TARGET};
use alloc::vec::Vec;
use codec::{Decode, Encode};
use core::cell::RefCell;
use frame_support::{traits::Get, BoundedVec};
use frame_system::{
	offchain::{AppCrypto, SubmitTransaction},
	pallet_prelude::BlockNumberFor,
};
use opg_primitives::{
	execution::{opg_inference, InferenceError},
	inference::{commitment, PendingAction, Salt, TaskId, TaskOutcome},
	models::{Decoding, ModelId, ModelProvider},
};
use sp_core::H256;
use sp_runtime::{
	offchain::storage::{MutateStorageError, StorageRetrievalError, StorageValueRef},
	traits::{IdentifyAccount, One, Saturating},
	RuntimeAppPublic, SaturatedConversion,
};

/// Most tasks one validator's worker commits, reveals or declines per block (of the at most
/// [`MAX_PENDING_SCAN`](crate::reads::MAX_PENDING_SCAN) pending tasks it looks at).
pub const MAX_TASKS_PER_BLOCK: u32 = 256;
/// Most tasks one validator's worker executes per block (besides [`EXECUTION_BUDGET_MS`]):
/// twice the most the chain draws any validator for in one block (`MaxDrawsPerBlock`, see
/// [`agenda`](crate::agenda)), so that a node that missed a block catches up in the next.
pub fn max_executions<T: Config>() -> u32 {
	T::MaxDrawsPerBlock::get().saturating_mul(2)
}
/// Most inputs of one model the worker runs in one engine pass.
pub const MAX_ENGINE_BATCH: usize = 32;
/// Blocks after which a commit or reveal submitted but not yet on-chain is submitted again.
pub const RESUBMIT_AFTER: u64 = 2;
/// Milliseconds per generated token assumed for a causal language model this node has not
/// timed yet (see [`generation_ms`]): what keeps another worker from running a generation
/// that is still running.
pub const DEFAULT_MS_PER_TOKEN: u64 = 100;
/// Milliseconds of one block's worker after which it starts no further execution (the rest
/// waits for the next block's worker, or is declined near its deadline).
pub const EXECUTION_BUDGET_MS: u64 = 4_000;
/// Blocks added to `ReplacementWindow` to get how close to its commit deadline a task this node
/// could not reach is declined as [`DeclineReason::Overloaded`] rather than left to become a
/// no-show: one for the decline to land, one for the replacement draw.
pub const OVERLOAD_DECLINE_EXTRA: u64 = 2;
/// The shortest block time any runtime flavour runs with (the fast runtime's 2 s). A worker
/// that declines after spending `elapsed` ms on executions counts `elapsed / MIN_BLOCK_MS`
/// blocks more of margin: the chain has moved on meanwhile, and a decline that lands too late
/// for a replacement counts as a fault.
pub const MIN_BLOCK_MS: u64 = 2_000;
/// Blocks the locally allocated nonce may run ahead of an on-chain nonce that does not move
/// before it is reset to the on-chain one (its transactions were dropped).
pub const NONCE_STALL_BLOCKS: u64 = 8;
/// Most task records tracked per validator. The chain's agenda bounds the tasks open at once
/// far below it; past it, records of ended tasks are forgotten first, then the longest unseen.
pub const MAX_TRACKED: usize = 8192;
/// Blocks a record is kept after its task ended on the node's best chain (or, for a task gone
/// from it, after `ResultTtl` more): deeper than any reorg of blocks that GRANDPA finalizes in
/// normal operation, so that no fork switch revives a task whose record is gone.
pub const RECORD_GRACE: u64 = 64;

/// Prefix of every off-chain storage key of this worker.
/// Versioned: `v3` records note declines; a node upgraded from an earlier version starts with
/// fresh records rather than misreading old ones.
const PREFIX: &[u8] = b"opg/inference/ocw/v3/";

/// What the worker knows about one task of one validator, in persistent off-chain storage.
#[derive(Clone, PartialEq, Eq, Encode, Decode, Debug, Default)]
pub struct TaskRecord {
	/// The outcome (output as little-endian `f32`, or rejection) and salt committed to, once
	/// the model ran.
	pub executed: Option<(TaskOutcome<Vec<u8>>, Salt)>,
	/// Block in which a commit was last claimed (attempted).
	pub commit_at: Option<u64>,
	/// Block in which a reveal was last claimed (attempted).
	pub reveal_at: Option<u64>,
	/// The execution failure that made the node decline: block and error.
	pub failed: Option<(u64, InferenceError)>,
	/// Block in which a decline was last claimed (submitted), and why.
	pub declined_at: Option<(u64, DeclineReason)>,
}

/// The key account's next nonce as allocated by this node.
///
/// Transactions a worker submits in one block normally land in the next. So the local counter
/// is trusted only for the rest of the same block, and in the next block only if the on-chain
/// nonce moved meanwhile (some of them landed, the others are presumably still queued); in
/// every other case (nothing landed, a reorg moved the nonce back, a restart) the worker starts
/// again from the on-chain nonce: a transaction still queued under that nonce makes the new one
/// a refused duplicate (retried later), and a dropped one leaves no gap that would block every
/// later transaction of the key.
#[derive(Clone, PartialEq, Eq, Encode, Decode, Debug)]
pub struct NonceState<Nonce> {
	/// Next nonce to use.
	pub next: Nonce,
	/// The on-chain nonce when `next` was last allocated.
	pub onchain: Nonce,
	/// Block in which `next` was last allocated.
	pub block: u64,
}

/// What identifies a task's content: `blake2_256(SCALE(task_id, model, requester, created_at,
/// input))`.
pub type Fingerprint = [u8; 32];

/// The step of a task a worker claims.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
	Commit,
	Reveal,
	Decline,
}

/// A task this block's worker executes: collected while walking the pending tasks, then run
/// with the other tasks of its model in one engine batch.
struct Execution<T: Config> {
	task_id: TaskId,
	fingerprint: Fingerprint,
	task: TaskInfoOf<T>,
	input: Vec<u8>,
	/// The task's commit deadline.
	deadline: u64,
}

/// The seed from which a sampling language model draws the tokens of `task_id`:
/// `blake2_256("opg/sample" ‖ SCALE(task_id) ‖ hash of the block that included the request)`.
/// Every executor reads the same from the chain, and the requester cannot know it when signing
/// (the including block's hash does not exist yet). The author of that block could grind it by
/// reordering the block's extrinsics: what it buys is a choice among valid draws of the model's
/// distribution, never a disagreement between executors.
pub fn sampling_seed<T: Config>(task_id: TaskId, task: &TaskInfoOf<T>) -> [u8; 32] {
	let included = frame_system::Pallet::<T>::block_hash(task.created_at);
	let mut preimage = Vec::with_capacity(10 + 8 + 32);
	preimage.extend_from_slice(b"opg/sample");
	task_id.encode_to(&mut preimage);
	included.encode_to(&mut preimage);
	sp_io::hashing::blake2_256(&preimage)
}

/// Runs the worker for every linked inference key of this node.
pub(crate) fn run<T: Config>(now: BlockNumberFor<T>) {
	if !sp_io::offchain::is_validator() {
		return;
	}
	let now: u64 = now.saturated_into();
	for key in <T::AuthorityId as AppCrypto<T::Public, T::Signature>>::RuntimeAppPublic::all() {
		let generic: <T::AuthorityId as AppCrypto<T::Public, T::Signature>>::GenericPublic =
			key.into();
		let public: T::Public = generic.into();
		let signer = public.clone().into_account();
		let Some(validator) = KeyOwners::<T>::get(&signer) else {
			log::debug!(
				target: LOG_TARGET,
				"inference key {signer:?} is not linked to a validator (inference.setInferenceKey)"
			);
			continue;
		};
		Worker::<T> { public, signer, validator, now, claimed: Default::default() }.work();
	}
}

/// One validator's worker in one block.
struct Worker<T: Config> {
	public: T::Public,
	signer: T::AccountId,
	validator: T::AccountId,
	now: u64,
	/// Records claimed in this block, listed in [`Self::clean_up`] (one write per block).
	claimed: RefCell<Vec<Tracked>>,
}

impl<T: Config> Worker<T> {
	fn work(&self) {
		// Every pending task, reveals first: a reveal only sends what is stored, and one left
		// behind costs the validator a withholding slash; they are submitted before anything
		// executes. Then commits, oldest first: a task already executed (its commit dropped by
		// the pool) is only resubmitted; new executions run in engine batches of one model
		// (oldest first, see `execute_all`) and stop at the block's budget, and what they leave
		// behind is declined once its deadline comes close enough that waiting longer would
		// leave no time for a replacement.
		let started = sp_io::offchain::timestamp();
		let pending = Pallet::<T>::pending_tasks(&self.validator, u32::MAX);
		let margin = self.overload_margin();
		let mut submitted = 0u32;
		let mut executed = 0u32;
		let mut reveal_batch = Vec::new();
		let mut commit_batch = Vec::new();
		let mut to_execute = Vec::new();
		let max_executions = max_executions::<T>();
		let reveals = pending.iter().filter(|(_, a)| matches!(a, PendingAction::Reveal { .. }));
		let commits = pending.iter().filter(|(_, a)| matches!(a, PendingAction::Commit { .. }));
		for (task_id, action) in reveals.chain(commits) {
			if submitted >= MAX_TASKS_PER_BLOCK {
				break;
			}
			let (PendingAction::Commit { deadline } | PendingAction::Reveal { deadline }) = *action
			else {
				continue;
			};
			if self.now.saturating_add(1) >= deadline {
				continue; // too late to land before the deadline
			}
			let task_id = *task_id;
			let (Some(task), Some(input)) =
				(Tasks::<T>::get(task_id), TaskInputs::<T>::get(task_id))
			else {
				continue;
			};
			let fingerprint = fingerprint::<T>(task_id, &task, &input);
			if matches!(action, PendingAction::Reveal { .. }) {
				submitted = submitted.saturating_add(1);
				reveal_batch.extend(self.reveal(task_id, fingerprint));
				continue;
			}
			let needs_execution = self
				.record(task_id, fingerprint)
				.is_none_or(|record| record.executed.is_none() && record.failed.is_none());
			if !needs_execution {
				submitted = submitted.saturating_add(1);
				commit_batch.extend(self.commit_executed(task_id, fingerprint, &task));
				continue;
			}
			if executed >= max_executions {
				if deadline <= self.now.saturating_add(margin) {
					submitted = submitted.saturating_add(1);
					self.decline(task_id, fingerprint, DeclineReason::Overloaded, None);
				}
				continue;
			}
			executed = executed.saturating_add(1);
			submitted = submitted.saturating_add(1);
			to_execute.push(Execution {
				task_id,
				fingerprint,
				task,
				input: input.into_inner(),
				deadline,
			});
		}
		// Reveals leave before any execution: however long the engine takes, they are on
		// their way.
		self.submit_reveals(reveal_batch);
		commit_batch.extend(self.execute_all(to_execute, started, margin));
		self.submit_commits(commit_batch);
		self.clean_up();
	}

	/// Runs the tasks of `to_execute` (oldest first) in engine batches of one model, and
	/// returns their commits. Each batch starts with the oldest task not yet run and takes the
	/// next tasks of its model, in order. A model's first batch in a block is that one input;
	/// each next one holds as many inputs (at most [`MAX_ENGINE_BATCH`]) as the rest of the
	/// block's time budget fits at the cost the model's last batch took per padded input byte
	/// (a batch costs about its count times its longest input). Past the budget the tasks left
	/// wait for the next block's worker, and those whose deadline has come within `margin`
	/// blocks are declined as [`DeclineReason::Overloaded`].
	fn execute_all(
		&self,
		mut remaining: Vec<Execution<T>>,
		started: sp_core::offchain::Timestamp,
		margin: u64,
	) -> Vec<(TaskId, H256)> {
		// Per model: (milliseconds, padded bytes) of its last batch in this block.
		let mut costs: Vec<(ModelId, u64, u64)> = Vec::new();
		let mut commits = Vec::new();
		while let Some(model) = remaining.first().map(|oldest| oldest.task.model_id) {
			let elapsed = sp_io::offchain::timestamp().diff(&started).millis();
			if elapsed >= EXECUTION_BUDGET_MS {
				let late = margin.saturating_add(elapsed.saturating_div(MIN_BLOCK_MS));
				for execution in remaining {
					if execution.deadline <= self.now.saturating_add(late) {
						self.decline(
							execution.task_id,
							execution.fingerprint,
							DeclineReason::Overloaded,
							None,
						);
					}
				}
				break;
			}
			let params = T::Models::model_params(model);
			let generation = params.as_ref().and_then(|params| params.generation());
			if let Some(generation) = generation {
				// A generation that cannot finish and commit before its deadline, at this node's
				// measured speed for its longest output, is declined now, while a replacement
				// can still be drawn.
				if let Some(needed) = generation_ms::<T>(model, &generation, false) {
					let deadline = remaining.first().map_or(0, |oldest| oldest.deadline);
					let blocks_left =
						deadline.saturating_sub(self.now.saturating_add(COMMIT_LANDING));
					let time_left = blocks_left.saturating_mul(MIN_BLOCK_MS);
					if needed.saturating_add(elapsed) > time_left {
						let oldest = remaining.remove(0);
						log::warn!(
							target: LOG_TARGET,
							"task {}: a generation of model {model} may take {needed} ms here, more \
							 than the {time_left} ms left before its commit deadline; declining it",
							oldest.task_id,
						);
						self.decline(
							oldest.task_id,
							oldest.fingerprint,
							DeclineReason::Overloaded,
							None,
						);
						continue;
					}
				}
			}
			// A causal language model runs one input at a time: its engine does not batch
			// generations, and each can take seconds.
			let cost = costs
				.iter()
				.find(|(id, _, _)| *id == model && generation.is_none())
				.map(|(_, ms, bytes)| (*ms, *bytes));
			let left = EXECUTION_BUDGET_MS.saturating_sub(elapsed);
			let Some(oldest) = remaining.first() else { break };
			// Indices of the batch in `remaining`: the oldest, then its model's next tasks while
			// the estimated cost fits what is left of the budget.
			let mut picked: Vec<usize> = alloc::vec![0];
			let mut longest = padded_len(&oldest.input);
			if let Some((ms, bytes)) = cost {
				for (index, execution) in remaining.iter().enumerate().skip(1) {
					if picked.len() >= MAX_ENGINE_BATCH {
						break;
					}
					if execution.task.model_id != model {
						continue;
					}
					let longer = longest.max(padded_len(&execution.input));
					let count = u64::try_from(picked.len()).unwrap_or(u64::MAX).saturating_add(1);
					// ms × count × longer ≤ left × bytes, in u128 (no overflow).
					let estimate = u128::from(ms)
						.saturating_mul(u128::from(count))
						.saturating_mul(u128::from(longer));
					if estimate > u128::from(left).saturating_mul(u128::from(bytes.max(1))) {
						break;
					}
					picked.push(index);
					longest = longer;
				}
			}
			// `picked` is increasing: split `remaining` into the batch and the rest, in order.
			let (chunk, rest): (Vec<_>, Vec<_>) = remaining
				.into_iter()
				.enumerate()
				.partition(|(index, _)| picked.binary_search(index).is_ok());
			remaining = rest.into_iter().map(|(_, execution)| execution).collect();
			let chunk: Vec<Execution<T>> =
				chunk.into_iter().map(|(_, execution)| execution).collect();
			// Claimed before running: a worker of an overlapping block skips them.
			let claimed: Vec<(Execution<T>, TaskRecord)> = chunk
				.into_iter()
				.filter_map(|execution| {
					let record =
						self.claim(execution.task_id, execution.fingerprint, Step::Commit)?;
					Some((execution, record))
				})
				.collect();
			let (ready, fresh): (Vec<_>, Vec<_>) =
				claimed.into_iter().partition(|(_, record)| record.executed.is_some());
			for (execution, record) in ready {
				// Executed by a worker since this one looked: only committed.
				commits.extend(self.finish_commit(&execution, record, None));
			}
			if fresh.is_empty() {
				continue;
			}
			let inputs: Vec<Vec<u8>> =
				fresh.iter().map(|(execution, _)| execution.input.clone()).collect();
			let seeds: Vec<[u8; 32]> = fresh
				.iter()
				.map(|(execution, _)| sampling_seed::<T>(execution.task_id, &execution.task))
				.collect();
			let padded = u64::try_from(inputs.len())
				.unwrap_or(u64::MAX)
				.saturating_mul(inputs.iter().map(|input| padded_len(input)).max().unwrap_or(1));
			let before = sp_io::offchain::timestamp();
			let outcomes = self.execute(model, inputs, seeds);
			let took = sp_io::offchain::timestamp().diff(&before).millis();
			if generation.is_some() {
				note_generation_speed(model, took, &outcomes);
			}
			match costs.iter_mut().find(|(id, _, _)| *id == model) {
				Some(entry) => *entry = (model, took, padded),
				None => costs.push((model, took, padded)),
			}
			for ((execution, record), outcome) in fresh.into_iter().zip(outcomes) {
				commits.extend(self.finish_commit(&execution, record, Some(outcome)));
			}
		}
		commits
	}

	/// Submits `reveals` in batches of at most `MaxBatch` entries that declare at most
	/// [`Pallet::batch_weight_limit`].
	fn submit_reveals(&self, reveals: Vec<RevealEntry>) {
		for batch in batches::<T, _>(reveals, |batch| {
			Pallet::<T>::reveal_results_weight(batch).all_lte(Pallet::<T>::batch_weight_limit())
		}) {
			self.submit_batch(batch, |reveals| Call::reveal_results { reveals }, |(id, _, _)| *id);
		}
	}

	/// Submits `commits` in batches of at most `MaxBatch` entries that declare at most
	/// [`Pallet::batch_weight_limit`].
	fn submit_commits(&self, commits: Vec<(TaskId, H256)>) {
		for batch in batches::<T, _>(commits, |batch| {
			let n = u32::try_from(batch.len()).unwrap_or(u32::MAX);
			Pallet::<T>::commit_results_weight(n).all_lte(Pallet::<T>::batch_weight_limit())
		}) {
			self.submit_batch(batch, |commits| Call::commit_results { commits }, |(id, _)| *id);
		}
	}

	/// Submits `batch` as `call`. A batch the pool refuses is retried, as its entries' claims
	/// expire, after [`RESUBMIT_AFTER`] blocks. (It is not split: the pool refuses a batch that
	/// reuses a queued batch's nonce, and a smaller half would outrank and evict the queued one.)
	fn submit_batch<E>(
		&self,
		batch: Vec<E>,
		call: impl Fn(BoundedVec<E, T::MaxBatch>) -> Call<T>,
		id: impl Fn(&E) -> TaskId,
	) {
		let ids: Vec<TaskId> = batch.iter().map(id).collect();
		let Ok(bounded) = BoundedVec::<E, T::MaxBatch>::try_from(batch) else { return };
		if self.submit(call(bounded)) {
			log::info!(target: LOG_TARGET, "tasks {ids:?}: submitted for {:?}", self.validator);
		}
	}

	/// Blocks before its commit deadline from which a task this node could not reach is
	/// declined: the last moment at which the decline, landing a block later, still leaves the
	/// chain `ReplacementWindow` blocks for a replacement after the draw (one more block).
	fn overload_margin(&self) -> u64 {
		let window: u64 = T::ReplacementWindow::get().saturated_into();
		window.saturating_add(OVERLOAD_DECLINE_EXTRA)
	}

	/// The stored record of `task_id`, if any.
	fn record(&self, task_id: TaskId, fingerprint: Fingerprint) -> Option<TaskRecord> {
		StorageValueRef::persistent(&self.record_key(task_id, fingerprint))
			.get::<TaskRecord>()
			.ok()
			.flatten()
	}

	/// The commit of a task this node has already executed (its commit not yet on-chain), or
	/// the decline of one whose execution failed here, for this block's batch.
	fn commit_executed(
		&self,
		task_id: TaskId,
		fingerprint: Fingerprint,
		task: &TaskInfoOf<T>,
	) -> Option<(TaskId, H256)> {
		let failed = self.record(task_id, fingerprint).and_then(|record| record.failed);
		if let Some((_, error)) = failed {
			// Its execution failed here before: the decline did not land yet.
			self.decline(task_id, fingerprint, decline_reason(error), Some(error));
			return None;
		}
		let record = self.claim(task_id, fingerprint, Step::Commit)?;
		let execution =
			Execution { task_id, fingerprint, task: task.clone(), input: Vec::new(), deadline: 0 };
		self.finish_commit(&execution, record, None)
	}

	/// The commit of a claimed task: of its stored outcome, or of `outcome`, the result of the
	/// execution just run (stored first, so that a restart still reveals it). A failed
	/// execution is noted and the task declined, so that another validator is drawn.
	fn finish_commit(
		&self,
		execution: &Execution<T>,
		record: TaskRecord,
		outcome: Option<Result<TaskOutcome<Vec<u8>>, InferenceError>>,
	) -> Option<(TaskId, H256)> {
		let (task_id, fingerprint, task) =
			(execution.task_id, execution.fingerprint, &execution.task);
		let (output, salt) = match (record.executed.clone(), outcome) {
			(Some(executed), _) => executed,
			(None, Some(Ok(output))) => {
				// On disk before the commit leaves the node: a restart still reveals it. Never
				// over another worker's stored outcome: its salt may be committed already.
				self.store_outcome(
					task_id,
					fingerprint,
					Ok((output, sp_io::offchain::random_seed())),
				)?
			},
			(None, Some(Err(error))) => {
				// Release the commit claim and note the failure: the decline claims next. Unless
				// another worker stored an outcome meanwhile: that one is committed.
				match self.store_outcome(task_id, fingerprint, Err(error)) {
					Some(executed) => executed,
					None => {
						log::warn!(
							target: LOG_TARGET,
							"task {task_id}: cannot execute model {} for {:?}: {error:?}; \
							 declining it so that another validator is drawn",
							task.model_id,
							self.validator,
						);
						self.decline(task_id, fingerprint, decline_reason(error), Some(error));
						return None;
					},
				}
			},
			(None, None) => return None,
		};
		let Some(digest) = output.digest(&task.comparison) else {
			log::error!(target: LOG_TARGET, "task {task_id}: stored output is malformed");
			return None;
		};
		log::debug!(target: LOG_TARGET, "task {task_id}: digest {digest:?} for {:?}", self.validator);
		Some((task_id, commitment(&digest, &salt, &self.validator)))
	}

	/// Submits a decline of `task_id` for `reason` (once per [`RESUBMIT_AFTER`] blocks, and
	/// never for a task this node has executed: that one it commits).
	fn decline(
		&self,
		task_id: TaskId,
		fingerprint: Fingerprint,
		reason: DeclineReason,
		error: Option<InferenceError>,
	) {
		let Some(_) = self.claim(task_id, fingerprint, Step::Decline) else { return };
		let _ = StorageValueRef::persistent(&self.record_key(task_id, fingerprint)).mutate(
			|stored: Result<Option<TaskRecord>, StorageRetrievalError>| {
				let mut record = stored.ok().flatten().unwrap_or_default();
				record.declined_at = Some((self.now, reason));
				Ok::<_, ()>(record)
			},
		);
		if self.submit(Call::decline { task_id, reason }) {
			log::info!(
				target: LOG_TARGET,
				"task {task_id}: declined for {:?} ({reason:?}{})",
				self.validator,
				error.map(|e| alloc::format!(": {e:?}")).unwrap_or_default(),
			);
		}
	}

	/// The reveal of the output and salt committed to, for this block's batch.
	fn reveal(&self, task_id: TaskId, fingerprint: Fingerprint) -> Option<RevealEntry> {
		let record = self.claim(task_id, fingerprint, Step::Reveal)?;
		let Some((outcome, salt)) = record.executed else {
			log::error!(
				target: LOG_TARGET,
				"task {task_id}: committed for {:?} but this node has no stored output to reveal \
				 (was its off-chain database wiped?)",
				self.validator
			);
			return None;
		};
		Some((task_id, outcome, salt))
	}

	/// Runs `model` on `inputs` through the node in one engine pass: per input, its output or
	/// the model's deterministic rejection of it, or the error that kept the node from running
	/// it.
	fn execute(
		&self,
		model: ModelId,
		inputs: Vec<Vec<u8>>,
		seeds: Vec<[u8; 32]>,
	) -> Vec<Result<TaskOutcome<Vec<u8>>, InferenceError>> {
		let count = inputs.len();
		if count == 0 {
			return Vec::new();
		}
		let Some(params) = T::Models::model_params(model) else {
			return alloc::vec![Err(InferenceError::MissingModel); count];
		};
		let max = usize::try_from(T::MaxOutputLen::get()).unwrap_or(usize::MAX);
		// The model goes encoded: a node that cannot decode its profile declines (`Unsupported`).
		let mut results = opg_inference::run_batch(&params.descriptor.encode(), inputs, seeds);
		results.resize(count, Err(InferenceError::Failed));
		results
			.into_iter()
			.map(|result| match result {
				Ok(output)
					if output.len() > max
						|| params.comparison.canonical_output(&output).is_none() =>
				{
					// The chain would refuse the reveal (too long, or malformed for the rule: not
					// whole `f32`s, or not exactly a `Generation`): committing to it would only
					// earn a slash.
					Err(InferenceError::InvalidModel)
				},
				Ok(output) => Ok(TaskOutcome::Output(output)),
				Err(InferenceError::Rejected(rejection)) => Ok(TaskOutcome::Rejected(rejection)),
				Err(error) => Err(error),
			})
			.collect()
	}

	/// Claims `step` of `task_id` for this block: returns the record if no worker attempted the
	/// step in the last [`RESUBMIT_AFTER`] blocks (and no failed execution waits for its retry),
	/// after recording the attempt; `None` otherwise or when another worker won the race.
	fn claim(&self, task_id: TaskId, fingerprint: Fingerprint, step: Step) -> Option<TaskRecord> {
		let now = self.now;
		// How long a commit claim of a task not yet executed keeps others off: a worker may
		// still be executing it (a generation can outlast several blocks).
		let executing = match step {
			Step::Reveal => RESUBMIT_AFTER,
			Step::Commit | Step::Decline => execution_hold::<T>(task_id),
		};
		let claimed = StorageValueRef::persistent(&self.record_key(task_id, fingerprint)).mutate(
			|stored: Result<Option<TaskRecord>, StorageRetrievalError>| {
				let mut record = stored.ok().flatten().unwrap_or_default();
				let recent = |at: Option<u64>, wait: u64| {
					at.is_some_and(|at| now < at.saturating_add(wait) && now >= at)
				};
				let declining = record.declined_at.map(|(at, _)| at);
				let commit_hold =
					if record.executed.is_none() { executing } else { RESUBMIT_AFTER };
				let busy = match step {
					// A task the node failed to execute is declined, never retried.
					Step::Commit => {
						recent(record.commit_at, commit_hold)
							|| record.failed.is_some()
							|| recent(declining, RESUBMIT_AFTER)
					},
					Step::Reveal => recent(record.reveal_at, RESUBMIT_AFTER),
					// Not while a worker executes it, and never once it has an outcome.
					Step::Decline => {
						recent(record.commit_at, commit_hold)
							|| record.executed.is_some()
							|| recent(declining, RESUBMIT_AFTER)
					},
				};
				if busy {
					return Err(());
				}
				match step {
					Step::Commit => record.commit_at = Some(now),
					Step::Reveal => record.reveal_at = Some(now),
					Step::Decline => {},
				}
				Ok(record)
			},
		);
		match claimed {
			Ok(record) => {
				// Claimed only for a task open at this block (the worker's pending tasks).
				let created_at =
					Tasks::<T>::get(task_id).map_or(now, |task| task.created_at.saturated_into());
				self.claimed.borrow_mut().push(Tracked {
					task_id,
					fingerprint,
					created_at,
					seen_open: now,
				});
				Some(record)
			},
			Err(MutateStorageError::ValueFunctionFailed(())) => None,
			Err(MutateStorageError::ConcurrentModification(_)) => None,
		}
	}

	/// Stores the result of this worker's execution of `task_id`, by compare-and-set: an
	/// outcome and salt (`Ok`), or the failure (`Err`, which also releases the commit claim).
	/// If the record already holds an outcome (another worker executed the task meanwhile),
	/// nothing is written and that outcome is returned, to be committed instead. Returns the
	/// outcome now stored; `None` for a stored failure, or when the record could not be written.
	fn store_outcome(
		&self,
		task_id: TaskId,
		fingerprint: Fingerprint,
		result: Result<(TaskOutcome<Vec<u8>>, Salt), InferenceError>,
	) -> Option<(TaskOutcome<Vec<u8>>, Salt)> {
		let key = self.record_key(task_id, fingerprint);
		for _ in 0..3 {
			let stored = StorageValueRef::persistent(&key).mutate(
				|stored: Result<Option<TaskRecord>, StorageRetrievalError>| {
					let mut record = stored.ok().flatten().unwrap_or_default();
					if let Some(existing) = record.executed.clone() {
						return Err(existing);
					}
					match &result {
						Ok(executed) => {
							record.executed = Some(executed.clone());
							record.failed = None;
						},
						Err(error) => {
							record.commit_at = None;
							record.failed = Some((self.now, *error));
						},
					}
					Ok(record)
				},
			);
			match stored {
				Ok(record) => return record.executed,
				Err(MutateStorageError::ValueFunctionFailed(existing)) => return Some(existing),
				Err(MutateStorageError::ConcurrentModification(_)) => continue,
			}
		}
		log::error!(target: LOG_TARGET, "task {task_id}: could not store its record");
		None
	}

	/// Signs `call` with the inference key under a locally allocated nonce and submits it to the
	/// node's pool; whether the pool took it.
	fn submit(&self, call: Call<T>) -> bool {
		let Some(nonce) = self.allocate_nonce() else {
			log::warn!(target: LOG_TARGET, "could not allocate a nonce; retrying next block");
			return false;
		};
		let submitted = T::create_signed_transaction::<T::AuthorityId>(
			call.into(),
			self.public.clone(),
			self.signer.clone(),
			nonce,
		)
		.ok_or(())
		.and_then(SubmitTransaction::<T, Call<T>>::submit_transaction);
		if submitted.is_err() {
			log::warn!(
				target: LOG_TARGET,
				"the pool refused a transaction of inference key {:?} (nonce {nonce:?}); is the \
				 key account funded?",
				self.signer
			);
			self.release_nonce(nonce);
		}
		submitted.is_ok()
	}

	/// The next nonce of the key account (see [`NonceState`]).
	fn allocate_nonce(&self) -> Option<T::Nonce> {
		let onchain = frame_system::Pallet::<T>::account_nonce(&self.signer);
		let now = self.now;
		let state = StorageValueRef::persistent(&self.nonce_key()).mutate(
			|stored: Result<Option<NonceState<T::Nonce>>, StorageRetrievalError>| {
				let next = match stored.ok().flatten() {
					// Earlier transactions of this block.
					Some(s) if s.block == now && s.next > onchain => s.next,
					// Last block's, some of which landed: the rest are presumably queued.
					Some(s)
						if s.block.saturating_add(1) == now
							&& onchain > s.onchain
							&& s.next > onchain =>
					{
						s.next
					},
					_ => onchain,
				};
				Ok::<_, ()>(NonceState {
					next: next.saturating_add(One::one()),
					onchain,
					block: now,
				})
			},
		);
		state.ok().map(|state| state.next.saturating_sub(One::one()))
	}

	/// Gives `nonce` back if it is the last one allocated (its transaction was refused).
	fn release_nonce(&self, nonce: T::Nonce) {
		let _ = StorageValueRef::persistent(&self.nonce_key()).mutate(
			|stored: Result<Option<NonceState<T::Nonce>>, StorageRetrievalError>| match stored
				.ok()
				.flatten()
			{
				Some(mut s) if s.next == nonce.saturating_add(One::one()) => {
					s.next = nonce;
					Ok(s)
				},
				_ => Err(()),
			},
		);
	}

	/// Lists the records claimed in this block, and deletes the records whose task ended (or is
	/// gone) long enough ago (see the module's documentation); one read and one write of the
	/// validator's list per block.
	fn clean_up(&self) {
		let claimed = core::mem::take(&mut *self.claimed.borrow_mut());
		// Another worker may write the list at the same moment (compare-and-set): try again
		// with what it wrote, so that this block's records are listed.
		for _ in 0..3 {
			let mut legacy = false;
			let mut done = Vec::new();
			let written = StorageValueRef::persistent(&self.tracked_key()).mutate(
				|stored: Result<Option<Vec<Tracked>>, StorageRetrievalError>| {
					let tracked = match stored.ok().flatten() {
						Some(tracked) => tracked,
						None => {
							legacy = true;
							self.legacy_list()
						},
					};
					Ok::<_, ()>(self.sweep(tracked, claimed.clone(), &mut done))
				},
			);
			if written.is_ok() {
				if legacy {
					StorageValueRef::persistent(&storage_key(b"tracked/", &self.validator)).clear();
				}
				for entry in done {
					StorageValueRef::persistent(&self.record_key(entry.task_id, entry.fingerprint))
						.clear();
				}
				return;
			}
		}
		// This block's records stay unlisted (rare: three concurrent writers in a row): a record
		// whose task needs another step is listed when that step claims it; the others stay on
		// disk until the node's off-chain database is cleared.
		log::warn!(
			target: LOG_TARGET,
			"could not update the list of task records of {:?}: {} record(s) left unlisted",
			self.validator,
			claimed.len()
		);
	}

	/// The list `tracked` with this block's `claimed` records added and the records that are
	/// no longer needed moved to `done`, at most [`MAX_TRACKED`] of them kept.
	fn sweep(
		&self,
		mut tracked: Vec<Tracked>,
		claimed: Vec<Tracked>,
		done: &mut Vec<Tracked>,
	) -> Vec<Tracked> {
		let now = self.now;
		let ttl: u64 = T::ResultTtl::get().saturated_into();
		for new in claimed {
			if !tracked.iter().any(|t| t.task_id == new.task_id && t.fingerprint == new.fingerprint)
			{
				tracked.push(new);
			}
		}
		let mut keep = Vec::with_capacity(tracked.len());
		let mut ended = Vec::new();
		for mut entry in tracked {
			let here = Tasks::<T>::get(entry.task_id)
				.filter(|task| task.created_at.saturated_into::<u64>() == entry.created_at);
			match here.map(|task| task.status.ended_at().map(|at| (*at).saturated_into::<u64>())) {
				// Open on this chain: kept, whatever the age.
				Some(None) => {
					entry.seen_open = entry.seen_open.max(now);
					keep.push(entry);
				},
				Some(Some(at)) if now >= at.saturating_add(RECORD_GRACE) => done.push(entry),
				Some(Some(_)) => ended.push(entry),
				// Gone from this chain: expired (it ended `ResultTtl` ago or more), or
				// another fork's.
				None if now >= entry.seen_open.saturating_add(ttl).saturating_add(RECORD_GRACE) => {
					done.push(entry)
				},
				None => ended.push(entry),
			}
		}
		// Past the bound, forget ended tasks first, then the longest unseen open ones.
		let excess = keep.len().saturating_add(ended.len()).saturating_sub(MAX_TRACKED);
		if excess > 0 {
			ended.sort_by_key(|t| t.seen_open);
			keep.sort_by_key(|t| t.seen_open);
			let from_ended = excess.min(ended.len());
			done.extend(ended.drain(..from_ended));
			let from_open = excess.saturating_sub(from_ended);
			log::error!(
				target: LOG_TARGET,
				"more than {MAX_TRACKED} task records for {:?}: forgetting {excess}, \
				 {from_open} of them for open tasks",
				self.validator
			);
			done.extend(keep.drain(..from_open.min(keep.len())));
		}
		keep.append(&mut ended);
		keep
	}

	fn record_key(&self, task_id: TaskId, fingerprint: Fingerprint) -> Vec<u8> {
		storage_key(b"task/", &(&self.validator, task_id, fingerprint))
	}

	fn tracked_key(&self) -> Vec<u8> {
		storage_key(b"records/", &self.validator)
	}

	/// The list of a node that ran the worker before records lived as long as their task:
	/// `(task, fingerprint, block the record was made in)` under `tracked/`, converted (a task
	/// open here counts as this record's), so that its records are cleaned up too; removed once
	/// the new list is written.
	fn legacy_list(&self) -> Vec<Tracked> {
		let key = storage_key(b"tracked/", &self.validator);
		let Ok(Some(old)) =
			StorageValueRef::persistent(&key).get::<Vec<(TaskId, Fingerprint, u64)>>()
		else {
			return Vec::new();
		};
		old.into_iter()
			.map(|(task_id, fingerprint, made_at)| Tracked {
				task_id,
				fingerprint,
				created_at: Tasks::<T>::get(task_id)
					.map_or(u64::MAX, |task| task.created_at.saturated_into()),
				seen_open: made_at,
			})
			.collect()
	}

	fn nonce_key(&self) -> Vec<u8> {
		storage_key(b"nonce/", &self.signer)
	}
}

/// `PREFIX ‖ kind ‖ SCALE(key)`.
pub fn storage_key(kind: &[u8], key: &impl Encode) -> Vec<u8> {
	let mut out = Vec::with_capacity(PREFIX.len().saturating_add(kind.len()).saturating_add(48));
	out.extend_from_slice(PREFIX);
	out.extend_from_slice(kind);
	key.encode_to(&mut out);
	out
}

/// `entries` split, in order, into batches of at most `MaxBatch` entries for which `fits` holds
/// (an entry that does not fit even alone goes in a batch of its own).
pub(crate) fn batches<T: Config, E>(entries: Vec<E>, fits: impl Fn(&[E]) -> bool) -> Vec<Vec<E>> {
	let max = usize::try_from(T::MaxBatch::get()).unwrap_or(usize::MAX).max(1);
	let mut out: Vec<Vec<E>> = Vec::new();
	let mut current: Vec<E> = Vec::new();
	for entry in entries {
		current.push(entry);
		if current.len() > max || (current.len() > 1 && !fits(&current)) {
			if let Some(last) = current.pop() {
				out.push(core::mem::take(&mut current));
				current.push(last);
			}
		}
	}
	if !current.is_empty() {
		out.push(current);
	}
	out
}

/// Blocks a commit submitted after an execution needs to land before the commit deadline: one
/// for the pool, one for inclusion.
const COMMIT_LANDING: u64 = 2;

/// Blocks a commit claim of `task_id`, not yet executed, keeps other workers from executing it:
/// [`RESUBMIT_AFTER`], plus, for a causal language model, the blocks (of [`MIN_BLOCK_MS`]) its
/// longest generation may take here.
fn execution_hold<T: Config>(task_id: TaskId) -> u64 {
	let generation_blocks = Tasks::<T>::get(task_id)
		.and_then(|task| {
			let params = T::Models::model_params(task.model_id)?;
			generation_ms::<T>(task.model_id, &params.generation()?, true)
		})
		.map_or(0, |ms| ms.div_ceil(MIN_BLOCK_MS));
	RESUBMIT_AFTER.saturating_add(generation_blocks)
}

/// Milliseconds the longest generation of `model` (`max_new_tokens`) may take on this node:
/// its last measured time per generated token (prefill included) times `max_new_tokens`; with
/// no measurement, [`DEFAULT_MS_PER_TOKEN`]'s if `or_default`, else `None`.
pub fn generation_ms<T: Config>(
	model: ModelId,
	generation: &opg_primitives::models::GenerationParams,
	or_default: bool,
) -> Option<u64> {
	let measured =
		StorageValueRef::persistent(&storage_key(b"speed/", &model)).get::<u64>().ok().flatten();
	let per_token = measured.or(or_default.then_some(DEFAULT_MS_PER_TOKEN))?;
	Some(per_token.saturating_mul(u64::from(generation.max_new_tokens)))
}

/// Records this node's speed on `model` from a generation that took `took` ms: milliseconds
/// per generated token (at least one token counted), kept in the node's persistent off-chain
/// storage for [`generation_ms`].
fn note_generation_speed(
	model: ModelId,
	took: u64,
	outcomes: &[Result<TaskOutcome<Vec<u8>>, InferenceError>],
) {
	let tokens: u64 = outcomes
		.iter()
		.filter_map(|outcome| match outcome {
			Ok(TaskOutcome::Output(output)) => {
				opg_primitives::models::Generation::decode_output(output)
					.map(|generation| u64::try_from(generation.tokens.len()).unwrap_or(u64::MAX))
			},
			_ => None,
		})
		.sum();
	if tokens == 0 {
		// A rejection or a failure says nothing about the speed of a generation.
		return;
	}
	let per_token = took.div_ceil(tokens).max(1);
	StorageValueRef::persistent(&storage_key(b"speed/", &model)).set(&per_token);
}

/// An input's share of an engine batch's cost: its length (a batch is padded to its longest
/// input), at least 1.
fn padded_len(input: &[u8]) -> u64 {
	u64::try_from(input.len()).unwrap_or(u64::MAX).max(1)
}

/// What a worker declines a task for, after its execution failed with `error`.
pub fn decline_reason(error: InferenceError) -> DeclineReason {
	match error {
		InferenceError::MissingModel | InferenceError::CorruptModel => DeclineReason::MissingFiles,
		InferenceError::Unavailable
		| InferenceError::Unsupported
		| InferenceError::InvalidModel => DeclineReason::Unsupported,
		InferenceError::InvalidInput
		| InferenceError::Timeout
		| InferenceError::Failed
		| InferenceError::Rejected(_) => DeclineReason::ExecutionFailed,
	}
}

/// A record in a validator's list of records (see [`Worker::clean_up`]).
#[derive(Clone, PartialEq, Eq, Encode, Decode, Debug)]
pub struct Tracked {
	/// The task.
	pub task_id: TaskId,
	/// Its fingerprint (the record's key).
	pub fingerprint: Fingerprint,
	/// The task's creation block, which tells it from another fork's task of the same id.
	pub created_at: u64,
	/// The last block in which a worker saw the task open.
	pub seen_open: u64,
}

/// The fingerprint of a task's content (see [`Fingerprint`]). For a model that samples, the
/// task's [`sampling_seed`] too: the same request included in two forks' blocks of one height
/// draws other tokens on each, so an output generated on one fork must not be reused on the
/// other.
pub fn fingerprint<T: Config>(task_id: TaskId, task: &TaskInfoOf<T>, input: &[u8]) -> Fingerprint {
	let content = (task_id, task.model_id, &task.requester, task.created_at, input);
	let samples = T::Models::model_params(task.model_id)
		.and_then(|params| params.generation())
		.is_some_and(|generation| matches!(generation.decoding, Decoding::Sample { .. }));
	if samples {
		sp_io::hashing::blake2_256(&(content, sampling_seed::<T>(task_id, task)).encode())
	} else {
		sp_io::hashing::blake2_256(&content.encode())
	}
}

/// The records the worker of `validator` keeps, oldest first (for tests and operators' tools).
pub fn task_records<T: Config>(validator: &T::AccountId) -> Vec<(TaskId, TaskRecord)> {
	let tracked = StorageValueRef::persistent(&storage_key(b"records/", validator))
		.get::<Vec<Tracked>>()
		.ok()
		.flatten()
		.unwrap_or_default();
	tracked
		.into_iter()
		.filter_map(|t| {
			StorageValueRef::persistent(&storage_key(
				b"task/",
				&(validator, t.task_id, t.fingerprint),
			))
			.get::<TaskRecord>()
			.ok()
			.flatten()
			.map(|record| (t.task_id, record))
		})
		.collect()
}
