//! Eviction from the staking pallet's full set goes by stake alone (a squatter cannot shield
//! itself with tasks of its own), and never strands a task: a validator evicted while it still
//! has a task to commit or reveal keeps its inference key until that task is done, so its node
//! finishes it and it is not charged for work it was stopped from doing.

use crate::{mock::*, Event, InferenceKeys, KeyOwners};
use frame_support::{
	assert_ok,
	traits::{fungible::Mutate, Get},
};

fn is_validator(who: AccountId) -> bool {
	pallet_inference_staking::Validators::<Test>::contains_key(who)
}

#[test]
fn a_validator_evicted_while_it_holds_a_task_finishes_it_with_its_key_unslashed() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let evicted = drawn[0];
		let key = 60;
		link_key(evicted, key);
		// Fill the set, then chill `evicted`: it has the least stake (none counts for sampling).
		let max: u32 = <Test as pallet_inference_staking::Config>::MaxValidators::get();
		for who in 200..200 + u64::from(max) - 4 {
			assert_ok!(Balances::mint_into(&who, 2 * BOND));
			assert_ok!(Staking::register_validator(RuntimeOrigin::signed(who), BOND, COMMISSION));
		}
		assert_ok!(Staking::chill(RuntimeOrigin::signed(evicted)));
		assert_ok!(Balances::mint_into(&300, 2 * BOND));
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(300), BOND, COMMISSION));
		assert!(!is_validator(evicted), "evicted by stake, task or not");
		// Its key still acts for it: the task needs its commit and reveal.
		assert_eq!(KeyOwners::<Test>::get(key), Some(evicted));
		assert!(!inference_events().iter().any(|e| matches!(e, Event::InferenceKeyCleared { .. })));

		// Its node commits and reveals with the key, as do the others.
		assert_ok!(Inference::commit_result(
			RuntimeOrigin::signed(key),
			task_id,
			commitment_for(task_id, evicted, &logits(1))
		));
		for who in &drawn[1..] {
			commit(task_id, *who, &logits(1));
		}
		assert_ok!(Inference::reveal_result(
			RuntimeOrigin::signed(key),
			task_id,
			opg_primitives::inference::TaskOutcome::Output(
				opg_primitives::inference::encode_output(&logits(1))
			),
			salt_of(evicted)
		));
		// Its last task done, the key is released.
		System::assert_has_event(Event::InferenceKeyCleared { validator: evicted, key }.into());
		assert_eq!(InferenceKeys::<Test>::get(evicted), None);
		assert_eq!(KeyOwners::<Test>::get(key), None);
		for who in &drawn[1..] {
			reveal(task_id, *who, &logits(1));
		}
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			crate::TaskStatus::Settled { .. }
		));
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
		assert_eq!(Staking::unbonding_chunks(evicted).len(), 1, "its whole bond waits, unslashed");
		assert_eq!(Staking::unbonding_chunks(evicted)[0].1, BOND);
	});
}
