//! `publish_version`: version chains, links, deposits of both entries.

use crate::{mock::*, Error, Event, ModelSpec, ModelStatus, Models as ModelsStorage, NextModelId};
use frame_support::{assert_noop, assert_ok, traits::fungible::Mutate};
use opg_primitives::models::{ModelDescriptor, ModelProvider};
use sp_core::H256;
use sp_runtime::{DispatchError, TokenError};

/// The next version of mnist: new weights, higher fee.
fn mnist_v2() -> ModelSpec<Balance> {
	let v1 = mnist_spec();
	let descriptor = ModelDescriptor { weights_hash: H256::repeat_byte(0xA2), ..v1.descriptor };
	ModelSpec { descriptor, fee_per_executor: 12, ..v1 }
}

#[test]
fn publish_version_works() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_eq!(held(ALICE), 378);

		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()));

		let v1 = Models::model(0).unwrap();
		let v2 = Models::model(1).unwrap();
		assert_eq!((v1.version, v1.previous_version, v1.next_version), (1, None, Some(1)));
		assert_eq!((v2.version, v2.previous_version, v2.next_version), (2, Some(0), None));
		assert_eq!(v2.owner, ALICE);
		assert_eq!(v2.descriptor.weights_hash, H256::repeat_byte(0xA2));
		assert_eq!(v2.status, ModelStatus::Active);
		// The old version stays runnable until deprecated.
		assert_eq!(v1.status, ModelStatus::Active);
		assert!(Models::runnable_model(0).is_some());
		assert_eq!(Models::runnable_model(1).unwrap().fee_per_executor, 12);
		assert_eq!(NextModelId::<Test>::get(), 2);

		// v1's entry grew by 4 bytes (`Some(1)`), v2's has `Some(0)` as previous version.
		assert_eq!(v1.deposit, 378 + 4 * DEPOSIT_PER_BYTE);
		assert_eq!(v2.deposit, 378 + 4 * DEPOSIT_PER_BYTE);
		assert_eq!(v1.deposit, expected_deposit(0));
		assert_eq!(v2.deposit, expected_deposit(1));
		assert_eq!(held(ALICE), 386 + 386);
		assert_eq!(free(ALICE), INITIAL_BALANCE - 772);

		let events = model_events();
		assert_eq!(
			events[events.len() - 2..],
			[
				Event::DepositUpdated {
					model_id: 0,
					owner: ALICE,
					old_deposit: 378,
					new_deposit: 386
				},
				Event::VersionPublished {
					model_id: 1,
					previous: 0,
					version: 2,
					owner: ALICE,
					deposit: 386
				}
			]
		);
	});
}

#[test]
fn versions_form_a_chain() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()));
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 1, mnist_v2()));

		let v3 = Models::model(2).unwrap();
		assert_eq!((v3.version, v3.previous_version), (3, Some(1)));
		assert_eq!(Models::model(1).unwrap().next_version, Some(2));
		System::assert_last_event(
			Event::VersionPublished {
				model_id: 2,
				previous: 1,
				version: 3,
				owner: ALICE,
				deposit: 386,
			}
			.into(),
		);
		// v2 has both links: 4 more bytes than v3.
		assert_eq!(Models::model(1).unwrap().deposit, 386 + 4 * DEPOSIT_PER_BYTE);
		assert_eq!(held(ALICE), 386 + 394 + 386);
	});
}

#[test]
fn deprecated_models_can_get_a_new_version() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));

		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()));

		assert!(Models::runnable_model(0).is_none());
		assert!(Models::runnable_model(1).is_some());
	});
}

#[test]
fn only_the_latest_version_can_be_published_from() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()));
		assert_noop!(
			Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()),
			Error::<Test>::AlreadySuperseded
		);
	});
}

#[test]
fn publish_version_errors() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_noop!(
			Models::publish_version(RuntimeOrigin::signed(BOB), 0, mnist_v2()),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			Models::publish_version(RuntimeOrigin::signed(ALICE), 5, mnist_v2()),
			Error::<Test>::ModelNotFound
		);
		assert_noop!(
			Models::publish_version(
				RuntimeOrigin::signed(ALICE),
				0,
				ModelSpec { name: vec![b'n'; MAX_NAME_LEN as usize + 1], ..mnist_v2() }
			),
			Error::<Test>::NameTooLong
		);
		assert_noop!(
			Models::publish_version(
				RuntimeOrigin::signed(ALICE),
				0,
				ModelSpec { quorum: Some(4), ..mnist_v2() }
			),
			Error::<Test>::InvalidQuorum
		);
		assert_noop!(
			Models::publish_version(
				RuntimeOrigin::signed(ALICE),
				0,
				ModelSpec { fee_per_executor: MIN_FEE - 1, ..mnist_v2() }
			),
			Error::<Test>::FeeBelowMinimum
		);
		assert_noop!(
			Models::publish_version(RuntimeOrigin::none(), 0, mnist_v2()),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn version_overflow_is_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		ModelsStorage::<Test>::mutate(0, |info| info.as_mut().unwrap().version = u32::MAX);
		assert_noop!(
			Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()),
			Error::<Test>::VersionOverflow
		);
	});
}

#[test]
fn exhausted_ids_are_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		NextModelId::<Test>::put(u32::MAX);
		assert_noop!(
			Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()),
			Error::<Test>::ModelIdsExhausted
		);
	});
}

#[test]
fn unaffordable_deposits_change_nothing() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		// Enough for the new entry (386) and the existential deposit, 1 short of the growth of
		// the previous entry (8): the first hold is rolled back with the rest.
		<Balances as Mutate<AccountId>>::set_balance(&ALICE, 1 + 386 + 7);
		assert_noop!(
			Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()),
			DispatchError::Token(TokenError::FundsUnavailable)
		);
		<Balances as Mutate<AccountId>>::set_balance(&ALICE, 1 + 386 + 8);
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_v2()));
		assert_eq!((free(ALICE), held(ALICE)), (1, 378 + 8 + 386));
	});
}
