//! Eviction from the staking pallet's full set never strands a task: a validator that still has
//! a task to commit or reveal is passed over (it would no longer be able to finish it, and would
//! be charged as a no-show), and becomes evictable once its tasks are done.

use crate::mock::*;
use frame_support::{
	assert_noop, assert_ok,
	traits::{fungible::Mutate, Get},
};

fn is_validator(who: AccountId) -> bool {
	pallet_inference_staking::Validators::<Test>::contains_key(who)
}

#[test]
fn a_validator_holding_a_task_is_not_evicted_until_it_is_done() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let busy = drawn[0];
		// Fill the set with validators of the minimum bond, then chill `busy`: it has the least
		// stake (none counts for sampling), but holds a task.
		let max: u32 = <Test as pallet_inference_staking::Config>::MaxValidators::get();
		let fillers: Vec<AccountId> = (200..200 + u64::from(max) - 4).collect();
		for who in &fillers {
			assert_ok!(Balances::mint_into(who, 2 * BOND));
			assert_ok!(Staking::register_validator(RuntimeOrigin::signed(*who), BOND, COMMISSION));
		}
		assert_ok!(Staking::chill(RuntimeOrigin::signed(busy)));
		assert_ok!(Balances::mint_into(&300, 4 * BOND));
		// Passed over: the next least stake is a filler's, which an equal bond does not beat.
		assert_noop!(
			Staking::register_validator(RuntimeOrigin::signed(300), BOND, COMMISSION),
			pallet_inference_staking::Error::<Test>::TooManyValidators
		);
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(300), 2 * BOND, COMMISSION));
		assert!(is_validator(busy), "the validator holding a task stays");
		assert!(drawn.iter().all(|v| is_validator(*v)), "so do the others holding it");
		// The least-staked free one, lowest account first: the genesis validator not drawn,
		// unless that is V1, whose stake includes a delegation.
		let spare = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		let expected = if spare == V1 { fillers[0] } else { spare };
		assert!(!is_validator(expected), "the least-staked free validator went");

		// It finishes its task, unslashed, with the others.
		for who in &drawn {
			commit(task_id, *who, &logits(1));
		}
		for who in &drawn {
			reveal(task_id, *who, &logits(1));
		}
		assert!(!inference_events()
			.iter()
			.any(|e| matches!(e, crate::Event::ExecutorSlashed { .. })));
		// Now free, and still the least staked: the next newcomer evicts it.
		assert_ok!(Balances::mint_into(&301, 4 * BOND));
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(301), 2 * BOND, COMMISSION));
		assert!(!is_validator(busy));
		assert_eq!(Staking::unbonding_chunks(busy).len(), 1, "its bond waits, slashable");
	});
}
