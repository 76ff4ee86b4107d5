//! Jail: repeated faults within the window jail and chill a validator.

use super::*;
use crate::{Error, Event, ValidatorStatus, Validators};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::staking::InferenceStaking;

#[test]
fn max_faults_within_the_window_jail() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 10_000 - 1);
		for fault in 1..MAX_FAULTS as u64 {
			System::set_block_number(fault);
			slash(ALICE, 1);
			assert!(Staking::is_eligible(&ALICE));
		}
		System::set_block_number(MAX_FAULTS as u64);
		slash(ALICE, 1);
		let until = MAX_FAULTS as u64 + JAIL_DURATION;
		System::assert_last_event(Event::Jailed { validator: ALICE, until }.into());
		let info = Validators::<Test>::get(ALICE).unwrap();
		assert_eq!(info.jailed_until, Some(until));
		assert_eq!(info.status, ValidatorStatus::Chilled);
		assert!(info.recent_faults.is_empty());
		assert!(!Staking::is_eligible(&ALICE));
		assert!(Staking::is_validator(&ALICE));
		assert_eq!(Staking::total_eligible_stake(), 0);

		assert_noop!(Staking::activate(RuntimeOrigin::signed(ALICE)), Error::<Test>::StillJailed);
		run_to_block(until - 1);
		assert_noop!(Staking::activate(RuntimeOrigin::signed(ALICE)), Error::<Test>::StillJailed);
		run_to_block(until);
		// Jail over, still chilled until it activates.
		assert!(!Staking::is_eligible(&ALICE));
		assert_ok!(Staking::activate(RuntimeOrigin::signed(ALICE)));
		assert!(Staking::is_eligible(&ALICE));
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().jailed_until, None);
		assert_eq!(Staking::total_eligible_stake(), Staking::total_stake(&ALICE));
	});
}

#[test]
fn faults_outside_the_window_do_not_count() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 5_000);
		for fault in 0..2 * MAX_FAULTS as u64 {
			System::set_block_number(1 + fault * FAULT_WINDOW / (MAX_FAULTS as u64 - 1));
			slash(ALICE, 1);
			assert!(Staking::is_eligible(&ALICE), "fault {fault} should not jail");
		}
		assert!(Validators::<Test>::get(ALICE).unwrap().jailed_until.is_none());
	});
}

#[test]
fn a_jailed_validator_is_still_slashable_and_its_jail_extends() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 5_000);
		for _ in 0..MAX_FAULTS {
			slash(ALICE, 1);
		}
		let first = Validators::<Test>::get(ALICE).unwrap().jailed_until.unwrap();
		System::set_block_number(10);
		for _ in 0..MAX_FAULTS {
			assert!(slash(ALICE, 1) > 0);
		}
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().jailed_until, Some(10 + JAIL_DURATION));
		assert!(first < 10 + JAIL_DURATION);
	});
}

#[test]
fn a_jailing_slash_below_the_minimum_announces_the_jail_only() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 120);
		for _ in 1..MAX_FAULTS {
			slash(ALICE, 1);
		}
		System::reset_events();
		slash(ALICE, 20);
		assert!(Validators::<Test>::get(ALICE).unwrap().self_stake.principal < MIN_VALIDATOR_BOND);
		let events = staking_events();
		assert!(events.iter().any(|e| matches!(e, Event::Jailed { validator: ALICE, .. })));
		assert!(!events.contains(&Event::Chilled { validator: ALICE }));
		// Once the jail is over, the own bond still has to be topped up.
		run_to_block(1 + JAIL_DURATION);
		assert_noop!(
			Staking::activate(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::OwnBondBelowMinimum
		);
	});
}
