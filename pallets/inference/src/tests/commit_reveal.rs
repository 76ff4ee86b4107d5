//! Commit and reveal: who may, when, and what must match.

use crate::{mock::*, Error, Event, TaskStatus};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::inference::{encode_output, PendingAction};
use sp_core::H256;

#[test]
fn commits_only_by_executors_once_before_deadline() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		// Not yet assigned.
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(V1), task_id, H256::zero()),
			Error::<Test>::NotCommitPhase
		);
		next_block();
		next_block();
		let drawn = executors(task_id);
		let outsider = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(outsider), task_id, H256::zero()),
			Error::<Test>::NotAssigned
		);
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(ALICE), task_id, H256::zero()),
			Error::<Test>::NotAssigned
		);
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(drawn[0]), 42, H256::zero()),
			Error::<Test>::TaskNotFound
		);
		commit(task_id, drawn[0], &logits(1));
		System::assert_last_event(Event::ResultCommitted { task_id, executor: drawn[0] }.into());
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(drawn[0]), task_id, H256::zero()),
			Error::<Test>::AlreadyCommitted
		);
		assert_eq!(
			Inference::pending_tasks(&drawn[0], 10),
			vec![(task_id, PendingAction::AwaitReveal { commit_deadline: 7 })]
		);
		// Reveals are not open while commits are.
		assert_noop!(
			try_reveal(task_id, drawn[0], encode_output(&logits(1)), salt_of(drawn[0])),
			Error::<Test>::NotRevealPhase
		);
		// At the deadline block, commits are refused even before the deadline is processed.
		run_to_block(7);
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(drawn[1]), task_id, H256::zero()),
			Error::<Test>::CommitDeadlinePassed
		);
	});
}

#[test]
fn last_commit_opens_reveals_at_once() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		assert_eq!(System::block_number(), 3);
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[1], &logits(1));
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Committing { .. }));
		commit(task_id, drawn[2], &logits(1));
		// Reveals open at once and stay open until the planned deadline: requested in block 1,
		// assigned in block 2.
		let reveal_deadline = 2 + COMMIT_PERIOD + REVEAL_PERIOD;
		assert_eq!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Revealing { reveal_deadline }
		);
		System::assert_last_event(Event::RevealStarted { task_id, reveal_deadline }.into());
		for v in &drawn {
			assert_eq!(
				Inference::pending_tasks(v, 10),
				vec![(task_id, PendingAction::Reveal { deadline: reveal_deadline })]
			);
		}
	});
}

#[test]
fn reveal_must_match_commitment() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		let v = drawn[0];
		// Another output.
		assert_noop!(
			try_reveal(task_id, v, encode_output(&logits(2)), salt_of(v)),
			Error::<Test>::CommitmentMismatch
		);
		// Another salt.
		assert_noop!(
			try_reveal(task_id, v, encode_output(&logits(1)), [0xEE; 32]),
			Error::<Test>::CommitmentMismatch
		);
		// Another executor's commitment cannot be replayed: V's output under drawn[1]'s account.
		assert_noop!(
			try_reveal(task_id, drawn[1], encode_output(&logits(1)), salt_of(v)),
			Error::<Test>::CommitmentMismatch
		);
		assert_noop!(
			try_reveal(task_id, v, vec![1, 2, 3], salt_of(v)),
			Error::<Test>::MalformedOutput
		);
		assert_noop!(
			try_reveal(task_id, v, vec![0; MAX_OUTPUT as usize + 4], salt_of(v)),
			Error::<Test>::OutputTooLong
		);
		// Same argmax, other values: matches under the Argmax rule.
		assert_ok!(try_reveal(task_id, v, encode_output(&[0.0, 0.5, 0.2, 0.1]), salt_of(v)));
		assert_noop!(
			try_reveal(task_id, v, encode_output(&logits(1)), salt_of(v)),
			Error::<Test>::AlreadyRevealed
		);
		assert!(Inference::pending_tasks(&v, 10).is_empty());
	});
}

#[test]
fn non_committer_cannot_reveal() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[1], &logits(1));
		// Commit deadline passes with two commits (≥ quorum): reveals open.
		run_to_block(8);
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Revealing { reveal_deadline: 11 }
		));
		assert!(Inference::pending_tasks(&drawn[2], 10).is_empty());
		assert_noop!(
			try_reveal(task_id, drawn[2], encode_output(&logits(1)), salt_of(drawn[2])),
			Error::<Test>::NotCommitted
		);
		run_to_block(11);
		assert_noop!(
			try_reveal(task_id, drawn[0], encode_output(&logits(1)), salt_of(drawn[0])),
			Error::<Test>::RevealDeadlinePassed
		);
	});
}
