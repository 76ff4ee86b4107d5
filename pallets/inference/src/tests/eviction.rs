//! An executor evicted from the staking pallet's full set while it holds a task answers for the
//! task all the same: its own bond waits in an unbonding chunk, which the slash reaches.

use crate::{mock::*, Event};
use frame_support::{
	assert_ok,
	traits::{fungible::Mutate, Get},
};
use opg_primitives::staking::SlashReason;

#[test]
fn an_evicted_executor_is_still_slashed_for_its_task() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let (evicted, honest) = (drawn[0], [drawn[1], drawn[2]]);
		// Fill the set, then chill `evicted` so that a newcomer evicts it.
		let max: u32 = <Test as pallet_inference_staking::Config>::MaxValidators::get();
		for who in 200..200 + u64::from(max) - 4 {
			assert_ok!(Balances::mint_into(&who, 2 * BOND));
			assert_ok!(Staking::register_validator(RuntimeOrigin::signed(who), BOND, COMMISSION));
		}
		assert_ok!(Staking::chill(RuntimeOrigin::signed(evicted)));
		assert_ok!(Balances::mint_into(&300, 2 * BOND));
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(300), BOND, COMMISSION));
		assert!(!pallet_inference_staking::Validators::<Test>::contains_key(evicted));
		let unlock_at = System::block_number() + 10;
		assert_eq!(Staking::unbonding_chunks(evicted), vec![(evicted, BOND, unlock_at)]);

		// The others commit and reveal; the evicted executor never commits.
		for who in honest {
			commit(task_id, who, &logits(1));
		}
		run_to_block(System::block_number() + COMMIT_PERIOD);
		for who in honest {
			reveal(task_id, who, &logits(1));
		}
		let slashed = inference_events().into_iter().find_map(|e| match e {
			Event::ExecutorSlashed { executor, reason, amount, .. } if executor == evicted => {
				Some((reason, amount))
			},
			_ => None,
		});
		let (reason, amount) = slashed.expect("the evicted executor is slashed");
		assert_eq!(reason, SlashReason::NoShow);
		assert!(amount > 0);
		// Its chunk lost its share: the no-show slash of its own bond.
		let chunk = NO_SHOW_SLASH.mul_ceil(BOND);
		assert_eq!(Staking::unbonding_chunks(evicted), vec![(evicted, BOND - chunk, unlock_at)]);
	});
}
