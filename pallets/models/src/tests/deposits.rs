//! Deposits: their formula, holds on the owner, release, adjustment and the try-state check.

use crate::{mock::*, Event, HoldReason, ModelSpec, Models as ModelsStorage};
use codec::Encode;
use frame_support::{assert_ok, traits::fungible::MutateHold};

#[test]
fn deposit_is_base_plus_per_byte_of_the_entry() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		register(BOB, bert_spec());

		// Entry sizes, counted by hand: mnist 139 bytes, minilm 206 bytes.
		assert_eq!(ModelsStorage::<Test>::get(0).unwrap().encoded_size(), 139);
		assert_eq!(ModelsStorage::<Test>::get(1).unwrap().encoded_size(), 206);
		assert_eq!(Models::model(0).unwrap().deposit, DEPOSIT_BASE + 139 * DEPOSIT_PER_BYTE);
		assert_eq!(Models::model(1).unwrap().deposit, DEPOSIT_BASE + 206 * DEPOSIT_PER_BYTE);
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 378));
		assert_eq!((free(BOB), held(BOB)), (INITIAL_BALANCE - 512, 512));
		assert_eq!(Models::held_deposit(&BOB), 512);
	});
}

#[test]
fn longer_names_cost_more() {
	ExtBuilder::default().build_and_execute(|| {
		let short = register(ALICE, ModelSpec { name: b"a".to_vec(), ..mnist_spec() });
		let long =
			register(ALICE, ModelSpec { name: vec![b'a'; MAX_NAME_LEN as usize], ..mnist_spec() });
		let (short, long) =
			(Models::model(short).unwrap().deposit, Models::model(long).unwrap().deposit);
		assert_eq!(long - short, (MAX_NAME_LEN as Balance - 1) * DEPOSIT_PER_BYTE);
		assert_eq!(held(ALICE), short + long);
	});
}

#[test]
fn an_owners_deposits_add_up() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		register(ALICE, bert_spec());
		register(ALICE, mnist_spec());
		assert_eq!(held(ALICE), 378 + 512 + 378);
		assert_eq!(free(ALICE), INITIAL_BALANCE - 378 - 512 - 378);

		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 1));
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 756, 756));
	});
}

#[test]
fn updates_that_keep_the_size_keep_the_deposit() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		let origin = || RuntimeOrigin::signed(ALICE);
		assert_ok!(Models::update_fee(origin(), 0, u64::MAX));
		assert_ok!(Models::set_redundancy_and_quorum(origin(), 0, 5, Some(1)));
		assert_ok!(Models::deprecate(origin(), 0));
		assert_ok!(Models::reactivate(origin(), 0));
		assert_eq!(Models::model(0).unwrap().deposit, expected_deposit(0));
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 378));
	});
}

#[test]
fn size_changes_adjust_the_deposit_both_ways() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());

		// Linking a next version adds 4 bytes to the entry.
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), 0, mnist_spec()));
		assert_eq!(Models::model(0).unwrap().deposit, 378 + 8);
		assert_eq!(Models::model(0).unwrap().deposit, expected_deposit(0));

		// Unlinking it removes them.
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 1));
		assert_eq!(Models::model(0).unwrap().deposit, 378);
		assert_eq!(Models::model(0).unwrap().deposit, expected_deposit(0));
		System::assert_has_event(
			Event::DepositUpdated { model_id: 0, owner: ALICE, old_deposit: 386, new_deposit: 378 }
				.into(),
		);
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 378));
	});
}

#[test]
fn removal_releases_the_whole_deposit() {
	ExtBuilder::default().build_and_execute(|| {
		register(BOB, bert_spec());
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(BOB), 0));
		assert_eq!((free(BOB), held(BOB)), (INITIAL_BALANCE, 0));
	});
}

#[test]
fn try_state_catches_a_deposit_mismatch() {
	ExtBuilder::default().build().execute_with(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::do_try_state());

		// Someone else's extra hold under this pallet's reason breaks the invariant...
		assert_ok!(<Balances as MutateHold<AccountId>>::hold(
			&HoldReason::ModelDeposit.into(),
			&ALICE,
			1
		));
		assert!(Models::do_try_state().is_err());

		// ...and so does a recorded deposit that is not held.
		assert_ok!(<Balances as MutateHold<AccountId>>::release(
			&HoldReason::ModelDeposit.into(),
			&ALICE,
			1,
			frame_support::traits::tokens::Precision::Exact
		));
		assert_ok!(Models::do_try_state());
		ModelsStorage::<Test>::mutate(0, |info| info.as_mut().unwrap().deposit += 1);
		assert!(Models::do_try_state().is_err());
	});
}

#[test]
fn try_state_catches_inconsistent_servers() {
	ExtBuilder::default().build().execute_with(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
		assert_ok!(Models::do_try_state());

		// Unsorted (or duplicated) entries.
		crate::Servers::<Test>::insert(
			0,
			ServersOfTest::truncate_from(vec![VALIDATOR_2, VALIDATOR_1]),
		);
		assert!(Models::do_try_state().is_err());
		crate::Servers::<Test>::insert(
			0,
			ServersOfTest::truncate_from(vec![VALIDATOR_1, VALIDATOR_1]),
		);
		assert!(Models::do_try_state().is_err());
		// Servers of an unregistered model.
		crate::Servers::<Test>::insert(0, ServersOfTest::truncate_from(vec![VALIDATOR_1]));
		assert_ok!(Models::do_try_state());
		crate::Servers::<Test>::insert(9, ServersOfTest::truncate_from(vec![VALIDATOR_1]));
		assert!(Models::do_try_state().is_err());
	});
}

type ServersOfTest = crate::ServersOf<Test>;
