//! Offences: one slash per validator per offence span (the largest), no slash without evidence,
//! withholding charged as a mismatch.

use crate::{mock::*, Event, FailReason, OffenceSpans, TaskStatus};
use opg_primitives::staking::SlashReason;
use sp_runtime::Perbill;

fn slashes_of(who: AccountId) -> Vec<(u64, SlashReason, Perbill)> {
	inference_events()
		.into_iter()
		.filter_map(|e| match e {
			Event::ExecutorSlashed { task_id, executor, reason, fraction, .. }
				if executor == who =>
			{
				Some((task_id, reason, fraction))
			},
			_ => None,
		})
		.collect()
}

fn covered_of(who: AccountId) -> Vec<(u64, SlashReason)> {
	inference_events()
		.into_iter()
		.filter_map(|e| match e {
			Event::OffenceCovered { task_id, executor, reason } if executor == who => {
				Some((task_id, reason))
			},
			_ => None,
		})
		.collect()
}

/// Four tasks of redundancy 4 (every validator drawn), assigned in the same block.
fn four_tasks() -> Vec<u64> {
	let tasks: Vec<u64> = (0..4).map(|_| request_with(ALICE, Some(4))).collect();
	next_block();
	next_block();
	tasks
}

#[test]
fn a_task_nobody_committed_to_fails_without_slashing_anyone() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let stakes: Vec<Balance> = drawn.iter().map(|v| stake_of(*v, *v)).collect();
		run_to_block(8);
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoCommits, .. }
		));
		assert_eq!(drawn.iter().map(|v| stake_of(*v, *v)).collect::<Vec<_>>(), stakes);
		assert!(!inference_events()
			.iter()
			.any(|e| matches!(e, Event::ExecutorSlashed { .. } | Event::OffenceCovered { .. })));
		assert_eq!(escrow(ALICE), 0);
		assert_eq!(free(ALICE), INITIAL);
	});
}

#[test]
fn a_validator_absent_for_many_tasks_is_slashed_once() {
	ExtBuilder::default().build_and_execute(|| {
		let tasks = four_tasks();
		// V4 is down: everybody else commits and reveals every task.
		for task_id in &tasks {
			for v in [V1, V2, V3] {
				commit(*task_id, v, &logits(1));
			}
		}
		run_to_block(8);
		for task_id in &tasks {
			for v in [V1, V2, V3] {
				reveal(*task_id, v, &logits(1));
			}
			assert!(matches!(
				Inference::task(*task_id).unwrap().status,
				TaskStatus::Settled { .. }
			));
		}
		assert_eq!(slashes_of(V4), vec![(tasks[0], SlashReason::NoShow, NO_SHOW_SLASH)]);
		assert_eq!(
			covered_of(V4),
			tasks[1..].iter().map(|t| (*t, SlashReason::NoShow)).collect::<Vec<_>>()
		);
		assert_eq!(stake_of(V4, V4), BOND - BOND / 20);
		let span = OffenceSpans::<Test>::get(V4).unwrap();
		assert_eq!(
			(span.start, span.fraction, span.reason, span.task_id),
			(8, NO_SHOW_SLASH, SlashReason::NoShow, tasks[0])
		);
		for v in [V1, V2, V3] {
			assert!(slashes_of(v).is_empty());
		}
	});
}

#[test]
fn a_larger_fault_in_the_span_takes_only_the_difference_and_a_new_span_slashes_again() {
	ExtBuilder::default().build_and_execute(|| {
		let tasks = four_tasks();
		// Task 0: V4 does not commit (no-show, 5 %). Task 1: V4 reveals another class
		// (mismatch, 10 %: 5 % more of the span's start). Task 2: V4 no-shows again (covered).
		for v in [V1, V2, V3] {
			commit(tasks[0], v, &logits(1));
			commit(tasks[2], v, &logits(1));
		}
		for v in [V1, V2, V3] {
			commit(tasks[1], v, &logits(1));
		}
		commit(tasks[1], V4, &logits(2));
		for v in [V1, V2, V3] {
			reveal(tasks[1], v, &logits(1));
		}
		reveal(tasks[1], V4, &logits(2));
		// Task 3: nobody commits (no evidence).
		run_to_block(8);
		for task_id in [tasks[0], tasks[2]] {
			for v in [V1, V2, V3] {
				reveal(task_id, v, &logits(1));
			}
		}
		// Task 1 settled at once (all four revealed): the mismatch opened the span. The no-shows
		// at the commit deadline are smaller: covered.
		assert_eq!(slashes_of(V4), vec![(tasks[1], SlashReason::Mismatch, MISMATCH_SLASH)]);
		assert_eq!(
			covered_of(V4),
			vec![(tasks[0], SlashReason::NoShow), (tasks[2], SlashReason::NoShow)]
		);
		// The span's total is the largest slash of its start, 10 %, whatever the order.
		assert_eq!(stake_of(V4, V4), BOND - BOND / 10);

		// After the window, a new fault opens a new span.
		run_to_block(3 + OFFENCE_WINDOW);
		let (task_id, drawn) = {
			let task_id = request_with(ALICE, Some(4));
			next_block();
			next_block();
			(task_id, executors(task_id))
		};
		for v in drawn.iter().filter(|v| **v != V4) {
			commit(task_id, *v, &logits(1));
		}
		run_to_block(System::block_number() + COMMIT_PERIOD);
		for v in drawn.iter().filter(|v| **v != V4) {
			reveal(task_id, *v, &logits(1));
		}
		assert_eq!(slashes_of(V4).last(), Some(&(task_id, SlashReason::NoShow, NO_SHOW_SLASH)));
		assert_eq!(stake_of(V4, V4), (BOND - BOND / 10) - (BOND - BOND / 10) / 20);
	});
}

#[test]
fn a_commit_never_revealed_is_charged_as_a_mismatch() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		reveal(task_id, drawn[0], &logits(1));
		reveal(task_id, drawn[1], &logits(1));
		let deadline = match Inference::task(task_id).unwrap().status {
			TaskStatus::Revealing { reveal_deadline } => reveal_deadline,
			other => panic!("{other:?}"),
		};
		run_to_block(deadline + 1);
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		assert_eq!(slashes_of(drawn[2]), vec![(task_id, SlashReason::Withheld, MISMATCH_SLASH)]);
	});
}

#[test]
fn withholding_without_a_quorum_is_still_charged() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		// One reveal of quorum 2: no quorum at the deadline; the two silent committers withheld.
		reveal(task_id, drawn[0], &logits(1));
		run_to_block(2 + COMMIT_PERIOD + REVEAL_PERIOD + 1);
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoQuorum, .. }
		));
		assert!(slashes_of(drawn[0]).is_empty());
		for v in &drawn[1..] {
			assert_eq!(slashes_of(*v), vec![(task_id, SlashReason::Withheld, MISMATCH_SLASH)]);
		}
	});
}

#[test]
fn a_no_show_then_a_withheld_reveal_in_one_span_totals_the_larger_slash() {
	ExtBuilder::default().build_and_execute(|| {
		let tasks = four_tasks();
		// Task 0: V4 no-shows. Task 1: V4 commits last, in block 6, which opens reveals until
		// block 10, and never reveals.
		for v in [V1, V2, V3] {
			commit(tasks[0], v, &logits(1));
			commit(tasks[1], v, &logits(1));
		}
		run_to_block(6);
		commit(tasks[1], V4, &logits(1));
		for v in [V1, V2, V3] {
			reveal(tasks[1], v, &logits(1));
		}
		// Task 0's commit deadline (block 7) opened its reveals; the three reveal in block 8,
		// which settles it and charges V4's no-show.
		run_to_block(8);
		for v in [V1, V2, V3] {
			reveal(tasks[0], v, &logits(1));
		}
		assert_eq!(slashes_of(V4), vec![(tasks[0], SlashReason::NoShow, NO_SHOW_SLASH)]);
		run_to_block(12);
		// Withholding (10 %) takes (10 − 5) / (100 − 5) of what the no-show (5 %) left: the
		// span's total is 10 % of the stake at its start.
		let extra = Perbill::from_rational(5u32, 95u32);
		assert_eq!(
			slashes_of(V4),
			vec![
				(tasks[0], SlashReason::NoShow, NO_SHOW_SLASH),
				(tasks[1], SlashReason::Withheld, extra)
			]
		);
		let stake = stake_of(V4, V4);
		assert!(stake.abs_diff(BOND - BOND / 10) <= 1, "{stake}");
		let span = OffenceSpans::<Test>::get(V4).unwrap();
		assert_eq!(
			(span.start, span.fraction, span.reason),
			(8, MISMATCH_SLASH, SlashReason::Withheld)
		);
	});
}

/// The benchmarks' worst case relies on it: after `prime_for_jail`, the next fault jails.
#[cfg(feature = "runtime-benchmarks")]
#[test]
fn a_validator_primed_for_jail_is_jailed_by_its_next_fault() {
	use crate::BenchmarkHelper;
	use opg_primitives::staking::InferenceStaking;
	ExtBuilder::default().build_and_execute(|| {
		MockBenchmarkHelper::prime_for_jail(&V1);
		assert!(pallet_inference_staking::Validators::<Test>::get(V1)
			.is_some_and(|v| v.jailed_until.is_none()));
		<Staking as InferenceStaking<AccountId>>::slash(
			&V1,
			Perbill::from_percent(1),
			SlashReason::NoShow,
		);
		assert!(pallet_inference_staking::Validators::<Test>::get(V1)
			.is_some_and(|v| v.jailed_until.is_some()));
	});
}
