//! The staking side as other pallets see it (implemented by `pallet-inference-staking`).

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_runtime::{DispatchError, Perbill, Weight};

/// Why a validator is slashed.
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
pub enum SlashReason {
	/// Its revealed result disagreed with the quorum's.
	Mismatch,
	/// It was assigned a task and never committed while others did.
	NoShow,
	/// It committed to a result and never revealed it: withholding, charged at least as much
	/// as a mismatch (a lazy executor could otherwise commit a guess and reveal only on a match).
	Withheld,
}

/// What the inference and model pallets need from staking.
///
/// `Credit` is the imbalance in which rewards are paid (in the runtime,
/// `fungible::Credit<AccountId, Balances>`): the payer has already taken the funds out of an
/// account or a hold, and the staking side resolves them into its own accounts.
pub trait InferenceStaking<AccountId> {
	/// Amount of the staked token.
	type Balance;
	/// Funds in flight handed over as a reward.
	type Credit;

	/// Whether `who` is a registered validator (chilled and jailed ones included).
	fn is_validator(who: &AccountId) -> bool;

	/// Whether `who` may be assigned tasks now: registered, active (not chilled), not jailed, and
	/// with an own bond (after slashes) of at least the staking side's minimum.
	fn is_eligible(who: &AccountId) -> bool;

	/// Total stake backing `who`: its own bond plus active delegations, after slashes; zero when
	/// `who` is not a validator. Sampling weights tasks' assignment by this value.
	fn total_stake(who: &AccountId) -> Self::Balance;

	/// Pays `reward` to `validator`: commission to the validator, the rest shared pro rata by its
	/// delegators and its own bond. On error the credit is handed back untouched.
	fn reward(
		validator: &AccountId,
		reward: Self::Credit,
	) -> Result<(), (Self::Credit, DispatchError)>;

	/// Slashes `fraction` of everything at stake on `validator` (own bond, delegations and
	/// unbonding chunks, pro rata) and returns the amount taken. Also after `validator` left
	/// the set (deregistered or evicted): what was staked on it stays slashable until withdrawn,
	/// so that leaving with tasks in progress escapes nothing.
	fn slash(validator: &AccountId, fraction: Perbill, reason: SlashReason) -> Self::Balance;

	/// Records a fault of `validator` that takes no stake (a fault within an offence span that
	/// was already slashed at least as much): it counts towards the jail as a slash does, so
	/// that a validator cannot go on faulting for free while its span lasts.
	fn note_fault(validator: &AccountId);

	/// Sum of [`Self::total_stake`] over all eligible validators: the length of the interval that
	/// [`Self::eligible_validator_at`] maps onto validators.
	fn total_eligible_stake() -> Self::Balance;

	/// Stake-weighted sampling in `O(log MaxValidators)`: lays the eligible validators' stakes end
	/// to end on `[0, total_eligible_stake())` and returns the validator whose segment contains
	/// `point`, or `None` when `point >= total_eligible_stake()`. Drawing `point` uniformly picks
	/// each eligible validator with probability proportional to its total stake; a caller that
	/// needs distinct executors draws again on a repeat (or on a validator it cannot use).
	fn eligible_validator_at(point: Self::Balance) -> Option<AccountId>;

	/// Every eligible validator with its total stake, in no particular order. Costs
	/// `O(MaxValidators)`: for off-chain code, genesis and tests, not for per-task sampling.
	fn eligible_validators() -> Vec<(AccountId, Self::Balance)>;

	/// Worst-case weight of one [`Self::slash`] (or [`Self::note_fault`]) call, for callers to
	/// charge: the slash that jails a validator with the most delegators that weights cover.
	fn slash_weight() -> Weight;

	/// What delegators add to one [`Self::reward`] or [`Self::slash`] call, at most: the weight
	/// of the call for a validator with the most delegators that weights cover, less its weight
	/// for a validator without any (neither call iterates over delegators; a larger storage trie
	/// is deeper to walk).
	///
	/// A caller benchmarked against validators without delegators (the inference pallet's
	/// settlement, whose benchmarks need a dozen validators apiece) adds this once per call.
	fn delegators_weight() -> Weight;
}

/// Told by the staking side when a validator's record is removed (it deregistered, or a newcomer
/// with more stake evicted it from a full set), so that other pallets drop what they keep for
/// validators only (the inference pallet: the validator's inference key).
///
/// Wired in the runtime as the staking pallet's `OnValidatorRemoved`; `()` does nothing.
pub trait OnValidatorRemoved<AccountId> {
	/// `validator` is no longer registered.
	fn on_validator_removed(validator: &AccountId);

	/// Worst-case weight of one [`Self::on_validator_removed`] call, charged by the calls that
	/// remove validators.
	fn weight() -> Weight;
}

impl<AccountId> OnValidatorRemoved<AccountId> for () {
	fn on_validator_removed(_validator: &AccountId) {}

	fn weight() -> Weight {
		Weight::zero()
	}
}
