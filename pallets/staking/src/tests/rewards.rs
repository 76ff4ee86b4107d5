//! Rewards: commission, the per-share split, dust, claims.

use super::*;
use crate::{Error, Event, OutstandingRewards, RewardDust, Validators};
use frame_support::{assert_noop, assert_ok, traits::fungible::Balanced};
use opg_primitives::staking::InferenceStaking;

#[test]
fn reward_pays_commission_then_shares_by_stake() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		let issuance = Balances::total_issuance();
		assert_ok!(reward(ALICE, 150));
		// Commission 15; 135 split 1000:500 → Alice 90, Bob 45.
		System::assert_last_event(
			Event::Rewarded { validator: ALICE, amount: 150, commission: 15, dust: 0 }.into(),
		);
		assert_eq!(Balances::total_issuance(), issuance + 150);
		assert_eq!(Staking::pot_free(), 150);
		assert_eq!(OutstandingRewards::<Test>::get(), 150);
		assert_eq!(position(ALICE, ALICE).rewards, 105);
		assert_eq!(position(BOB, ALICE).rewards, 45);

		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(BOB), ALICE));
		System::assert_last_event(
			Event::RewardsClaimed { who: BOB, validator: ALICE, amount: 45 }.into(),
		);
		assert_eq!(free(BOB), INITIAL - 500 + 45);
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(ALICE), ALICE));
		System::assert_last_event(
			Event::RewardsClaimed { who: ALICE, validator: ALICE, amount: 105 }.into(),
		);
		assert_eq!(free(ALICE), INITIAL - 1_000 + 105);
		assert_eq!(Staking::pot_free(), 0);
		assert_eq!(OutstandingRewards::<Test>::get(), 0);
		// Stake is untouched by claims.
		assert_eq!(held(ALICE), 1_000);
		assert_eq!(held(BOB), 500);
	});
}

#[test]
fn commission_rounds_down() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		// 10% of 155 is 15.5: the validator gets 15, and 140 is split 1000:500.
		assert_ok!(reward(ALICE, 155));
		System::assert_last_event(
			Event::Rewarded { validator: ALICE, amount: 155, commission: 15, dust: 0 }.into(),
		);
		// 15 + floor(93.3) and floor(46.6): one unit stays in the pot, owed to nobody.
		assert_eq!(position(ALICE, ALICE).rewards, 15 + 93);
		assert_eq!(position(BOB, ALICE).rewards, 46);
	});
}

#[test]
fn rewards_before_joining_are_not_shared_with_newcomers() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::zero()));
		assert_ok!(reward(ALICE, 100));
		delegate(BOB, ALICE, 1_000);
		assert_eq!(position(BOB, ALICE).rewards, 0);
		assert_ok!(reward(ALICE, 100));
		assert_eq!(position(BOB, ALICE).rewards, 50);
		assert_eq!(position(ALICE, ALICE).rewards, 150);
		// Topping up settles what was earned so far and keeps it.
		delegate(BOB, ALICE, 1_000);
		assert_eq!(position(BOB, ALICE).rewards, 50);
		assert_ok!(reward(ALICE, 300));
		assert_eq!(position(BOB, ALICE).rewards, 250);
		assert_eq!(position(ALICE, ALICE).rewards, 250);
	});
}

#[test]
fn rewards_round_down_and_never_exceed_the_pot() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 100);
		delegate(BOB, ALICE, 100);
		delegate(CHARLIE, ALICE, 100);
		assert_ok!(Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::zero()));
		// 100 / 3 each: 33 each claimable, 1 left in the pot below one unit per position.
		assert_ok!(reward(ALICE, 100));
		for who in [ALICE, BOB, CHARLIE] {
			assert_eq!(position(who, ALICE).rewards, 33);
		}
		assert_eq!(OutstandingRewards::<Test>::get(), 100);
		for who in [ALICE, BOB, CHARLIE] {
			assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(who), ALICE));
		}
		assert_eq!(Staking::pot_free(), 1);
		assert_eq!(OutstandingRewards::<Test>::get(), 1);
	});
}

#[test]
fn reward_dust_stays_in_the_pot() {
	// Dust appears once the active shares exceed the reward-per-share scale (10^18).
	let big: Balance = 3_000_000_000_000_000_001;
	ExtBuilder::default().balance(EVE, big + 1).build_and_execute(|| {
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(EVE), big, Perbill::zero()));
		assert_ok!(reward(EVE, 1));
		System::assert_last_event(
			Event::Rewarded { validator: EVE, amount: 1, commission: 0, dust: 1 }.into(),
		);
		assert_eq!(RewardDust::<Test>::get(), 1);
		assert_eq!(OutstandingRewards::<Test>::get(), 0);
		assert_eq!(Staking::pot_free(), 1);
		assert_eq!(position(EVE, EVE).rewards, 0);
	});
}

#[test]
fn reward_without_active_stake_is_all_commission() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		assert_ok!(reward(ALICE, 70));
		System::assert_last_event(
			Event::Rewarded { validator: ALICE, amount: 70, commission: 70, dust: 0 }.into(),
		);
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().self_stake.unclaimed, 70);
		assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(ALICE), ALICE));
		assert_eq!(free(ALICE), INITIAL - 1_000 + 70);
	});
}

#[test]
fn reward_errors_hand_the_credit_back() {
	ExtBuilder::default().build_and_execute(|| {
		let issuance = Balances::total_issuance();
		let credit = Balances::issue(50);
		let (credit, error) = Staking::reward(&ALICE, credit).unwrap_err();
		assert_eq!(error, Error::<Test>::NotValidator.into());
		assert_eq!(frame_support::traits::Imbalance::peek(&credit), 50);
		drop(credit);
		assert_eq!(Balances::total_issuance(), issuance);
		// A zero reward is accepted and changes nothing.
		register(ALICE, 100);
		assert_ok!(reward(ALICE, 0));
		assert_eq!(Staking::pot_free(), 0);
	});
}

#[test]
fn claim_rewards_errors() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Staking::claim_rewards(RuntimeOrigin::signed(BOB), ALICE),
			Error::<Test>::NotDelegated
		);
		register(ALICE, 1_000);
		assert_noop!(
			Staking::claim_rewards(RuntimeOrigin::signed(BOB), ALICE),
			Error::<Test>::NotDelegated
		);
		delegate(BOB, ALICE, 100);
		assert_noop!(
			Staking::claim_rewards(RuntimeOrigin::signed(BOB), ALICE),
			Error::<Test>::NoRewards
		);
		assert_noop!(
			Staking::claim_rewards(RuntimeOrigin::signed(ALICE), ALICE),
			Error::<Test>::NoRewards
		);
	});
}

#[test]
fn commission_change_applies_to_later_rewards() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 100);
		delegate(BOB, ALICE, 100);
		assert_ok!(reward(ALICE, 100)); // commission 10, Bob 45
								  // A decrease applies at once.
		assert_ok!(Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::zero()));
		assert_ok!(reward(ALICE, 100)); // no commission: Bob 50
		assert_eq!(position(BOB, ALICE).rewards, 95);
		assert_eq!(position(ALICE, ALICE).rewards, 105);
	});
}

#[test]
fn a_commission_increase_waits_its_delay_and_is_capped() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 100);
		delegate(BOB, ALICE, 100);
		let now = System::block_number();
		assert_noop!(
			Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::from_percent(21)),
			Error::<Test>::CommissionIncreaseTooLarge
		);
		assert_ok!(Staking::set_commission(
			RuntimeOrigin::signed(ALICE),
			Perbill::from_percent(20)
		));
		System::assert_last_event(
			Event::CommissionSet {
				validator: ALICE,
				commission: Perbill::from_percent(20),
				at: now + COMMISSION_DELAY,
			}
			.into(),
		);
		// Rewards before the delay still see 10 %: a visible settlement cannot be front-run.
		assert_ok!(reward(ALICE, 100)); // commission 10, Bob 45
		assert_eq!(position(BOB, ALICE).rewards, 45);
		// Measured against the commission in effect, not the pending one: no stacking.
		assert_noop!(
			Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::from_percent(30)),
			Error::<Test>::CommissionIncreaseTooLarge
		);
		run_to_block(now + COMMISSION_DELAY);
		assert_ok!(reward(ALICE, 100)); // commission 20, Bob 40
		assert_eq!(position(BOB, ALICE).rewards, 85);
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().commission, Perbill::from_percent(20));
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().pending_commission, None);
		// A decrease cancels a pending increase.
		assert_ok!(Staking::set_commission(
			RuntimeOrigin::signed(ALICE),
			Perbill::from_percent(30)
		));
		assert_ok!(Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::from_percent(5)));
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().pending_commission, None);
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().commission, Perbill::from_percent(5));
	});
}
