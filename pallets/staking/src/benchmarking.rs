//! Benchmarks of every call, and of `reward`, `slash` and sampling, in their worst cases.
//!
//! The `c` component is the number of unbonding chunks the caller already has (bounded by
//! `MaxUnbondingChunks`). The `d` component is the number of other delegators of the validator:
//! it is there to show that delegating, undelegating, claiming, rewarding and slashing do not
//! grow with it (the regression should find no slope for `d`, and the calls charge `d = 0`).

use super::*;
use crate::Pallet as Staking;
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Balanced, Inspect, Mutate},
	Get,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use opg_primitives::staking::{InferenceStaking, SlashReason};
use sp_runtime::{
	traits::{One, Saturating, Zero},
	Perbill,
};

const SEED: u32 = 0;
/// Upper bound of the `d` component.
const MAX_DELEGATORS: u32 = crate::WEIGHT_DELEGATORS;

/// A generous balance: enough for every bond, delegation and chunk of one benchmark.
fn plenty<T: Config>() -> BalanceOf<T> {
	T::MinValidatorBond::get()
		.saturating_mul(1_000u32.into())
		.saturating_add(T::Currency::minimum_balance())
}

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, SEED);
	T::Currency::set_balance(&who, plenty::<T>());
	who
}

/// A registered validator with a large own bond and 10% commission.
fn validator<T: Config>(index: u32) -> T::AccountId {
	let who = funded::<T>("validator", index);
	let bond = T::MinValidatorBond::get().saturating_mul(100u32.into());
	assert!(Staking::<T>::do_register(&who, bond, Perbill::from_percent(10)).is_ok());
	who
}

/// `d` other delegators of `validator`, each with `MinDelegation`.
fn delegators<T: Config>(validator: &T::AccountId, d: u32) {
	for i in 0..d {
		let who = funded::<T>("delegator", i);
		assert!(Staking::<T>::do_delegate(&who, validator, T::MinDelegation::get()).is_ok());
	}
}

fn set_block<T: Config>(n: u32) {
	frame_system::Pallet::<T>::set_block_number(n.into());
}

fn block<T: Config>() -> BlockNumberFor<T> {
	frame_system::Pallet::<T>::block_number()
}

/// Rewards `validator` with newly issued funds, enough for every position to earn some.
fn pay_reward<T: Config>(validator: &T::AccountId) {
	let credit = T::Currency::issue(plenty::<T>());
	assert!(Staking::<T>::do_reward(validator, credit).is_ok());
}

/// A small slash, so that touching a position afterwards burns part of its hold.
fn small_slash<T: Config>(validator: &T::AccountId) {
	Staking::<T>::do_slash(validator, Perbill::from_percent(1), SlashReason::Mismatch);
}

/// Makes `who` hold `c` unbonding chunks drawn from a delegation to `validator`, each made in
/// its own block so that none merge; leaves the delegation with `MinDelegation` or more.
fn chunks_from_delegation<T: Config>(who: &T::AccountId, validator: &T::AccountId, c: u32) {
	let unit = T::MinDelegation::get();
	let amount = unit.saturating_mul(c.saturating_add(2).into());
	assert!(Staking::<T>::do_delegate(who, validator, amount).is_ok());
	for _ in 0..c {
		set_block::<T>(1u32.saturating_add(block_u32::<T>()));
		assert!(Staking::<T>::do_undelegate(who, validator, unit).is_ok());
	}
	set_block::<T>(1u32.saturating_add(block_u32::<T>()));
}

fn block_u32<T: Config>() -> u32 {
	use sp_runtime::SaturatedConversion;
	block::<T>().saturated_into()
}

/// Moves the chain past the unbonding period.
fn mature<T: Config>() {
	let now = block::<T>().saturating_add(T::UnbondingPeriod::get());
	frame_system::Pallet::<T>::set_block_number(now.saturating_add(One::one()));
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// `e = 0`: a set with room. `e = 1`, the worst case: a full set, whose every validator the
	/// call reads to find the least-staked one, and an eviction with the most work: the evicted
	/// validator is eligible (its weight leaves the sampling tree), has a delegator, rewards to
	/// pay out, and an own chunk its new one cannot merge with.
	#[benchmark]
	fn register_validator(e: Linear<0, 1>) {
		set_block::<T>(1);
		let mut bond = T::MinValidatorBond::get();
		let mut evicted = None;
		if e == 1 {
			let least = validator::<T>(0);
			for i in 1..T::MaxValidators::get() {
				validator::<T>(i);
			}
			delegators::<T>(&least, 1);
			pay_reward::<T>(&least);
			// Down to twice the minimum, then a slash (a new epoch: the chunks do not merge).
			let keep = T::MinValidatorBond::get().saturating_mul(2u32.into());
			let bonded = T::MinValidatorBond::get().saturating_mul(100u32.into());
			assert!(Staking::<T>::do_unbond(&least, bonded.saturating_sub(keep)).is_ok());
			small_slash::<T>(&least);
			assert!(Staking::<T>::eligible(&least));
			assert_eq!(Staking::<T>::least_staked().map(|(who, _)| who), Some(least.clone()));
			bond = T::MinValidatorBond::get().saturating_mul(3u32.into());
			evicted = Some(least);
		}
		let caller = funded::<T>("caller", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), bond, Perbill::from_percent(10));

		assert!(Validators::<T>::contains_key(&caller));
		if let Some(least) = evicted {
			assert!(!Validators::<T>::contains_key(&least));
			assert_eq!(Unbonding::<T>::get(&least).len(), 2);
		}
	}

	#[benchmark]
	fn bond_extra() {
		set_block::<T>(1);
		let caller = validator::<T>(0);
		delegators::<T>(&caller, 1);
		pay_reward::<T>(&caller);
		let amount = T::MinValidatorBond::get();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), amount);

		assert_eq!(
			Validators::<T>::get(&caller).map(|v| v.self_stake.principal),
			Some(T::MinValidatorBond::get().saturating_mul(101u32.into()))
		);
	}

	#[benchmark]
	fn set_commission() {
		set_block::<T>(1);
		let caller = validator::<T>(0);

		// The costlier path: an increase, scheduled.
		let target = Validators::<T>::get(&caller)
			.map(|v| v.commission.saturating_add(T::MaxCommissionIncrease::get()))
			.unwrap_or_default();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), target);

		assert_eq!(
			Validators::<T>::get(&caller).and_then(|v| v.pending_commission).map(|(c, _)| c),
			Some(target)
		);
	}

	#[benchmark]
	fn chill() {
		set_block::<T>(1);
		let caller = validator::<T>(0);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()));

		assert!(!Staking::<T>::eligible(&caller));
	}

	#[benchmark]
	fn activate() {
		set_block::<T>(1);
		let caller = validator::<T>(0);
		assert!(Staking::<T>::do_set_status(&caller, ValidatorStatus::Chilled).is_ok());

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()));

		assert!(Staking::<T>::eligible(&caller));
	}

	#[benchmark]
	// A validator keeps its last chunk place for an eviction: `c` chunks, then one more.
	fn unbond(c: Linear<0, { T::MaxUnbondingChunks::get().saturating_sub(2) }>) {
		set_block::<T>(1);
		let caller = validator::<T>(0);
		let unit = T::MinDelegation::get();
		for _ in 0..c {
			assert!(Staking::<T>::do_unbond(&caller, unit).is_ok());
			set_block::<T>(1u32.saturating_add(block_u32::<T>()));
		}
		pay_reward::<T>(&caller);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), unit);

		assert_eq!(Unbonding::<T>::get(&caller).len() as u32, c.saturating_add(1));
	}

	#[benchmark]
	fn withdraw_unbonded(c: Linear<1, { T::MaxUnbondingChunks::get() }>) {
		set_block::<T>(1);
		let target = validator::<T>(0);
		let caller = funded::<T>("caller", 0);
		chunks_from_delegation::<T>(&caller, &target, c);
		// Every chunk then has a slash to burn before it is released.
		small_slash::<T>(&target);
		mature::<T>();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()));

		assert!(Unbonding::<T>::get(&caller).is_empty());
	}

	#[benchmark]
	// A validator keeps its last chunk place for an eviction.
	fn deregister(c: Linear<0, { T::MaxUnbondingChunks::get().saturating_sub(1) }>) {
		set_block::<T>(1);
		let caller = validator::<T>(0);
		let other = validator::<T>(1);
		// Empty the own bond and withdraw it; earn commission to be paid out on leaving.
		pay_reward::<T>(&caller);
		assert!(Staking::<T>::do_unbond(&caller, plenty::<T>()).is_ok());
		mature::<T>();
		assert!(Staking::<T>::do_withdraw_unbonded(&caller).is_ok());
		// Chunks from another validator, which deregistering must scan.
		if c > 0 {
			chunks_from_delegation::<T>(&caller, &other, c);
		}

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()));

		assert!(!Validators::<T>::contains_key(&caller));
	}

	#[benchmark]
	fn delegate(d: Linear<0, MAX_DELEGATORS>) {
		set_block::<T>(1);
		let target = validator::<T>(0);
		delegators::<T>(&target, d);
		let caller = funded::<T>("caller", 0);
		assert!(Staking::<T>::do_delegate(&caller, &target, T::MinDelegation::get()).is_ok());
		// Worst case: an existing position with rewards to settle and a slash to burn.
		pay_reward::<T>(&target);
		small_slash::<T>(&target);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), target.clone(), T::MinDelegation::get());

		assert!(Delegations::<T>::contains_key(&caller, &target));
	}

	#[benchmark]
	fn undelegate(
		c: Linear<0, { T::MaxUnbondingChunks::get().saturating_sub(1) }>,
		d: Linear<0, MAX_DELEGATORS>,
	) {
		set_block::<T>(1);
		let target = validator::<T>(0);
		delegators::<T>(&target, d);
		let caller = funded::<T>("caller", 0);
		chunks_from_delegation::<T>(&caller, &target, c);
		// Worst case: rewards to settle and pay out, a slash to burn, the position closed.
		pay_reward::<T>(&target);
		small_slash::<T>(&target);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), target.clone(), plenty::<T>());

		assert!(!Delegations::<T>::contains_key(&caller, &target));
	}

	#[benchmark]
	fn claim_rewards(d: Linear<0, MAX_DELEGATORS>) {
		set_block::<T>(1);
		let target = validator::<T>(0);
		delegators::<T>(&target, d);
		let caller = funded::<T>("caller", 0);
		let amount = T::MinValidatorBond::get();
		assert!(Staking::<T>::do_delegate(&caller, &target, amount).is_ok());
		pay_reward::<T>(&target);
		small_slash::<T>(&target);
		let before = T::Currency::balance(&caller);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), target.clone());

		assert!(T::Currency::balance(&caller) > before);
	}

	#[benchmark]
	fn reward(d: Linear<0, MAX_DELEGATORS>) {
		set_block::<T>(1);
		let target = validator::<T>(0);
		delegators::<T>(&target, d);
		let credit = T::Currency::issue(T::MinValidatorBond::get());

		#[block]
		{
			assert!(<Staking<T> as InferenceStaking<_>>::reward(&target, credit).is_ok());
		}

		assert!(!OutstandingRewards::<T>::get().is_zero());
	}

	#[benchmark]
	fn slash(d: Linear<0, MAX_DELEGATORS>) {
		set_block::<T>(1);
		let target = validator::<T>(0);
		delegators::<T>(&target, d);
		let caller = funded::<T>("caller", 0);
		chunks_from_delegation::<T>(&caller, &target, 1);
		// Worst case: this slash jails the validator and wipes both pools out.
		for _ in 1..T::MaxFaultsBeforeJail::get() {
			small_slash::<T>(&target);
		}

		#[block]
		{
			<Staking<T> as InferenceStaking<_>>::slash(
				&target,
				Perbill::one(),
				SlashReason::Mismatch,
			);
		}

		assert!(Validators::<T>::get(&target).is_some_and(|v| v.jailed_until.is_some()));
	}

	/// Informational: nothing charges it, since the inference pallet's `assign` and `replace`
	/// benchmarks run their draws through this call.
	#[benchmark]
	fn eligible_validator_at() {
		set_block::<T>(1);
		// The walk reads one tree node per level whatever the weights; the last slot is the
		// deepest answer.
		let count = T::MaxValidators::get().min(8);
		for i in 0..count {
			validator::<T>(i);
		}
		let point = TotalEligibleStake::<T>::get().saturating_sub(One::one());
		let found;

		#[block]
		{
			found = <Staking<T> as InferenceStaking<_>>::eligible_validator_at(point);
		}

		assert!(found.is_some());
	}

	impl_benchmark_test_suite!(Staking, crate::mock::new_test_ext(), crate::mock::Test);
}
