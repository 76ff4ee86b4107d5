//! Inference staking: validators bond OPG, token holders delegate to them, and faults found by
//! the inference pallet are slashed from everyone who backs the faulty validator.
//!
//! ## Overview
//!
//! - **Holds, not transfers.** A validator's own bond, every delegation and every unbonding chunk
//!   is a fungible hold with [`HoldReason::Staking`] on the owner's own account. Nothing staked
//!   ever leaves it except what a slash burns.
//! - **Unbonding.** `unbond` / `undelegate` move stake into an unbonding chunk that can be
//!   withdrawn `UnbondingPeriod` blocks later with `withdraw_unbonded`. Chunks stay slashable until
//!   withdrawn, so unbonding first does not escape a slash; neither does leaving: the pool of a
//!   validator that deregistered or was evicted is still slashed for faults of the tasks it took
//!   before, as long as chunks or positions refer to it.
//! - **Rewards and slashes in `O(1)`.** Each validator has a [`Pool`]: an *active* share pool
//!   (own bond + delegations) and an *unbonding* share pool (all chunks drawn from it), plus a
//!   reward-per-share accumulator.
//!   - `reward(validator, credit)` (from the inference pallet, through
//!     [`opg_primitives::staking::InferenceStaking`]) pays `commission × reward` (rounded down) to
//!     the validator and raises the accumulator by `rest / shares` (rounded down); the credit
//!     itself is resolved into the pallet's reward pot account.
//!   - `slash(validator, fraction, reason)` cuts `fraction` (rounded up) of the active and of the
//!     unbonding pool's value, which lowers every share's worth at once.
//!   - A position is realised lazily, when its owner next touches it: rewards accrued since are
//!     moved to its `unclaimed` balance and the slashed part of its hold is burnt into
//!     [`Config::Slash`]. The validator's own bond is realised at once by the slash.
//!
//!   Rounding always goes against the one being paid (see [`rewards`] for the exact rules and
//!   where the dust stays).
//! - **Eligibility and jail.** A validator is eligible for tasks while it is registered, active
//!   (not chilled), not jailed and its own bond after slashes is at least `MinValidatorBond`. Being
//!   slashed `MaxFaultsBeforeJail` times within `FaultWindow` blocks jails (and chills) it for
//!   `JailDuration` blocks; afterwards it calls `activate`. A slash or an `unbond` that leaves
//!   its own bond below `MinValidatorBond` chills it too (`Chilled`), and `activate` refuses it
//!   until `bond_extra` has brought the bond back up: the status says what the validator can do.
//! - **Sampling.** Eligible validators' total stakes are kept in a Fenwick tree, so other pallets
//!   draw a validator with probability proportional to its stake in `O(log MaxValidators)`
//!   ([`opg_primitives::staking::InferenceStaking::eligible_validator_at`]).
//! - **No squatting.** A full set (`MaxValidators`) admits a newcomer whose bond is more than
//!   the least stake in the set, by evicting that validator (`ValidatorEvicted`). Stakes are
//!   compared as sampling counts them: an ineligible validator (chilled, jailed, under-bonded)
//!   has none and goes first; ties go to the lowest account. The evicted validator's own bond
//!   moves into an unbonding chunk that matures `UnbondingPeriod` blocks later and stays
//!   slashable; its delegators keep their positions as after `deregister`. A validator keeps one
//!   of its `MaxUnbondingChunks` chunk places free for that chunk, so none can make itself
//!   impossible to evict.
//!
//! ## Calls
//!
//! Validators: [`register_validator`](Pallet::register_validator),
//! [`bond_extra`](Pallet::bond_extra), [`set_commission`](Pallet::set_commission),
//! [`chill`](Pallet::chill), [`activate`](Pallet::activate), [`unbond`](Pallet::unbond),
//! [`deregister`](Pallet::deregister).
//!
//! Delegators: [`delegate`](Pallet::delegate), [`undelegate`](Pallet::undelegate),
//! [`claim_rewards`](Pallet::claim_rewards).
//!
//! Both: [`withdraw_unbonded`](Pallet::withdraw_unbonded).
//!
//! ## Example
//!
//! The life of a delegation (from `tests/delegation.rs`): Bob delegates 100 to Alice, Alice is
//! rewarded and slashed, Bob undelegates everything, waits `UnbondingPeriod` blocks and
//! withdraws; what he gets back is his 100 minus the slashed fraction, and the reward he claims
//! is his stake's share of what was left after Alice's commission.
//!
//! ```ignore
//! Staking::delegate(RuntimeOrigin::signed(BOB), ALICE, 100)?;
//! <Staking as InferenceStaking<_>>::reward(&ALICE, Balances::issue(60))?;
//! <Staking as InferenceStaking<_>>::slash(&ALICE, Perbill::from_percent(10), SlashReason::Mismatch);
//! Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 100)?; // realises the slash: 90 left
//! run_to_block(now + UnbondingPeriod);
//! Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB))?; // releases 90
//! ```

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

/// The delegator count at which delegation, reward and slash weights are charged.
///
/// None of these calls iterates over delegators (rewards and slashes go through per-share
/// accumulators). Their benchmarks still show a small slope in `d`, the number of other
/// delegators of the validator: a larger storage trie is deeper to walk. Charging at the
/// benchmarked maximum keeps the charged weight an over-estimate for validators up to that size.
pub const WEIGHT_DELEGATORS: u32 = 1_000;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
#[cfg(any(test, feature = "try-runtime"))]
mod invariants;
mod ledger;
#[cfg(test)]
mod mock;
pub mod rewards;
mod sampling;
mod slashing;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

/// Log target of this pallet.
pub const LOG_TARGET: &str = "runtime::inference-staking";

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{self, Inspect as _},
			tokens::{Fortitude, Preservation},
			BuildGenesisConfig, OnUnbalanced,
		},
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use opg_primitives::staking::OnValidatorRemoved as _;
	use sp_runtime::{
		traits::{Saturating, Zero},
		Perbill,
	};

	/// Amount of the staked token.
	pub type BalanceOf<T> = <<T as Config>::Currency as fungible::Inspect<
		<T as frame_system::Config>::AccountId,
	>>::Balance;
	/// Funds in flight, in which rewards arrive and slashes leave.
	pub type CreditOf<T> =
		fungible::Credit<<T as frame_system::Config>::AccountId, <T as Config>::Currency>;
	/// A validator's record.
	pub type ValidatorInfoOf<T> =
		ValidatorInfo<BalanceOf<T>, BlockNumberFor<T>, <T as Config>::MaxFaultsBeforeJail>;
	/// An unbonding chunk.
	pub type ChunkOf<T> =
		UnbondingChunk<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>>;
	/// An account's unbonding chunks.
	pub type ChunksOf<T> = BoundedVec<ChunkOf<T>, <T as Config>::MaxUnbondingChunks>;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The staked token. Stake is held on the owner's account with [`HoldReason::Staking`];
		/// slashes are taken with `BalancedHold::slash`; rewards arrive as a credit and are
		/// resolved into the reward pot with `Balanced::resolve`.
		type Currency: fungible::Inspect<Self::AccountId>
			+ fungible::Mutate<Self::AccountId>
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ fungible::BalancedHold<Self::AccountId>
			+ fungible::Balanced<Self::AccountId>;

		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;

		/// Where slashed funds go (the runtime sends them to the treasury; dropping them burns).
		type Slash: OnUnbalanced<CreditOf<Self>>;

		/// Derives the reward pot account, which holds rewards until they are claimed.
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// Smallest own bond a validator registers with, and needs (after slashes) to be eligible.
		#[pallet::constant]
		type MinValidatorBond: Get<BalanceOf<Self>>;

		/// Smallest amount of one `delegate` call and of what an `undelegate` may leave behind.
		#[pallet::constant]
		type MinDelegation: Get<BalanceOf<Self>>;

		/// Most validators registered at once (also the size of the sampling tree).
		#[pallet::constant]
		type MaxValidators: Get<u32>;

		/// Most validators one account delegates to at once.
		#[pallet::constant]
		type MaxDelegationsPerDelegator: Get<u32>;

		/// Most unbonding chunks of one account (over all validators) at once; chunks created in
		/// the same block for the same validator are merged.
		#[pallet::constant]
		type MaxUnbondingChunks: Get<u32>;

		/// Blocks between unbonding and being able to withdraw.
		#[pallet::constant]
		type UnbondingPeriod: Get<BlockNumberFor<Self>>;

		/// Slashes within `FaultWindow` blocks that jail a validator.
		#[pallet::constant]
		type MaxFaultsBeforeJail: Get<u32>;

		/// Blocks over which slashes are counted towards jailing.
		#[pallet::constant]
		type FaultWindow: Get<BlockNumberFor<Self>>;

		/// Blocks a jailed validator stays jailed.
		#[pallet::constant]
		type JailDuration: Get<BlockNumberFor<Self>>;

		/// Blocks before a commission increase takes effect, so that delegators see it coming
		/// and can leave: a validator cannot raise its cut just before a visible settlement.
		/// Decreases take effect at once.
		#[pallet::constant]
		type CommissionDelay: Get<BlockNumberFor<Self>>;

		/// Largest commission increase of one `set_commission`, in percentage points of the
		/// commission in effect.
		#[pallet::constant]
		type MaxCommissionIncrease: Get<Perbill>;

		/// Told when a validator's record is removed (`deregister`, or an eviction from a full
		/// set), after its sampling slot is freed. The runtime clears the validator's inference
		/// key with it; its weight is charged on top of the removing call's.
		type OnValidatorRemoved: opg_primitives::staking::OnValidatorRemoved<Self::AccountId>;

		/// Weights of this pallet's calls and of `reward` / `slash`.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// Bonded, delegated or unbonding stake.
		#[codec(index = 0)]
		Staking,
	}

	/// Registered validators.
	///
	/// Blake2_128Concat: anyone may register, so keys are chosen by users.
	#[pallet::storage]
	pub type Validators<T: Config> =
		CountedStorageMap<_, Blake2_128Concat, T::AccountId, ValidatorInfoOf<T>, OptionQuery>;

	/// Stake accounting of each validator, kept while any position or chunk refers to it.
	///
	/// Blake2_128Concat: keys are validator accounts, chosen by users.
	#[pallet::storage]
	pub type Pools<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, Pool<BalanceOf<T>>, OptionQuery>;

	/// Delegations: `(delegator, validator) -> position`. `principal` is the amount held;
	/// the view function `position` gives the value after slashes and the claimable rewards.
	///
	/// Blake2_128Concat on both keys: both are user-chosen accounts.
	#[pallet::storage]
	pub type Delegations<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Blake2_128Concat,
		T::AccountId,
		Stake<BalanceOf<T>>,
		OptionQuery,
	>;

	/// Number of validators each account delegates to (bounded by `MaxDelegationsPerDelegator`).
	///
	/// Blake2_128Concat: keys are user-chosen accounts.
	#[pallet::storage]
	pub type DelegationCount<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// Unbonding chunks of each account, oldest first.
	///
	/// Blake2_128Concat: keys are user-chosen accounts.
	#[pallet::storage]
	pub type Unbonding<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, ChunksOf<T>, ValueQuery>;

	/// Reward per share at which a validator's active pool was wiped out (a slash took all of
	/// it), by the generation that ended: positions of that generation settle rewards up to it.
	///
	/// Blake2_128Concat on the user-chosen validator; Twox64Concat on the generation, which the
	/// pallet chooses.
	#[pallet::storage]
	pub type WipedRewardPerShare<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		u32,
		RewardPerShare,
		OptionQuery,
	>;

	/// Rewards credited to positions (commission included) and not yet claimed: what the reward
	/// pot owes. Claims are rounded down, so it may exceed the sum of what is claimable by at
	/// most one unit per settlement.
	#[pallet::storage]
	pub type OutstandingRewards<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Parts of rewards too small to raise the reward per share: they stay in the reward pot
	/// and belong to nobody.
	#[pallet::storage]
	pub type RewardDust<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Fenwick tree over sampling slots `1..=MaxValidators`: node `i` holds the sum of the
	/// sampling weights of slots `(i - lowbit(i), i]`.
	///
	/// Twox64Concat: slots are assigned by the pallet.
	#[pallet::storage]
	pub type StakeTree<T: Config> = StorageMap<_, Twox64Concat, u32, BalanceOf<T>, ValueQuery>;

	/// Validator in each used sampling slot.
	///
	/// Twox64Concat: slots are assigned by the pallet.
	#[pallet::storage]
	pub type SlotOwner<T: Config> = StorageMap<_, Twox64Concat, u32, T::AccountId, OptionQuery>;

	/// Highest sampling slot handed out so far.
	#[pallet::storage]
	pub type NextSlot<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// First slot of the free-slot list (0: empty).
	#[pallet::storage]
	pub type FreeSlotHead<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Next free slot after each free slot (0: end of the list).
	///
	/// Twox64Concat: slots are assigned by the pallet.
	#[pallet::storage]
	pub type FreeSlotNext<T: Config> = StorageMap<_, Twox64Concat, u32, u32, ValueQuery>;

	/// Sum of the sampling weights: the total stake of eligible validators.
	#[pallet::storage]
	pub type TotalEligibleStake<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A validator registered with an own bond.
		ValidatorRegistered { validator: T::AccountId, bond: BalanceOf<T>, commission: Perbill },
		/// A validator added to its own bond.
		Bonded { validator: T::AccountId, amount: BalanceOf<T> },
		/// A validator's commission changed: at once for a decrease, or at block `at` for an
		/// increase (`CommissionDelay` blocks after it was asked for; until then the old one
		/// applies).
		CommissionSet { validator: T::AccountId, commission: Perbill, at: BlockNumberFor<T> },
		/// A validator stopped taking tasks: it called `chill`, or a slash or an `unbond` left its
		/// own bond below `MinValidatorBond` (it calls `bond_extra`, then `activate`). A jail
		/// chills too, announced by `Jailed` alone.
		Chilled { validator: T::AccountId },
		/// A validator resumed taking tasks.
		Activated { validator: T::AccountId },
		/// A validator moved part of its own bond into unbonding (`amount` may be zero when an
		/// own bond worth nothing is emptied).
		Unbonded {
			validator: T::AccountId,
			amount: BalanceOf<T>,
			unlock_at: Option<BlockNumberFor<T>>,
		},
		/// A validator left; its delegators' positions stay until they undelegate.
		ValidatorDeregistered { validator: T::AccountId },
		/// `validator` was evicted from the full set to make room for `by`, whose bond was more
		/// than `validator`'s stake: its own bond moved into unbonding (the `Unbonded` before
		/// this event says how much and until when), and its delegators' positions stay until
		/// they undelegate.
		ValidatorEvicted { validator: T::AccountId, by: T::AccountId },
		/// Stake was delegated to a validator.
		Delegated { delegator: T::AccountId, validator: T::AccountId, amount: BalanceOf<T> },
		/// Delegated stake moved into unbonding (`amount` may be zero when a position worth
		/// nothing is closed).
		Undelegated {
			delegator: T::AccountId,
			validator: T::AccountId,
			amount: BalanceOf<T>,
			unlock_at: Option<BlockNumberFor<T>>,
		},
		/// Matured unbonding chunks were released (`slashed` was burnt from them first).
		Withdrawn { who: T::AccountId, amount: BalanceOf<T>, slashed: BalanceOf<T> },
		/// Rewards were paid from the reward pot.
		RewardsClaimed { who: T::AccountId, validator: T::AccountId, amount: BalanceOf<T> },
		/// A validator was rewarded: `commission` to it, `amount - commission - dust` to its
		/// stake pro rata, `dust` left in the pot.
		Rewarded {
			validator: T::AccountId,
			amount: BalanceOf<T>,
			commission: BalanceOf<T>,
			dust: BalanceOf<T>,
		},
		/// A validator was slashed: `active` and `unbonding` are what was cut from its pools
		/// (burnt from each position when it is next touched).
		Slashed {
			validator: T::AccountId,
			fraction: Perbill,
			reason: opg_primitives::staking::SlashReason,
			active: BalanceOf<T>,
			unbonding: BalanceOf<T>,
		},
		/// Part of a position's hold was burnt for slashes since it was last touched, and sent
		/// to the slash handler.
		SlashApplied { who: T::AccountId, validator: T::AccountId, amount: BalanceOf<T> },
		/// A validator was jailed (and chilled) until `until`.
		Jailed { validator: T::AccountId, until: BlockNumberFor<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account is already a validator: use `bond_extra` or `set_commission`.
		AlreadyValidator,
		/// The account is not a registered validator: register first, or pick a registered one.
		NotValidator,
		/// `MaxValidators` validators are registered and the bond is not more than the least
		/// stake among them (zero for a chilled, jailed or under-bonded one): bond more than the
		/// least-staked validator's stake, or wait until one leaves.
		TooManyValidators,
		/// The bond is below `MinValidatorBond`: bond at least that much.
		BondTooLow,
		/// The delegated amount is below `MinDelegation`: delegate at least that much.
		DelegationTooLow,
		/// Not enough free balance (beyond the existential deposit): bond or delegate less.
		InsufficientBalance,
		/// The amount is zero: pass a positive amount.
		ZeroAmount,
		/// What would stay bonded is below the minimum (`MinValidatorBond` for an own bond,
		/// `MinDelegation` for a delegation) but not zero: unbond everything or less.
		BelowMinimum,
		/// The account has `MaxUnbondingChunks` chunks, or a validator (or an account
		/// registering as one) one fewer: the last place is kept for the chunk an eviction would
		/// give it. Withdraw matured ones or wait.
		TooManyUnbondingChunks,
		/// No unbonding chunk has matured: wait until `UnbondingPeriod` has passed.
		NothingToWithdraw,
		/// The validator still has an own bond: `unbond` all of it first.
		StillBonded,
		/// The validator still has unbonding chunks of its own: `withdraw_unbonded` them first.
		UnbondingPending,
		/// The account has no delegation with this validator: delegate first.
		NotDelegated,
		/// The account delegates to `MaxDelegationsPerDelegator` validators: undelegate from
		/// one first.
		TooManyDelegations,
		/// A validator cannot delegate to itself: use `bond_extra`.
		SelfDelegation,
		/// The validator is already chilled: nothing to do.
		AlreadyChilled,
		/// The validator is already active: nothing to do.
		AlreadyActive,
		/// The validator is jailed: wait until its `jailed_until` block.
		StillJailed,
		/// There are no rewards to claim: wait for the validator to be rewarded.
		NoRewards,
		/// The pool's share price fell so low (after heavy slashes) that shares would overflow:
		/// stake with another validator.
		SharePriceTooLow,
		/// The amount is worth less than one share at the pool's price: use a larger amount, or
		/// unbond everything.
		ShareRounding,
		/// An amount would overflow: use a smaller amount.
		Overflow,
		/// The reward pot cannot take the reward (it lacks the existential deposit the genesis
		/// gives it): the runtime must build this pallet's genesis.
		RewardPotUnavailable,
		/// The commission would rise by more than `MaxCommissionIncrease` at once: raise it in
		/// steps, each `CommissionDelay` blocks apart.
		CommissionIncreaseTooLarge,
		/// The validator's own bond (after slashes) is below `MinValidatorBond`: `bond_extra` up
		/// to the minimum, then `activate`.
		OwnBondBelowMinimum,
	}

	impl<T> From<ShareError> for Error<T> {
		fn from(e: ShareError) -> Self {
			match e {
				ShareError::Overflow => Error::<T>::SharePriceTooLow,
				ShareError::TooSmall => Error::<T>::ShareRounding,
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(!T::MinValidatorBond::get().is_zero(), "MinValidatorBond must be positive");
			assert!(!T::MinDelegation::get().is_zero(), "MinDelegation must be positive");
			assert!(T::MaxValidators::get() > 0, "MaxValidators must be positive");
			// The sampling tree walks `log2(MaxValidators)` levels with `u32` slot arithmetic.
			assert!(T::MaxValidators::get() <= 1 << 24, "MaxValidators must be at most 2^24");
			assert!(
				T::MaxDelegationsPerDelegator::get() > 0,
				"delegators must be able to delegate"
			);
			assert!(
				T::MaxUnbondingChunks::get() > 1,
				"validators must be able to unbond and keep a chunk place for an eviction"
			);
			assert!(T::MaxFaultsBeforeJail::get() > 0, "MaxFaultsBeforeJail must be positive");
			assert!(!T::UnbondingPeriod::get().is_zero(), "UnbondingPeriod must be positive");
			assert!(!T::FaultWindow::get().is_zero(), "FaultWindow must be positive");
			assert!(!T::JailDuration::get().is_zero(), "JailDuration must be positive");
			assert!(
				T::MinValidatorBond::get() >= T::MinDelegation::get(),
				"a validator's own bond should be at least a delegation"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers the caller as a validator, holding `bond` of its balance as its own stake.
		/// The validator starts active.
		///
		/// When `MaxValidators` are registered, `bond` must be more than the least stake in the
		/// set, and the validator with that stake is evicted (see the [crate] docs, "No
		/// squatting"): finding it reads every validator, which the weight charges; a
		/// registration with room is refunded that part.
		///
		/// - Origin: signed, the validator, with `bond` free beyond the existential deposit and
		///   fewer than `MaxUnbondingChunks` unbonding chunks.
		/// - Errors: [`Error::AlreadyValidator`], [`Error::BondTooLow`],
		///   [`Error::InsufficientBalance`], [`Error::TooManyUnbondingChunks`],
		///   [`Error::TooManyValidators`].
		/// - Events: on an eviction [`Event::Unbonded`] and [`Event::ValidatorEvicted`] for the
		///   evicted validator; [`Event::ValidatorRegistered`].
		#[pallet::call_index(0)]
		#[pallet::weight(Pallet::<T>::eviction_weight())]
		pub fn register_validator(
			origin: OriginFor<T>,
			#[pallet::compact] bond: BalanceOf<T>,
			commission: Perbill,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let weight = match Self::do_register(&who, bond, commission)? {
				Some(_) => Self::eviction_weight(),
				None => T::WeightInfo::register_validator(0),
			};
			Ok(Some(weight).into())
		}

		/// Adds `amount` of the caller's free balance to its own bond.
		///
		/// Origin: signed, a registered validator. Emits `Bonded`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::bond_extra())]
		pub fn bond_extra(
			origin: OriginFor<T>,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_bond_extra(&who, amount)
		}

		/// Sets the share of each reward the caller keeps before the rest is shared by stake.
		///
		/// A decrease applies to rewards from now on. An increase of at most
		/// `MaxCommissionIncrease` over the commission in effect applies `CommissionDelay` blocks
		/// from now, replacing any increase still pending; until then the commission in effect
		/// stays.
		///
		/// - Origin: signed, a registered validator.
		/// - Errors: [`Error::NotValidator`], [`Error::CommissionIncreaseTooLarge`].
		/// - Event: [`Event::CommissionSet`].
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_commission())]
		pub fn set_commission(origin: OriginFor<T>, commission: Perbill) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut info = Validators::<T>::get(&who).ok_or(Error::<T>::NotValidator)?;
			let now = frame_system::Pallet::<T>::block_number();
			info.apply_due_commission(&now);
			let at = if commission <= info.commission {
				info.commission = commission;
				info.pending_commission = None;
				now
			} else {
				ensure!(
					commission.saturating_sub(info.commission) <= T::MaxCommissionIncrease::get(),
					Error::<T>::CommissionIncreaseTooLarge
				);
				let at = now.saturating_add(T::CommissionDelay::get());
				info.pending_commission = Some((commission, at));
				at
			};
			Validators::<T>::insert(&who, info);
			Self::deposit_event(Event::CommissionSet { validator: who, commission, at });
			Ok(())
		}

		/// Stops the caller taking new tasks. It stays bonded, rewarded for tasks it had and
		/// slashable.
		///
		/// Origin: signed, an active registered validator. Emits `Chilled`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::chill())]
		pub fn chill(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_status(&who, ValidatorStatus::Chilled)
		}

		/// Makes the caller take tasks again (after `chill`, after a jail has ended, or after
		/// `bond_extra` brought an own bond that had fallen below the minimum back up).
		///
		/// - Origin: signed, a chilled registered validator.
		/// - Errors: [`Error::NotValidator`], [`Error::AlreadyActive`], [`Error::StillJailed`],
		///   [`Error::OwnBondBelowMinimum`].
		/// - Event: [`Event::Activated`].
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::activate())]
		pub fn activate(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_status(&who, ValidatorStatus::Active)
		}

		/// Moves up to `amount` of the caller's own bond (after slashes) into an unbonding chunk
		/// that matures after `UnbondingPeriod` blocks. What stays must be zero or at least
		/// `MinValidatorBond`; unbonding all of it chills the validator.
		///
		/// Origin: signed, a registered validator. Emits `Unbonded`, then `Chilled` when the
		/// validator was active and nothing stays.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::unbond(T::MaxUnbondingChunks::get()))]
		pub fn unbond(
			origin: OriginFor<T>,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let chunks = Self::do_unbond(&who, amount)?;
			Ok(Some(T::WeightInfo::unbond(chunks)).into())
		}

		/// Releases every matured unbonding chunk of the caller (own bond and delegations), after
		/// burning what slashes took from them.
		///
		/// Origin: signed, any account with a matured chunk. Emits `Withdrawn`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::withdraw_unbonded(T::MaxUnbondingChunks::get()))]
		pub fn withdraw_unbonded(origin: OriginFor<T>) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let chunks = Self::do_withdraw_unbonded(&who)?;
			Ok(Some(T::WeightInfo::withdraw_unbonded(chunks)).into())
		}

		/// Removes the caller's validator record once it has no own bond and no own unbonding
		/// chunk left, paying out its unclaimed commission and rewards, and tells
		/// `OnValidatorRemoved` (the runtime clears the validator's inference key). Its
		/// delegators keep their positions, no longer rewarded, until they undelegate; faults
		/// of tasks the validator took before it left still slash them.
		///
		/// Origin: signed, a registered validator. Emits `ValidatorDeregistered`.
		#[pallet::call_index(7)]
		#[pallet::weight(
			T::WeightInfo::deregister(T::MaxUnbondingChunks::get())
				.saturating_add(T::OnValidatorRemoved::weight())
		)]
		pub fn deregister(origin: OriginFor<T>) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let chunks = Self::do_deregister(&who)?;
			let weight = T::WeightInfo::deregister(chunks);
			Ok(Some(weight.saturating_add(T::OnValidatorRemoved::weight())).into())
		}

		/// Delegates `amount` of the caller's free balance to `validator` (held on the caller's
		/// account). Realises the caller's earlier position with `validator` first.
		///
		/// Origin: signed, not `validator`. Needs `amount >= MinDelegation` and, for a new
		/// position, fewer than `MaxDelegationsPerDelegator` delegations. Emits `Delegated`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::delegate(WEIGHT_DELEGATORS))]
		pub fn delegate(
			origin: OriginFor<T>,
			validator: T::AccountId,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_delegate(&who, &validator, amount)
		}

		/// Moves up to `amount` of the caller's delegation to `validator` (after slashes) into
		/// an unbonding chunk that matures after `UnbondingPeriod` blocks. What stays must be
		/// zero or at least `MinDelegation`; when nothing stays, the position is closed and its
		/// unclaimed rewards are paid.
		///
		/// Origin: signed, a delegator of `validator`. Emits `Undelegated`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::undelegate(
			T::MaxUnbondingChunks::get(),
			WEIGHT_DELEGATORS
		))]
		pub fn undelegate(
			origin: OriginFor<T>,
			validator: T::AccountId,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let chunks = Self::do_undelegate(&who, &validator, amount)?;
			Ok(Some(T::WeightInfo::undelegate(chunks, WEIGHT_DELEGATORS)).into())
		}

		/// Pays the caller the rewards of its position with `validator` (its own bond and
		/// commission when the caller is `validator`) from the reward pot.
		///
		/// Origin: signed, a delegator of `validator` or `validator` itself. Emits
		/// `RewardsClaimed`.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::claim_rewards(WEIGHT_DELEGATORS))]
		pub fn claim_rewards(origin: OriginFor<T>, validator: T::AccountId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_claim_rewards(&who, &validator)
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// `who`'s position with `validator` (its own bond when `who == validator`): value after
		/// every slash so far, amount held for it, and rewards claimable now.
		pub fn position(
			who: T::AccountId,
			validator: T::AccountId,
		) -> Option<PositionView<BalanceOf<T>>> {
			Self::position_view(&who, &validator)
		}

		/// `who`'s unbonding chunks as `(validator, value after slashes, unlock_at)`.
		pub fn unbonding_chunks(
			who: T::AccountId,
		) -> Vec<(T::AccountId, BalanceOf<T>, BlockNumberFor<T>)> {
			Self::chunks_view(&who)
		}

		/// Total stake of `validator` (own bond plus delegations, after slashes).
		pub fn validator_stake(validator: T::AccountId) -> BalanceOf<T> {
			Self::active_stake(&validator)
		}

		/// Whether `validator` may be assigned tasks now.
		pub fn validator_eligible(validator: T::AccountId) -> bool {
			Self::eligible(&validator)
		}
	}

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Validators registered at genesis: `(account, own bond, commission)`.
		pub validators: Vec<(T::AccountId, BalanceOf<T>, Perbill)>,
		/// Delegations made at genesis: `(delegator, validator, amount)`.
		pub delegations: Vec<(T::AccountId, T::AccountId, BalanceOf<T>)>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			Pallet::<T>::endow_pot();
			// No evictions at genesis: every listed validator is registered.
			assert!(
				self.validators.len() <= T::MaxValidators::get() as usize,
				"more genesis validators than MaxValidators"
			);
			for (who, bond, commission) in &self.validators {
				let result = Pallet::<T>::do_register(who, *bond, *commission);
				assert!(result.is_ok(), "genesis validator {who:?} cannot register: {result:?}");
			}
			for (who, validator, amount) in &self.delegations {
				let result = Pallet::<T>::do_delegate(who, validator, *amount);
				assert!(result.is_ok(), "genesis delegation of {who:?} failed: {result:?}");
			}
		}
	}

	impl<T: Config> Pallet<T> {
		/// Worst-case weight of `register_validator`: an eviction and the removal hook.
		pub fn eviction_weight() -> Weight {
			T::WeightInfo::register_validator(1).saturating_add(T::OnValidatorRemoved::weight())
		}

		/// The account that holds rewards until they are claimed.
		pub fn pot_account() -> T::AccountId {
			use sp_runtime::traits::AccountIdConversion;
			T::PalletId::get().into_account_truncating()
		}

		/// Gives the reward pot its existential deposit, so that rewards smaller than it can be
		/// resolved into it (done at genesis).
		pub(crate) fn endow_pot() {
			use frame_support::traits::fungible::Mutate;
			let pot = Self::pot_account();
			let ed = T::Currency::minimum_balance();
			let balance = T::Currency::balance(&pot);
			if balance < ed {
				// Minting the existential deposit once is the pot's only endowment.
				let _ = T::Currency::mint_into(&pot, ed.saturating_sub(balance));
			}
		}

		/// The hold reason of all staked funds.
		pub(crate) fn hold_reason() -> T::RuntimeHoldReason {
			HoldReason::Staking.into()
		}

		/// Ensures `who` can put `amount` on hold and keep its existential deposit free.
		pub(crate) fn ensure_can_bond(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
			// `Force`: holds may cover frozen funds (as `MutateHold::hold` itself allows).
			let free = T::Currency::reducible_balance(who, Preservation::Protect, Fortitude::Force);
			ensure!(amount <= free, Error::<T>::InsufficientBalance);
			Ok(())
		}
	}
}
