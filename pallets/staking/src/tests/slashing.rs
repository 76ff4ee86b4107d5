//! Slashes: pro rata over own bond, delegations and unbonding chunks; lazy realisation; wipe-out.

use super::*;
use crate::{Delegations, Error, Event, Pools, ValidatorStatus, Validators, WipedRewardPerShare};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::staking::{InferenceStaking, SlashReason};

#[test]
fn slash_cuts_everyone_pro_rata() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		let issuance = Balances::total_issuance();

		assert_eq!(Staking::slash(&ALICE, Perbill::from_percent(10), SlashReason::Mismatch), 150);
		System::assert_last_event(
			Event::Slashed {
				validator: ALICE,
				fraction: Perbill::from_percent(10),
				reason: SlashReason::Mismatch,
				active: 150,
				unbonding: 0,
			}
			.into(),
		);
		// Alice's own bond is burnt at once.
		System::assert_has_event(
			Event::SlashApplied { who: ALICE, validator: ALICE, amount: 100 }.into(),
		);
		assert_eq!(held(ALICE), 900);
		assert_eq!(free(ALICE), INITIAL - 1_000);
		// Bob's share is burnt when he next touches his position.
		assert_eq!(held(BOB), 500);
		assert_eq!(
			position(BOB, ALICE),
			crate::PositionView { active: 450, held: 500, rewards: 0 }
		);
		assert_eq!(Staking::total_stake(&ALICE), 1_350);
		assert_eq!(slashed_total(), 100);
		assert_eq!(Balances::total_issuance(), issuance - 100);

		delegate(BOB, ALICE, 50);
		System::assert_has_event(
			Event::SlashApplied { who: BOB, validator: ALICE, amount: 50 }.into(),
		);
		assert_eq!(held(BOB), 500);
		assert_eq!(free(BOB), INITIAL - 550);
		assert_eq!(
			position(BOB, ALICE),
			crate::PositionView { active: 500, held: 500, rewards: 0 }
		);
		assert_eq!(slashed_total(), 150);
		assert_eq!(Balances::total_issuance(), issuance - 150);
	});
}

#[test]
fn unbonding_first_does_not_escape_a_slash() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 500));
		assert!(Delegations::<Test>::get(BOB, ALICE).is_none());

		assert_eq!(Staking::slash(&ALICE, Perbill::from_percent(20), SlashReason::NoShow), 300);
		System::assert_last_event(
			Event::Slashed {
				validator: ALICE,
				fraction: Perbill::from_percent(20),
				reason: SlashReason::NoShow,
				active: 200,
				unbonding: 100,
			}
			.into(),
		);
		assert_eq!(Staking::unbonding_chunks(BOB), vec![(ALICE, 400, 1 + UNBONDING_PERIOD)]);

		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		System::assert_last_event(Event::Withdrawn { who: BOB, amount: 400, slashed: 100 }.into());
		assert_eq!(free(BOB), INITIAL - 100);
		assert_eq!(held(BOB), 0);
		assert_eq!(slashed_total(), 300);
	});
}

#[test]
fn a_validator_unbonding_its_own_bond_is_slashed_too() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 400));
		assert_eq!(slash(ALICE, 50), 500);
		assert_eq!(held(ALICE), 300 + 400);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(
			Event::Withdrawn { who: ALICE, amount: 200, slashed: 200 }.into(),
		);
		assert_eq!(free(ALICE), INITIAL - 1_000 + 200);
		assert_eq!(held(ALICE), 300);
	});
}

#[test]
fn slashes_compound() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 1_000);
		slash(ALICE, 10);
		slash(ALICE, 10);
		// 1000 × 0.9 × 0.9 for Bob, realised on his next touch.
		assert_eq!(position(BOB, ALICE).active, 810);
		assert_eq!(held(ALICE), 810);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 10));
		assert_eq!(held(BOB), 810);
		assert_eq!(position(BOB, ALICE).active, 800);
		assert_eq!(slashed_total(), 380);
	});
}

#[test]
fn slashing_a_non_validator_takes_nothing() {
	ExtBuilder::default().build_and_execute(|| {
		assert_eq!(slash(ALICE, 100), 0);
		assert!(staking_events().is_empty());
		register(ALICE, 1_000);
		assert_eq!(
			Staking::slash(&ALICE, Perbill::zero(), SlashReason::Mismatch),
			0,
			"a zero fraction cuts nothing"
		);
		assert_eq!(held(ALICE), 1_000);
	});
}

#[test]
fn a_full_slash_wipes_the_pool_out_and_it_starts_afresh() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 1_000);
		assert_ok!(Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::zero()));
		assert_ok!(reward(ALICE, 200));
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 500));

		assert_eq!(slash(ALICE, 100), 2_000);
		let pool = Pools::<Test>::get(ALICE).unwrap();
		assert_eq!((pool.active.value, pool.active.shares, pool.active.generation), (0, 0, 1));
		assert_eq!(
			(pool.unbonding.value, pool.unbonding.shares, pool.unbonding.generation),
			(0, 0, 1)
		);
		assert!(WipedRewardPerShare::<Test>::get(ALICE, 0).is_some());
		assert_eq!(held(ALICE), 0);
		assert!(!Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_stake(&ALICE), 0);
		assert_eq!(
			position(BOB, ALICE),
			crate::PositionView { active: 0, held: 500, rewards: 100 }
		);

		// New stake joins a fresh generation at one share per unit.
		delegate(CHARLIE, ALICE, 300);
		assert_eq!(Delegations::<Test>::get(CHARLIE, ALICE).unwrap().shares, 300);
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(ALICE), 300));
		// The wipe-out chilled Alice; she is back once she says so.
		assert_ok!(Staking::activate(RuntimeOrigin::signed(ALICE)));
		assert!(Staking::is_eligible(&ALICE));
		assert_ok!(reward(ALICE, 60));
		assert_eq!(position(CHARLIE, ALICE).rewards, 30);
		assert_eq!(position(ALICE, ALICE).rewards, 100 + 30);
		// Bob's old position earns nothing new; what it earned before is still his.
		assert_eq!(position(BOB, ALICE).rewards, 100);

		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(BOB), ALICE));
		System::assert_has_event(
			Event::SlashApplied { who: BOB, validator: ALICE, amount: 500 }.into(),
		);
		assert_eq!(free(BOB), INITIAL - 1_000 + 100);
		assert_eq!(held(BOB), 500);
		// The old chunk is worth nothing either.
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		System::assert_last_event(Event::Withdrawn { who: BOB, amount: 0, slashed: 500 }.into());
		assert_eq!(held(BOB), 0);
		// Closing the empty position.
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 1));
		System::assert_last_event(
			Event::Undelegated { delegator: BOB, validator: ALICE, amount: 0, unlock_at: None }
				.into(),
		);
		assert!(Delegations::<Test>::get(BOB, ALICE).is_none());
		assert_eq!(free(BOB), INITIAL - 1_000 + 100);
		assert_eq!(slashed_total(), 2_000);
	});
}

#[test]
fn slash_below_min_bond_chills_the_validator() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 110);
		delegate(BOB, ALICE, 1_000);
		assert!(Staking::is_eligible(&ALICE));
		slash(ALICE, 10);
		System::assert_last_event(Event::Chilled { validator: ALICE }.into());
		System::assert_has_event(
			Event::Slashed {
				validator: ALICE,
				fraction: Perbill::from_percent(10),
				reason: SlashReason::Mismatch,
				active: 111,
				unbonding: 0,
			}
			.into(),
		);
		let info = Validators::<Test>::get(ALICE).unwrap();
		assert_eq!(info.self_stake.principal, 99);
		assert_eq!(info.status, ValidatorStatus::Chilled);
		assert!(!Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_eligible_stake(), 0);

		// Not until the own bond is back at the minimum.
		assert_noop!(
			Staking::activate(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::OwnBondBelowMinimum
		);
		// Topping it up does not reactivate it by itself: the validator says when it is ready.
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(ALICE), 1));
		assert!(!Staking::is_eligible(&ALICE));
		assert_ok!(Staking::activate(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::Activated { validator: ALICE }.into());
		assert!(Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_eligible_stake(), Staking::total_stake(&ALICE));
	});
}

#[test]
fn a_slash_that_leaves_the_own_bond_at_the_minimum_does_not_chill() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 200);
		slash(ALICE, 50);
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().self_stake.principal, 100);
		assert!(!staking_events().contains(&Event::Chilled { validator: ALICE }));
		assert!(Staking::is_eligible(&ALICE));
	});
}

#[test]
fn a_chilled_validator_slashed_below_the_minimum_is_not_chilled_again() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 110);
		assert_ok!(Staking::chill(RuntimeOrigin::signed(ALICE)));
		System::reset_events();
		slash(ALICE, 10);
		assert!(!staking_events().contains(&Event::Chilled { validator: ALICE }));
		assert_noop!(
			Staking::activate(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::OwnBondBelowMinimum
		);
	});
}

#[test]
fn a_touch_that_fails_rolls_the_slash_back_too() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 100);
		slash(ALICE, 10);
		let slashed = slashed_total();
		// Leaving 90 - 85 = 5 < MinDelegation fails after the slash was applied in the call.
		assert_noop!(
			Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 85),
			Error::<Test>::BelowMinimum
		);
		assert_eq!(held(BOB), 100);
		assert_eq!(slashed_total(), slashed);
	});
}

#[test]
fn a_wiped_out_validator_can_leave_at_once() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_eq!(slash(ALICE, 100), 1_000);
		assert_eq!(held(ALICE), 0);
		assert_eq!(free(ALICE), INITIAL - 1_000);
		assert_ok!(Staking::deregister(RuntimeOrigin::signed(ALICE)));
		assert!(Pools::<Test>::get(ALICE).is_none());
		// A new registration starts a new pool at one share per unit.
		register(ALICE, 500);
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().self_stake.shares, 500);
	});
}

#[test]
fn a_fault_without_a_slash_counts_towards_the_jail() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		let stake = Staking::validator_stake(ALICE);
		for _ in 0..MAX_FAULTS - 1 {
			<Staking as InferenceStaking<_>>::note_fault(&ALICE);
		}
		assert!(Validators::<Test>::get(ALICE).unwrap().jailed_until.is_none());
		<Staking as InferenceStaking<_>>::note_fault(&ALICE);
		let info = Validators::<Test>::get(ALICE).unwrap();
		assert!(info.jailed_until.is_some());
		assert_eq!(info.status, ValidatorStatus::Chilled);
		assert!(!<Staking as InferenceStaking<_>>::is_eligible(&ALICE));
		// Nothing was taken.
		assert_eq!(Staking::validator_stake(ALICE), stake);
		// Faults while jailed (from tasks drawn before) neither count nor extend the jail.
		let until = info.jailed_until;
		for _ in 0..2 * MAX_FAULTS {
			<Staking as InferenceStaking<_>>::note_fault(&ALICE);
		}
		let info = Validators::<Test>::get(ALICE).unwrap();
		assert_eq!(info.jailed_until, until);
		assert!(info.recent_faults.is_empty());
		// Not a validator: nothing happens.
		<Staking as InferenceStaking<_>>::note_fault(&BOB);
	});
}
