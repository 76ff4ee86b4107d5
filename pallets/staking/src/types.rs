//! Storage types of the staking pallet and the share arithmetic they rely on.
//!
//! Every validator has a [`Pool`] with two [`SharePool`]s: the *active* one holds the
//! validator's own bond and its delegations, the *unbonding* one holds every unbonding chunk
//! drawn from them. A position owns shares of one of them; a slash cuts a pool's `value` and
//! thereby every share's worth at once, which is what makes it `O(1)`.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::Get, BoundedVec, CloneNoBound, DebugNoBound, PartialEqNoBound};
use scale_info::TypeInfo;
use sp_runtime::{
	helpers_128bit::multiply_by_rational_with_rounding,
	traits::{AtLeast32BitUnsigned, Saturating, Zero},
	Perbill, Rounding, SaturatedConversion,
};

/// Shares of a [`SharePool`]. A share is worth `pool.value / pool.shares`.
pub type Shares = u128;

/// Rewards per active share, as a fixed-point number scaled by [`REWARD_SCALE`].
pub type RewardPerShare = u128;

/// Fixed-point scale of [`RewardPerShare`] (18 decimal digits, like `FixedU128`).
pub const REWARD_SCALE: u128 = 1_000_000_000_000_000_000;

/// `a * b / c` with a 256-bit intermediate, rounded as asked; `None` on overflow or `c == 0`.
pub(crate) fn mul_div(a: u128, b: u128, c: u128, rounding: Rounding) -> Option<u128> {
	if c == 0 {
		return None;
	}
	multiply_by_rational_with_rounding(a, b, c, rounding)
}

/// Whether a validator takes tasks. `chill`, jailing and an own bond falling below
/// `MinValidatorBond` set `Chilled`; `activate` sets it back.
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
pub enum ValidatorStatus {
	/// Takes tasks while it is not jailed and its own bond is at least `MinValidatorBond`.
	Active,
	/// Takes no tasks; still rewarded for tasks it already had and still slashable.
	Chilled,
}

/// Why a share pool operation failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ShareError {
	/// The shares to mint would overflow `u128`: the pool's share price fell too low.
	Overflow,
	/// The amount is worth less than one share.
	TooSmall,
}

/// Value and share count of one pool of stake (active or unbonding) of one validator.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct SharePool<Balance> {
	/// What all current shares are worth together, after slashes. Bookkeeping only: the funds
	/// themselves are held on the owners' accounts.
	pub value: Balance,
	/// Shares owned by positions of the current `generation`.
	pub shares: Shares,
	/// Bumped when a slash leaves `value` at zero while shares remain: positions of an older
	/// generation are worth nothing and their shares are no longer counted in `shares`.
	pub generation: u32,
	/// Bumped (wrapping) by every slash that cut `value`. A position last touched in the current
	/// epoch has seen every slash already, so its value is exactly its principal.
	pub epoch: u32,
}

impl<Balance: AtLeast32BitUnsigned + Copy> SharePool<Balance> {
	/// Worth of `shares` of the current generation, rounded down.
	pub fn value_of(&self, shares: Shares) -> Balance {
		if self.shares.is_zero() {
			return Zero::zero();
		}
		let value: u128 = self.value.saturated_into();
		// `shares <= self.shares` for any real position, so the quotient fits in `value`.
		mul_div(shares, value, self.shares, Rounding::Down).unwrap_or(0).saturated_into()
	}

	/// Adds `amount` to the pool and returns the shares it buys, rounded down (in favour of the
	/// pool). An empty pool restarts at one share per unit and drops any leftover `value` (a
	/// rounding remainder that no position owned).
	pub fn mint(&mut self, amount: Balance) -> Result<Shares, ShareError> {
		let amount_u: u128 = amount.saturated_into();
		let minted = if self.shares.is_zero() {
			self.value = Zero::zero();
			amount_u
		} else {
			let value: u128 = self.value.saturated_into();
			// `value > 0` whenever `shares > 0`: a slash that empties `value` also drops the
			// shares (new generation); otherwise `mul_div` returns `None` and we refuse.
			mul_div(amount_u, self.shares, value, Rounding::Down).ok_or(ShareError::Overflow)?
		};
		if minted.is_zero() {
			return Err(ShareError::TooSmall);
		}
		self.shares = self.shares.checked_add(minted).ok_or(ShareError::Overflow)?;
		self.value = self.value.checked_add(&amount).ok_or(ShareError::Overflow)?;
		Ok(minted)
	}

	/// Shares to give up for taking `amount` out, rounded up (against the one leaving), at most
	/// `owned`.
	pub fn shares_for(&self, amount: Balance, owned: Shares) -> Shares {
		let value: u128 = self.value.saturated_into();
		mul_div(amount.saturated_into(), self.shares, value, Rounding::Up)
			.unwrap_or(owned)
			.min(owned)
	}

	/// Removes `shares` worth `amount` from the pool. When no share is left, the remaining
	/// `value` (rounding remainder owned by nobody) is dropped.
	pub fn burn(&mut self, shares: Shares, amount: Balance) {
		// Saturating: `shares` and `amount` never exceed the totals they are part of; the value
		// may lag a position's exact principal by rounding, so it floors at zero.
		self.shares = self.shares.saturating_sub(shares);
		self.value = self.value.saturating_sub(amount);
		if self.shares.is_zero() {
			self.value = Zero::zero();
		}
	}

	/// Cuts `fraction` of the value, rounded up (against the stakers). Returns the amount cut
	/// and whether the pool was wiped out (value zero with shares left), in which case the
	/// generation moves on and the old shares stop counting.
	pub fn slash(&mut self, fraction: Perbill) -> (Balance, bool) {
		let cut = fraction.mul_ceil(self.value).min(self.value);
		if cut.is_zero() {
			return (cut, false);
		}
		self.value = self.value.saturating_sub(cut);
		self.epoch = self.epoch.wrapping_add(1);
		let wiped = self.value.is_zero() && !self.shares.is_zero();
		if wiped {
			self.shares = 0;
			self.generation = self.generation.wrapping_add(1);
		}
		(cut, wiped)
	}
}

/// Accounting of one validator's stake: its active and unbonding share pools and its reward
/// accumulator. Lives while anything refers to it, which may be after the validator left.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct Pool<Balance> {
	/// Own bond and delegations.
	pub active: SharePool<Balance>,
	/// Unbonding chunks drawn from `active`, until withdrawn.
	pub unbonding: SharePool<Balance>,
	/// Rewards paid per active share since the pool was created, scaled by [`REWARD_SCALE`].
	pub reward_per_share: RewardPerShare,
	/// Records pointing at this pool: the validator's own stake while it is registered, its
	/// delegations and all unbonding chunks. The pool is removed when this drops to zero and the
	/// validator is gone.
	pub members: u32,
}

/// A stake position in a validator's active pool: the validator's own bond or a delegation.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct Stake<Balance> {
	/// Shares of the validator's active pool.
	pub shares: Shares,
	/// Amount held on the owner's account for this position: its value when last touched.
	/// Between touches slashes make the real value smaller; the difference is burnt on the next
	/// touch.
	pub principal: Balance,
	/// Generation of the active pool the shares belong to.
	pub generation: u32,
	/// Epoch of the active pool when last touched.
	pub epoch: u32,
	/// The pool's reward per share when rewards were last settled into `unclaimed`.
	pub reward_per_share_paid: RewardPerShare,
	/// Settled rewards (and, for a validator's own stake, commission) waiting in the reward pot.
	pub unclaimed: Balance,
}

impl<Balance: AtLeast32BitUnsigned + Copy> Stake<Balance> {
	/// An empty position entering `pool` now.
	pub fn new(pool: &Pool<Balance>) -> Self {
		Self {
			shares: 0,
			principal: Zero::zero(),
			generation: pool.active.generation,
			epoch: pool.active.epoch,
			reward_per_share_paid: pool.reward_per_share,
			unclaimed: Zero::zero(),
		}
	}

	/// What the position is worth now, after the slashes not yet applied to it; never more than
	/// its principal.
	pub fn value(&self, pool: &SharePool<Balance>) -> Balance {
		position_value(self.shares, self.principal, self.generation, self.epoch, pool)
	}
}

/// What a position of `shares` with `principal` is worth in `pool`, rounded down.
pub(crate) fn position_value<Balance: AtLeast32BitUnsigned + Copy>(
	shares: Shares,
	principal: Balance,
	generation: u32,
	epoch: u32,
	pool: &SharePool<Balance>,
) -> Balance {
	if generation != pool.generation {
		Zero::zero()
	} else if epoch == pool.epoch {
		principal
	} else {
		principal.min(pool.value_of(shares))
	}
}

/// Funds on their way out of a validator's active pool: still held, still slashable, released
/// by `withdraw_unbonded` from `unlock_at` on.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct UnbondingChunk<AccountId, Balance, BlockNumber> {
	/// Validator whose unbonding pool the chunk is part of.
	pub validator: AccountId,
	/// Shares of that unbonding pool.
	pub shares: Shares,
	/// Amount held for the chunk (its value when last touched).
	pub principal: Balance,
	/// Generation of the unbonding pool the shares belong to.
	pub generation: u32,
	/// Epoch of the unbonding pool when the chunk was created.
	pub epoch: u32,
	/// First block at which the chunk may be withdrawn.
	pub unlock_at: BlockNumber,
}

impl<AccountId, Balance: AtLeast32BitUnsigned + Copy, BlockNumber>
	UnbondingChunk<AccountId, Balance, BlockNumber>
{
	/// What the chunk is worth now, after slashes; never more than its principal.
	pub fn value(&self, pool: &SharePool<Balance>) -> Balance {
		position_value(self.shares, self.principal, self.generation, self.epoch, pool)
	}
}

/// A registered validator.
#[derive(
	CloneNoBound,
	PartialEqNoBound,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	DebugNoBound,
)]
#[scale_info(skip_type_params(MaxFaults))]
#[codec(mel_bound(Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
// The `NoBound` derives need the bounds on the parameters and repeat them in where clauses.
#[allow(clippy::multiple_bound_locations)]
pub struct ValidatorInfo<
	Balance: Clone + PartialEq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + core::fmt::Debug,
	MaxFaults: Get<u32>,
> {
	/// Share of each reward the validator keeps before the rest is split by stake.
	pub commission: Perbill,
	/// A commission increase and the block from which it applies (`set_commission`).
	pub pending_commission: Option<(Perbill, BlockNumber)>,
	/// Active or chilled.
	pub status: ValidatorStatus,
	/// The validator's own bond in its active pool; its `unclaimed` also collects commission.
	pub self_stake: Stake<Balance>,
	/// While set and in the future, the validator is jailed (and chilled).
	pub jailed_until: Option<BlockNumber>,
	/// Blocks of the slashes within the last `FaultWindow` blocks.
	pub recent_faults: BoundedVec<BlockNumber, MaxFaults>,
	/// Position in the stake-sampling tree (`1..=MaxValidators`).
	pub slot: u32,
	/// Weight the sampling tree holds for this validator: its active stake when eligible, else 0.
	pub sampling_weight: Balance,
}

impl<Balance, BlockNumber, MaxFaults> ValidatorInfo<Balance, BlockNumber, MaxFaults>
where
	Balance: AtLeast32BitUnsigned + Copy + core::fmt::Debug,
	BlockNumber: PartialOrd + Clone + PartialEq + core::fmt::Debug,
	MaxFaults: Get<u32>,
{
	/// Whether the validator is jailed at block `now`.
	pub fn is_jailed(&self, now: &BlockNumber) -> bool {
		self.jailed_until.as_ref().is_some_and(|until| until > now)
	}

	/// Makes a pending commission increase whose block has come the commission in effect.
	pub fn apply_due_commission(&mut self, now: &BlockNumber) {
		if let Some((commission, at)) = self.pending_commission.clone() {
			if at <= *now {
				self.commission = commission;
				self.pending_commission = None;
			}
		}
	}
}

/// A delegator's position as a client sees it (returned by the pallet's view functions).
#[derive(
	Clone,
	PartialEq,
	Eq,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub struct PositionView<Balance> {
	/// Current value of the active stake, after every slash so far.
	pub active: Balance,
	/// Amount still held for it (`active` plus slashes not yet applied).
	pub held: Balance,
	/// Rewards claimable now by `claim_rewards`.
	pub rewards: Balance,
}

impl<Balance: Saturating + Copy> PositionView<Balance> {
	/// Slashed but not yet burnt.
	pub fn pending_slash(&self) -> Balance {
		self.held.saturating_sub(self.active)
	}
}
