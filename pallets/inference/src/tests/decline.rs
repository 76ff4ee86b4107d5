//! Declining: an executor that cannot run a task leaves it before committing, unpaid and
//! unslashed; a replacement is drawn while time allows. And the published result of a settled
//! task: the quorum's canonical form plus the raw output of its first member in draw order.

use crate::{mock::*, DeclineReason, Error, Event, FailReason, TaskStatus, Tasks};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::{inference::encode_output, models::ComparisonRule};

fn decline(task_id: u64, who: AccountId) {
	assert_ok!(Inference::decline(
		RuntimeOrigin::signed(who),
		task_id,
		DeclineReason::MissingFiles
	));
}

fn slashes() -> usize {
	inference_events().iter().filter(|e| matches!(e, Event::ExecutorSlashed { .. })).count()
}

#[test]
fn a_declined_task_gets_a_replacement_that_settles_it() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let spare = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		let decliner = drawn[1];
		let stake_before = Staking::validator_stake(decliner);
		decline(task_id, decliner);
		System::assert_last_event(
			Event::TaskDeclined {
				task_id,
				executor: decliner,
				reason: DeclineReason::MissingFiles,
				replaced: true,
			}
			.into(),
		);
		let task = Inference::task(task_id).unwrap();
		assert_eq!(executors(task_id), vec![drawn[0], drawn[2]]);
		assert_eq!(task.declined.to_vec(), vec![decliner]);
		assert_eq!(task.replacements_pending, 1);
		assert!(Inference::pending_tasks(&decliner, 10).is_empty(), "nothing left to do");
		// The other two commit meanwhile: reveals wait for the replacement.
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[2], &logits(1));
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Committing { .. }));

		// Drawn at the end of the next block, from that block's randomness.
		next_block();
		assert_eq!(executors(task_id).len(), 2);
		next_block();
		assert_eq!(executors(task_id), vec![drawn[0], drawn[2], spare]);
		let TaskStatus::Committing { commit_deadline } = Inference::task(task_id).unwrap().status
		else {
			panic!("still committing")
		};
		assert!(inference_events().contains(&Event::ExecutorReplaced {
			task_id,
			executor: spare,
			commit_deadline
		}));
		assert_eq!(Inference::task(task_id).unwrap().replacements_pending, 0);

		commit(task_id, spare, &logits(1));
		for v in [drawn[0], drawn[2], spare] {
			reveal(task_id, v, &logits(1));
		}
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		assert_eq!(slashes(), 0);
		assert_eq!(Staking::validator_stake(decliner), stake_before);
		let rewarded: Vec<AccountId> = inference_events()
			.iter()
			.filter_map(|e| match e {
				Event::ExecutorRewarded { executor, .. } => Some(*executor),
				_ => None,
			})
			.collect();
		assert_eq!(rewarded, vec![drawn[0], drawn[2], spare], "the decliner is not paid");
	});
}

#[test]
fn a_late_decline_is_not_replaced_and_the_rest_settle_without_slashes() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let TaskStatus::Committing { commit_deadline } = Inference::task(task_id).unwrap().status
		else {
			panic!("committing")
		};
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[1], &logits(1));
		// One block before the draw would leave less than the replacement window.
		run_to_block(commit_deadline - REPLACEMENT_WINDOW);
		decline(task_id, drawn[2]);
		System::assert_has_event(
			Event::TaskDeclined {
				task_id,
				executor: drawn[2],
				reason: DeclineReason::MissingFiles,
				replaced: false,
			}
			.into(),
		);
		// Everyone left has committed and no replacement is due: reveals open at once.
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Revealing { .. }));
		reveal(task_id, drawn[0], &logits(1));
		reveal(task_id, drawn[1], &logits(1));
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		assert_eq!(slashes(), 0);
	});
}

#[test]
fn decliners_are_never_drawn_again_and_a_task_nobody_can_run_fails_unslashed() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let spare = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		for v in &drawn {
			decline(task_id, *v);
		}
		assert_eq!(Inference::task(task_id).unwrap().replacements_pending, 3);
		next_block();
		next_block();
		// One server was left; the other two draws find nobody (decliners are excluded).
		assert_eq!(executors(task_id), vec![spare]);
		assert_eq!(Inference::task(task_id).unwrap().replacements_pending, 0);
		decline(task_id, spare);
		let task = Inference::task(task_id).unwrap();
		assert!(task.executors.is_empty());
		let TaskStatus::Committing { commit_deadline } = task.status else { panic!("committing") };
		run_to_block(commit_deadline + 1);
		assert!(inference_events().contains(&Event::TaskFailed {
			task_id,
			reason: FailReason::NoCommits,
			refunded: 3_300
		}));
		assert_eq!(slashes(), 0);
		assert_eq!(escrow(ALICE), 0);
	});
}

#[test]
fn only_an_executor_that_has_not_committed_declines_in_time() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(V1), task_id, DeclineReason::Overloaded),
			Error::<Test>::NotCommitPhase
		);
		next_block();
		next_block();
		let drawn = executors(task_id);
		let outsider = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(outsider), task_id, DeclineReason::Overloaded),
			Error::<Test>::NotAssigned
		);
		commit(task_id, drawn[0], &logits(1));
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(drawn[0]), task_id, DeclineReason::Overloaded),
			Error::<Test>::AlreadyCommitted
		);
		decline(task_id, drawn[1]);
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(drawn[1]), task_id, DeclineReason::Overloaded),
			Error::<Test>::NotAssigned
		);
		let TaskStatus::Committing { commit_deadline } = Inference::task(task_id).unwrap().status
		else {
			panic!("committing")
		};
		System::set_block_number(commit_deadline);
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(drawn[2]), task_id, DeclineReason::Overloaded),
			Error::<Test>::CommitDeadlinePassed
		);
	});
}

#[test]
fn the_published_result_is_the_canonical_form_and_the_first_members_raw_output() {
	ExtBuilder::default().comparison(ComparisonRule::Quantized { decimals: 1 }).build_and_execute(
		|| {
			let (task_id, drawn) = assigned_task(ALICE);
			// Three raw outputs that agree to one decimal, and differ below it.
			let outputs = [vec![0.51, 2.0], vec![0.54, 2.01], vec![0.46, 1.96]];
			for (v, output) in drawn.iter().zip(&outputs) {
				commit(task_id, *v, output);
			}
			// Revealed in reverse draw order: the first in draw order still publishes.
			for (v, output) in drawn.iter().zip(&outputs).rev() {
				reveal(task_id, *v, output);
			}
			let result = Inference::settled_result(task_id).unwrap();
			assert_eq!(result.publisher, drawn[0]);
			assert_eq!(result.output.to_vec(), encode_output(&outputs[0]));
			let canonical: Vec<u8> = [5i64, 20].iter().flat_map(|v| v.to_le_bytes()).collect();
			assert_eq!(result.canonical.to_vec(), canonical);
			let digest = ComparisonRule::Quantized { decimals: 1 }.digest(&outputs[2]);
			assert_eq!(
				sp_io::hashing::blake2_256(&canonical),
				digest.0,
				"the digest covers the canonical"
			);
			assert_eq!(Inference::task_result(task_id), Some(encode_output(&outputs[0])));
			assert!(Tasks::<Test>::get(task_id).is_some());
		},
	);
}

#[test]
fn a_dissenter_first_in_draw_order_does_not_publish() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		commit(task_id, drawn[0], &logits(0));
		commit(task_id, drawn[1], &logits(1));
		commit(task_id, drawn[2], &logits(1));
		reveal(task_id, drawn[2], &logits(1));
		reveal(task_id, drawn[0], &logits(0));
		reveal(task_id, drawn[1], &logits(1));
		let result = Inference::settled_result(task_id).unwrap();
		assert_eq!(result.publisher, drawn[1], "the first member of the quorum in draw order");
		assert_eq!(result.canonical.to_vec(), 1u32.to_le_bytes().to_vec());
	});
}

#[test]
fn declines_below_the_quorum_never_open_reveals_and_late_ones_count_towards_jail() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let TaskStatus::Committing { commit_deadline } = Inference::task(task_id).unwrap().status
		else {
			panic!("committing")
		};
		commit(task_id, drawn[0], &logits(1));
		// Too late for replacements: the two others decline, leaving one commit of a quorum of 2.
		run_to_block(commit_deadline - REPLACEMENT_WINDOW);
		decline(task_id, drawn[1]);
		decline(task_id, drawn[2]);
		// Reveals stay closed: the lone committer's output is never published for free.
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Committing { .. }));
		run_to_block(commit_deadline + 1);
		assert!(inference_events().contains(&Event::TaskFailed {
			task_id,
			reason: FailReason::NoQuorum,
			refunded: 3_300
		}));
		assert_eq!(slashes(), 0, "nobody is slashed, the lone committer included");
		// The late declines were noted as faults (no stake taken).
		for v in [drawn[1], drawn[2]] {
			let info = pallet_inference_staking::Validators::<Test>::get(v).unwrap();
			assert_eq!(info.recent_faults.len(), 1, "{v}'s late decline counts towards jail");
		}
		let info = pallet_inference_staking::Validators::<Test>::get(drawn[0]).unwrap();
		assert!(info.recent_faults.is_empty());
	});
}
