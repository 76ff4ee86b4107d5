//! Rewards: the reward-per-share accumulator, claims, and the rounding rules of the pallet.
//!
//! ## Algorithm
//!
//! Each validator's [`Pool`] has an active share pool (its own bond and its delegations) and an
//! unbonding share pool (chunks drawn from it), plus an accumulator `reward_per_share` (`R`,
//! fixed point scaled by [`REWARD_SCALE`]). A position stores its shares, its `principal` (the
//! amount held for it), the pool's `R` when its rewards were last settled and the pool's slash
//! `epoch` when it was last touched.
//!
//! - **Reward** of `amount` (a credit resolved into the reward pot account): with `S` active
//!   shares, `commission = floor(commission_rate × amount)` is credited to the validator's own
//!   `unclaimed`; `part = amount - commission`; `R += floor(part × SCALE / S)`; what this
//!   increase can ever pay out, `ceil(ΔR × S / SCALE) <= part`, is owed by the pot; the
//!   remainder `part - ceil(ΔR × S / SCALE)` is *reward dust* ([`RewardDust`]). With no active
//!   share the whole amount is commission. One storage read and write per pool: `O(1)`.
//! - **Settlement** of a position (whenever its owner touches it):
//!   `unclaimed += floor(shares × (R - R_paid) / SCALE)`, `R_paid = R`.
//! - **Slash** of `fraction`: each share pool's `value -= ceil(fraction × value)` and its `epoch`
//!   moves on: every share is worth less at once, `O(1)`. A position touched since the last slash
//!   is worth exactly its principal; otherwise it is worth
//!   `min(principal, floor(shares × value / total_shares))`, and touching it burns the
//!   difference from its hold into the slash handler. Unbonding chunks are valued the same way
//!   in the unbonding pool, so they are slashed too. If a slash takes a pool's whole value, the
//!   pool starts a new *generation*: positions of the old one are worth zero (their rewards up
//!   to the wipe stay claimable, through [`WipedRewardPerShare`]).
//! - **Joining and leaving**: `delegate` buys `floor(amount × S / value)` shares, `undelegate`
//!   gives up `ceil(amount × S / value)`; both round against the staker, so the price of a share
//!   never falls by rounding and nobody gains by others' rounding.
//!
//! ## Rounding rules (nothing is ever created)
//!
//! | quantity | rounding | where the remainder goes |
//! |---|---|---|
//! | commission | down | to the delegators' part |
//! | `ΔR` per reward | down | [`RewardDust`], stays in the pot |
//! | settled rewards per position | down | stays in the pot (< 1 unit per settlement; counted in [`OutstandingRewards`] but owed to nobody) |
//! | slash cut of a pool | up | taken from the stakers |
//! | a slashed position's value | down | burnt with the slash, to the slash handler |
//! | shares bought / given up | down / up | value stays in the pool; dropped when the pool empties (bookkeeping only, no funds) |
//!
//! So: the pot's balance is always at least its existential deposit plus
//! [`OutstandingRewards`] plus [`RewardDust`], which is at least everything claimable; the held
//! funds of every account equal its ledger; a position is never worth more than what is held
//! for it. `try_state` checks all three.

use crate::{pallet::*, types::*};
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Balanced, Inspect as _, Mutate as _},
		tokens::{DepositConsequence, Preservation, Provenance},
		Imbalance,
	},
};
use sp_runtime::{
	traits::{Saturating, Zero},
	Rounding, SaturatedConversion,
};

impl<T: Config> Pallet<T> {
	/// Moves the rewards a position accrued since it was last settled into its `unclaimed`.
	pub(crate) fn settle_rewards(
		validator: &T::AccountId,
		stake: &mut Stake<BalanceOf<T>>,
		pool: &Pool<BalanceOf<T>>,
	) {
		let end = if stake.generation == pool.active.generation {
			pool.reward_per_share
		} else {
			WipedRewardPerShare::<T>::get(validator, stake.generation)
				.unwrap_or(stake.reward_per_share_paid)
		};
		let delta = end.saturating_sub(stake.reward_per_share_paid);
		// Never overflows for real positions: it is at most what was paid into the pot. The
		// fallback of zero keeps rounding against the claimant.
		let pending = mul_div(stake.shares, delta, REWARD_SCALE, Rounding::Down).unwrap_or(0);
		stake.unclaimed = stake.unclaimed.saturating_add(pending.saturated_into());
		stake.reward_per_share_paid = end;
	}

	/// Pays `amount` of rewards of `who`'s position with `validator` from the pot.
	pub(crate) fn pay_rewards(
		who: &T::AccountId,
		validator: &T::AccountId,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
		// `Preserve`: the pot keeps its existential deposit.
		T::Currency::transfer(&Self::pot_account(), who, amount, Preservation::Preserve)?;
		OutstandingRewards::<T>::mutate(|owed| *owed = owed.saturating_sub(amount));
		Self::deposit_event(Event::RewardsClaimed {
			who: who.clone(),
			validator: validator.clone(),
			amount,
		});
		Ok(())
	}

	/// Pays `who` the rewards of its position with `validator` (its own, with commission, when
	/// `who == validator`).
	pub(crate) fn do_claim_rewards(who: &T::AccountId, validator: &T::AccountId) -> DispatchResult {
		let pool = Pools::<T>::get(validator).ok_or(Error::<T>::NotDelegated)?;
		if who == validator {
			let mut info = Validators::<T>::get(who).ok_or(Error::<T>::NotDelegated)?;
			Self::touch_stake(who, who, &mut info.self_stake, &pool);
			let amount = core::mem::take(&mut info.self_stake.unclaimed);
			ensure!(!amount.is_zero(), Error::<T>::NoRewards);
			Self::refresh_sampling_weight(&mut info, &pool);
			Validators::<T>::insert(who, info);
			Self::pay_rewards(who, validator, amount)
		} else {
			let mut stake =
				Delegations::<T>::get(who, validator).ok_or(Error::<T>::NotDelegated)?;
			Self::touch_stake(who, validator, &mut stake, &pool);
			let amount = core::mem::take(&mut stake.unclaimed);
			ensure!(!amount.is_zero(), Error::<T>::NoRewards);
			Delegations::<T>::insert(who, validator, stake);
			Self::pay_rewards(who, validator, amount)
		}
	}

	/// Resolves `credit` into the pot and credits it to `validator`'s commission and stake.
	pub(crate) fn do_reward(
		validator: &T::AccountId,
		credit: CreditOf<T>,
	) -> Result<(), (CreditOf<T>, DispatchError)> {
		let amount = credit.peek();
		if amount.is_zero() {
			return Ok(());
		}
		let Some(mut info) = Validators::<T>::get(validator) else {
			return Err((credit, Error::<T>::NotValidator.into()));
		};
		let Some(mut pool) = Pools::<T>::get(validator) else {
			return Err((credit, Error::<T>::NotValidator.into()));
		};
		info.apply_due_commission(&frame_system::Pallet::<T>::block_number());
		let Some(split) = Self::split_reward(info.commission, amount, pool.active.shares) else {
			return Err((credit, Error::<T>::Overflow.into()));
		};
		let (Some(reward_per_share), Some(owed), Some(commission_owed)) = (
			pool.reward_per_share.checked_add(split.delta_per_share),
			OutstandingRewards::<T>::get()
				.checked_add(&split.commission)
				.and_then(|o| o.checked_add(&split.allocated)),
			info.self_stake.unclaimed.checked_add(&split.commission),
		) else {
			return Err((credit, Error::<T>::Overflow.into()));
		};
		let pot = Self::pot_account();
		if T::Currency::can_deposit(&pot, amount, Provenance::Extant) != DepositConsequence::Success
		{
			return Err((credit, Error::<T>::RewardPotUnavailable.into()));
		}
		if let Err(credit) = T::Currency::resolve(&pot, credit) {
			return Err((credit, Error::<T>::RewardPotUnavailable.into()));
		}

		pool.reward_per_share = reward_per_share;
		info.self_stake.unclaimed = commission_owed;
		OutstandingRewards::<T>::put(owed);
		RewardDust::<T>::mutate(|dust| *dust = dust.saturating_add(split.dust));
		Validators::<T>::insert(validator, info);
		Pools::<T>::insert(validator, pool);
		Self::deposit_event(Event::Rewarded {
			validator: validator.clone(),
			amount,
			commission: split.commission,
			dust: split.dust,
		});
		Ok(())
	}

	/// Splits a reward of `amount` for a pool of `shares` active shares; `None` on overflow.
	fn split_reward(
		commission_rate: sp_runtime::Perbill,
		amount: BalanceOf<T>,
		shares: Shares,
	) -> Option<RewardSplit<BalanceOf<T>>> {
		if shares.is_zero() {
			return Some(RewardSplit {
				commission: amount,
				delta_per_share: 0,
				allocated: Zero::zero(),
				dust: Zero::zero(),
			});
		}
		let commission = commission_rate.mul_floor(amount);
		let part = amount.saturating_sub(commission);
		let part_u: u128 = part.saturated_into();
		let delta_per_share = mul_div(part_u, REWARD_SCALE, shares, Rounding::Down)?;
		// `<= part`: `delta_per_share <= part × SCALE / shares`.
		let allocated: u128 = mul_div(delta_per_share, shares, REWARD_SCALE, Rounding::Up)?;
		let allocated: BalanceOf<T> = allocated.min(part_u).saturated_into();
		Some(RewardSplit {
			commission,
			delta_per_share,
			allocated,
			dust: part.saturating_sub(allocated),
		})
	}

	/// The pot's balance beyond its existential deposit, for `try_state` and tests.
	pub fn pot_free() -> BalanceOf<T> {
		T::Currency::balance(&Self::pot_account()).saturating_sub(T::Currency::minimum_balance())
	}
}

/// How one reward is divided.
struct RewardSplit<Balance> {
	/// To the validator.
	commission: Balance,
	/// Added to the pool's reward per share.
	delta_per_share: RewardPerShare,
	/// What `delta_per_share` can pay out over all current shares (rounded up).
	allocated: Balance,
	/// Left in the pot, owed to nobody.
	dust: Balance,
}
