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
