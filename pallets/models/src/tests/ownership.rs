//! `transfer_ownership`: the model and its held deposit pass to the new owner.

use crate::{mock::*, Error, Event};
use frame_support::{assert_noop, assert_ok, traits::fungible::Mutate};
use sp_runtime::{DispatchError, TokenError};

#[test]
fn transfer_ownership_works() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 378));

		assert_ok!(Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 0, BOB));

		assert_eq!(Models::model(0).unwrap().owner, BOB);
		// The deposit moved, still held, to the new owner.
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 0));
		assert_eq!((free(BOB), held(BOB)), (INITIAL_BALANCE, 378));
		assert_eq!(Models::model(0).unwrap().deposit, 378);
		System::assert_last_event(
			Event::OwnershipTransferred { model_id: 0, from: ALICE, to: BOB }.into(),
		);
	});
}

#[test]
fn the_new_owner_controls_the_model() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_ok!(Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 0, BOB));

		assert_noop!(
			Models::update_fee(RuntimeOrigin::signed(ALICE), 0, 1),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 0, CHARLIE),
			Error::<Test>::NotOwner
		);
		assert_ok!(Models::update_fee(RuntimeOrigin::signed(BOB), 0, MIN_FEE));

		// Removal releases the deposit to the new owner.
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(BOB), 0));
		assert_eq!((free(BOB), held(BOB)), (INITIAL_BALANCE + 378, 0));
		assert_eq!((free(ALICE), held(ALICE)), (INITIAL_BALANCE - 378, 0));
	});
}

#[test]
fn transfer_moves_only_that_models_deposit() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		register(ALICE, bert_spec());
		register(BOB, mnist_spec());

		assert_ok!(Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 1, BOB));

		assert_eq!(held(ALICE), 378);
		assert_eq!(held(BOB), 378 + 512);
		System::assert_last_event(
			Event::OwnershipTransferred { model_id: 1, from: ALICE, to: BOB }.into(),
		);
	});
}

#[test]
fn transfer_to_an_account_that_does_not_exist_is_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		// An account with no balance cannot receive a hold.
		assert_noop!(
			Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 0, NOBODY),
			DispatchError::Token(TokenError::CannotCreateHold)
		);
	});
}

#[test]
fn transfer_to_an_account_with_only_the_existential_deposit_works() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		<Balances as Mutate<AccountId>>::set_balance(&NOBODY, 1);

		assert_ok!(Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 0, NOBODY));

		assert_eq!((free(NOBODY), held(NOBODY)), (1, 378));
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(NOBODY), 0));
		assert_eq!((free(NOBODY), held(NOBODY)), (379, 0));
	});
}

#[test]
fn transfer_ownership_errors() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert_noop!(
			Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 0, ALICE),
			Error::<Test>::AlreadyOwner
		);
		assert_noop!(
			Models::transfer_ownership(RuntimeOrigin::signed(BOB), 0, BOB),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			Models::transfer_ownership(RuntimeOrigin::signed(ALICE), 1, BOB),
			Error::<Test>::ModelNotFound
		);
		assert_noop!(
			Models::transfer_ownership(RuntimeOrigin::none(), 0, BOB),
			DispatchError::BadOrigin
		);
	});
}
