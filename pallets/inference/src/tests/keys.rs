//! Inference keys: linking one needs proof that the caller holds it, and a link ends with its
//! validator's registration.

use crate::{keys::KEY_PROOF_CONTEXT, mock::*, Error, Event, InferenceKeys, KeyOwners};
use codec::Encode;
use frame_support::{assert_noop, assert_ok};
use sp_core::H256;
use sp_runtime::testing::TestSignature;

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

#[test]
fn a_key_is_linked_with_its_signature_of_the_payload() {
	ExtBuilder::default().build_and_execute(|| {
		let payload = Inference::key_proof_payload(&V1);
		// `b"opg/inference-key" ‖ SCALE(V1) ‖ genesis hash`.
		let genesis = frame_system::BlockHash::<Test>::get(0);
		assert_eq!(
			payload,
			[b"opg/inference-key".to_vec(), V1.encode(), genesis.encode()].concat()
		);
		assert_ok!(Inference::set_inference_key(
			RuntimeOrigin::signed(V1),
			50,
			TestSignature(50, payload)
		));
		System::assert_last_event(Event::InferenceKeySet { validator: V1, key: 50 }.into());
		assert_eq!(KeyOwners::<Test>::get(50), Some(V1));
	});
}

#[test]
fn a_signature_by_another_key_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		// Key 51 signed the right payload, but 50 is being linked: V1 does not hold 50.
		assert_noop!(
			Inference::set_inference_key(RuntimeOrigin::signed(V1), 50, key_proof(V1, 51)),
			Error::<Test>::InvalidKeyProof
		);
		assert_eq!(KeyOwners::<Test>::get(50), None);
	});
}

#[test]
fn a_proof_for_another_validator_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		// V2 replays the proof key 50 gave V1 (published with V1's transaction).
		let proof = key_proof(V1, 50);
		assert_noop!(
			Inference::set_inference_key(RuntimeOrigin::signed(V2), 50, proof.clone()),
			Error::<Test>::InvalidKeyProof
		);
		assert_ok!(Inference::set_inference_key(RuntimeOrigin::signed(V1), 50, proof));
	});
}

#[test]
fn a_proof_for_another_chain_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let other_genesis = H256::repeat_byte(7);
		assert_ne!(frame_system::BlockHash::<Test>::get(0), other_genesis);
		let payload = [KEY_PROOF_CONTEXT.to_vec(), V1.encode(), other_genesis.encode()].concat();
		assert_noop!(
			Inference::set_inference_key(RuntimeOrigin::signed(V1), 50, TestSignature(50, payload)),
			Error::<Test>::InvalidKeyProof
		);
		// Nor another context: a signature the key gave for something else.
		let payload = [b"opg/something".to_vec(), V1.encode(), H256::zero().encode()].concat();
		assert_noop!(
			Inference::set_inference_key(RuntimeOrigin::signed(V1), 50, TestSignature(50, payload)),
			Error::<Test>::InvalidKeyProof
		);
	});
}

#[test]
fn only_validators_link_keys_whatever_the_proof() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Inference::set_inference_key(RuntimeOrigin::signed(ALICE), 50, key_proof(ALICE, 50)),
			Error::<Test>::NotValidator
		);
	});
}
