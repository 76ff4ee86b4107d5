//! Settlement and failure: who is paid, who is slashed, what is refunded, and pruning.

use crate::{mock::*, Event, FailReason, TaskResults, TaskStatus, Tasks};
use opg_primitives::{inference::encode_output, staking::SlashReason};

/// Stake of each validator's own bond, by account.
fn own_stakes(validators: &[AccountId]) -> Vec<Balance> {
	validators.iter().map(|v| stake_of(*v, *v)).collect()
}

/// Requests with redundancy 4 (quorum 3) so that every validator, V1 included, is assigned.
fn all_four_assigned() -> (u64, Vec<AccountId>) {
	let task_id = request_with(ALICE, Some(4));
	next_block();
	next_block();
	(task_id, executors(task_id))
}

#[test]
fn all_agree_pays_everyone_and_shares_with_delegators() {
	ExtBuilder::default().build_and_execute(|| {
		let issuance = Balances::total_issuance();
		let (task_id, drawn) = all_four_assigned();
		assert_eq!(escrow(ALICE), 4_400);
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		for v in &drawn {
			reveal(task_id, *v, &logits(1));
		}
		let task = Inference::task(task_id).unwrap();
		let digest = opg_primitives::models::ComparisonRule::Argmax.digest(&logits(1));
		assert_eq!(task.status, TaskStatus::Settled { digest, at: 3 });
		// Requester: fee + protocol fee gone, nothing held.
		assert_eq!(free(ALICE), INITIAL - 4_400);
		assert_eq!(escrow(ALICE), 0);
		assert_eq!(free(TREASURY), 1 + 400);
		// V1: 10 % commission of 1,000, then 900 shared by its own 10,000 and DELEGATOR's 10,000.
		assert_eq!(rewards_of(V1, V1), 100 + 450);
		assert_eq!(rewards_of(DELEGATOR, V1), 450);
		for v in [V2, V3, V4] {
			assert_eq!(rewards_of(v, v), 1_000);
		}
		assert_eq!(Inference::task_result(task_id), Some(encode_output(&logits(1))));
		assert!(inference_events().contains(&Event::TaskSettled {
			task_id,
			digest,
			// Argmax: the attested result is the class index.
			canonical: 1u32.to_le_bytes().to_vec().try_into().unwrap(),
			output: encode_output(&logits(1)).try_into().unwrap(),
			// Everyone agreed: the first drawn publishes.
			publisher: drawn[0],
			paid: 4_000,
			protocol_fee: 400,
			refunded: 0,
		}));
		for v in &drawn {
			assert!(inference_events().contains(&Event::ExecutorRewarded {
				task_id,
				executor: *v,
				amount: FEE_PER_EXECUTOR
			}));
		}
		assert_eq!(own_stakes(&drawn), vec![BOND; 4]);
		assert_eq!(Balances::total_issuance(), issuance);
		// The delegator claims its share.
		let before = free(DELEGATOR);
		frame_support::assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(DELEGATOR), V1));
		assert_eq!(free(DELEGATOR), before + 450);
	});
}

#[test]
fn dissenter_is_slashed_with_its_delegators_and_others_are_paid() {
	ExtBuilder::default().build_and_execute(|| {
		let issuance = Balances::total_issuance();
		let (task_id, drawn) = all_four_assigned();
		for v in &drawn {
			let class = if *v == V1 { 2 } else { 1 };
			commit(task_id, *v, &logits(class));
		}
		for v in &drawn {
			let class = if *v == V1 { 2 } else { 1 };
			reveal(task_id, *v, &logits(class));
		}
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		// V1's pool (20,000) loses 10 %: its own bond and DELEGATOR's position alike.
		assert_eq!(stake_of(V1, V1), 9_000);
		assert_eq!(stake_of(DELEGATOR, V1), 9_000);
		assert!(inference_events().contains(&Event::ExecutorSlashed {
			task_id,
			executor: V1,
			reason: SlashReason::Mismatch,
			fraction: MISMATCH_SLASH,
			amount: 2_000
		}));
		assert_eq!(rewards_of(V1, V1), 0);
		for v in [V2, V3, V4] {
			assert_eq!(rewards_of(v, v), 1_000);
			assert_eq!(stake_of(v, v), BOND);
		}
		// V1's fee share is refunded; the protocol fee is charged on settlement.
		assert_eq!(free(ALICE), INITIAL - 3_000 - 400);
		assert_eq!(escrow(ALICE), 0);
		assert_eq!(free(TREASURY), 1 + 400);
		// Slashed funds leave the issuance only as far as the slash sink did not receive them
		// (the delegator's part is burnt when its position is next touched).
		assert_eq!(Balances::total_issuance(), issuance);
		assert_eq!(free(SLASH_SINK), 1 + 1_000);
		frame_support::assert_ok!(Staking::claim_rewards(RuntimeOrigin::signed(V2), V2));
	});
}

#[test]
fn one_dissenter_in_three() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let stakes = own_stakes(&drawn);
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[1], &logits(3));
		commit(task_id, drawn[2], &logits(1));
		reveal(task_id, drawn[0], &logits(1));
		reveal(task_id, drawn[1], &logits(3));
		reveal(task_id, drawn[2], &logits(1));
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		let after = own_stakes(&drawn);
		assert_eq!(after[0], stakes[0]);
		assert_eq!(after[2], stakes[2]);
		assert_eq!(after[1], stakes[1] - stakes[1] / 10);
		assert_eq!(free(ALICE), INITIAL - 2_000 - 300);
		assert_eq!(Inference::task_result(task_id), Some(encode_output(&logits(1))));
	});
}

#[test]
fn no_quorum_refunds_everything_and_slashes_nobody() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let stakes = own_stakes(&drawn);
		for (class, v) in drawn.iter().enumerate() {
			commit(task_id, *v, &logits(class));
		}
		for (class, v) in drawn.iter().enumerate() {
			reveal(task_id, *v, &logits(class));
		}
		assert_eq!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoQuorum, at: 3 }
		);
		assert_eq!(own_stakes(&drawn), stakes);
		assert_eq!(free(ALICE), INITIAL);
		assert_eq!(escrow(ALICE), 0);
		assert_eq!(free(TREASURY), 1);
		assert!(inference_events().contains(&Event::TaskFailed {
			task_id,
			reason: FailReason::NoQuorum,
			refunded: 3_300
		}));
		assert_eq!(Inference::task_result(task_id), None);
	});
}

#[test]
fn tie_between_two_groups_is_no_quorum() {
	ExtBuilder::default().redundancy(4, Some(2)).build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		for (i, v) in drawn.iter().enumerate() {
			commit(task_id, *v, &logits(i % 2));
		}
		for (i, v) in drawn.iter().enumerate() {
			reveal(task_id, *v, &logits(i % 2));
		}
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoQuorum, .. }
		));
		assert_eq!(free(ALICE), INITIAL);
	});
}

#[test]
fn no_show_in_commit_phase_is_slashed_and_task_settles() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let stakes = own_stakes(&drawn);
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[1], &logits(1));
		run_to_block(8);
		reveal(task_id, drawn[0], &logits(1));
		reveal(task_id, drawn[1], &logits(1));
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		let after = own_stakes(&drawn);
		assert_eq!(&after[..2], &stakes[..2]);
		assert_eq!(after[2], stakes[2] - stakes[2] / 20);
		assert!(inference_events().contains(&Event::ExecutorSlashed {
			task_id,
			executor: drawn[2],
			reason: SlashReason::NoShow,
			fraction: NO_SHOW_SLASH,
			amount: if drawn[2] == V1 { 1_000 } else { 500 },
		}));
		// Two fees paid, the third refunded.
		assert_eq!(free(ALICE), INITIAL - 2_000 - 300);
	});
}

#[test]
fn withheld_reveal_is_slashed_as_a_mismatch_at_the_deadline() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let stakes = own_stakes(&drawn);
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		reveal(task_id, drawn[0], &logits(1));
		reveal(task_id, drawn[1], &logits(1));
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Revealing { .. }));
		// Reveals opened at block 3 and close at the planned deadline: assigned in block 2,
		// so 2 + 5 + 4 = 11, processed at the end of block 11.
		let deadline = 2 + COMMIT_PERIOD + REVEAL_PERIOD;
		run_to_block(deadline);
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Revealing { .. }));
		next_block();
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Settled { at, .. } if at == deadline
		));
		let after = own_stakes(&drawn);
		assert_eq!(&after[..2], &stakes[..2]);
		// Committed, never revealed: withholding costs what a mismatch does (10 %).
		assert_eq!(after[2], stakes[2] - stakes[2] / 10);
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::ExecutorSlashed { reason: SlashReason::Withheld, fraction, .. }
				if *fraction == MISMATCH_SLASH
		)));
		assert_eq!(free(ALICE), INITIAL - 2_000 - 300);
		assert!(Inference::pending_tasks(&drawn[2], 10).is_empty());
	});
}

#[test]
fn too_few_commits_fail_at_the_commit_deadline() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let stakes = own_stakes(&drawn);
		commit(task_id, drawn[0], &logits(1));
		run_to_block(8);
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoQuorum, .. }
		));
		// The committer could not reveal: not its fault. One commit of a quorum of two proves
		// nothing about the others (it could be anything, committed to have them charged).
		assert_eq!(own_stakes(&drawn), stakes);
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
		assert_eq!(free(ALICE), INITIAL);
	});
}

#[test]
fn results_are_pruned_after_ttl() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		for v in &drawn {
			reveal(task_id, *v, &logits(1));
		}
		// Planned at the request: the reveal deadline (assigned in block 2) plus the TTL, also
		// when the task settles early.
		let expires_at = 2 + COMMIT_PERIOD + REVEAL_PERIOD + RESULT_TTL;
		assert_eq!(Inference::task(task_id).unwrap().plan.expires_at, expires_at);
		run_to_block(expires_at);
		assert!(Inference::task_result(task_id).is_some());
		next_block();
		assert!(!Tasks::<Test>::contains_key(task_id));
		assert!(!TaskResults::<Test>::contains_key(task_id));
		assert!(inference_events().contains(&Event::TaskExpired { task_id }));
	});
}

#[test]
fn failed_and_cancelled_tasks_are_pruned_too() {
	ExtBuilder::default().build_and_execute(|| {
		let cancelled = request(ALICE);
		frame_support::assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), cancelled));
		let (failed, _) = assigned_task(ALICE);
		run_to_block(8);
		assert!(Tasks::<Test>::contains_key(failed));
		run_to_block(2 + COMMIT_PERIOD + REVEAL_PERIOD + RESULT_TTL + 1);
		assert!(!Tasks::<Test>::contains_key(cancelled));
		assert!(!Tasks::<Test>::contains_key(failed));
	});
}
