//! Inference keys: linking one needs proof that the caller holds it, and a link ends with its
//! validator's registration.

use crate::{mock::*, Event, InferenceKeys, KeyOwners};
use frame_support::assert_ok;

/// Unbonds `validator`'s whole own bond, waits out the unbonding period, withdraws and
/// deregisters it.
fn leave(validator: AccountId) {
	assert_ok!(Staking::unbond(RuntimeOrigin::signed(validator), BOND));
	run_to_block(System::block_number() + 10);
	assert_ok!(Staking::withdraw_unbonded(RuntimeOrigin::signed(validator)));
	assert_ok!(Staking::deregister(RuntimeOrigin::signed(validator)));
}

#[test]
fn deregistering_clears_the_inference_key() {
	ExtBuilder::default().build_and_execute(|| {
		link_key(V2, 50);
		link_key(V3, 51);
		leave(V2);
		System::assert_last_event(Event::InferenceKeyCleared { validator: V2, key: 50 }.into());
		assert_eq!(InferenceKeys::<Test>::get(V2), None);
		assert_eq!(KeyOwners::<Test>::get(50), None);
		// Other validators keep theirs.
		assert_eq!(KeyOwners::<Test>::get(51), Some(V3));
		// The key is free again: another validator may link it.
		link_key(V4, 50);
		assert_eq!(KeyOwners::<Test>::get(50), Some(V4));
	});
}

#[test]
fn deregistering_without_a_key_clears_nothing() {
	ExtBuilder::default().build_and_execute(|| {
		leave(V2);
		assert!(!inference_events().iter().any(|e| matches!(e, Event::InferenceKeyCleared { .. })));
	});
}

#[test]
fn eviction_clears_the_inference_key() {
	ExtBuilder::default().build_and_execute(|| {
		use frame_support::traits::{fungible::Mutate, Get};
		link_key(V3, 52);
		link_key(V4, 53);
		// Fill the set; V4, chilled, counts as no stake and is the first to go.
		let max: u32 = <Test as pallet_inference_staking::Config>::MaxValidators::get();
		let max = u64::from(max);
		let fillers = 200..200 + max - 4;
		for who in fillers.clone() {
			assert_ok!(Balances::mint_into(&who, 2 * BOND));
			assert_ok!(Staking::register_validator(RuntimeOrigin::signed(who), BOND, COMMISSION));
		}
		assert_ok!(Staking::chill(RuntimeOrigin::signed(V4)));
		let newcomer = 300;
		assert_ok!(Balances::mint_into(&newcomer, 2 * BOND));
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(newcomer), BOND, COMMISSION));

		System::assert_has_event(
			pallet_inference_staking::Event::ValidatorEvicted { validator: V4, by: newcomer }
				.into(),
		);
		System::assert_has_event(Event::InferenceKeyCleared { validator: V4, key: 53 }.into());
		assert_eq!(InferenceKeys::<Test>::get(V4), None);
		assert_eq!(KeyOwners::<Test>::get(53), None);
		assert_eq!(KeyOwners::<Test>::get(52), Some(V3));
	});
}
