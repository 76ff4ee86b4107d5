//! `update_fee`, `set_redundancy_and_quorum`, `deprecate`, `reactivate`.

use crate::ModelStatus;
use crate::{mock::*, Error, Event};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::models::ModelProvider;

/// ALICE's model 0 (mnist) and its deposit.
fn setup() -> Balance {
	register(ALICE, mnist_spec());
	held(ALICE)
}

#[test]
fn update_fee_works() {
	ExtBuilder::default().build_and_execute(|| {
		let deposit = setup();

		assert_ok!(Models::update_fee(RuntimeOrigin::signed(ALICE), 0, 77));

		assert_eq!(Models::model(0).unwrap().fee_per_executor, 77);
		assert_eq!(Models::runnable_model(0).unwrap().fee_per_executor, 77);
		// The entry's size does not change, neither does the deposit.
		assert_eq!((held(ALICE), free(ALICE)), (deposit, INITIAL_BALANCE - deposit));
		assert_eq!(Models::model(0).unwrap().deposit, deposit);
		System::assert_last_event(Event::FeeUpdated { model_id: 0, fee_per_executor: 77 }.into());

		// The minimum is allowed; below it, nothing changes.
		assert_ok!(Models::update_fee(RuntimeOrigin::signed(ALICE), 0, MIN_FEE));
		System::assert_last_event(
			Event::FeeUpdated { model_id: 0, fee_per_executor: MIN_FEE }.into(),
		);
		assert_noop!(
			Models::update_fee(RuntimeOrigin::signed(ALICE), 0, MIN_FEE - 1),
			Error::<Test>::FeeBelowMinimum
		);
		assert_noop!(
			Models::update_fee(RuntimeOrigin::signed(ALICE), 0, 0),
			Error::<Test>::FeeBelowMinimum
		);
		assert_eq!(Models::model(0).unwrap().fee_per_executor, MIN_FEE);
	});
}

/// A model stored under the minimum (as a runtime upgrade that raises it leaves one) takes no
/// new tasks until its owner raises its fee.
#[test]
fn models_priced_under_the_minimum_are_not_runnable() {
	ExtBuilder::default().build_and_execute(|| {
		setup();
		crate::Models::<Test>::mutate(0, |info| info.as_mut().unwrap().fee_per_executor = 0);
		assert!(Models::runnable_model(0).is_none());
		assert!(Models::model(0).is_some());

		assert_ok!(Models::update_fee(RuntimeOrigin::signed(ALICE), 0, MIN_FEE));
		assert_eq!(Models::runnable_model(0).unwrap().fee_per_executor, MIN_FEE);
	});
}

#[test]
fn update_fee_errors() {
	ExtBuilder::default().build_and_execute(|| {
		setup();
		assert_noop!(Models::update_fee(RuntimeOrigin::signed(BOB), 0, 1), Error::<Test>::NotOwner);
		assert_noop!(
			Models::update_fee(RuntimeOrigin::signed(ALICE), 1, 1),
			Error::<Test>::ModelNotFound
		);
	});
}

#[test]
fn set_redundancy_and_quorum_works() {
	ExtBuilder::default().build_and_execute(|| {
		let deposit = setup();

		assert_ok!(Models::set_redundancy_and_quorum(RuntimeOrigin::signed(ALICE), 0, 5, Some(5)));
		let model = Models::model(0).unwrap();
		assert_eq!((model.redundancy, model.quorum), (5, 5));
		System::assert_last_event(
			Event::RedundancyAndQuorumSet { model_id: 0, redundancy: 5, quorum: 5 }.into(),
		);

		// `None` is the majority.
		assert_ok!(Models::set_redundancy_and_quorum(RuntimeOrigin::signed(ALICE), 0, 4, None));
		let params = Models::runnable_model(0).unwrap();
		assert_eq!((params.redundancy, params.quorum), (4, 3));
		System::assert_last_event(
			Event::RedundancyAndQuorumSet { model_id: 0, redundancy: 4, quorum: 3 }.into(),
		);

		assert_ok!(Models::set_redundancy_and_quorum(RuntimeOrigin::signed(ALICE), 0, 1, Some(1)));
		System::assert_last_event(
			Event::RedundancyAndQuorumSet { model_id: 0, redundancy: 1, quorum: 1 }.into(),
		);
		assert_eq!((held(ALICE), free(ALICE)), (deposit, INITIAL_BALANCE - deposit));
	});
}

#[test]
fn set_redundancy_and_quorum_errors() {
	ExtBuilder::default().build_and_execute(|| {
		setup();
		let alice = || RuntimeOrigin::signed(ALICE);
		assert_noop!(
			Models::set_redundancy_and_quorum(alice(), 0, 0, None),
			Error::<Test>::InvalidRedundancy
		);
		assert_noop!(
			Models::set_redundancy_and_quorum(alice(), 0, MAX_REDUNDANCY + 1, None),
			Error::<Test>::InvalidRedundancy
		);
		assert_noop!(
			Models::set_redundancy_and_quorum(alice(), 0, 3, Some(0)),
			Error::<Test>::InvalidQuorum
		);
		assert_noop!(
			Models::set_redundancy_and_quorum(alice(), 0, 3, Some(4)),
			Error::<Test>::InvalidQuorum
		);
		assert_noop!(
			Models::set_redundancy_and_quorum(RuntimeOrigin::signed(BOB), 0, 3, None),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			Models::set_redundancy_and_quorum(alice(), 9, 3, None),
			Error::<Test>::ModelNotFound
		);
	});
}

#[test]
fn deprecate_works() {
	ExtBuilder::default().build_and_execute(|| {
		let deposit = setup();
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));

		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));

		// Readable, not runnable; servers stay listed; deposit stays held.
		let model = Models::model(0).unwrap();
		assert_eq!(model.status, ModelStatus::Deprecated);
		assert!(Models::runnable_model(0).is_none());
		assert_eq!(Models::model_servers(0), vec![VALIDATOR_1]);
		assert_eq!((held(ALICE), free(ALICE)), (deposit, INITIAL_BALANCE - deposit));
		System::assert_last_event(Event::ModelDeprecated { model_id: 0 }.into());
	});
}

#[test]
fn deprecate_errors() {
	ExtBuilder::default().build_and_execute(|| {
		setup();
		assert_noop!(Models::deprecate(RuntimeOrigin::signed(BOB), 0), Error::<Test>::NotOwner);
		assert_noop!(
			Models::deprecate(RuntimeOrigin::signed(ALICE), 1),
			Error::<Test>::ModelNotFound
		);
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));
		assert_noop!(
			Models::deprecate(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::AlreadyDeprecated
		);
	});
}

#[test]
fn reactivate_works() {
	ExtBuilder::default().build_and_execute(|| {
		let deposit = setup();
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));

		assert_ok!(Models::reactivate(RuntimeOrigin::signed(ALICE), 0));

		assert_eq!(Models::model(0).unwrap().status, ModelStatus::Active);
		assert!(Models::runnable_model(0).is_some());
		assert_eq!((held(ALICE), free(ALICE)), (deposit, INITIAL_BALANCE - deposit));
		System::assert_last_event(Event::ModelReactivated { model_id: 0 }.into());
	});
}

#[test]
fn reactivate_errors() {
	ExtBuilder::default().build_and_execute(|| {
		setup();
		assert_noop!(
			Models::reactivate(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::NotDeprecated
		);
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));
		assert_noop!(Models::reactivate(RuntimeOrigin::signed(BOB), 0), Error::<Test>::NotOwner);
		assert_noop!(
			Models::reactivate(RuntimeOrigin::signed(ALICE), 1),
			Error::<Test>::ModelNotFound
		);
	});
}
