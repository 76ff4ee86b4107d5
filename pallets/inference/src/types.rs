//! Types stored and emitted by the inference pallet.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use opg_primitives::staking::SlashReason;
use opg_primitives::{
	inference::{Rejection, TaskId},
	models::{ComparisonRule, ModelId, OutputDigest, TokenFees},
};
use scale_info::TypeInfo;
use sp_core::H256;
use sp_runtime::Perbill;

/// Why a task failed. Its escrow is refunded in full whatever the reason.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum FailReason {
	/// At assignment, fewer eligible validators served the model than the task's redundancy.
	#[codec(index = 0)]
	NotEnoughExecutors,
	/// Fewer matching results than the quorum (too few commits by the commit deadline, too few
	/// reveals by the reveal deadline, or disagreeing results).
	#[codec(index = 1)]
	NoQuorum,
	/// The block randomness that assignment needs stayed unavailable for `MaxAssignmentDelay`
	/// blocks.
	#[codec(index = 2)]
	NoRandomness,
	/// No executor committed by the commit deadline. Nobody is slashed: the evidence cannot tell
	/// an input or model that no node could run from executors that would not.
	#[codec(index = 3)]
	NoCommits,
	/// The agenda fell behind the task's plan (only after a runtime upgrade raised the weight of
	/// agenda items admitted before it; see [`crate::agenda`]), so that its executors would have
	/// had less time than the periods promise; or its assignment, postponed for lack of
	/// randomness, found no room in the next block's agenda. Nobody is slashed.
	#[codec(index = 4)]
	AgendaFull,
}

/// Where a task is in its life.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum TaskStatus<BlockNumber> {
	/// Requested; executors are drawn at the start of block `assign_at`.
	#[codec(index = 0)]
	Queued {
		/// Block whose randomness draws the executors.
		assign_at: BlockNumber,
	},
	/// Executors assigned; commits accepted before `commit_deadline`.
	#[codec(index = 1)]
	Committing {
		/// First block in which commits are refused.
		commit_deadline: BlockNumber,
	},
	/// Commits closed; reveals accepted before `reveal_deadline`.
	#[codec(index = 2)]
	Revealing {
		/// First block in which reveals are refused.
		reveal_deadline: BlockNumber,
	},
	/// A quorum agreed on an output with this canonical digest.
	#[codec(index = 3)]
	Settled {
		/// Canonical digest of the accepted output.
		digest: OutputDigest,
		/// Block of settlement.
		at: BlockNumber,
	},
	/// No result; the escrow was refunded.
	#[codec(index = 4)]
	Failed {
		/// Why.
		reason: FailReason,
		/// Block of failure.
		at: BlockNumber,
	},
	/// Cancelled by the requester before any commit; the escrow was refunded.
	#[codec(index = 5)]
	Cancelled {
		/// Block of cancellation.
		at: BlockNumber,
	},
	/// A quorum agreed that the model refuses the input; the executors were paid.
	#[codec(index = 6)]
	Rejected {
		/// Why the model refuses it.
		rejection: Rejection,
		/// Block of settlement.
		at: BlockNumber,
	},
}

impl<BlockNumber> TaskStatus<BlockNumber> {
	/// Whether the task still holds escrow and can change.
	pub fn is_open(&self) -> bool {
		matches!(self, Self::Queued { .. } | Self::Committing { .. } | Self::Revealing { .. })
	}

	/// The block in which the task ended; `None` while it is open.
	pub fn ended_at(&self) -> Option<&BlockNumber> {
		match self {
			Self::Queued { .. } | Self::Committing { .. } | Self::Revealing { .. } => None,
			Self::Settled { at, .. }
			| Self::Failed { at, .. }
			| Self::Cancelled { at }
			| Self::Rejected { at, .. } => Some(at),
		}
	}
}

/// One assigned executor and what it submitted.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct Executor<AccountId> {
	/// The validator.
	pub who: AccountId,
	/// Its commitment, once committed.
	pub commitment: Option<H256>,
	/// The canonical digest of its revealed output, once revealed.
	pub revealed: Option<OutputDigest>,
}

/// An inference task.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(MaxExecutors))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct TaskInfo<AccountId, Balance, BlockNumber, MaxExecutors: Get<u32>>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// Who asked and pays.
	pub requester: AccountId,
	/// The model to run.
	pub model_id: ModelId,
	/// How outputs are compared (the model's rule at request time).
	pub comparison: ComparisonRule,
	/// Executors the task asks for.
	pub redundancy: u32,
	/// Matching results that settle it.
	pub quorum: u32,
	/// What each executor of the quorum is paid.
	pub fee_per_executor: Balance,
	/// What the protocol takes on settlement.
	pub protocol_fee: Balance,
	/// Held from the requester while the task is open: `fee_per_executor × redundancy +
	/// protocol_fee`.
	pub escrow: Balance,
	/// Block of the request.
	pub created_at: BlockNumber,
	/// Phase, or outcome.
	pub status: TaskStatus<BlockNumber>,
	/// Assigned executors, in the order they were drawn (a replacement after those drawn
	/// before it). An executor that declines leaves this list.
	pub executors: BoundedVec<Executor<AccountId>, MaxExecutors>,
	/// Executors that declined the task, in order: never drawn for it again. At most
	/// `MaxExecutors`; a decline beyond that is accepted without a replacement.
	pub declined: BoundedVec<AccountId, MaxExecutors>,
	/// Replacement draws scheduled (one per decline) and not yet made. While any is pending the
	/// commit phase does not close early.
	pub replacements_pending: u32,
	/// Servers the model declared at the request: assignment and replacement draws scan at
	/// most this many (the agenda reserved their weight for it, see [`crate::agenda`]).
	pub servers: u32,
	/// Where the task's agenda items fall due, planned (and their weight reserved) at the
	/// request.
	pub plan: TaskPlan<BlockNumber>,
}

/// The blocks of a task's agenda items, fixed when the request is admitted: the agenda reserved
/// each item's worst-case weight in its block (see [`crate::agenda`]). A postponed assignment
/// plans anew.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Default,
)]
pub struct TaskPlan<BlockNumber> {
	/// The executors are drawn at the end of this block.
	pub assign_at: BlockNumber,
	/// `assign_at + CommitPeriod`: commits are accepted before this block.
	pub commit_deadline: BlockNumber,
	/// `commit_deadline + RevealPeriod`: reveals are accepted before this block, also when
	/// reveals opened early (every executor committed).
	pub reveal_deadline: BlockNumber,
	/// The ended task's record and result are pruned at this block: `reveal_deadline +
	/// ResultTtl`, or a little later when that block's agenda was full.
	pub expires_at: BlockNumber,
}

/// The agenda work reserved in one block: the worst-case weight of its items (less what
/// items that ended early gave back) and how many items it holds.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Default,
)]
pub struct BlockLoad {
	/// Reserved weight.
	pub weight: frame_support::weights::Weight,
	/// Items scheduled (stale ones included, until the block is processed).
	pub items: u32,
}

impl<AccountId, Balance, BlockNumber, MaxExecutors: Get<u32>>
	TaskInfo<AccountId, Balance, BlockNumber, MaxExecutors>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// Position of `who` among the executors.
	pub fn executor_index(&self, who: &AccountId) -> Option<usize> {
		self.executors.iter().position(|executor| executor.who == *who)
	}

	/// Executors that committed.
	pub fn commits(&self) -> u32 {
		count(self.executors.iter().filter(|executor| executor.commitment.is_some()))
	}

	/// Executors that revealed.
	pub fn reveals(&self) -> u32 {
		count(self.executors.iter().filter(|executor| executor.revealed.is_some()))
	}
}

fn count<I: Iterator>(iter: I) -> u32 {
	u32::try_from(iter.count()).unwrap_or(u32::MAX)
}

/// The published result of a settled task: what its quorum attests, and one member's raw output.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[codec(mel_bound(AccountId: MaxEncodedLen, Canonical: MaxEncodedLen, Output: MaxEncodedLen))]
pub struct SettledResult<AccountId, Canonical, Output>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Canonical: Clone + PartialEq + Eq + core::fmt::Debug,
	Output: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// The attested result: the canonical form of the quorum's outputs under the task's
	/// comparison rule (`ComparisonRule::canonical_output`), whose blake2-256 is the digest
	/// every member of the quorum committed to and revealed. Under `Tokens`, the generation
	/// itself (its strict SCALE encoding): the prompt's length, the token ids and their text.
	pub canonical: Canonical,
	/// The raw output revealed by `publisher` (little-endian `f32` values, or a generation's
	/// SCALE encoding). It canonicalises to `canonical`; beyond that (digits below a
	/// `Quantized` rule's precision, the scores behind an `Argmax`) it is that one member's
	/// values, attested by no one else. (A generation's raw output is its canonical form.)
	pub output: Output,
	/// The quorum member whose raw output is published: the first of the quorum's members in
	/// the task's draw order (`TaskInfo::executors`), whatever the order of the reveals.
	pub publisher: AccountId,
}

/// Why an executor declines a task (see [`Pallet::decline`](crate::Pallet::decline)).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum DeclineReason {
	/// The model's files are not in the node's store, or fail their hash check.
	#[codec(index = 0)]
	MissingFiles,
	/// The node does not run this model's format or architecture, or its files are invalid.
	#[codec(index = 1)]
	Unsupported,
	/// The node has more tasks than it can execute before their commit deadlines.
	#[codec(index = 2)]
	Overloaded,
	/// The execution hit a limit of the node (time, input size) or failed.
	#[codec(index = 3)]
	ExecutionFailed,
}

/// Scheduled work for `on_finalize`. Items carry only the task id: each checks the task's
/// current state, so an item made stale by an earlier transition (all commits in before the
/// commit deadline, a cancellation) does nothing.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	PartialOrd,
	Ord,
)]
pub enum AgendaItem {
	/// Draw the task's executors.
	#[codec(index = 0)]
	Assign(TaskId),
	/// Close the commit phase.
	#[codec(index = 1)]
	CommitDeadline(TaskId),
	/// Close the reveal phase and settle.
	#[codec(index = 2)]
	RevealDeadline(TaskId),
	/// Prune an ended task's record and result.
	#[codec(index = 3)]
	Expire(TaskId),
	/// Draw one executor in place of one that declined.
	#[codec(index = 4)]
	Replace(TaskId),
}

/// A validator's offence span: from its first slashed fault, `OffenceWindow` blocks in which
/// only the largest slash applies (as polkadot-sdk's slashing spans do). A later fault with a
/// larger slash takes only the difference; one with a smaller or equal slash takes nothing.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct OffenceSpan<BlockNumber> {
	/// Block of the fault that opened the span.
	pub start: BlockNumber,
	/// The largest slash of the span, as a share of the validator's stake at its start.
	pub fraction: Perbill,
	/// The fault of that slash.
	pub reason: SlashReason,
	/// The task of that fault.
	pub task_id: TaskId,
}

/// What a task of a causal language model with token fees pays each paid executor on top of its
/// `fee_per_executor`, fixed at the request: the model's prices then, and the token counts its
/// escrow covers (the model's limits). Settlement charges the settled generation's counts, at
/// most these, and refunds the rest (see [`crate::settlement`]).
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct TokenCharge<Balance> {
	/// Prices per prompt token and per generated token.
	pub prices: TokenFees<Balance>,
	/// Prompt tokens the escrow covers: the model's `max_prompt_tokens`.
	pub max_prompt_tokens: u32,
	/// Generated tokens the escrow covers: the model's `max_new_tokens`.
	pub max_new_tokens: u32,
}

impl<Balance: sp_runtime::traits::CheckedAdd + sp_runtime::traits::CheckedMul + From<u32>>
	TokenCharge<Balance>
{
	/// The most it charges an executor: the prices of the longest prompt and generation (what
	/// the escrow holds on top of `fee_per_executor`); `None` on overflow.
	pub fn max(&self) -> Option<Balance> {
		self.prices.charge(self.max_prompt_tokens, self.max_new_tokens)
	}

	/// What it charges an executor for a generation of `generated` tokens from a prompt of
	/// `prompt` tokens, each count capped at what the escrow covers; `None` on overflow (never
	/// when [`Self::max`] does not overflow).
	pub fn for_counts(&self, prompt: u32, generated: u32) -> Option<Balance> {
		self.prices.charge(prompt.min(self.max_prompt_tokens), generated.min(self.max_new_tokens))
	}
}

/// Buckets of [`ModelRecord::settle_blocks`]: the last one counts every task that took at least
/// `SETTLE_BUCKETS - 1` blocks.
pub const SETTLE_BUCKETS: usize = 64;

/// A validator's reliability record: how it fared on the tasks it was drawn for (see
/// [`crate::records`] for the exact code path behind each counter). Every counter is
/// cumulative and saturates at `u32::MAX`. Each task counts at most once in each counter, and
/// one executor's part in a task lands in at most one of `committed`, `declined` and
/// `missed_commits`, in at most one of `revealed` and `missed_reveals`, and in at most one of
/// `agreed` and `mismatched`, so that `committed + declined + missed_commits <= assigned`,
/// `revealed + missed_reveals <= committed` and `agreed + mismatched <= revealed`.
///
/// SCALE: the nine `u32` in declaration order, then `slashed`.
#[derive(
	Clone,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Default,
)]
pub struct ReliabilityRecord<Balance> {
	/// Times it was drawn as an executor of a task: at assignment (`TaskAssigned`) or in place
	/// of an executor that declined (`ExecutorReplaced`).
	pub assigned: u32,
	/// Commitments it made (`ResultCommitted`).
	pub committed: u32,
	/// Commitments it revealed, whatever the task's outcome (`ResultRevealed`).
	pub revealed: u32,
	/// Reveals of the digest the quorum settled on, in a settled or rejected task: the
	/// executors paid for it (`ExecutorRewarded`, unless the staking side refused the reward
	/// because the validator had left; the fee then went back to the requester).
	pub agreed: u32,
	/// Reveals of another digest than the quorum's, in a settled or rejected task: faults
	/// charged `SlashReason::Mismatch` (`ExecutorSlashed` or `OffenceCovered`). Revealers of a
	/// task that ends without a quorum count as `revealed` only: there is no majority to
	/// dissent from, and the chain charges nobody.
	pub mismatched: u32,
	/// Tasks it was drawn for and never committed to while at least a quorum of the task's
	/// executors did: faults charged `SlashReason::NoShow` (`ExecutorSlashed` or
	/// `OffenceCovered`). An executor that did not commit to a task with fewer commits than
	/// its quorum (the task fails with `NoCommits` or `NoQuorum` at its commit deadline), to a
	/// task failed for `AgendaFull`, or to a task its requester cancelled is not counted here:
	/// the chain has no evidence that it was at fault, and charges nothing.
	pub missed_commits: u32,
	/// Commitments it never revealed by the reveal deadline: faults charged
	/// `SlashReason::Withheld` (`ExecutorSlashed` or `OffenceCovered`), whether the task
	/// settled or failed.
	pub missed_reveals: u32,
	/// Tasks it declined before committing (`TaskDeclined`), replaced or not.
	pub declined: u32,
	/// Slashes that took stake (`ExecutorSlashed`; a fault covered by the offence span's
	/// earlier, larger slash, `OffenceCovered`, is not one). At most `mismatched +
	/// missed_commits + missed_reveals`.
	pub slashes: u32,
	/// Total of those slashes' `amount`s: the stake taken from the validator and its
	/// delegators (saturating).
	pub slashed: Balance,
}

/// One slash of a validator, as [`ValidatorSlashes`](crate::ValidatorSlashes) keeps it: the
/// fields of its `ExecutorSlashed` event, and its block.
///
/// SCALE: `task_id`, `reason`, `amount`, `at`.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct SlashRecord<Balance, BlockNumber> {
	/// The task of the fault.
	pub task_id: TaskId,
	/// The fault.
	pub reason: SlashReason,
	/// Stake taken (from the validator and its delegators).
	pub amount: Balance,
	/// Block of the slash: the task's settlement or failure.
	pub at: BlockNumber,
}

/// A model's request figures (see [`crate::records`]). Counters are cumulative and saturate
/// at `u32::MAX`; every counted request ends in exactly one of `settled`, `rejected`, `failed`
/// and `cancelled`, so `requests` less their sum is the model's open tasks (of those counted:
/// see [`RecordsSince`](crate::RecordsSince)).
///
/// SCALE: the five `u32` in declaration order, then the 64 `u32` of `settle_blocks` (an array:
/// no length prefix).
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct ModelRecord {
	/// Tasks requested (`TaskCreated`).
	pub requests: u32,
	/// Tasks settled on an output (`TaskSettled`).
	pub settled: u32,
	/// Tasks settled on the model's rejection of the input (`TaskRejected`).
	pub rejected: u32,
	/// Tasks failed, for any [`FailReason`] (`TaskFailed`).
	pub failed: u32,
	/// Tasks cancelled by their requester (`TaskCancelled`).
	pub cancelled: u32,
	/// Histogram of the blocks from the request (`TaskInfo::created_at`) to the block of
	/// settlement or rejection: bucket `min(blocks, 63)` counts each settled or rejected task,
	/// so the buckets sum to `settled + rejected`. A client finds the median (any quantile)
	/// exactly when it falls below 63 blocks, by walking the buckets until their running sum
	/// reaches half the total; bucket 63 only says "63 blocks or more".
	pub settle_blocks: [u32; SETTLE_BUCKETS],
}

impl Default for ModelRecord {
	fn default() -> Self {
		Self {
			requests: 0,
			settled: 0,
			rejected: 0,
			failed: 0,
			cancelled: 0,
			settle_blocks: [0; SETTLE_BUCKETS],
		}
	}
}
