//! `serve_model`, `stop_serving`, `prune_server`: validators only, bounded, sorted lists.

use crate::{mock::*, Error, Event, Servers};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::models::ModelProvider;
use sp_runtime::DispatchError;

#[test]
fn serve_model_works() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		let balances = (free(VALIDATOR_1), held(VALIDATOR_1));

		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_3), 0));
		System::assert_last_event(
			Event::ServingStarted { model_id: 0, validator: VALIDATOR_3 }.into(),
		);
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		System::assert_last_event(
			Event::ServingStarted { model_id: 0, validator: VALIDATOR_1 }.into(),
		);
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));

		// Kept sorted whatever the order of the declarations.
		assert_eq!(Models::model_servers(0), vec![VALIDATOR_1, VALIDATOR_2, VALIDATOR_3]);
		assert_eq!(Models::servers(0).into_inner(), vec![VALIDATOR_1, VALIDATOR_2, VALIDATOR_3]);
		assert!(Models::is_served_by(0, &VALIDATOR_2));
		assert!(!Models::is_served_by(0, &ALICE));
		// Serving costs no deposit.
		assert_eq!((free(VALIDATOR_1), held(VALIDATOR_1)), balances);
	});
}

#[test]
fn a_validator_serves_several_models() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		register(BOB, bert_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 1));
		assert!(Models::is_served_by(0, &VALIDATOR_1));
		assert!(Models::is_served_by(1, &VALIDATOR_1));
		System::assert_last_event(
			Event::ServingStarted { model_id: 1, validator: VALIDATOR_1 }.into(),
		);
	});
}

#[test]
fn serve_model_errors() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_noop!(
			Models::serve_model(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::NotValidator
		);
		set_ineligible(VALIDATOR_1, true);
		assert_noop!(
			Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0),
			Error::<Test>::NotEligible
		);
		set_ineligible(VALIDATOR_1, false);
		assert_noop!(
			Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 1),
			Error::<Test>::ModelNotFound
		);
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_noop!(
			Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0),
			Error::<Test>::AlreadyServing
		);
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));
		assert_noop!(
			Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0),
			Error::<Test>::ModelNotActive
		);
		assert_noop!(Models::serve_model(RuntimeOrigin::none(), 0), DispatchError::BadOrigin);
	});
}

#[test]
fn server_lists_are_bounded() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		let validators: Vec<AccountId> = (100..100 + MAX_SERVERS as AccountId).collect();
		for v in validators.iter().rev() {
			set_validator(*v, true);
			assert_ok!(Models::serve_model(RuntimeOrigin::signed(*v), 0));
		}
		assert_eq!(Models::model_servers(0), validators);

		assert_noop!(
			Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0),
			Error::<Test>::TooManyServers
		);
		// A place freed is a place taken.
		assert_ok!(Models::stop_serving(RuntimeOrigin::signed(100), 0));
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_eq!(Models::model_servers(0).first(), Some(&VALIDATOR_1));
	});
}

#[test]
fn stop_serving_works() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));

		assert_ok!(Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_eq!(Models::model_servers(0), vec![VALIDATOR_2]);
		System::assert_last_event(
			Event::ServingStopped { model_id: 0, validator: VALIDATOR_1 }.into(),
		);

		// The last one out removes the entry.
		assert_ok!(Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_2), 0));
		assert!(!Servers::<Test>::contains_key(0));
		System::assert_last_event(
			Event::ServingStopped { model_id: 0, validator: VALIDATOR_2 }.into(),
		);
	});
}

#[test]
fn former_validators_and_deprecated_models_can_stop_serving() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));
		set_validator(VALIDATOR_1, false);
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));

		assert_ok!(Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_ok!(Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_2), 0));
		assert!(Models::model_servers(0).is_empty());
	});
}

#[test]
fn stop_serving_errors() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_noop!(
			Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_1), 0),
			Error::<Test>::NotServing
		);
		assert_noop!(
			Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_1), 7),
			Error::<Test>::NotServing
		);
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));
		assert_noop!(
			Models::stop_serving(RuntimeOrigin::signed(VALIDATOR_1), 0),
			Error::<Test>::NotServing
		);
		assert_noop!(Models::stop_serving(RuntimeOrigin::root(), 0), DispatchError::BadOrigin);
	});
}

#[test]
fn prune_server_works() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));
		set_validator(VALIDATOR_1, false);

		// Anyone may prune a former validator.
		assert_ok!(Models::prune_server(RuntimeOrigin::signed(CHARLIE), 0, VALIDATOR_1));

		assert_eq!(Models::model_servers(0), vec![VALIDATOR_2]);
		System::assert_last_event(Event::ServerPruned { model_id: 0, account: VALIDATOR_1 }.into());

		// And a validator that cannot take tasks (a squatter that unbonded, a jailed one).
		set_ineligible(VALIDATOR_2, true);
		assert_ok!(Models::prune_server(RuntimeOrigin::signed(CHARLIE), 0, VALIDATOR_2));
		assert!(Models::model_servers(0).is_empty());
		// Once eligible again it serves the model again.
		set_ineligible(VALIDATOR_2, false);
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));
	});
}

#[test]
fn prune_server_errors() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_noop!(
			Models::prune_server(RuntimeOrigin::signed(CHARLIE), 0, VALIDATOR_1),
			Error::<Test>::StillEligible
		);
		assert_noop!(
			Models::prune_server(RuntimeOrigin::signed(CHARLIE), 0, ALICE),
			Error::<Test>::NotServing
		);
		assert_noop!(
			Models::prune_server(RuntimeOrigin::none(), 0, ALICE),
			DispatchError::BadOrigin
		);
	});
}
