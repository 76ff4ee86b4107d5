//! The agenda: bounded work per block, carry-over, overflow.

use crate::{mock::*, Agenda, AgendaCursor, Error, TaskStatus};
use frame_support::assert_noop;

#[test]
fn a_full_block_agenda_moves_requests_to_the_next_block() {
	ExtBuilder::default().build_and_execute(|| {
		for _ in 0..MAX_AGENDA_ITEMS {
			let task_id = request(ALICE);
			assert_eq!(
				Inference::task(task_id).unwrap().status,
				TaskStatus::Queued { assign_at: 2 }
			);
		}
		let task_id = request(ALICE);
		assert_eq!(Inference::task(task_id).unwrap().status, TaskStatus::Queued { assign_at: 3 });
		assert_eq!(Agenda::<Test>::get(2).len(), MAX_AGENDA_ITEMS as usize);
		run_to_block(4);
		for task_id in 0..=MAX_AGENDA_ITEMS as u64 {
			assert_eq!(executors(task_id).len(), 3);
		}
	});
}

#[test]
fn requests_are_refused_when_the_agenda_is_full() {
	ExtBuilder::default().build_and_execute(|| {
		// The next block and the 16 after it, 8 items each.
		for _ in 0..(MAX_AGENDA_ITEMS * 17) {
			request(BOB);
		}
		assert_noop!(try_request(ALICE, u64::MAX, None), Error::<Test>::AgendaFull);
	});
}

#[test]
fn work_beyond_the_budget_carries_over() {
	ExtBuilder::default().build_and_execute(|| {
		set_agenda_budget(3);
		for _ in 0..MAX_AGENDA_ITEMS {
			request(ALICE);
		}
		next_block();
		// Block 2 processes three assignments, the other five wait.
		next_block();
		let assigned = |n: u64| (0..n).filter(|t| !executors(*t).is_empty()).count();
		assert_eq!(assigned(8), 3);
		assert_eq!(Agenda::<Test>::get(2).len(), 5);
		assert_eq!(AgendaCursor::<Test>::get(), 2);
		next_block();
		assert_eq!(assigned(8), 6);
		next_block();
		assert_eq!(assigned(8), 8);
		assert!(!Agenda::<Test>::contains_key(2));
		// Block 4 caught up; block 5 had nothing due, so the cursor is already at 6.
		assert_eq!(AgendaCursor::<Test>::get(), 6);
		// A late assignment gets a full commit period from when it happened.
		assert_eq!(
			Inference::task(7).unwrap().status,
			TaskStatus::Committing { commit_deadline: 4 + COMMIT_PERIOD }
		);
	});
}

#[test]
fn idle_blocks_reserve_nothing_and_keep_the_cursor_current() {
	ExtBuilder::default().build_and_execute(|| {
		run_to_block(10);
		// Nothing was due in block 10: the cursor moved on to 11.
		assert_eq!(AgendaCursor::<Test>::get(), 11);
		let reserved = <Inference as frame_support::traits::Hooks<u64>>::on_initialize(10);
		assert!(reserved.ref_time() < Inference::max_item_weight().ref_time());
		request(ALICE);
		next_block();
		assert!(crate::AgendaReserved::<Test>::get());
		next_block();
		assert!(!crate::AgendaReserved::<Test>::exists());
	});
}
