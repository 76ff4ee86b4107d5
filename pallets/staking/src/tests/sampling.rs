//! Stake-weighted sampling through the Fenwick tree.

use super::*;
use crate::{FreeSlotHead, NextSlot, SlotOwner, Validators};
use frame_support::assert_ok;
use opg_primitives::staking::InferenceStaking;

/// Which validator each point of `[0, total)` maps to, as runs of `(validator, length)`.
fn segments() -> Vec<(AccountId, Balance)> {
	let total = Staking::total_eligible_stake();
	let mut runs: Vec<(AccountId, Balance)> = Vec::new();
	for point in 0..total {
		let who = Staking::eligible_validator_at(point).unwrap();
		match runs.last_mut() {
			Some((last, len)) if *last == who => *len += 1,
			_ => runs.push((who, 1)),
		}
	}
	assert_eq!(Staking::eligible_validator_at(total), None);
	runs
}

#[test]
fn points_map_to_validators_by_stake() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 100);
		register(BOB, 200);
		register(CHARLIE, 300);
		assert_eq!(Staking::total_eligible_stake(), 600);
		assert_eq!(segments(), vec![(ALICE, 100), (BOB, 200), (CHARLIE, 300)]);

		delegate(DAVE, BOB, 50);
		assert_eq!(segments(), vec![(ALICE, 100), (BOB, 250), (CHARLIE, 300)]);

		assert_ok!(Staking::chill(RuntimeOrigin::signed(BOB)));
		assert_eq!(segments(), vec![(ALICE, 100), (CHARLIE, 300)]);

		slash(CHARLIE, 50);
		assert_eq!(segments(), vec![(ALICE, 100), (CHARLIE, 150)]);

		let mut eligible = Staking::eligible_validators();
		eligible.sort();
		assert_eq!(eligible, vec![(ALICE, 100), (CHARLIE, 150)]);
	});
}

#[test]
fn no_eligible_validator_means_no_sample() {
	ExtBuilder::default().build_and_execute(|| {
		assert_eq!(Staking::eligible_validator_at(0), None);
		register(ALICE, 100);
		assert_ok!(Staking::chill(RuntimeOrigin::signed(ALICE)));
		assert_eq!(Staking::total_eligible_stake(), 0);
		assert_eq!(Staking::eligible_validator_at(0), None);
		assert!(Staking::eligible_validators().is_empty());
	});
}

#[test]
fn slots_are_reused_after_deregistration() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 100);
		register(BOB, 100);
		register(CHARLIE, 100);
		for who in [ALICE, BOB] {
			assert_ok!(Staking::unbond(RuntimeOrigin::signed(who), 100));
		}
		run_to_block(1 + UNBONDING_PERIOD);
		for who in [ALICE, BOB] {
			assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(who)));
			assert_ok!(Staking::deregister(RuntimeOrigin::signed(who)));
		}
		assert_eq!(FreeSlotHead::<Test>::get(), 2);
		assert_eq!(SlotOwner::<Test>::get(1), None);
		register(DAVE, 400);
		register(EVE, 500);
		register(FERDIE, 600);
		assert_eq!(Validators::<Test>::get(DAVE).unwrap().slot, 2);
		assert_eq!(Validators::<Test>::get(EVE).unwrap().slot, 1);
		assert_eq!(Validators::<Test>::get(FERDIE).unwrap().slot, 4);
		assert_eq!(NextSlot::<Test>::get(), 4);
		assert_eq!(segments(), vec![(EVE, 500), (DAVE, 400), (CHARLIE, 100), (FERDIE, 600)]);
	});
}

#[test]
fn a_full_tree_samples_every_validator() {
	let mut builder = ExtBuilder::default();
	for who in 10..10 + MAX_VALIDATORS as u64 {
		builder = builder.balance(who, INITIAL);
	}
	builder.build_and_execute(|| {
		for (i, who) in (10..10 + MAX_VALIDATORS as u64).enumerate() {
			register(who, 100 + i as u64);
		}
		let expected: Vec<_> = (10..10 + MAX_VALIDATORS as u64)
			.enumerate()
			.map(|(i, w)| (w, 100 + i as u64))
			.collect();
		assert_eq!(segments(), expected);
	});
}
