//! `remove_model`: pending-task guard, servers cleared, deposit released, version links.

use crate::{mock::*, Error, Event, ModelSpec, NextModelId, Servers};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::models::ModelProvider;

#[test]
fn remove_model_works() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 378));

		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 0));

		assert_eq!(Models::model(0), None);
		assert!(Models::model_servers(0).is_empty());
		assert!(!Servers::<Test>::contains_key(0));
		assert!(Models::runnable_model(0).is_none());
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE, 0));
		System::assert_last_event(
			Event::ModelRemoved { model_id: 0, owner: ALICE, released: 378 }.into(),
		);
		// Former servers have nothing to stop.
		assert_noop!(
			Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_1), 0),
			Error::<Test>::NotServing
		);
	});
}

#[test]
fn models_with_pending_tasks_cannot_be_removed() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		set_pending_tasks(0, true);

		assert_noop!(
			Models::remove_model(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::HasPendingTasks
		);

		set_pending_tasks(0, false);
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 0));
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE, 0));
	});
}

#[test]
fn remove_model_errors() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_noop!(Models::remove_model(RuntimeOrigin::signed(BOB), 0), Error::<Test>::NotOwner);
		assert_noop!(
			Models::remove_model(RuntimeOrigin::signed(ALICE), 1),
			Error::<Test>::ModelNotFound
		);
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 0));
		assert_noop!(
			Models::remove_model(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::ModelNotFound
		);
	});
}

#[test]
fn removing_the_latest_version_unlinks_the_previous() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_spec()));
		assert_eq!(held(ALICE), 386 + 386);

		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 1));

		assert_eq!(Models::model(0).unwrap().next_version, None);
		assert_eq!(Models::model(0).unwrap().deposit, 378);
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 378));
		let events = model_events();
		assert_eq!(
			events[events.len() - 2..],
			[
				Event::DepositUpdated {
					model_id: 0,
					owner: ALICE,
					old_deposit: 386,
					new_deposit: 378
				},
				Event::ModelRemoved { model_id: 1, owner: ALICE, released: 386 },
			]
		);

		// A version can be published again from the previous one, with a new id.
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_spec()));
		assert_eq!(Models::model(0).unwrap().next_version, Some(2));
		assert_eq!(Models::model(2).unwrap().version, 2);
	});
}

#[test]
fn removing_a_previous_version_keeps_the_next() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_spec()));

		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 0));

		// The next version keeps its historical link and its deposit.
		let v2 = Models::model(1).unwrap();
		assert_eq!(v2.previous_version, Some(0));
		assert_eq!(v2.deposit, 386);
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 386, 386));
		System::assert_last_event(
			Event::ModelRemoved { model_id: 0, owner: ALICE, released: 386 }.into(),
		);
	});
}

#[test]
fn unlinking_a_transferred_previous_version_adjusts_its_owners_deposit() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_spec()));
		assert_ok!(Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 0, BOB));
		assert_eq!((held(ALICE), held(BOB)), (386, 386));

		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 1));

		// Alice gave model 0's deposit away with the model; she gets model 1's back.
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 386, 0));
		assert_eq!((free(BOB), held(BOB)), (INITIAL_BALANCE + 8, 378));
	});
}

#[test]
fn ids_are_never_reused() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 0));
		assert_eq!(register(ALICE, ModelSpec { fee_per_executor: MIN_FEE, ..mnist_spec() }), 1);
		assert_eq!(NextModelId::<Test>::get(), 2);
		assert_eq!(Models::model(0), None);
	});
}
