//! `request_inference` and `cancel`: fees, escrow, validation.

use crate::{mock::*, Error, Event, FailReason, TaskStatus};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::models::{ComparisonRule, PendingTasksGuard};

const ESCROW: Balance = 3 * FEE_PER_EXECUTOR + 300;

#[test]
fn request_holds_fee_and_protocol_fee() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		assert_eq!(task_id, 0);
		assert_eq!(free(ALICE), INITIAL - ESCROW);
		assert_eq!(escrow(ALICE), ESCROW);
		let task = Inference::task(task_id).unwrap();
		assert_eq!(task.escrow, ESCROW);
		assert_eq!(task.protocol_fee, 300);
		assert_eq!(task.redundancy, 3);
		assert_eq!(task.quorum, 2);
		assert_eq!(task.status, TaskStatus::Queued { assign_at: 2 });
		assert_eq!(Inference::task_input(task_id), Some(vec![1, 2, 3, 4]));
		System::assert_last_event(
			Event::TaskCreated { task_id, model_id: MODEL, requester: ALICE, fee: ESCROW }.into(),
		);
		assert!(<Inference as PendingTasksGuard>::has_pending_tasks(MODEL));
		assert_eq!(request(BOB), 1);
	});
}

#[test]
fn request_with_own_redundancy_scales_fee_and_quorum() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request_with(ALICE, Some(4));
		let task = Inference::task(task_id).unwrap();
		assert_eq!(task.redundancy, 4);
		// ceil(2 × 4 / 3).
		assert_eq!(task.quorum, 3);
		assert_eq!(task.escrow, 4 * FEE_PER_EXECUTOR + 400);
		let task_id = request_with(ALICE, Some(1));
		assert_eq!(Inference::task(task_id).unwrap().quorum, 1);
		assert_eq!(escrow(ALICE), 4400 + 1100);
	});
}

#[test]
fn request_refuses_bad_input_and_redundancy() {
	ExtBuilder::default().build_and_execute(|| {
		let origin = || RuntimeOrigin::signed(ALICE);
		assert_noop!(
			Inference::request_inference(origin(), 7, vec![1], u64::MAX, None),
			Error::<Test>::ModelNotRunnable
		);
		assert_noop!(
			Inference::request_inference(origin(), MODEL, vec![], u64::MAX, None),
			Error::<Test>::EmptyInput
		);
		assert_noop!(
			Inference::request_inference(
				origin(),
				MODEL,
				vec![0; MAX_INPUT as usize + 1],
				u64::MAX,
				None
			),
			Error::<Test>::InputTooLong
		);
		assert_ok!(Inference::request_inference(
			origin(),
			MODEL,
			vec![0; MAX_INPUT as usize],
			u64::MAX,
			None
		));
		assert_noop!(
			Inference::request_inference(origin(), MODEL, vec![1], u64::MAX, Some(0)),
			Error::<Test>::InvalidRedundancy
		);
		assert_noop!(
			Inference::request_inference(
				origin(),
				MODEL,
				vec![1],
				u64::MAX,
				Some(MAX_REDUNDANCY as u8 + 1)
			),
			Error::<Test>::InvalidRedundancy
		);
		// Four servers: five executors cannot be found.
		assert_noop!(
			Inference::request_inference(origin(), MODEL, vec![1], u64::MAX, Some(5)),
			Error::<Test>::NotEnoughExecutors
		);
	});
}

#[test]
fn request_refuses_fee_above_max() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(try_request(ALICE, ESCROW - 1, None), Error::<Test>::FeeAboveMax);
		assert_ok!(try_request(ALICE, ESCROW, None));
	});
}

#[test]
fn request_refuses_insufficient_balance() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(try_request(POOR, u64::MAX, None), Error::<Test>::InsufficientBalance);
		assert_eq!(free(POOR), POOR_BALANCE);
		assert_eq!(escrow(POOR), 0);
	});
}

#[test]
fn request_refuses_deprecated_model() {
	ExtBuilder::default().build_and_execute(|| {
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(OWNER), MODEL));
		assert_noop!(try_request(ALICE, u64::MAX, None), Error::<Test>::ModelNotRunnable);
	});
}

#[test]
fn request_checks_declared_servers_and_assignment_checks_eligibility() {
	ExtBuilder::default().servers(vec![V1, V2]).build_and_execute(|| {
		// Two servers for three executors: refused at once.
		assert_noop!(try_request(ALICE, u64::MAX, None), Error::<Test>::NotEnoughExecutors);
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(V3), MODEL));
		// Three declared, one chilled: accepted, then failed and refunded at assignment.
		assert_ok!(Staking::chill(RuntimeOrigin::signed(V3)));
		let task_id = request(ALICE);
		next_block();
		next_block();
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NotEnoughExecutors, .. }
		));
		assert_eq!(free(ALICE), INITIAL);
	});
}

#[test]
fn model_with_open_tasks_cannot_be_removed() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		assert_noop!(
			Models::remove_model(RuntimeOrigin::signed(OWNER), MODEL),
			pallet_models::Error::<Test>::HasPendingTasks
		);
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), task_id));
		assert!(!<Inference as PendingTasksGuard>::has_pending_tasks(MODEL));
		assert_ok!(Models::remove_model(RuntimeOrigin::signed(OWNER), MODEL));
	});
}

#[test]
fn cancel_before_assignment_refunds_everything() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		assert_noop!(
			Inference::cancel(RuntimeOrigin::signed(BOB), task_id),
			Error::<Test>::NotRequester
		);
		assert_noop!(
			Inference::cancel(RuntimeOrigin::signed(ALICE), 99),
			Error::<Test>::TaskNotFound
		);
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), task_id));
		assert_eq!(free(ALICE), INITIAL);
		assert_eq!(escrow(ALICE), 0);
		System::assert_last_event(
			Event::TaskCancelled { task_id, paid: 0, refunded: ESCROW }.into(),
		);
		assert_eq!(Inference::task(task_id).unwrap().status, TaskStatus::Cancelled { at: 1 });
		assert_eq!(Inference::task_input(task_id), None);
		// The stale assignment does nothing.
		next_block();
		next_block();
		assert!(executors(task_id).is_empty());
		assert_noop!(
			Inference::cancel(RuntimeOrigin::signed(ALICE), task_id),
			Error::<Test>::CannotCancel
		);
	});
}

#[test]
fn cancel_after_assignment_pays_the_drawn_executors_and_slashes_nobody() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, executors) = assigned_task(ALICE);
		let stakes: Vec<_> = executors.iter().map(|v| stake_of(*v, *v)).collect();
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), task_id));
		// Re-rolling the draw is not free: the three drawn executors keep their fees; only the
		// protocol fee comes back.
		System::assert_last_event(
			Event::TaskCancelled {
				task_id,
				paid: 3 * FEE_PER_EXECUTOR,
				refunded: ESCROW - 3 * FEE_PER_EXECUTOR,
			}
			.into(),
		);
		assert_eq!(free(ALICE), INITIAL - 3 * FEE_PER_EXECUTOR);
		assert_eq!(escrow(ALICE), 0);
		for (v, stake) in executors.iter().zip(stakes) {
			assert_eq!(stake_of(*v, *v), stake);
			assert!(rewards_of(*v, *v) > 0, "{v} was drawn and is paid");
			assert!(Inference::pending_tasks(v, 10).is_empty());
		}
		run_to_block(20);
		assert_eq!(free(ALICE), INITIAL - 3 * FEE_PER_EXECUTOR);
	});
}

#[test]
fn cancel_refused_after_a_commit() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, executors) = assigned_task(ALICE);
		commit(task_id, executors[0], &logits(1));
		assert_noop!(
			Inference::cancel(RuntimeOrigin::signed(ALICE), task_id),
			Error::<Test>::CannotCancel
		);
	});
}

#[test]
fn failed_reason_is_not_enough_executors_when_servers_leave_before_assignment() {
	ExtBuilder::default().servers(vec![V1, V2, V3]).build_and_execute(|| {
		let task_id = request(ALICE);
		assert_ok!(Staking::chill(RuntimeOrigin::signed(V2)));
		next_block();
		next_block();
		assert_eq!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NotEnoughExecutors, at: 2 }
		);
		assert_eq!(free(ALICE), INITIAL);
		assert_eq!(escrow(ALICE), 0);
		assert!(inference_events().contains(&Event::TaskFailed {
			task_id,
			reason: FailReason::NotEnoughExecutors,
			refunded: ESCROW
		}));
	});
}

#[test]
fn quantized_model_requests_work_too() {
	ExtBuilder::default().comparison(ComparisonRule::Quantized { decimals: 2 }).build_and_execute(
		|| {
			let (task_id, executors) = assigned_task(ALICE);
			for v in &executors {
				commit(task_id, *v, &[0.123, 0.456]);
			}
			// Differences below the rule's precision still agree.
			reveal(task_id, executors[0], &[0.123, 0.456]);
			reveal(task_id, executors[1], &[0.1231, 0.4561]);
			reveal(task_id, executors[2], &[0.1229, 0.4559]);
			assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		},
	);
}
