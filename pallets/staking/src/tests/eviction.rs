//! No squatting: a full set admits a newcomer with more stake by evicting the least-staked
//! validator, whose stake stays slashable.

use super::*;
use crate::{Error, Event, Pools, Unbonding, ValidatorStatus, Validators};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::staking::InferenceStaking;

/// The validators of the full set: `FIRST + i` with an own bond of `bond_of(FIRST + i)`.
const FIRST: AccountId = 10;
/// A newcomer, funded.
const NEWCOMER: AccountId = 30;

/// 200 for the first validator, 100 more for each next one.
fn bond_of(who: AccountId) -> Balance {
	200 + 100 * (who - FIRST)
}

fn set() -> impl Iterator<Item = AccountId> {
	FIRST..FIRST + MAX_VALIDATORS as u64
}

/// Funded accounts, and a full set registered with `bond_of`.
fn full_set() -> ExtBuilder {
	let mut builder = ExtBuilder::default().balance(NEWCOMER, INITIAL);
	for who in set() {
		builder = builder.balance(who, INITIAL).validator(who, bond_of(who), Perbill::zero());
	}
	builder
}

fn try_register(who: AccountId, bond: Balance) -> sp_runtime::DispatchResult {
	Staking::register_validator(RuntimeOrigin::signed(who), bond, Perbill::from_percent(10))
		.map(|_| ())
		.map_err(|e| e.error)
}

#[test]
fn a_newcomer_with_more_stake_evicts_the_least_staked() {
	full_set().build_and_execute(|| {
		let least = FIRST;
		delegate(BOB, least, 50);
		let slot = Validators::<Test>::get(least).unwrap().slot;
		let total = Staking::total_eligible_stake();

		assert_ok!(try_register(NEWCOMER, 251));
		System::assert_has_event(
			Event::Unbonded {
				validator: least,
				amount: 200,
				unlock_at: Some(1 + UNBONDING_PERIOD),
			}
			.into(),
		);
		System::assert_has_event(Event::ValidatorEvicted { validator: least, by: NEWCOMER }.into());
		System::assert_last_event(
			Event::ValidatorRegistered {
				validator: NEWCOMER,
				bond: 251,
				commission: Perbill::from_percent(10),
			}
			.into(),
		);
		assert!(!Staking::is_validator(&least));
		assert!(Staking::is_eligible(&NEWCOMER));
		assert_eq!(Validators::<Test>::count(), MAX_VALIDATORS);
		// The newcomer takes the freed sampling slot.
		assert_eq!(Validators::<Test>::get(NEWCOMER).unwrap().slot, slot);
		assert_eq!(Staking::total_eligible_stake(), total - 250 + 251);

		// The own bond is unbonding, still held, and withdrawable after the unbonding period.
		assert_eq!(Staking::unbonding_chunks(least), vec![(least, 200, 1 + UNBONDING_PERIOD)]);
		assert_eq!(held(least), 200);
		// Bob's delegation is intact, as after a deregistration.
		assert_eq!(position(BOB, least).active, 50);
		assert_eq!(held(BOB), 50);
		assert!(Pools::<Test>::get(least).is_some());

		run_to_block(UNBONDING_PERIOD);
		assert_noop!(
			Staking::withdraw_unbonded(RuntimeOrigin::signed(least)),
			Error::<Test>::NothingToWithdraw
		);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(least)));
		assert_eq!(free(least), INITIAL);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), least, 50));
	});
}

#[test]
fn a_bond_equal_to_the_least_stake_is_refused() {
	full_set().build_and_execute(|| {
		assert_noop!(try_register(NEWCOMER, 200), Error::<Test>::TooManyValidators);
		// Delegations count: the least-staked is now the second one.
		delegate(BOB, FIRST, 200);
		assert_noop!(try_register(NEWCOMER, 300), Error::<Test>::TooManyValidators);
		assert_ok!(try_register(NEWCOMER, 301));
		System::assert_has_event(
			Event::ValidatorEvicted { validator: FIRST + 1, by: NEWCOMER }.into(),
		);
	});
}

#[test]
fn ineligible_validators_are_evicted_first() {
	full_set().build_and_execute(|| {
		let big = FIRST + 9;
		let small = FIRST;
		// Chilled: counts as no stake, whatever it has.
		assert_ok!(Staking::chill(RuntimeOrigin::signed(big)));
		assert_ok!(try_register(NEWCOMER, MIN_VALIDATOR_BOND));
		System::assert_has_event(Event::ValidatorEvicted { validator: big, by: NEWCOMER }.into());
		assert!(Staking::is_validator(&small));

		// Under-bonded after a slash (so chilled): next to go.
		let slashed = FIRST + 1;
		slash(slashed, 80);
		assert_eq!(Validators::<Test>::get(slashed).unwrap().status, ValidatorStatus::Chilled);
		assert_ok!(try_register(ALICE, MIN_VALIDATOR_BOND));
		System::assert_has_event(Event::ValidatorEvicted { validator: slashed, by: ALICE }.into());
		assert!(Staking::is_validator(&small));
	});
}

#[test]
fn a_jailed_validator_is_evicted_first() {
	full_set().build_and_execute(|| {
		let jailed = FIRST + 7;
		for _ in 0..MAX_FAULTS {
			<Staking as InferenceStaking<_>>::note_fault(&jailed);
		}
		assert!(Validators::<Test>::get(jailed).unwrap().jailed_until.is_some());
		assert_ok!(try_register(NEWCOMER, MIN_VALIDATOR_BOND));
		System::assert_has_event(
			Event::ValidatorEvicted { validator: jailed, by: NEWCOMER }.into(),
		);
	});
}

#[test]
fn ties_evict_the_lowest_account() {
	full_set().build_and_execute(|| {
		// The two least-staked both at 300: the lower account goes.
		assert_ok!(Staking::bond_extra(RuntimeOrigin::signed(FIRST), 100));
		assert_eq!(Staking::total_stake(&FIRST), Staking::total_stake(&(FIRST + 1)));
		assert_ok!(try_register(NEWCOMER, 301));
		System::assert_has_event(Event::ValidatorEvicted { validator: FIRST, by: NEWCOMER }.into());
		// Two chilled ones: the lower account again, whatever their stakes.
		assert_ok!(Staking::chill(RuntimeOrigin::signed(FIRST + 8)));
		assert_ok!(Staking::chill(RuntimeOrigin::signed(FIRST + 3)));
		assert_ok!(try_register(ALICE, MIN_VALIDATOR_BOND));
		System::assert_has_event(
			Event::ValidatorEvicted { validator: FIRST + 3, by: ALICE }.into(),
		);
	});
}

#[test]
fn the_evicted_bond_stays_slashable_in_its_chunk() {
	full_set().build_and_execute(|| {
		let least = FIRST;
		delegate(BOB, least, 100);
		assert_ok!(try_register(NEWCOMER, 301));
		let slashed = slashed_total();

		// A fault of a task it took before the eviction lands afterwards.
		assert_eq!(slash(least, 10), 30);
		System::assert_last_event(
			Event::Slashed {
				validator: least,
				fraction: Perbill::from_percent(10),
				reason: opg_primitives::staking::SlashReason::Mismatch,
				active: 10,
				unbonding: 20,
			}
			.into(),
		);
		assert_eq!(Staking::unbonding_chunks(least), vec![(least, 180, 1 + UNBONDING_PERIOD)]);
		assert_eq!(position(BOB, least).active, 90);

		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(least)));
		System::assert_last_event(Event::Withdrawn { who: least, amount: 180, slashed: 20 }.into());
		assert_eq!(free(least), INITIAL - 20);
		assert_eq!(held(least), 0);
		assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), least, 100));
		assert_eq!(slashed_total(), slashed + 30);
	});
}

#[test]
fn eviction_pays_out_the_evicted_validators_rewards() {
	full_set().build_and_execute(|| {
		let least = FIRST;
		assert_ok!(reward(least, 100));
		assert_ok!(try_register(NEWCOMER, 201));
		System::assert_has_event(
			Event::RewardsClaimed { who: least, validator: least, amount: 100 }.into(),
		);
		assert_eq!(free(least), INITIAL - 200 + 100);
		assert_eq!(Staking::pot_free(), 0);
	});
}

#[test]
fn a_validator_cannot_fill_the_chunk_place_kept_for_its_eviction() {
	full_set().build_and_execute(|| {
		let least = FIRST;
		// Chunks of its own and from delegations elsewhere share the account's list.
		delegate(least, FIRST + 9, 500);
		for block in 1..MAX_CHUNKS as u64 {
			System::set_block_number(block);
			assert_ok!(Staking::undelegate(RuntimeOrigin::signed(least), FIRST + 9, 10));
		}
		System::set_block_number(MAX_CHUNKS as u64);
		assert_noop!(
			Staking::undelegate(RuntimeOrigin::signed(least), FIRST + 9, 10),
			Error::<Test>::TooManyUnbondingChunks
		);
		assert_noop!(
			Staking::unbond(RuntimeOrigin::signed(least), 10),
			Error::<Test>::TooManyUnbondingChunks
		);
		// The eviction still has its place.
		assert_ok!(try_register(NEWCOMER, 201));
		assert_eq!(Unbonding::<Test>::get(least).len(), MAX_CHUNKS as usize);
		assert!(!Staking::is_validator(&least));
		// No longer a validator: the whole list is its own again (after a withdrawal).
		run_to_block(MAX_CHUNKS as u64 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(least)));
	});
}

#[test]
fn registering_needs_a_free_chunk_place() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		delegate(BOB, ALICE, 500);
		for block in 1..=MAX_CHUNKS as u64 {
			System::set_block_number(block);
			assert_ok!(Staking::undelegate(RuntimeOrigin::signed(BOB), ALICE, 10));
		}
		assert_noop!(try_register(BOB, 1_000), Error::<Test>::TooManyUnbondingChunks);
		run_to_block(1 + UNBONDING_PERIOD);
		assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(BOB)));
		assert_ok!(try_register(BOB, 1_000));
	});
}

#[test]
fn an_evicted_validator_may_register_again() {
	full_set().build_and_execute(|| {
		let least = FIRST;
		assert_ok!(try_register(NEWCOMER, 201));
		// With more than the least stake now: the newcomer's 201.
		assert_noop!(try_register(least, 201), Error::<Test>::TooManyValidators);
		assert_ok!(try_register(least, 1_000));
		System::assert_has_event(Event::ValidatorEvicted { validator: NEWCOMER, by: least }.into());
		assert_eq!(Staking::total_stake(&least), 1_000);
		// The chunk of its eviction is still there, still its own.
		assert_eq!(Staking::unbonding_chunks(least), vec![(least, 200, 1 + UNBONDING_PERIOD)]);
	});
}

#[test]
fn a_set_with_room_evicts_nobody() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, 1_000);
		assert_ok!(try_register(BOB, MIN_VALIDATOR_BOND));
		assert!(!staking_events().iter().any(|e| matches!(e, Event::ValidatorEvicted { .. })));
		assert_eq!(Validators::<Test>::count(), 2);
	});
}
