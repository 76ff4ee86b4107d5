//! Inference tasks: a dApp pays for an inference, staked validators chosen at random by stake run
//! it, commit and reveal their results, and the chain settles on the quorum's output.
//!
//! ## Overview
//!
//! 1. [`request_inference`](Pallet::request_inference): the requester names an `Active` model of
//!    `pallet-models` and an input, which must fit the model's declared
//!    [`InputKind`](opg_primitives::models::InputKind) (length, UTF-8, size); the fee
//!    (`fee_per_executor × redundancy`, plus `ProtocolFee` of that; for a causal language model
//!    with token fees, each executor's share also holds the fees of the longest prompt and
//!    generation) is held from it with [`HoldReason::Escrow`]. `TaskCreated`.
//! 2. Assignment, at the end of the *next* block, or of a later one when the agenda is full
//!    (see [`agenda`]; `on_finalize`, after BABE's): `redundancy`
//!    distinct eligible validators serving the model are drawn with probability proportional to
//!    their stake, seeded by that block's BABE VRF output mixed with the task id (see
//!    [`assignment`]). `TaskAssigned`.
//! 3. [`commit_result`](Pallet::commit_result): each executor commits to
//!    [`commitment`](opg_primitives::inference::commitment)`(digest, salt, executor)` before the
//!    commit deadline. When every executor has committed the reveal phase opens at once.
//! 4. [`reveal_result`](Pallet::reveal_result): executors that committed reveal their outcome,
//!    the raw output or the model's deterministic
//!    [`Rejection`](opg_primitives::inference::Rejection) of the input, and the salt; the chain
//!    computes the digest with the model's comparison rule and checks the commitment. When every
//!    committer has revealed, the task settles at once.
//! 5. Settlement (or at the reveal deadline, see [`settlement`]): reveals are grouped by digest;
//!    a group of at least `quorum` settles the task (`TaskSettled`, or `TaskRejected` when the
//!    group revealed a rejection): each member is paid `fee_per_executor` (plus the token fees
//!    of the settled generation's prompt and generated tokens, see [`settlement`]) through the
//!    staking pallet (commission, then delegators pro rata), the protocol fee goes to
//!    `ProtocolFeeDestination` and the rest of the escrow returns to the requester. Members of
//!    other groups, committers that never revealed and executors that never committed are
//!    charged as [`offences`] describes: at most one slash per validator per offence span.
//!    Without a quorum the task fails and the whole escrow is refunded; no dissenter is slashed
//!    (there is no majority to dissent from), and when nobody committed nobody is.
//! 6. Ended tasks (settled, failed, cancelled) keep their record and result until `ResultTtl`
//!    blocks after their planned reveal deadline, then are pruned.
//!
//! The requester may [`cancel`](Pallet::cancel) a task before any executor has committed.
//!
//! ## Off-chain execution
//!
//! Validators do not sign their commits and reveals by hand: their nodes' off-chain workers do
//! (see [`offchain`]). A validator links an inference key (key type
//! [`opgi`](opg_primitives::execution::KEY_TYPE), kept in its node's keystore) with
//! [`set_inference_key`](Pallet::set_inference_key), proving with the key's signature of
//! [`Pallet::key_proof_payload`] that it holds the key (see [`keys`]); that key's account may
//! then commit and reveal for it. On every block the worker runs the model of each task assigned to the
//! validator through the node's inference host function, keeps the output and salt in the
//! node's persistent off-chain storage, commits, and reveals once reveals open.
//!
//! ## Bounded work
//!
//! Deadlines, assignments, replacement draws and pruning are items of a per-block [`Agenda`].
//! A request is admitted only when each item it causes fits the weight budget of the block where
//! it falls due, and reserves its worst case there ([`AgendaLoad`]), and when its assignment
//! block has fewer than `MaxDrawsPerBlock` draws planned ([`AgendaDraws`]), so that no executor
//! is ever given more tasks in a block than its node is built to run; otherwise it fails with
//! `AgendaFull`. `on_initialize` reserves the block's load and `on_finalize` runs its items, so
//! every admitted item runs in the block it was planned for (see [`agenda`]). Nothing iterates
//! over all tasks or validators: drawing an executor costs `O(log MaxValidators)` (a Fenwick
//! tree in the staking pallet).
//!
//! ## Reads
//!
//! The [`opg_primitives::runtime_api::InferenceApi`] runtime API (implemented by the runtime
//! with [`Pallet::task`], [`Pallet::task_input`], [`Pallet::task_result`] and
//! [`Pallet::pending_tasks`]), and the storage items [`Tasks`], [`TaskResults`].
//!
//! For an explorer without an indexer, [`records`] keeps cumulative counters: each validator's
//! reliability record ([`ValidatorRecords`]) and latest slashes ([`ValidatorSlashes`]), and each
//! model's request figures ([`ModelStats`]).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

pub mod agenda;
pub mod assignment;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(any(test, feature = "try-runtime"))]
mod invariants;
pub mod keys;
pub mod migrations;
pub mod offchain;
pub mod offences;
pub mod reads;
pub mod records;
pub mod settlement;
pub mod types;
pub mod weights;

// Overflow in a test is a failed test, not a halted chain (as `clippy.toml` allows `unwrap` and
// indexing in tests).
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod mock;
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests;

pub use opg_primitives::inference::TaskId;

/// Log target of this pallet.
pub const LOG_TARGET: &str = "runtime::inference";

/// Sets up what the benchmarks need beyond this pallet: a registered model, validators, and
/// inference keys that sign.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId, Balance, Signature> {
	/// Registers an active model owned by `owner` with `redundancy` executors per task, the
	/// majority quorum, `fee_per_executor` and `comparison`; returns its id.
	fn create_model(
		owner: &AccountId,
		redundancy: u32,
		fee_per_executor: Balance,
		comparison: opg_primitives::models::ComparisonRule,
	) -> opg_primitives::models::ModelId;
	/// Makes `who` an eligible validator with `weight` times the minimum own bond (funding it),
	/// serving `model_id` if given.
	fn make_validator(
		who: &AccountId,
		weight: u32,
		model_id: Option<opg_primitives::models::ModelId>,
	);
	/// Makes `who` ineligible for tasks (chilled) while it stays a validator.
	fn make_ineligible(who: &AccountId);
	/// Records faults of the validator `who` (no stake taken) until its next fault jails it:
	/// the costliest slash the staking side has.
	fn prime_for_jail(who: &AccountId);
	/// The most validators the staking side can register.
	fn max_validators() -> u32;
	/// A new inference key (a different one on every call) and its signature of `payload`, as
	/// `set_inference_key` checks it: the runtime generates an `opgi` sr25519 key in the
	/// benchmark's keystore.
	fn inference_key(payload: &[u8]) -> (AccountId, Signature);
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		dispatch::{Pays, PostDispatchInfo},
		pallet_prelude::*,
		traits::{
			fungible::{self, InspectHold, MutateHold},
			tokens::Precision,
			OnUnbalanced, Randomness,
		},
	};
	use frame_system::{offchain::AppCrypto, pallet_prelude::*};
	use opg_primitives::{
		inference::{commitment as commitment_of, Rejection, Salt, TaskOutcome},
		models::{InputMismatch, ModelId, ModelProvider, PendingTasksGuard},
		staking::InferenceStaking,
	};
	use sp_core::H256;
	use sp_runtime::{
		traits::{CheckedAdd, CheckedMul, IdentifyAccount, One, Saturating, Verify, Zero},
		Perbill, SaturatedConversion,
	};

	/// One entry of [`Pallet::reveal_results`]: a task, its outcome and the commitment's salt.
	pub type RevealEntry = (TaskId, TaskOutcome<Vec<u8>>, Salt);

	/// Amount of the fee token.
	pub type BalanceOf<T> = <<T as Config>::Currency as fungible::Inspect<
		<T as frame_system::Config>::AccountId,
	>>::Balance;
	/// Funds in flight: executor fees on their way to the staking pallet, the protocol fee.
	pub type CreditOf<T> =
		fungible::Credit<<T as frame_system::Config>::AccountId, <T as Config>::Currency>;
	/// A task as stored.
	pub type TaskInfoOf<T> = TaskInfo<
		<T as frame_system::Config>::AccountId,
		BalanceOf<T>,
		BlockNumberFor<T>,
		<T as Config>::MaxRedundancy,
	>;
	/// A task's input.
	pub type InputOf<T> = BoundedVec<u8, <T as Config>::MaxInputLen>;
	/// A revealed or settled output (little-endian `f32` values, or a SCALE-encoded
	/// `Generation` for a causal language model).
	pub type OutputOf<T> = BoundedVec<u8, <T as Config>::MaxOutputLen>;
	/// What a task pays each executor per token (see [`TokenCharge`]).
	pub type TokenChargeOf<T> = TokenCharge<BalanceOf<T>>;
	/// A revealed outcome: an output or a rejection.
	pub type OutcomeOf<T> = TaskOutcome<OutputOf<T>>;
	/// A settled output's canonical form (see [`SettledResult`]).
	pub type CanonicalOf<T> = BoundedVec<u8, CanonicalBound<T>>;
	/// A settled task's published result.
	pub type SettledResultOf<T> =
		SettledResult<<T as frame_system::Config>::AccountId, CanonicalOf<T>, OutputOf<T>>;

	/// The longest canonical form of an output: `2 × MaxOutputLen` (a `Quantized` rule maps
	/// each 4-byte `f32` to an 8-byte integer; the other rules never lengthen an output, and a
	/// generation's canonical form, its minimal re-encoding, is at most as long as the revealed
	/// bytes).
	pub struct CanonicalBound<T>(core::marker::PhantomData<T>);
	impl<T: Config> Get<u32> for CanonicalBound<T> {
		fn get() -> u32 {
			T::MaxOutputLen::get().saturating_mul(2)
		}
	}
	/// A validator's current offence span.
	pub type OffenceSpanOf<T> = OffenceSpan<BlockNumberFor<T>>;
	/// A validator's reliability record.
	pub type ReliabilityRecordOf<T> = ReliabilityRecord<BalanceOf<T>>;
	/// One of a validator's latest slashes.
	pub type SlashRecordOf<T> = SlashRecord<BalanceOf<T>, BlockNumberFor<T>>;
	/// A validator's latest slashes, oldest first.
	pub type SlashRecordsOf<T> = BoundedVec<SlashRecordOf<T>, <T as Config>::MaxSlashRecords>;
	/// The executors of a task.
	pub type ExecutorsOf<T> =
		BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxRedundancy>;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config:
		frame_system::Config<RuntimeEvent: From<Event<Self>>>
		+ frame_system::offchain::CreateSignedTransaction<Call<Self>>
		+ frame_system::offchain::SigningTypes<
			Signature: Parameter + Verify<Signer: IdentifyAccount<AccountId = Self::AccountId>>,
		>
	{
		/// The fee token. Escrow is held on the requester with [`HoldReason::Escrow`]; payments
		/// leave the hold with `BalancedHold::slash` as a credit (to the staking pallet and the
		/// protocol), refunds are released.
		type Currency: fungible::Inspect<Self::AccountId>
			+ fungible::Mutate<Self::AccountId>
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ fungible::BalancedHold<Self::AccountId>
			+ fungible::Balanced<Self::AccountId>;

		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;

		/// The model registry.
		type Models: ModelProvider<Self::AccountId, Balance = BalanceOf<Self>>;

		/// The staking side: eligibility, stake-weighted sampling, rewards and slashes.
		type Staking: InferenceStaking<
			Self::AccountId,
			Balance = BalanceOf<Self>,
			Credit = CreditOf<Self>,
		>;

		/// Randomness that draws executors, read in `on_finalize`. The runtime uses BABE's
		/// per-block VRF output, which after BABE's own `on_finalize` is the current block's
		/// (`pallet_babe::ParentBlockRandomness`, named for its value *during* block execution);
		/// `None` postpones assignment by a block.
		type Randomness: Randomness<Option<Self::Hash>, BlockNumberFor<Self>>;

		/// Share of the executor fees charged on top for the protocol, paid on settlement.
		#[pallet::constant]
		type ProtocolFee: Get<Perbill>;

		/// Receives protocol fees (the runtime's treasury).
		type ProtocolFeeDestination: OnUnbalanced<CreditOf<Self>>;

		/// Share of its stake (and its delegators') a validator loses when its revealed result
		/// disagrees with the quorum's.
		#[pallet::constant]
		type MismatchSlash: Get<Perbill>;

		/// Share of its stake a validator loses when it was assigned and never committed while
		/// other executors of the task did. (Committing and never revealing is charged
		/// `MismatchSlash`: withholding must not be cheaper than a wrong answer.)
		#[pallet::constant]
		type NoShowSlash: Get<Perbill>;

		/// Blocks an offence span lasts: from a validator's first slashed fault, every further
		/// fault within this many blocks is covered by that span, and only the largest slash
		/// of the span applies (see [`offences`]). At least the longest life of a task, so that
		/// one outage is one offence.
		#[pallet::constant]
		type OffenceWindow: Get<BlockNumberFor<Self>>;

		/// Longest input of a request, in bytes.
		#[pallet::constant]
		type MaxInputLen: Get<u32>;

		/// Longest revealed output, in bytes.
		#[pallet::constant]
		type MaxOutputLen: Get<u32>;

		/// Most executors of one task; at least the registry's largest redundancy.
		#[pallet::constant]
		type MaxRedundancy: Get<u32>;

		/// Blocks from assignment to the commit deadline.
		#[pallet::constant]
		type CommitPeriod: Get<BlockNumberFor<Self>>;

		/// Blocks an executor drawn in place of one that declined needs at least before the
		/// commit deadline: a decline later than that is not replaced. At least 2 (drawn at the
		/// end of a block, it commits in the next one at the earliest) and less than
		/// `CommitPeriod`.
		#[pallet::constant]
		type ReplacementWindow: Get<BlockNumberFor<Self>>;

		/// Blocks from the commit deadline to the reveal deadline (reveals that open early, every
		/// executor having committed, stay open until then).
		#[pallet::constant]
		type RevealPeriod: Get<BlockNumberFor<Self>>;

		/// Blocks an ended task's record and result are kept after its planned reveal deadline
		/// (at least this many after it ended).
		#[pallet::constant]
		type ResultTtl: Get<BlockNumberFor<Self>>;

		/// Blocks a request may wait for randomness before it fails with `NoRandomness`.
		#[pallet::constant]
		type MaxAssignmentDelay: Get<BlockNumberFor<Self>>;

		/// Most agenda items scheduled for one block.
		#[pallet::constant]
		type MaxAgendaItems: Get<u32>;

		/// Weight reserved for the agenda in a block with due items.
		#[pallet::constant]
		type AgendaWeight: Get<Weight>;

		/// Most executor draws planned for one block: task assignments and replacement draws
		/// (see [`AgendaDraws`]). A draw picks a validator at most once for its task, so no
		/// validator is drawn for more than this many tasks in one block, whatever its stake:
		/// it is the execution rate every validator's node must sustain, and the chain's
		/// ceiling in tasks a block. Requests beyond it queue for later blocks or are refused
		/// with `AgendaFull`; they never overload an executor.
		#[pallet::constant]
		type MaxDrawsPerBlock: Get<u32>;

		/// Draws from the stake tree per executor before assignment falls back to the bounded
		/// scan of the model's servers (see [`assignment`]).
		#[pallet::constant]
		type MaxSamplingAttempts: Get<u32>;

		/// Most tasks in one [`Pallet::commit_results`] or [`Pallet::reveal_results`].
		#[pallet::constant]
		type MaxBatch: Get<u32>;

		/// Slashes kept per validator in [`ValidatorSlashes`] (the latest ones); at least 1.
		#[pallet::constant]
		type MaxSlashRecords: Get<u32>;

		/// The executors' inference keys: the off-chain worker signs commits and reveals with
		/// each such key of its node's keystore that a validator linked with
		/// [`Pallet::set_inference_key`].
		type AuthorityId: AppCrypto<Self::Public, Self::Signature>;

		/// Weights of this pallet's calls and agenda items.
		type WeightInfo: WeightInfo;

		/// Sets up models, validators and inference keys for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<
			Self::AccountId,
			BalanceOf<Self>,
			<Self as frame_system::offchain::SigningTypes>::Signature,
		>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The fee of an open inference task, held from its requester until it ends.
		#[codec(index = 0)]
		Escrow,
	}

	/// The id the next task gets.
	#[pallet::storage]
	pub type NextTaskId<T> = StorageValue<_, TaskId, ValueQuery>;

	/// Tasks, open or ended and not yet expired (see [`TaskPlan::expires_at`]).
	///
	/// `Twox64Concat`: ids are assigned sequentially by this pallet; users cannot choose keys.
	#[pallet::storage]
	pub type Tasks<T: Config> = StorageMap<_, Twox64Concat, TaskId, TaskInfoOf<T>, OptionQuery>;

	/// Inputs of open tasks (dropped when the task ends). Key: see [`Tasks`].
	#[pallet::storage]
	pub type TaskInputs<T: Config> = StorageMap<_, Twox64Concat, TaskId, InputOf<T>, OptionQuery>;

	/// Settled results (the quorum's canonical output and one member's raw output), kept as long
	/// as their task. Key: see [`Tasks`].
	#[pallet::storage]
	pub type TaskResults<T: Config> =
		StorageMap<_, Twox64Concat, TaskId, SettledResultOf<T>, OptionQuery>;

	/// What tasks of causal language models with token fees pay each executor per token, fixed
	/// at their request; absent for every other task. Kept as long as the task (pruned at its
	/// expiry). Key: see [`Tasks`].
	#[pallet::storage]
	pub type TaskTokenCharges<T: Config> =
		StorageMap<_, Twox64Concat, TaskId, TokenChargeOf<T>, OptionQuery>;

	/// For each distinct digest revealed in a task's reveal phase, the outcome (output or
	/// rejection) of the revealer of that digest that comes first in the task's draw order, with
	/// its position there: the quorum's becomes the published result, the others are dropped at
	/// settlement.
	///
	/// Task ids: see [`Tasks`]. `Blake2_128Concat` on digests: executors choose their outputs.
	#[pallet::storage]
	pub type RevealedOutputs<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		TaskId,
		Blake2_128Concat,
		H256,
		(u32, OutcomeOf<T>),
		OptionQuery,
	>;

	/// Each slashed validator's latest offence span: when it started, the largest slash applied
	/// in it, and the fault and task of that slash. Faults within `OffenceWindow` blocks of the
	/// start are covered by the span (see [`offences`]). One entry per validator that was ever
	/// slashed (an account must bond `MinValidatorBond` to become one).
	///
	/// `Blake2_128Concat`: accounts are chosen by users.
	#[pallet::storage]
	pub type OffenceSpans<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, OffenceSpanOf<T>, OptionQuery>;

	/// Open tasks by executor, while the executor still has to commit or reveal: what its
	/// off-chain worker polls.
	///
	/// `Blake2_128Concat` on accounts (users choose them); task ids: see [`Tasks`].
	#[pallet::storage]
	pub type ExecutorTasks<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, TaskId, (), OptionQuery>;

	/// Open tasks per model, so the registry does not remove a model with tasks in progress.
	///
	/// `Twox64Concat`: model ids are assigned by the registry.
	#[pallet::storage]
	pub type OpenTasks<T: Config> = StorageMap<_, Twox64Concat, ModelId, u32, ValueQuery>;

	/// The inference key account each validator linked: it commits and reveals for the validator.
	/// Dropped when the validator leaves the staking pallet's set (see [`keys`]).
	///
	/// `Blake2_128Concat`: accounts are chosen by users.
	#[pallet::storage]
	pub type InferenceKeys<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, T::AccountId, OptionQuery>;

	/// The validator each inference key account acts for (the reverse of [`InferenceKeys`]).
	///
	/// `Blake2_128Concat`: accounts are chosen by users.
	#[pallet::storage]
	pub type KeyOwners<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, T::AccountId, OptionQuery>;

	/// Work scheduled per block, processed in `on_finalize` from [`AgendaCursor`] on.
	///
	/// `Twox64Concat`: block numbers are chosen by this pallet.
	#[pallet::storage]
	pub type Agenda<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<AgendaItem, T::MaxAgendaItems>,
		ValueQuery,
	>;

	/// The first block whose agenda may still hold unprocessed items (zero before the first
	/// block is processed).
	#[pallet::storage]
	pub type AgendaCursor<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// The agenda work reserved in each future block (and in the current one until it is
	/// processed): the worst-case weight of its items and their number (see [`agenda`]). A
	/// request is admitted only if each of its items fits `AgendaWeight` in its block.
	///
	/// `Twox64Concat`: block numbers are chosen by this pallet.
	#[pallet::storage]
	pub type AgendaLoad<T: Config> =
		StorageMap<_, Twox64Concat, BlockNumberFor<T>, BlockLoad, ValueQuery>;

	/// Executor draws planned in each future block (and in the current one until it is
	/// processed): one per task assigned there and one per replacement draw, at most
	/// `MaxDrawsPerBlock` (see [`agenda`]). Removed with the block's agenda.
	///
	/// `Twox64Concat`: block numbers are chosen by this pallet.
	#[pallet::storage]
	pub type AgendaDraws<T: Config> =
		StorageMap<_, Twox64Concat, BlockNumberFor<T>, u32, ValueQuery>;

	/// The weight `on_initialize` reserved for this block's agenda. Taken (so never left in
	/// storage) by `on_finalize`.
	#[pallet::storage]
	pub type AgendaReserved<T: Config> = StorageValue<_, Weight, OptionQuery>;

	/// Each validator's reliability record: how often it was drawn, committed, revealed, agreed
	/// with the quorum, dissented, missed a commit or a reveal, declined and was slashed (see
	/// [`ReliabilityRecord`] and [`records`]). Keyed by the validator (the stash that was drawn),
	/// not its inference key. Counts the tasks from [`RecordsSince`] on.
	///
	/// Bounded: one entry per account ever drawn, and only eligible validators, which bonded
	/// `MinValidatorBond`, are drawn (as [`OffenceSpans`]).
	///
	/// `Blake2_128Concat`: accounts are chosen by users.
	#[pallet::storage]
	pub type ValidatorRecords<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, ReliabilityRecordOf<T>, ValueQuery>;

	/// Each validator's latest `MaxSlashRecords` slashes, oldest first: the task, fault, amount
	/// and block of each `ExecutorSlashed` (the oldest is dropped when the list is full). Counts
	/// the tasks from [`RecordsSince`] on.
	///
	/// Bounded: one entry per validator ever slashed (see [`ValidatorRecords`]), of at most
	/// `MaxSlashRecords` records.
	///
	/// `Blake2_128Concat`: accounts are chosen by users.
	#[pallet::storage]
	pub type ValidatorSlashes<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, SlashRecordsOf<T>, ValueQuery>;

	/// Each model's request figures: requests, settlements, rejections, failures and
	/// cancellations, and a histogram of the blocks from request to settlement (see
	/// [`ModelRecord`]). Counts the tasks from [`RecordsSince`] on.
	///
	/// Bounded: one entry per model ever requested; model ids are never reused, a model is
	/// registered with a deposit, and the entry is created by a paid request. It outlives the
	/// model, so that the model's history stays readable.
	///
	/// `Twox64Concat`: model ids are assigned by the registry.
	#[pallet::storage]
	pub type ModelStats<T: Config> = StorageMap<_, Twox64Concat, ModelId, ModelRecord, ValueQuery>;

	/// The first task counted in [`ValidatorRecords`], [`ValidatorSlashes`] and [`ModelStats`]:
	/// the next task id when the upgrade that introduced them ran (0 on a chain that had them
	/// from genesis). Tasks requested before it are not counted at all, so that each counted
	/// task is counted from its request to its end.
	#[pallet::storage]
	pub type RecordsSince<T: Config> = StorageValue<_, TaskId, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A task was requested and its fee held in escrow; executors are drawn at its
		/// planned assignment block (the next one unless the agenda there is full).
		TaskCreated {
			task_id: TaskId,
			model_id: ModelId,
			requester: T::AccountId,
			fee: BalanceOf<T>,
		},
		/// Executors were drawn; they commit before `commit_deadline`.
		TaskAssigned {
			task_id: TaskId,
			executors: ExecutorsOf<T>,
			commit_deadline: BlockNumberFor<T>,
		},
		/// Randomness was unavailable; assignment moved to the next block.
		AssignmentPostponed { task_id: TaskId },
		/// An executor committed to its result.
		ResultCommitted { task_id: TaskId, executor: T::AccountId },
		/// Commits closed; committers reveal before `reveal_deadline`.
		RevealStarted { task_id: TaskId, reveal_deadline: BlockNumberFor<T> },
		/// An executor revealed a result matching its commitment.
		ResultRevealed { task_id: TaskId, executor: T::AccountId, digest: H256 },
		/// An executor of the quorum was paid (through the staking pallet).
		ExecutorRewarded { task_id: TaskId, executor: T::AccountId, amount: BalanceOf<T> },
		/// An executor was slashed for a fault in `task_id`: `fraction` of its stake (the part of
		/// the fault's slash not already taken in its offence span), `amount` in all.
		ExecutorSlashed {
			task_id: TaskId,
			executor: T::AccountId,
			reason: opg_primitives::staking::SlashReason,
			fraction: Perbill,
			amount: BalanceOf<T>,
		},
		/// An executor's fault in `task_id` fell in an offence span that already slashed it at
		/// least as much: nothing more was taken (one slash per span, the largest).
		OffenceCovered {
			task_id: TaskId,
			executor: T::AccountId,
			reason: opg_primitives::staking::SlashReason,
		},
		/// A quorum agreed: the task's attested result is `canonical` (blake2-256: `digest`), the
		/// canonical form under the model's rule; `output` is the raw output of `publisher`, the
		/// first quorum member in draw order (see [`SettledResult`]).
		TaskSettled {
			task_id: TaskId,
			digest: H256,
			canonical: CanonicalOf<T>,
			output: OutputOf<T>,
			publisher: T::AccountId,
			paid: BalanceOf<T>,
			protocol_fee: BalanceOf<T>,
			refunded: BalanceOf<T>,
		},
		/// A quorum of executors found that the model refuses the task's input, for `rejection`:
		/// they were paid for the work as on settlement; the rest of the escrow was refunded.
		TaskRejected {
			task_id: TaskId,
			rejection: Rejection,
			paid: BalanceOf<T>,
			protocol_fee: BalanceOf<T>,
			refunded: BalanceOf<T>,
		},
		/// The task failed; its escrow was refunded in full.
		TaskFailed { task_id: TaskId, reason: FailReason, refunded: BalanceOf<T> },
		/// The requester cancelled the task: the executors already drawn were `paid` their fees
		/// (nothing before assignment), and the rest of the escrow was `refunded`.
		TaskCancelled { task_id: TaskId, paid: BalanceOf<T>, refunded: BalanceOf<T> },
		/// An ended task's record and result were pruned.
		TaskExpired { task_id: TaskId },
		/// `executor` declined `task_id` before committing, for `reason`: it is not paid for the
		/// task and not charged. `replaced`: a replacement is drawn next block.
		TaskDeclined {
			task_id: TaskId,
			executor: T::AccountId,
			reason: DeclineReason,
			replaced: bool,
		},
		/// `executor` was drawn in place of an executor that declined; it commits before
		/// `commit_deadline` (the task's, unchanged).
		ExecutorReplaced {
			task_id: TaskId,
			executor: T::AccountId,
			commit_deadline: BlockNumberFor<T>,
		},
		/// `validator` linked the inference key account `key`, which now commits and reveals for
		/// it (replacing any previous key).
		InferenceKeySet { validator: T::AccountId, key: T::AccountId },
		/// `validator` left the staking pallet's validator set (it deregistered or was evicted),
		/// and its inference key account `key` no longer acts for it (see [`keys`]).
		InferenceKeyCleared { validator: T::AccountId, key: T::AccountId },
		/// The entry for `task_id` of a [`Pallet::commit_results`] or [`Pallet::reveal_results`]
		/// batch failed with `error` (what the single call would have returned) and changed
		/// nothing; the batch's other entries stand, and the batch pays its fee.
		BatchEntryFailed { task_id: TaskId, error: DispatchError },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The model does not exist, is deprecated, or pays executors less than the registry's
		/// `MinFeePerExecutor` (its owner must raise its fee): request another model.
		ModelNotRunnable,
		/// The input is empty: give the model an input.
		EmptyInput,
		/// The input is longer than `MaxInputLen` bytes: shorten it.
		InputTooLong,
		/// The input's length is not the model's: an `F32Vector { len }` model takes exactly
		/// `4 × len` bytes (`len` little-endian `f32`).
		InputLengthMismatch,
		/// The model takes text and the input is not UTF-8: send UTF-8 text.
		InputNotUtf8,
		/// The text is longer than the model's `Text { max_bytes }`: shorten it.
		InputAboveModelLimit,
		/// The redundancy is zero or above `MaxRedundancy`: pick one in `1..=MaxRedundancy`, or
		/// `None` for the model's.
		InvalidRedundancy,
		/// The fee exceeds `max_fee`: raise `max_fee` or lower the redundancy.
		FeeAboveMax,
		/// The fee overflows the balance type: lower the redundancy.
		FeeOverflow,
		/// The requester cannot pay the fee: top up the account.
		InsufficientBalance,
		/// Fewer validators serve the model than the redundancy: lower the redundancy or wait
		/// for more servers.
		NotEnoughExecutors,
		/// The agenda of the next blocks is full: retry in a few blocks.
		AgendaFull,
		/// No task has this id (or it ended and expired, `ResultTtl` blocks after its planned reveal
		/// deadline).
		TaskNotFound,
		/// The caller is not an executor of this task: only assigned executors submit results.
		NotAssigned,
		/// The task is not in its commit phase (not yet assigned, or commits closed).
		NotCommitPhase,
		/// The commit deadline has passed: commits are no longer accepted.
		CommitDeadlinePassed,
		/// The caller has already committed: one commit per executor.
		AlreadyCommitted,
		/// The task is not in its reveal phase: wait until every executor has committed or the
		/// commit deadline has passed.
		NotRevealPhase,
		/// The reveal deadline has passed: reveals are no longer accepted.
		RevealDeadlinePassed,
		/// The caller did not commit, so it has nothing to reveal.
		NotCommitted,
		/// The caller has already revealed.
		AlreadyRevealed,
		/// The output is longer than `MaxOutputLen` bytes.
		OutputTooLong,
		/// The output is malformed for the model's comparison rule: not a sequence of
		/// little-endian `f32` values (length not a multiple of 4), or, for `Tokens`, not exactly
		/// the SCALE encoding of a `Generation` (token ids and UTF-8 text).
		MalformedOutput,
		/// The digest of the output, salt and caller do not match the commitment: reveal exactly
		/// the output and salt committed to.
		CommitmentMismatch,
		/// No honest executor can reach this rejection for the model's input kind (the chain
		/// already checked what it names): reveal the output, or a rejection the model's files
		/// decide.
		ImpossibleRejection,
		/// Only the requester may cancel its task.
		NotRequester,
		/// The task cannot be cancelled any more: an executor has committed, or it has ended.
		CannotCancel,
		/// Only registered validators link inference keys: register with the staking pallet
		/// first.
		NotValidator,
		/// The key already acts for another validator: generate a key of your own.
		KeyInUse,
		/// The proof is not the key's signature of [`Pallet::key_proof_payload`] for the caller
		/// on this chain: sign that payload with the key being linked.
		InvalidKeyProof,
		/// The batch has no entry: give at least one task.
		EmptyBatch,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Reserves the weight of this block's agenda items (their [`AgendaLoad`]), or all of
		/// `AgendaWeight` while the agenda lags behind, for `on_finalize`.
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::reserve_agenda_weight(now)
		}

		/// Processes due agenda items within the weight reserved in `on_initialize`. Runs after
		/// BABE's `on_finalize` (the runtime declares BABE first), so assignment sees this
		/// block's VRF output.
		fn on_finalize(now: BlockNumberFor<T>) {
			if let Some(budget) = AgendaReserved::<T>::take() {
				Self::process_agenda(now, budget);
			}
		}

		/// Executes the tasks assigned to this node's validators (see [`offchain`]).
		fn offchain_worker(now: BlockNumberFor<T>) {
			offchain::run::<T>(now);
		}

		fn integrity_test() {
			assert!(T::MaxRedundancy::get() >= 1, "MaxRedundancy must allow one executor");
			assert!(
				T::MaxRedundancy::get() <= u32::from(u8::MAX),
				"requests carry the redundancy as a u8"
			);
			assert!(T::MaxInputLen::get() >= 1, "MaxInputLen must allow an input");
			assert!(T::MaxOutputLen::get() >= 4, "MaxOutputLen must allow one f32");
			assert!(!T::CommitPeriod::get().is_zero(), "CommitPeriod must be at least a block");
			assert!(!T::RevealPeriod::get().is_zero(), "RevealPeriod must be at least a block");
			assert!(
				T::ReplacementWindow::get() >= 2u32.into(),
				"ReplacementWindow must be at least 2 blocks: an executor drawn at the end of a \
				 block commits in the next one at the earliest, before the deadline"
			);
			assert!(
				T::ReplacementWindow::get() < T::CommitPeriod::get(),
				"ReplacementWindow must leave room in the commit period, or no decline is replaced"
			);
			assert!(!T::ResultTtl::get().is_zero(), "ResultTtl must be at least a block");
			assert!(T::MaxAgendaItems::get() >= 1, "MaxAgendaItems must allow an item");
			assert!(T::MaxDrawsPerBlock::get() >= 1, "MaxDrawsPerBlock must allow a task");
			// Each open task of a validator was drawn in one of the blocks of its life.
			let life = T::CommitPeriod::get()
				.saturating_add(T::RevealPeriod::get())
				.saturating_add(One::one());
			let open =
				u64::from(T::MaxDrawsPerBlock::get()).saturating_mul(life.saturated_into::<u64>());
			assert!(
				open <= reads::MAX_PENDING_SCAN as u64,
				"a validator may hold more open tasks than pending_tasks looks at, and miss one"
			);
			assert!(T::MaxSamplingAttempts::get() >= 1, "MaxSamplingAttempts must allow a draw");
			assert!(T::MaxBatch::get() >= 1, "MaxBatch must allow an entry");
			assert!(T::MaxSlashRecords::get() >= 1, "MaxSlashRecords must keep a slash");
			let longest = usize::try_from(T::MaxOutputLen::get()).unwrap_or(usize::MAX);
			let one_reveal: Vec<RevealEntry> = Vec::from([(
				0,
				TaskOutcome::Output(Vec::from([0u8; 4]).repeat(longest.saturating_div(4))),
				[0; 32],
			)]);
			assert!(
				Self::reveal_results_weight(&one_reveal).all_lte(Self::batch_weight_limit()),
				"a batch of one reveal of the longest output must fit a worker's batch limit"
			);
			assert!(
				T::AgendaWeight::get()
					.all_gte(Self::max_item_weight().saturating_add(Self::block_overhead_weight())),
				"AgendaWeight must fit the heaviest agenda item and a block's overhead, or no \
				 request of the largest redundancy is ever admitted"
			);
			assert!(
				Pallet::<T>::max_servers() >= T::MaxRedundancy::get(),
				"a model must be able to have MaxRedundancy servers"
			);
			assert!(
				T::MismatchSlash::get() >= T::NoShowSlash::get(),
				"a wrong or withheld result must cost at least a no-show"
			);
			assert!(
				T::OffenceWindow::get() >= Self::max_task_life(),
				"OffenceWindow must cover a task's whole life, or one outage is slashed per task"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Requests an inference of `model_id` on `input`, paying at most `max_fee`.
		///
		/// The fee, `fee_per_executor × redundancy` plus `ProtocolFee` of that, is held from the
		/// caller ([`HoldReason::Escrow`]) until the task ends. For a causal language model with
		/// token fees, each executor's share also holds the token fees of the model's longest
		/// prompt and generation (`per_prompt_token × max_prompt_tokens + per_generated_token ×
		/// max_new_tokens`); settlement refunds what the settled generation did not use (see
		/// [`settlement`]). `redundancy` defaults to the
		/// model's; the quorum is the model's, scaled to the chosen redundancy (rounded up).
		/// Executors are drawn at the end of the next block, or of a later one when the agenda
		/// of the next blocks is full: the request reserves the worst-case weight of each
		/// agenda item it causes in the block where it falls due, and its weight includes that
		/// reservation, so that its fee pays for it (see [`agenda`]).
		///
		/// - Origin: signed; the caller is the requester.
		/// - Errors: [`Error::ModelNotRunnable`], [`Error::EmptyInput`], [`Error::InputTooLong`],
		///   [`Error::InputLengthMismatch`], [`Error::InputNotUtf8`],
		///   [`Error::InputAboveModelLimit`], [`Error::InvalidRedundancy`], [`Error::FeeOverflow`], [`Error::FeeAboveMax`],
		///   [`Error::NotEnoughExecutors`], [`Error::AgendaFull`],
		///   [`Error::InsufficientBalance`].
		/// - Events: [`Event::TaskCreated`].
		#[pallet::call_index(0)]
		#[pallet::weight(Pallet::<T>::request_weight(
			Pallet::<T>::len_component(input.len(), T::MaxInputLen::get()),
			Pallet::<T>::max_servers(),
			T::MaxRedundancy::get(),
			Pallet::<T>::max_admission_probes(),
		))]
		pub fn request_inference(
			origin: OriginFor<T>,
			model_id: ModelId,
			input: Vec<u8>,
			max_fee: BalanceOf<T>,
			redundancy: Option<u8>,
		) -> DispatchResultWithPostInfo {
			let requester = ensure_signed(origin)?;
			let input_len = Pallet::<T>::len_component(input.len(), T::MaxInputLen::get());
			let model = T::Models::runnable_model(model_id).ok_or(Error::<T>::ModelNotRunnable)?;
			ensure!(!input.is_empty(), Error::<T>::EmptyInput);
			let input: InputOf<T> = input.try_into().map_err(|_| Error::<T>::InputTooLong)?;
			// What the chain can check without the model's files, it refuses here; executors
			// then only ever reject what the files decide (see `Rejection`).
			model.input.check(&input).map_err(|mismatch| match mismatch {
				InputMismatch::WrongLength => Error::<T>::InputLengthMismatch,
				InputMismatch::NotUtf8 => Error::<T>::InputNotUtf8,
				InputMismatch::TooLong => Error::<T>::InputAboveModelLimit,
			})?;
			let redundancy = match redundancy {
				None => model.redundancy,
				Some(r) => u32::from(r),
			};
			ensure!(
				redundancy >= 1 && redundancy <= T::MaxRedundancy::get(),
				Error::<T>::InvalidRedundancy
			);
			let quorum = Self::scaled_quorum(model.quorum, model.redundancy, redundancy);
			// A causal language model's token fees are held for its longest prompt and
			// generation; settlement refunds what the settled generation did not use.
			let token_charge =
				model.token_fees.zip(model.generation()).map(|(prices, limits)| TokenCharge {
					prices,
					max_prompt_tokens: limits.max_prompt_tokens,
					max_new_tokens: limits.max_new_tokens,
				});
			let max_token_fees = match &token_charge {
				Some(charge) => charge.max().ok_or(Error::<T>::FeeOverflow)?,
				None => Zero::zero(),
			};
			let executor_fees = model
				.fee_per_executor
				.checked_add(&max_token_fees)
				.and_then(|per_executor| {
					per_executor.checked_mul(&BalanceOf::<T>::from(redundancy))
				})
				.ok_or(Error::<T>::FeeOverflow)?;
			let protocol_fee = T::ProtocolFee::get().mul_ceil(executor_fees);
			let escrow = executor_fees.checked_add(&protocol_fee).ok_or(Error::<T>::FeeOverflow)?;
			ensure!(escrow <= max_fee, Error::<T>::FeeAboveMax);
			// Declared servers only: one read, whatever the number of validators. Whether enough
			// of them are still eligible is settled at assignment, which refunds the task if not.
			let servers_len = u32::try_from(T::Models::servers(model_id).len()).unwrap_or(u32::MAX);
			ensure!(servers_len >= redundancy, Error::<T>::NotEnoughExecutors);

			let now = frame_system::Pallet::<T>::block_number();
			let task_id = NextTaskId::<T>::get();
			let first = now.saturating_add(One::one());
			let (plan, probed) =
				Self::admit(task_id, first, agenda::SCHEDULE_PROBE, redundancy, servers_len)
					.map_err(|(error, probed)| sp_runtime::DispatchErrorWithPostInfo {
						post_info: Some(
							T::WeightInfo::request_inference(input_len, servers_len)
								.saturating_add(T::DbWeight::get().reads(probed.into())),
						)
						.into(),
						error: error.into(),
					})?;
			T::Currency::hold(&HoldReason::Escrow.into(), &requester, escrow)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			NextTaskId::<T>::put(task_id.saturating_add(1));
			Tasks::<T>::insert(
				task_id,
				TaskInfo {
					requester: requester.clone(),
					model_id,
					comparison: model.comparison,
					redundancy,
					quorum,
					fee_per_executor: model.fee_per_executor,
					protocol_fee,
					escrow,
					created_at: now,
					status: TaskStatus::Queued { assign_at: plan.assign_at },
					executors: BoundedVec::new(),
					declined: BoundedVec::new(),
					replacements_pending: 0,
					servers: servers_len,
					plan,
				},
			);
			TaskInputs::<T>::insert(task_id, input);
			if let Some(charge) = token_charge {
				TaskTokenCharges::<T>::insert(task_id, charge);
			}
			OpenTasks::<T>::mutate(model_id, |open| *open = open.saturating_add(1));
			Self::record_request(task_id, model_id);
			Self::deposit_event(Event::TaskCreated { task_id, model_id, requester, fee: escrow });
			Ok(Some(Self::request_weight(input_len, servers_len, redundancy, probed)).into())
		}

		/// Commits the caller's result for `task_id`: `commitment` is
		/// [`commitment`](opg_primitives::inference::commitment)`(digest, salt, caller)` where
		/// `digest` is the canonical digest of the output under the model's comparison rule.
		///
		/// When every executor has committed, the reveal phase opens at once. A valid commit is
		/// free (`Pays::No`): the requester's fee pays for the executors' work; a refused one
		/// pays its fee. [`Pallet::commit_results`] commits several tasks in one transaction.
		///
		/// - Origin: signed by an executor of the task or by the inference key it linked, once,
		///   before the commit deadline.
		/// - Errors: [`Error::TaskNotFound`], [`Error::NotCommitPhase`],
		///   [`Error::CommitDeadlinePassed`], [`Error::NotAssigned`], [`Error::AlreadyCommitted`].
		/// - Events: [`Event::ResultCommitted`], then [`Event::RevealStarted`] on the last
		///   commit.
		#[pallet::call_index(1)]
		#[pallet::weight((
			T::WeightInfo::commit_result(T::MaxRedundancy::get())
				.saturating_add(Pallet::<T>::signer_weight()),
			DispatchClass::Operational,
		))]
		pub fn commit_result(
			origin: OriginFor<T>,
			task_id: TaskId,
			commitment: H256,
		) -> DispatchResultWithPostInfo {
			let signer = ensure_signed(origin)?;
			let redundancy = Self::do_commit(signer, task_id, commitment)?;
			Ok(PostDispatchInfo {
				actual_weight: Some(
					T::WeightInfo::commit_result(redundancy).saturating_add(Self::signer_weight()),
				),
				pays_fee: Pays::No,
			})
		}

		/// Reveals the caller's result for `task_id`: its `outcome`, the raw output (little-endian
		/// `f32` values, or a causal language model's SCALE-encoded `Generation`) or the model's
		/// [`Rejection`] of the input, and the `salt` of its commitment.
		///
		/// The chain computes the outcome's digest (the output's canonical digest with the
		/// model's comparison rule, or [`Rejection::digest`]) and checks
		/// `commitment(digest, salt, caller)` against the caller's commitment. When every
		/// committer has revealed, the task settles at once. A valid reveal is free
		/// (`Pays::No`); a refused one pays its fee. [`Pallet::reveal_results`] reveals several
		/// tasks in one transaction.
		///
		/// - Origin: signed by an executor that committed or by the inference key it linked, once,
		///   before the reveal deadline.
		/// - Errors: [`Error::TaskNotFound`], [`Error::NotRevealPhase`],
		///   [`Error::RevealDeadlinePassed`], [`Error::NotAssigned`], [`Error::NotCommitted`],
		///   [`Error::AlreadyRevealed`], [`Error::OutputTooLong`], [`Error::MalformedOutput`],
		///   [`Error::ImpossibleRejection`], [`Error::CommitmentMismatch`].
		/// - Events: [`Event::ResultRevealed`], then the settlement's on the last reveal.
		#[pallet::call_index(2)]
		#[pallet::weight((
			Pallet::<T>::reveal_entry_weight(outcome).saturating_add(Pallet::<T>::reveal_end_weight()),
			DispatchClass::Operational,
		))]
		pub fn reveal_result(
			origin: OriginFor<T>,
			task_id: TaskId,
			outcome: TaskOutcome<Vec<u8>>,
			salt: Salt,
		) -> DispatchResultWithPostInfo {
			let signer = ensure_signed(origin)?;
			let mut weight = Self::reveal_entry_weight(&outcome);
			let ended = Self::do_reveal(signer, task_id, outcome, salt)?;
			if let Some(redundancy) = ended {
				weight.saturating_accrue(Self::reveal_end_weight_for(redundancy));
			}
			Ok(PostDispatchInfo { actual_weight: Some(weight), pays_fee: Pays::No })
		}

		/// Commits the caller's results for several tasks in one transaction: each entry
		/// `(task_id, commitment)` is what [`Pallet::commit_result`] takes.
		///
		/// Entries apply one by one: an entry that fails (a task that ended meanwhile, say)
		/// changes nothing and emits [`Event::BatchEntryFailed`] with the single call's error,
		/// and the others stand. A batch whose entries all apply is free (`Pays::No`); one with a
		/// failed entry pays its fee.
		///
		/// Commits, reveals and declines are `DispatchClass::Operational`: an executor's duties
		/// go ahead of requests in the transaction pool and may use the block's operational
		/// reserve, so that a flood of requests cannot crowd them out past their deadlines.
		///
		/// - Origin: signed, as for [`Pallet::commit_result`] (one executor, or its inference
		///   key, for every entry).
		/// - Errors: [`Error::EmptyBatch`].
		/// - Events: those of [`Pallet::commit_result`] for each entry that applies.
		#[pallet::call_index(6)]
		#[pallet::weight((
			Pallet::<T>::commit_results_weight(Pallet::<T>::batch_len(commits.len())),
			DispatchClass::Operational,
		))]
		pub fn commit_results(
			origin: OriginFor<T>,
			commits: BoundedVec<(TaskId, H256), T::MaxBatch>,
		) -> DispatchResultWithPostInfo {
			let signer = ensure_signed(origin)?;
			ensure!(!commits.is_empty(), Error::<T>::EmptyBatch);
			let n = Self::batch_len(commits.len());
			let mut failed = false;
			for (task_id, commitment) in commits {
				let applied = frame_support::storage::with_storage_layer(|| {
					Self::do_commit(signer.clone(), task_id, commitment)
				});
				if let Err(error) = applied {
					failed = true;
					Self::deposit_event(Event::BatchEntryFailed { task_id, error });
				}
			}
			Ok(PostDispatchInfo {
				actual_weight: Some(Self::commit_results_weight(n)),
				pays_fee: if failed { Pays::Yes } else { Pays::No },
			})
		}

		/// Reveals the caller's results for several tasks in one transaction: each entry
		/// `(task_id, outcome, salt)` is what [`Pallet::reveal_result`] takes.
		///
		/// Entries apply one by one, as in [`Pallet::commit_results`]: a failed entry changes
		/// nothing and emits [`Event::BatchEntryFailed`]; a batch whose entries all apply is
		/// free (`Pays::No`), one with a failed entry pays its fee.
		///
		/// - Origin: signed, as for [`Pallet::reveal_result`].
		/// - Errors: [`Error::EmptyBatch`].
		/// - Events: those of [`Pallet::reveal_result`] for each entry that applies.
		#[pallet::call_index(7)]
		#[pallet::weight((Pallet::<T>::reveal_results_weight(reveals), DispatchClass::Operational))]
		pub fn reveal_results(
			origin: OriginFor<T>,
			reveals: BoundedVec<RevealEntry, T::MaxBatch>,
		) -> DispatchResultWithPostInfo {
			let signer = ensure_signed(origin)?;
			ensure!(!reveals.is_empty(), Error::<T>::EmptyBatch);
			let mut weight = Self::reveal_results_weight(&reveals);
			let mut failed = false;
			for (task_id, outcome, salt) in reveals {
				let applied = frame_support::storage::with_storage_layer(|| {
					Self::do_reveal(signer.clone(), task_id, outcome, salt)
				});
				match applied {
					// The worst case was reserved for every entry; only an entry that ends its
					// task uses it, and for the task's own redundancy.
					Ok(Some(redundancy)) => {
						let unused = Self::reveal_end_weight()
							.saturating_sub(Self::reveal_end_weight_for(redundancy));
						weight = weight.saturating_sub(unused);
					},
					Ok(None) => weight = weight.saturating_sub(Self::reveal_end_weight()),
					// A failed entry changed nothing: it settled nothing either.
					Err(error) => {
						failed = true;
						weight = weight.saturating_sub(Self::reveal_end_weight());
						Self::deposit_event(Event::BatchEntryFailed { task_id, error });
					},
				}
			}
			Ok(PostDispatchInfo {
				actual_weight: Some(weight),
				pays_fee: if failed { Pays::Yes } else { Pays::No },
			})
		}

		/// Cancels `task_id`. Before its executors are drawn the escrow is refunded in full; once
		/// they are drawn, each is paid its `fee_per_executor` (as on settlement) and only the
		/// rest is refunded, so that cancelling cannot re-roll the draw for free.
		///
		/// - Origin: signed, the task's requester, while it is open and no executor has
		///   committed.
		/// - Errors: [`Error::TaskNotFound`], [`Error::NotRequester`], [`Error::CannotCancel`].
		/// - Events: [`Event::TaskCancelled`].
		#[pallet::call_index(3)]
		#[pallet::weight(Pallet::<T>::cancel_weight(T::MaxRedundancy::get()))]
		pub fn cancel(origin: OriginFor<T>, task_id: TaskId) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
			ensure!(task.requester == who, Error::<T>::NotRequester);
			ensure!(task.status.is_open() && task.commits() == 0, Error::<T>::CannotCancel);

			let now = frame_system::Pallet::<T>::block_number();
			let mut paid = BalanceOf::<T>::zero();
			let mut returned = BalanceOf::<T>::zero();
			for executor in task.executors.iter() {
				// No token was generated: the base fee only.
				let fee = task.fee_per_executor;
				Self::pay_executor(task_id, &task, &executor.who, fee, &mut paid, &mut returned);
			}
			let rest = task.escrow.saturating_sub(paid).saturating_sub(returned);
			let refunded = Self::release(&task.requester, rest).saturating_add(returned);
			let redundancy = task.redundancy;
			Self::record_cancelled(task_id, task.model_id);
			Self::end_task(task_id, task, TaskStatus::Cancelled { at: now });
			Self::deposit_event(Event::TaskCancelled { task_id, paid, refunded });
			Ok(Some(Self::cancel_weight(redundancy)).into())
		}

		/// Declines `task_id` before committing to it, for `reason`: the executor's node cannot run
		/// it in time (its model files are missing, or it has more tasks than it can execute).
		///
		/// The executor leaves the task, is not paid for it, loses no stake, and is never drawn
		/// for it again. If at least `ReplacementWindow` blocks remain before the commit deadline
		/// after the next block, a replacement is drawn by stake at the end of the next block
		/// (from that block's randomness, as assignment is); the commit deadline stays. A later
		/// decline, which nobody can replace, counts towards the staking pallet's jail as a fault
		/// does (no stake is taken). A task
		/// that too many executors declined fails at its commit deadline like one with too few
		/// commits, and nobody who declined is slashed. Off-chain workers decline on their own
		/// (see [`offchain`]).
		///
		/// - Origin: signed by an executor of the task or by the inference key it linked, before
		///   it commits and before the commit deadline.
		/// - Errors: [`Error::TaskNotFound`], [`Error::NotCommitPhase`],
		///   [`Error::CommitDeadlinePassed`], [`Error::NotAssigned`], [`Error::AlreadyCommitted`].
		/// - Events: [`Event::TaskDeclined`]; then [`Event::ExecutorReplaced`] next block, or
		///   [`Event::RevealStarted`] when every remaining executor has committed and no
		///   replacement is due.
		#[pallet::call_index(5)]
		#[pallet::weight((
			T::WeightInfo::decline(T::MaxRedundancy::get())
				.saturating_add(Pallet::<T>::replacement_draw_weight())
				.saturating_add(T::Staking::slash_weight())
				.saturating_add(Pallet::<T>::signer_weight())
				.saturating_add(Pallet::<T>::release_task_weight()),
			DispatchClass::Operational,
		))]
		pub fn decline(
			origin: OriginFor<T>,
			task_id: TaskId,
			reason: DeclineReason,
		) -> DispatchResultWithPostInfo {
			let signer = ensure_signed(origin)?;
			let Uncommitted { mut task, index, executor, commit_deadline, now } =
				Self::uncommitted(task_id, signer)?;

			task.executors.remove(index);
			Self::release_task(&executor, task_id);
			// Replace only while a replacement can still execute and commit in time; the draw
			// waits for the next block's randomness, which nobody knows when declining. When
			// the next block's agenda has no room for the draw, the task goes on without a
			// replacement and the decliner is not charged for it.
			let draw_at = now.saturating_add(One::one());
			let in_time = draw_at.saturating_add(T::ReplacementWindow::get()) <= commit_deadline;
			let recorded = task.declined.try_push(executor.clone()).is_ok();
			let replaced = in_time && recorded && Self::reserve_replacement(task_id, &task, now);
			if replaced {
				task.replacements_pending = task.replacements_pending.saturating_add(1);
			}
			if !in_time {
				// Too late to be replaced: the task loses an executor for good. No stake is
				// taken, but it counts towards the jail as a fault does, so that nobody can
				// decline late for free again and again.
				T::Staking::note_fault(&executor);
			}
			Self::record_declined(task_id, &executor);
			Self::deposit_event(Event::TaskDeclined { task_id, executor, reason, replaced });
			Self::open_reveals_if_all_in(task_id, &mut task);
			let mut weight = T::WeightInfo::decline(task.redundancy)
				.saturating_add(Self::replacement_draw_weight())
				.saturating_add(Self::signer_weight())
				.saturating_add(Self::release_task_weight());
			if !in_time {
				// Noting a fault costs at most what a slash does (it may jail).
				weight.saturating_accrue(T::Staking::slash_weight());
			}
			Tasks::<T>::insert(task_id, task);
			Ok(Some(weight).into())
		}

		/// Links the caller's inference key: the account of an `opgi` key in the caller's
		/// node keystore (`opg-node key insert --key-type opgi`), which its off-chain worker
		/// signs commits and reveals with. Replaces the caller's previous key. The key account
		/// pays the fees of those transactions, so fund it.
		///
		/// `proof` is the key's signature of [`Pallet::key_proof_payload`]`(caller)`:
		/// `b"opg/inference-key" ‖ SCALE(caller) ‖ genesis hash`. Without it anyone could link
		/// another validator's key (or any account) and make it act for them; the caller and
		/// the genesis hash in the payload keep a proof from being replayed for another
		/// validator or on another chain.
		///
		/// - Origin: signed by a registered validator (`inferenceStaking.registerValidator`).
		/// - Errors: [`Error::NotValidator`], [`Error::InvalidKeyProof`], [`Error::KeyInUse`]
		///   (the key acts for another validator).
		/// - Events: [`Event::InferenceKeySet`].
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::set_inference_key())]
		pub fn set_inference_key(
			origin: OriginFor<T>,
			key: T::AccountId,
			proof: <T as frame_system::offchain::SigningTypes>::Signature,
		) -> DispatchResult {
			let validator = ensure_signed(origin)?;
			ensure!(T::Staking::is_validator(&validator), Error::<T>::NotValidator);
			ensure!(
				proof.verify(&Self::key_proof_payload(&validator)[..], &key),
				Error::<T>::InvalidKeyProof
			);
			if let Some(owner) = KeyOwners::<T>::get(&key) {
				ensure!(owner == validator, Error::<T>::KeyInUse);
			}
			if let Some(previous) = InferenceKeys::<T>::get(&validator) {
				KeyOwners::<T>::remove(&previous);
			}
			InferenceKeys::<T>::insert(&validator, &key);
			KeyOwners::<T>::insert(&key, &validator);
			Self::deposit_event(Event::InferenceKeySet { validator, key });
			Ok(())
		}
	}

	/// An executor of a task in its commit phase that has not committed yet, as
	/// [`Pallet::uncommitted`] finds it.
	pub(crate) struct Uncommitted<T: Config> {
		pub(crate) task: TaskInfoOf<T>,
		/// Its position in `task.executors`.
		pub(crate) index: usize,
		/// The validator (the signer, or the validator whose inference key signed).
		pub(crate) executor: T::AccountId,
		pub(crate) commit_deadline: BlockNumberFor<T>,
		pub(crate) now: BlockNumberFor<T>,
	}

	impl<T: Config> Pallet<T> {
		/// The executor `signer` acts as in `task_id`, which must be committing, before its
		/// commit deadline, with that executor yet to commit (what both committing and declining
		/// need).
		pub(crate) fn uncommitted(
			task_id: TaskId,
			signer: T::AccountId,
		) -> Result<Uncommitted<T>, DispatchError> {
			let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
			let TaskStatus::Committing { commit_deadline } = task.status else {
				return Err(Error::<T>::NotCommitPhase.into());
			};
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(now < commit_deadline, Error::<T>::CommitDeadlinePassed);
			let (index, executor) =
				Self::acting_executor(&task, signer).ok_or(Error::<T>::NotAssigned)?;
			let committed = task.executors.get(index).is_some_and(|slot| slot.commitment.is_some());
			ensure!(!committed, Error::<T>::AlreadyCommitted);
			Ok(Uncommitted { task, index, executor, commit_deadline, now })
		}

		/// Records `signer`'s commitment for `task_id` (see [`Pallet::commit_result`]); the
		/// task's redundancy.
		pub(crate) fn do_commit(
			signer: T::AccountId,
			task_id: TaskId,
			commitment: H256,
		) -> Result<u32, DispatchError> {
			let Uncommitted { mut task, index, executor, .. } = Self::uncommitted(task_id, signer)?;
			let slot = task.executors.get_mut(index).ok_or(Error::<T>::NotAssigned)?;

			slot.commitment = Some(commitment);
			Self::record_committed(task_id, &executor);
			Self::deposit_event(Event::ResultCommitted { task_id, executor });
			Self::open_reveals_if_all_in(task_id, &mut task);
			let redundancy = task.redundancy;
			Tasks::<T>::insert(task_id, task);
			Ok(redundancy)
		}

		/// Checks and records `signer`'s reveal for `task_id` (see [`Pallet::reveal_result`]),
		/// settling the task on its last reveal; the task's redundancy if it ended.
		pub(crate) fn do_reveal(
			signer: T::AccountId,
			task_id: TaskId,
			outcome: TaskOutcome<Vec<u8>>,
			salt: Salt,
		) -> Result<Option<u32>, DispatchError> {
			let mut task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
			let TaskStatus::Revealing { reveal_deadline } = task.status else {
				return Err(Error::<T>::NotRevealPhase.into());
			};
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(now < reveal_deadline, Error::<T>::RevealDeadlinePassed);
			let (index, executor) =
				Self::acting_executor(&task, signer).ok_or(Error::<T>::NotAssigned)?;
			let comparison = task.comparison;
			let slot = task.executors.get_mut(index).ok_or(Error::<T>::NotAssigned)?;
			let committed = slot.commitment.ok_or(Error::<T>::NotCommitted)?;
			ensure!(slot.revealed.is_none(), Error::<T>::AlreadyRevealed);
			let outcome: OutcomeOf<T> = outcome
				.try_map(|output| output.try_into().map_err(|_| Error::<T>::OutputTooLong))?;
			let digest = outcome.digest(&comparison).ok_or(Error::<T>::MalformedOutput)?;
			if let Some(rejection) = outcome.rejection() {
				// One more read, for rejections only: a rejection costs no work, so the chain
				// refuses those the model's input kind rules out.
				let admitted = T::Models::model_params(task.model_id)
					.is_some_and(|model| model.input.admits(rejection));
				ensure!(admitted, Error::<T>::ImpossibleRejection);
			}
			ensure!(
				commitment_of(&digest, &salt, &executor) == committed,
				Error::<T>::CommitmentMismatch
			);

			slot.revealed = Some(digest);
			// Keep the outcome of the digest's first revealer in draw order, so that which raw
			// output is published does not depend on who revealed first.
			let position = u32::try_from(index).unwrap_or(u32::MAX);
			RevealedOutputs::<T>::mutate(task_id, digest, |kept| match kept {
				Some((first, _)) if *first <= position => {},
				_ => *kept = Some((position, outcome)),
			});
			Self::release_task(&executor, task_id);
			Self::record_revealed(task_id, &executor);
			Self::deposit_event(Event::ResultRevealed { task_id, executor, digest });
			if task.reveals() == task.commits() {
				let redundancy = task.redundancy;
				Self::settle(task_id, task);
				Ok(Some(redundancy))
			} else {
				Tasks::<T>::insert(task_id, task);
				Ok(None)
			}
		}

		/// A batch's length as a weight component (at most `MaxBatch`: longer batches do not
		/// decode).
		pub(crate) fn batch_len(len: usize) -> u32 {
			u32::try_from(len).unwrap_or(u32::MAX).min(T::MaxBatch::get())
		}

		/// Worst-case weight of ending a task of redundancy `r` on its last reveal: settling it
		/// and giving back its plan.
		pub(crate) fn reveal_end_weight_for(r: u32) -> Weight {
			Self::reveal_deadline_weight(r).saturating_add(Self::release_plan_weight())
		}

		/// [`Self::reveal_end_weight_for`] the largest redundancy.
		pub(crate) fn reveal_end_weight() -> Weight {
			Self::reveal_end_weight_for(T::MaxRedundancy::get())
		}

		/// Weight of [`Pallet::reveal_results`] with `reveals`: the benchmarked batch of
		/// non-final reveals of one-value outputs, each entry's longer output on top (the slope
		/// of [`Pallet::reveal_result`]), and each entry's ending of its task at its worst.
		pub fn reveal_results_weight(reveals: &[RevealEntry]) -> Weight {
			let n = Self::batch_len(reveals.len());
			let one_value = Self::reveal_entry_weight(&TaskOutcome::Output(Vec::from([0u8; 4])));
			reveals.iter().take(n as usize).fold(
				T::WeightInfo::reveal_results(n),
				|weight, (_, outcome, _)| {
					weight
						.saturating_add(
							Self::reveal_entry_weight(outcome).saturating_sub(one_value),
						)
						.saturating_add(Self::signer_weight())
						.saturating_add(Self::release_task_weight())
						.saturating_add(Self::reveal_end_weight())
				},
			)
		}

		/// Weight of [`Pallet::commit_results`] with `n` entries: the benchmark, plus the inference
		/// key's lookup per entry (the benchmark signs with the validator itself).
		pub fn commit_results_weight(n: u32) -> Weight {
			T::WeightInfo::commit_results(n)
				.saturating_add(Self::signer_weight().saturating_mul(n.into()))
		}

		/// Weight of checking and recording one reveal of `outcome`, but for ending its task: the
		/// benchmark of its output length, plus the model's lookup for a rejection.
		pub fn reveal_entry_weight(outcome: &TaskOutcome<Vec<u8>>) -> Weight {
			let len = Self::len_component(outcome.output_len(), T::MaxOutputLen::get());
			let rejection_read = if outcome.rejection().is_some() {
				T::DbWeight::get().reads(1)
			} else {
				Weight::zero()
			};
			T::WeightInfo::reveal_result(len)
				.saturating_add(rejection_read)
				.saturating_add(Self::signer_weight())
				.saturating_add(Self::release_task_weight())
		}

		/// A call signed by an inference key looks its validator up ([`KeyOwners`]); the
		/// benchmarks sign with the validator.
		pub fn signer_weight() -> Weight {
			T::DbWeight::get().reads(1)
		}

		/// What [`Pallet::release_task`] can do beyond the benchmark (whose executor has no key):
		/// the key, validator and remaining-task reads, and dropping the key of a validator that
		/// left.
		pub(crate) fn release_task_weight() -> Weight {
			T::DbWeight::get().reads_writes(3, 2)
		}

		/// The most weight a worker puts in one batch: a quarter of what one normal transaction
		/// may declare, so that a batch always fits a block next to others. One reveal of the
		/// longest output fits it (checked by `integrity_test`).
		pub fn batch_weight_limit() -> Weight {
			let weights = T::BlockWeights::get();
			let normal = weights.get(frame_support::dispatch::DispatchClass::Normal);
			let max = normal.max_extrinsic.unwrap_or(weights.max_block);
			Weight::from_parts(max.ref_time().saturating_div(4), max.proof_size().saturating_div(4))
		}

		/// Opens the reveal phase of the committing `task` at once when every executor it has
		/// has committed, no replacement is pending and the commits reach the quorum. Reveals
		/// stay open until the planned reveal deadline, and the commit deadline gives back its
		/// reservation.
		pub(crate) fn open_reveals_if_all_in(task_id: TaskId, task: &mut TaskInfoOf<T>) {
			// Fewer commits than the quorum cannot settle: the commit deadline fails the task
			// then, and nothing committed is revealed (a requester whose other executors
			// declined would otherwise see a lone committer's output for free).
			let all_in = matches!(task.status, TaskStatus::Committing { .. })
				&& task.replacements_pending == 0
				&& task.commits() >= task.quorum
				&& task.executors.iter().all(|executor| executor.commitment.is_some());
			if !all_in {
				return;
			}
			Self::release_commit_deadline(task);
			let reveal_deadline = task.plan.reveal_deadline;
			task.status = TaskStatus::Revealing { reveal_deadline };
			Self::deposit_event(Event::RevealStarted { task_id, reveal_deadline });
		}

		/// The executor `signer` acts as in `task`, with its index: itself when assigned, else the
		/// validator whose inference key it is, when that validator is assigned.
		pub(crate) fn acting_executor(
			task: &TaskInfoOf<T>,
			signer: T::AccountId,
		) -> Option<(usize, T::AccountId)> {
			if let Some(index) = task.executor_index(&signer) {
				return Some((index, signer));
			}
			let validator = KeyOwners::<T>::get(&signer)?;
			task.executor_index(&validator).map(|index| (index, validator))
		}

		/// Most blocks from a request to the last slash it can cause: the assignment delay (and
		/// the block after the request), the commit period and the reveal period.
		pub fn max_task_life() -> BlockNumberFor<T> {
			T::MaxAssignmentDelay::get()
				.saturating_add(One::one())
				.saturating_add(T::CommitPeriod::get())
				.saturating_add(T::RevealPeriod::get())
		}

		/// A length as a weight component, capped at `max` (longer inputs are refused before any
		/// work that depends on their length).
		pub(crate) fn len_component(len: usize, max: u32) -> u32 {
			u32::try_from(len).unwrap_or(u32::MAX).min(max)
		}

		/// The model's quorum scaled to `redundancy`: `ceil(quorum × redundancy /
		/// model_redundancy)`, at least 1 and at most `redundancy`; the model's own when the
		/// redundancy is the model's.
		pub fn scaled_quorum(quorum: u32, model_redundancy: u32, redundancy: u32) -> u32 {
			if redundancy == model_redundancy || model_redundancy == 0 {
				return quorum.clamp(1, redundancy.max(1));
			}
			let scaled = u64::from(quorum)
				.saturating_mul(u64::from(redundancy))
				.div_ceil(u64::from(model_redundancy));
			u32::try_from(scaled).unwrap_or(u32::MAX).clamp(1, redundancy.max(1))
		}

		/// Releases the whole escrow of `task` to its requester; returns the amount released.
		pub(crate) fn refund_all(task: &TaskInfoOf<T>) -> BalanceOf<T> {
			Self::release(&task.requester, task.escrow)
		}

		/// Releases up to `amount` of escrow on `who`; returns what was released.
		pub(crate) fn release(who: &T::AccountId, amount: BalanceOf<T>) -> BalanceOf<T> {
			if amount.is_zero() {
				return amount;
			}
			T::Currency::release(&HoldReason::Escrow.into(), who, amount, Precision::BestEffort)
				.unwrap_or_else(|error| {
					log::error!(
						target: LOG_TARGET,
						"releasing escrow failed: {error:?}; the hold no longer covers the task"
					);
					Zero::zero()
				})
		}

		/// Escrow held on `who` for its open tasks.
		pub fn escrow_of(who: &T::AccountId) -> BalanceOf<T> {
			T::Currency::balance_on_hold(&HoldReason::Escrow.into(), who)
		}

		/// Ends the open `task` with `status`: gives back the reservations of the agenda items it
		/// no longer needs, drops its input and executor index entries, decrements its model's
		/// open tasks and stores it until its planned expiry.
		pub(crate) fn end_task(
			task_id: TaskId,
			mut task: TaskInfoOf<T>,
			status: TaskStatus<BlockNumberFor<T>>,
		) {
			Self::release_plan(&task, &task.status);
			task.status = status;
			for executor in task.executors.iter() {
				Self::release_task(&executor.who, task_id);
			}
			TaskInputs::<T>::remove(task_id);
			OpenTasks::<T>::mutate_exists(task.model_id, |open| {
				*open = open.and_then(|n| n.checked_sub(1)).filter(|n| *n > 0);
			});
			Tasks::<T>::insert(task_id, task);
		}
	}

	impl<T: Config> PendingTasksGuard for Pallet<T> {
		fn has_pending_tasks(model_id: ModelId) -> bool {
			OpenTasks::<T>::get(model_id) > 0
		}
	}
}
