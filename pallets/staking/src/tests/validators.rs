//! Validator calls: register, bond_extra, set_commission, chill / activate, unbond, deregister.

use super::*;
use crate::{Error, Event, Pools, Unbonding, ValidatorStatus, Validators};
use frame_support::{assert_err, assert_noop, assert_ok};
use opg_primitives::staking::InferenceStaking;

#[test]
fn register_validator_holds_the_bond() {
	ExtBuilder::default().build_and_execute(|| {
		assert_ok!(Staking::register_validator(
			RuntimeOrigin::signed(ALICE),
			1_000,
			Perbill::from_percent(10)
		));
		System::assert_last_event(
			Event::ValidatorRegistered {
				validator: ALICE,
				bond: 1_000,
				commission: Perbill::from_percent(10),
			}
			.into(),
		);
		assert_eq!(free(ALICE), INITIAL - 1_000);
		assert_eq!(held(ALICE), 1_000);
		let info = Validators::<Test>::get(ALICE).unwrap();
		assert_eq!(info.status, ValidatorStatus::Active);
		assert_eq!(info.self_stake.principal, 1_000);
		assert_eq!(info.self_stake.shares, 1_000);
		assert_eq!(info.slot, 1);
		assert_eq!(Pools::<Test>::get(ALICE).unwrap().active.value, 1_000);
		assert!(Staking::is_validator(&ALICE));
		assert!(Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_stake(&ALICE), 1_000);
		assert_eq!(Validators::<Test>::count(), 1);
	});
}

#[test]
fn register_validator_errors() {
	ExtBuilder::default().build_and_execute(|| {
		let ten = Perbill::from_percent(10);
		assert_noop!(
			Staking::register_validator(RuntimeOrigin::signed(ALICE), 99, ten),
			Error::<Test>::BondTooLow
		);
		// The existential deposit stays free.
		assert_noop!(
			Staking::register_validator(RuntimeOrigin::signed(ALICE), INITIAL, ten),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			Staking::register_validator(RuntimeOrigin::signed(NOBODY), 100, ten),
			Error::<Test>::InsufficientBalance
		);
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(ALICE), INITIAL - ED, ten));
		assert_eq!(free(ALICE), ED);
		assert_noop!(
			Staking::register_validator(RuntimeOrigin::signed(ALICE), 100, ten),
			Error::<Test>::AlreadyValidator
		);
		assert_noop!(
			Staking::register_validator(RuntimeOrigin::none(), 100, ten),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn register_validator_is_bounded_by_max_validators() {
	let mut builder = ExtBuilder::default();
	for who in 10..10 + MAX_VALIDATORS as u64 + 1 {
		builder = builder.balance(who, INITIAL);
	}
	builder.build_and_execute(|| {
		for who in 10..10 + MAX_VALIDATORS as u64 {
			register(who, 100);
		}
		assert_noop!(
			Staking::register_validator(
				RuntimeOrigin::signed(10 + MAX_VALIDATORS as u64),
				100,
				Perbill::zero()
			),
			Error::<Test>::TooManyValidators
		);
		assert_eq!(Validators::<Test>::count(), MAX_VALIDATORS);
	});
}

#[test]
fn bond_extra_adds_to_the_own_bond() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(ALICE), 500));
		System::assert_last_event(Event::Bonded { validator: ALICE, amount: 500 }.into());
		assert_eq!(free(ALICE), INITIAL - 1_500);
		assert_eq!(held(ALICE), 1_500);
		assert_eq!(Staking::total_stake(&ALICE), 1_500);
		assert_eq!(crate::TotalEligibleStake::<Test>::get(), 1_500);
	});
}

#[test]
fn bond_extra_errors() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Staking::bond_extra(RuntimeOrigin::signed(ALICE), 10),
			Error::<Test>::NotValidator
		);
		register(ALICE, 1_000);
		assert_noop!(
			Staking::bond_extra(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			Staking::bond_extra(RuntimeOrigin::signed(ALICE), INITIAL - 1_000),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn set_commission_works() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::one()),
			Error::<Test>::NotValidator
		);
		register(ALICE, 1_000);
		assert_ok!(Staking::set_commission(RuntimeOrigin::signed(ALICE), Perbill::from_percent(5)));
		System::assert_last_event(
			Event::CommissionSet {
				validator: ALICE,
				commission: Perbill::from_percent(5),
				at: System::block_number(),
			}
			.into(),
		);
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().commission, Perbill::from_percent(5));
	});
}

#[test]
fn chill_and_activate() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(Staking::chill(RuntimeOrigin::signed(ALICE)), Error::<Test>::NotValidator);
		assert_noop!(Staking::activate(RuntimeOrigin::signed(ALICE)), Error::<Test>::NotValidator);
		register(ALICE, 1_000);
		assert_noop!(Staking::activate(RuntimeOrigin::signed(ALICE)), Error::<Test>::AlreadyActive);

		assert_ok!(Staking::chill(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::Chilled { validator: ALICE }.into());
		assert!(Staking::is_validator(&ALICE));
		assert!(!Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_eligible_stake(), 0);
		// Still bonded: chilling moves no funds.
		assert_eq!(held(ALICE), 1_000);
		assert_noop!(Staking::chill(RuntimeOrigin::signed(ALICE)), Error::<Test>::AlreadyChilled);

		assert_ok!(Staking::activate(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::Activated { validator: ALICE }.into());
		assert!(Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_eligible_stake(), 1_000);
	});
}

#[test]
fn unbond_moves_the_own_bond_into_a_chunk() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 300));
		System::assert_last_event(
			Event::Unbonded {
				validator: ALICE,
				amount: 300,
				unlock_at: Some(1 + UNBONDING_PERIOD),
			}
			.into(),
		);
		// Still held: unbonding funds stay on hold until withdrawn.
		assert_eq!(held(ALICE), 1_000);
		assert_eq!(free(ALICE), INITIAL - 1_000);
		assert_eq!(Staking::total_stake(&ALICE), 700);
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().self_stake.principal, 700);
		let chunks = Unbonding::<Test>::get(ALICE);
		assert_eq!(chunks.len(), 1);
		assert_eq!(chunks[0].principal, 300);
		assert_eq!(chunks[0].unlock_at, 1 + UNBONDING_PERIOD);
		assert_eq!(Staking::unbonding_chunks(ALICE), vec![(ALICE, 300, 1 + UNBONDING_PERIOD)]);
	});
}

#[test]
fn unbond_errors() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(Staking::unbond(RuntimeOrigin::signed(ALICE), 1), Error::<Test>::NotValidator);
		register(ALICE, 1_000);
		assert_noop!(Staking::unbond(RuntimeOrigin::signed(ALICE), 0), Error::<Test>::ZeroAmount);
		// 901 would leave 99 < MinValidatorBond.
		assert_noop!(
			Staking::unbond(RuntimeOrigin::signed(ALICE), 901),
			Error::<Test>::BelowMinimum
		);
		// `MaxUnbondingChunks - 1`: a validator keeps its last place for an eviction.
		for block in 1..MAX_CHUNKS as u64 {
			System::set_block_number(block);
			assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 10));
		}
		System::set_block_number(MAX_CHUNKS as u64);
		assert_noop!(
			Staking::unbond(RuntimeOrigin::signed(ALICE), 10),
			Error::<Test>::TooManyUnbondingChunks
		);
	});
}

#[test]
fn unbond_everything_leaves_the_validator_ineligible() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		// More than bonded is clamped to the whole bond.
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 5_000));
		System::assert_has_event(
			Event::Unbonded {
				validator: ALICE,
				amount: 1_000,
				unlock_at: Some(1 + UNBONDING_PERIOD),
			}
			.into(),
		);
		assert!(Staking::is_validator(&ALICE));
		assert!(!Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_stake(&ALICE), 0);
		assert_eq!(held(ALICE), 1_000);
	});
}

#[test]
fn unbond_everything_chills_the_validator() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		System::assert_last_event(Event::Chilled { validator: ALICE }.into());
		assert_eq!(Validators::<Test>::get(ALICE).unwrap().status, ValidatorStatus::Chilled);
		assert_noop!(
			Staking::activate(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::OwnBondBelowMinimum
		);
		// Bonding below the minimum is not enough either; bonding up to it is.
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(ALICE), MIN_VALIDATOR_BOND - 1));
		assert_noop!(
			Staking::activate(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::OwnBondBelowMinimum
		);
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(ALICE), 1));
		assert_ok!(Staking::activate(RuntimeOrigin::signed(ALICE)));
		assert!(Staking::is_eligible(&ALICE));
		assert_eq!(Staking::total_eligible_stake(), MIN_VALIDATOR_BOND);
	});
}

#[test]
fn a_partial_unbond_does_not_chill() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 1_000 - MIN_VALIDATOR_BOND));
		assert!(!staking_events().contains(&Event::Chilled { validator: ALICE }));
		assert!(Staking::is_eligible(&ALICE));
	});
}

#[test]
fn chunks_of_one_block_merge() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		for _ in 0..MAX_CHUNKS + 2 {
			assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 10));
		}
		let chunks = Unbonding::<Test>::get(ALICE);
		assert_eq!(chunks.len(), 1);
		assert_eq!(chunks[0].principal, 10 * (MAX_CHUNKS as u64 + 2));
	});
}

#[test]
fn deregister_once_nothing_is_bonded() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(reward(ALICE, 100));
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_eq!(free(ALICE), INITIAL);

		assert_ok!(Staking::deregister(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::ValidatorDeregistered { validator: ALICE }.into());
		// The commission and the own stake's rewards (all of the 100) are paid on leaving.
		System::assert_has_event(
			Event::RewardsClaimed { who: ALICE, validator: ALICE, amount: 100 }.into(),
		);
		assert_eq!(free(ALICE), INITIAL + 100);
		assert_eq!(held(ALICE), 0);
		assert!(!Staking::is_validator(&ALICE));
		assert!(Pools::<Test>::get(ALICE).is_none());
		assert_eq!(Validators::<Test>::count(), 0);
		assert_eq!(Staking::pot_free(), 0);
	});
}

#[test]
fn deregister_errors() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Staking::deregister(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NotValidator
		);
		register(ALICE, 1_000);
		assert_noop!(Staking::deregister(RuntimeOrigin::signed(ALICE)), Error::<Test>::StillBonded);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		assert_noop!(
			Staking::deregister(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::UnbondingPending
		);
	});
}

#[test]
fn deregistered_validator_leaves_delegations_to_wind_down() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		assert_ok!(Staking::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_ok!(Staking::deregister(RuntimeOrigin::signed(ALICE)));

		// The pool lives on for Bob. It is no longer rewarded; a fault of a task Alice took
		// before she left still slashes it.
		assert!(Pools::<Test>::get(ALICE).is_some());
		assert_eq!(slash(ALICE, 50), 250);
		assert_eq!(position(BOB, ALICE).active, 250);
		// (`assert_err`: issuing the credit emits balances events.)
		assert_err!(reward(ALICE, 10), Error::<Test>::NotValidator);
		assert_noop!(
			Staking::delegate(RuntimeOrigin::signed(CHARLIE), ALICE, 100),
			Error::<Test>::NotValidator
		);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 500));
		run_to_block(1 + 2 * UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		assert_eq!(free(BOB), INITIAL - 250);
		assert!(Pools::<Test>::get(ALICE).is_none());

		// Registering again starts afresh.
		register(ALICE, 200);
		assert_eq!(Staking::total_stake(&ALICE), 200);
	});
}

#[test]
fn genesis_registers_validators_and_delegations() {
	ExtBuilder::default()
		.validator(ALICE, 1_000, Perbill::from_percent(5))
		.validator(BOB, 2_000, Perbill::from_percent(20))
		.delegation(CHARLIE, ALICE, 300)
		.build_and_execute(|| {
			assert_eq!(held(ALICE), 1_000);
			assert_eq!(held(BOB), 2_000);
			assert_eq!(held(CHARLIE), 300);
			assert_eq!(free(CHARLIE), INITIAL - 300);
			assert_eq!(Staking::total_stake(&ALICE), 1_300);
			assert_eq!(Staking::total_eligible_stake(), 3_300);
			assert_eq!(Validators::<Test>::get(BOB).unwrap().commission, Perbill::from_percent(20));
			// The reward pot holds its existential deposit and nothing else.
			assert_eq!(Balances::free_balance(Staking::pot_account()), ED);
		});
}
