//! `try_state`: the pallet's invariants, checked after every test and by try-runtime.

use crate::{pallet::*, types::*};
use alloc::collections::btree_map::BTreeMap;
use frame_support::{
	ensure,
	traits::{
		fungible::{Inspect as _, InspectHold as _},
		Get,
	},
};
use sp_runtime::{
	traits::{Saturating, Zero},
	TryRuntimeError,
};

/// What the positions and chunks referring to one pool add up to.
#[derive(Default)]
struct PoolTally {
	active_shares: Shares,
	unbonding_shares: Shares,
	members: u32,
}

impl<T: Config> Pallet<T> {
	/// Checks every invariant of the pallet's storage against itself and against the holds.
	pub fn do_try_state() -> Result<(), TryRuntimeError> {
		let mut held: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut tallies: BTreeMap<T::AccountId, PoolTally> = BTreeMap::new();
		let mut owed = BalanceOf::<T>::zero();
		let mut add_held = |who: &T::AccountId, amount: BalanceOf<T>| {
			let entry = held.entry(who.clone()).or_default();
			*entry = entry.saturating_add(amount);
		};

		// Validators: own stakes, slots, sampling weights.
		let mut validators = 0u32;
		let mut total_weight = BalanceOf::<T>::zero();
		for (who, info) in Validators::<T>::iter() {
			validators = validators.saturating_add(1);
			let pool = Pools::<T>::get(&who).ok_or("validator without a pool")?;
			Self::check_stake(&who, &info.self_stake, &pool, &mut tallies)?;
			add_held(&who, info.self_stake.principal);
			let mut settled = info.self_stake;
			Self::settle_rewards(&who, &mut settled, &pool);
			owed = owed.saturating_add(settled.unclaimed);

			ensure!(
				SlotOwner::<T>::get(info.slot).as_ref() == Some(&who),
				"slot owner does not match the validator"
			);
			ensure!(
				info.status != ValidatorStatus::Active
					|| info.self_stake.value(&pool.active) >= T::MinValidatorBond::get(),
				"an active validator's own bond is below the minimum: it should have been chilled"
			);
			let expected =
				if Self::is_eligible_info(&info, &pool) { pool.active.value } else { Zero::zero() };
			ensure!(info.sampling_weight == expected, "stale sampling weight");
			let in_tree = Self::tree_prefix(info.slot)
				.saturating_sub(Self::tree_prefix(info.slot.saturating_sub(1)));
			ensure!(in_tree == info.sampling_weight, "sampling tree disagrees with the weight");
			total_weight = total_weight.saturating_add(info.sampling_weight);
			ensure!(
				(Unbonding::<T>::decode_len(&who).unwrap_or(0) as u32)
					< T::MaxUnbondingChunks::get(),
				"a validator's last chunk place should be kept for an eviction"
			);
			ensure!(
				(info.recent_faults.len() as u32) < T::MaxFaultsBeforeJail::get(),
				"a validator with MaxFaultsBeforeJail faults should have been jailed"
			);
		}
		ensure!(validators == Validators::<T>::count(), "validator counter is wrong");
		ensure!(validators <= T::MaxValidators::get(), "too many validators");
		ensure!(total_weight == TotalEligibleStake::<T>::get(), "total eligible stake is wrong");
		ensure!(
			Self::tree_prefix(T::MaxValidators::get()) == total_weight,
			"sampling tree total is wrong"
		);

		// Delegations.
		let mut counts: BTreeMap<T::AccountId, u32> = BTreeMap::new();
		for (who, validator, stake) in Delegations::<T>::iter() {
			ensure!(who != validator, "self delegation");
			let pool = Pools::<T>::get(&validator).ok_or("delegation without a pool")?;
			Self::check_stake(&validator, &stake, &pool, &mut tallies)?;
			add_held(&who, stake.principal);
			let mut settled = stake;
			Self::settle_rewards(&validator, &mut settled, &pool);
			owed = owed.saturating_add(settled.unclaimed);
			let count = counts.entry(who).or_default();
			*count = count.saturating_add(1);
		}
		for (who, count) in &counts {
			ensure!(DelegationCount::<T>::get(who) == *count, "delegation count is wrong");
			ensure!(*count <= T::MaxDelegationsPerDelegator::get(), "too many delegations");
		}
		ensure!(
			DelegationCount::<T>::iter().all(|(who, _)| counts.contains_key(&who)),
			"delegation count without delegations"
		);

		// Unbonding chunks.
		for (who, chunks) in Unbonding::<T>::iter() {
			ensure!(!chunks.is_empty(), "empty unbonding entry");
			for chunk in chunks {
				let pool = Pools::<T>::get(&chunk.validator).ok_or("chunk without a pool")?;
				ensure!(
					chunk.value(&pool.unbonding) <= chunk.principal,
					"chunk worth more than held"
				);
				let tally = tallies.entry(chunk.validator.clone()).or_default();
				tally.members = tally.members.saturating_add(1);
				if chunk.generation == pool.unbonding.generation {
					tally.unbonding_shares = tally.unbonding_shares.saturating_add(chunk.shares);
				}
				add_held(&who, chunk.principal);
			}
		}

		// Pools against what refers to them.
		for (validator, pool) in Pools::<T>::iter() {
			let tally = tallies.remove(&validator).unwrap_or_default();
			ensure!(pool.members == tally.members, "pool member count is wrong");
			ensure!(pool.members > 0 || Validators::<T>::contains_key(&validator), "orphan pool");
			ensure!(pool.active.shares == tally.active_shares, "active shares do not add up");
			ensure!(
				pool.unbonding.shares == tally.unbonding_shares,
				"unbonding shares do not add up"
			);
			ensure!(
				!pool.active.shares.is_zero() || pool.active.value.is_zero(),
				"active value without shares"
			);
			ensure!(
				!pool.unbonding.shares.is_zero() || pool.unbonding.value.is_zero(),
				"unbonding value without shares"
			);
		}
		ensure!(tallies.is_empty(), "positions refer to a missing pool");

		// Holds against the ledgers.
		for (who, amount) in &held {
			ensure!(
				T::Currency::balance_on_hold(&Self::hold_reason(), who) == *amount,
				"held balance differs from the ledger"
			);
		}

		// Reward pot.
		let outstanding = OutstandingRewards::<T>::get();
		ensure!(owed <= outstanding, "claimable rewards exceed what the pot owes");
		ensure!(
			Self::pot_free() >= outstanding.saturating_add(RewardDust::<T>::get()),
			"reward pot holds less than it owes"
		);
		ensure!(
			T::Currency::balance(&Self::pot_account()) >= T::Currency::minimum_balance(),
			"reward pot lost its existential deposit"
		);
		Ok(())
	}

	/// Checks one active position and counts it into its pool's tally.
	fn check_stake(
		validator: &T::AccountId,
		stake: &Stake<BalanceOf<T>>,
		pool: &Pool<BalanceOf<T>>,
		tallies: &mut BTreeMap<T::AccountId, PoolTally>,
	) -> Result<(), TryRuntimeError> {
		ensure!(stake.value(&pool.active) <= stake.principal, "position worth more than held");
		ensure!(
			stake.generation == pool.active.generation
				|| WipedRewardPerShare::<T>::contains_key(validator, stake.generation),
			"position of an unknown generation"
		);
		let tally = tallies.entry(validator.clone()).or_default();
		tally.members = tally.members.saturating_add(1);
		if stake.generation == pool.active.generation {
			tally.active_shares = tally.active_shares.saturating_add(stake.shares);
		}
		Ok(())
	}
}
