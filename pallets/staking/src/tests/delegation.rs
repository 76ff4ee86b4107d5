//! Delegator calls: delegate and undelegate.

use super::*;
use crate::{DelegationCount, Delegations, Error, Event, Pools, Unbonding};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::staking::{InferenceStaking, SlashReason};

#[test]
fn delegate_holds_the_amount() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::delegate(RuntimeOrigin::signed(BOB), ALICE, 500));
		System::assert_last_event(
			Event::Delegated { delegator: BOB, validator: ALICE, amount: 500 }.into(),
		);
		assert_eq!(free(BOB), INITIAL - 500);
		assert_eq!(held(BOB), 500);
		let stake = Delegations::<Test>::get(BOB, ALICE).unwrap();
		assert_eq!((stake.shares, stake.principal), (500, 500));
		assert_eq!(DelegationCount::<Test>::get(BOB), 1);
		assert_eq!(Staking::total_stake(&ALICE), 1_500);
		assert_eq!(Staking::total_eligible_stake(), 1_500);
		assert_eq!(
			position(BOB, ALICE),
			crate::PositionView { active: 500, held: 500, rewards: 0 }
		);

		// Topping up adds to the same position.
		delegate(BOB, ALICE, 100);
		assert_eq!(held(BOB), 600);
		assert_eq!(Delegations::<Test>::get(BOB, ALICE).unwrap().principal, 600);
		assert_eq!(DelegationCount::<Test>::get(BOB), 1);
	});
}

#[test]
fn delegate_errors() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(BOB), ALICE, 100),
			Error::<Test>::NotValidator
		);
		register(ALICE, 1_000);
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(ALICE), ALICE, 100),
			Error::<Test>::SelfDelegation
		);
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(BOB), ALICE, MIN_DELEGATION - 1),
			Error::<Test>::DelegationTooLow
		);
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(BOB), ALICE, INITIAL),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(NOBODY), ALICE, MIN_DELEGATION),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn delegations_per_delegator_are_bounded() {
	let mut builder = ExtBuilder::default();
	for who in 10..10 + MAX_DELEGATIONS as u64 + 1 {
		builder = builder.balance(who, INITIAL);
	}
	builder.build_and_execute(|| {
		for validator in 10..10 + MAX_DELEGATIONS as u64 + 1 {
			register(validator, 100);
		}
		for validator in 10..10 + MAX_DELEGATIONS as u64 {
			delegate(BOB, validator, MIN_DELEGATION);
		}
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(BOB), 10 + MAX_DELEGATIONS as u64, 10),
			Error::<Test>::TooManyDelegations
		);
		// Topping up an existing delegation is still fine.
		delegate(BOB, 10, MIN_DELEGATION);
		// Closing one frees a slot.
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), 10, 2 * MIN_DELEGATION));
		assert_eq!(DelegationCount::<Test>::get(BOB), MAX_DELEGATIONS - 1);
		delegate(BOB, 10 + MAX_DELEGATIONS as u64, MIN_DELEGATION);
	});
}

#[test]
fn undelegate_part() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 200));
		System::assert_last_event(
			Event::Undelegated {
				delegator: BOB,
				validator: ALICE,
				amount: 200,
				unlock_at: Some(1 + UNBONDING_PERIOD),
			}
			.into(),
		);
		assert_eq!(held(BOB), 500);
		assert_eq!(free(BOB), INITIAL - 500);
		assert_eq!(position(BOB, ALICE).active, 300);
		assert_eq!(Staking::total_stake(&ALICE), 1_300);
		assert_eq!(Unbonding::<Test>::get(BOB)[0].principal, 200);
		assert_eq!(Pools::<Test>::get(ALICE).unwrap().unbonding.value, 200);
	});
}

#[test]
fn undelegate_everything_closes_the_position_and_pays_rewards() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 1_000);
		// Commission 10 of 100; Bob's half of the other 90 is 45.
		assert_ok!(reward(ALICE, 100));
		// Asking for more than there is unbonds everything.
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 5_000));
		System::assert_has_event(
			Event::RewardsClaimed { who: BOB, validator: ALICE, amount: 45 }.into(),
		);
		System::assert_last_event(
			Event::Undelegated {
				delegator: BOB,
				validator: ALICE,
				amount: 1_000,
				unlock_at: Some(1 + UNBONDING_PERIOD),
			}
			.into(),
		);
		assert!(Delegations::<Test>::get(BOB, ALICE).is_none());
		assert_eq!(DelegationCount::<Test>::get(BOB), 0);
		assert_eq!(free(BOB), INITIAL - 1_000 + 45);
		assert_eq!(held(BOB), 1_000);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		assert_eq!(free(BOB), INITIAL + 45);
		assert_eq!(held(BOB), 0);
	});
}

#[test]
fn undelegate_errors() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_noop!(
			Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 10),
			Error::<Test>::NotDelegated
		);
		delegate(BOB, ALICE, 100);
		assert_noop!(
			Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 0),
			Error::<Test>::ZeroAmount
		);
		// 91 would leave 9 < MinDelegation.
		assert_noop!(
			Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 91),
			Error::<Test>::BelowMinimum
		);
		for block in 1..=MAX_CHUNKS as u64 {
			System::set_block_number(block);
			assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 10));
		}
		System::set_block_number(MAX_CHUNKS as u64 + 1);
		assert_noop!(
			Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 10),
			Error::<Test>::TooManyUnbondingChunks
		);
	});
}

#[test]
fn life_of_a_delegation() {
	// The example of the crate documentation.
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 100);
		// 60: commission 6, the remaining 54 split 1000:100 → Bob 4 (4.9 rounded down).
		assert_ok!(reward(ALICE, 60));
		assert_eq!(position(BOB, ALICE).rewards, 4);
		assert_eq!(Staking::slash(&ALICE, Perbill::from_percent(10), SlashReason::Mismatch), 110);
		assert_eq!(position(BOB, ALICE), crate::PositionView { active: 90, held: 100, rewards: 4 });
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 100));
		System::assert_has_event(
			Event::SlashApplied { who: BOB, validator: ALICE, amount: 10 }.into(),
		);
		System::assert_last_event(
			Event::Undelegated {
				delegator: BOB,
				validator: ALICE,
				amount: 90,
				unlock_at: Some(1 + UNBONDING_PERIOD),
			}
			.into(),
		);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		assert_eq!(free(BOB), INITIAL - 10 + 4);
		assert_eq!(held(BOB), 0);
	});
}
