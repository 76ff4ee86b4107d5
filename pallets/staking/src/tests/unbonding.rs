//! `withdraw_unbonded`: maturity, several validators, errors.

use super::*;
use crate::{Error, Event, Unbonding};
use frame_support::{assert_noop, assert_ok};

#[test]
fn withdraw_releases_only_matured_chunks() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 100));
		System::set_block_number(5);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 200));

		run_to_block(UNBONDING_PERIOD);
		assert_noop!(
			Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)),
			Error::<Test>::NothingToWithdraw
		);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		System::assert_last_event(Event::Withdrawn { who: BOB, amount: 100, slashed: 0 }.into());
		assert_eq!(free(BOB), INITIAL - 400);
		assert_eq!(held(BOB), 400);
		assert_eq!(Unbonding::<Test>::get(BOB).len(), 1);

		run_to_block(5 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		System::assert_last_event(Event::Withdrawn { who: BOB, amount: 200, slashed: 0 }.into());
		assert_eq!(free(BOB), INITIAL - 200);
		assert_eq!(held(BOB), 200);
		assert!(!Unbonding::<Test>::contains_key(BOB));
	});
}

#[test]
fn withdraw_covers_several_validators_and_own_bond() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		register(BOB, 1_000);
		delegate(ALICE, BOB, 300);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 200));
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(ALICE), BOB, 300));
		assert_eq!(Unbonding::<Test>::get(ALICE).len(), 2);
		assert_eq!(held(ALICE), 1_300);
		// Only Bob is slashed: only the chunk drawn from Bob loses.
		slash(BOB, 10);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::Withdrawn { who: ALICE, amount: 470, slashed: 30 }.into());
		assert_eq!(held(ALICE), 800);
		assert_eq!(free(ALICE), INITIAL - 1_300 + 470);
	});
}

#[test]
fn withdraw_errors() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)),
			Error::<Test>::NothingToWithdraw
		);
		assert_noop!(
			Staking::withdraw_unbonded(RuntimeOrigin::none()),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn withdrawn_chunks_free_room_for_new_ones() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		// A validator has one place fewer: the last is kept for an eviction.
		for block in 1..MAX_CHUNKS as u64 {
			System::set_block_number(block);
			assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 10));
		}
		System::set_block_number(MAX_CHUNKS as u64);
		assert_noop!(
			Staking::unbond(RuntimeOrigin::signed(ALICE), 10),
			Error::<Test>::TooManyUnbondingChunks
		);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_eq!(Unbonding::<Test>::get(ALICE).len(), MAX_CHUNKS as usize - 2);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 10));
	});
}
