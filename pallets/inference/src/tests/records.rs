//! Reliability records: each validator's counters and latest slashes, each model's figures,
//! updated where their events are emitted.

use crate::{
	mock::*, DeclineReason, Event, FailReason, ModelRecord, ModelStats, RecordsSince,
	ReliabilityRecord, SlashRecord, TaskStatus, ValidatorRecords, ValidatorSlashes,
};
use frame_support::{assert_ok, traits::OnRuntimeUpgrade};
use opg_primitives::{inference::Rejection, staking::SlashReason};

fn record(who: AccountId) -> ReliabilityRecord<Balance> {
	ValidatorRecords::<Test>::get(who)
}

/// `who`'s record after being drawn once and doing `f` on top.
fn drawn_once(f: impl FnOnce(&mut ReliabilityRecord<Balance>)) -> ReliabilityRecord<Balance> {
	let mut r = ReliabilityRecord { assigned: 1, ..Default::default() };
	f(&mut r);
	r
}

/// An honest executor of one settled task.
fn honest() -> ReliabilityRecord<Balance> {
	drawn_once(|r| {
		r.committed = 1;
		r.revealed = 1;
		r.agreed = 1;
	})
}

/// `(task, reason, amount)` of each `ExecutorSlashed` of `who`, in order.
fn slash_events(who: AccountId) -> Vec<(u64, SlashReason, Balance)> {
	inference_events()
		.into_iter()
		.filter_map(|e| match e {
			Event::ExecutorSlashed { task_id, executor, reason, amount, .. } if executor == who => {
				Some((task_id, reason, amount))
			},
			_ => None,
		})
		.collect()
}

/// `who`'s kept slashes as `(task, reason, amount)`.
fn kept_slashes(who: AccountId) -> Vec<(u64, SlashReason, Balance)> {
	ValidatorSlashes::<Test>::get(who)
		.iter()
		.map(|slash| (slash.task_id, slash.reason, slash.amount))
		.collect()
}

/// The model's figures with `settled_in` blocks from request to settlement for each settled
/// or rejected task.
fn model(f: impl FnOnce(&mut ModelRecord), settled_in: &[usize]) -> ModelRecord {
	let mut m = ModelRecord::default();
	f(&mut m);
	for blocks in settled_in {
		m.settle_blocks[(*blocks).min(63)] += 1;
	}
	m
}

/// Requests with redundancy 4 (quorum 3): every validator is drawn.
fn all_four_assigned() -> u64 {
	let task_id = request_with(ALICE, Some(4));
	next_block();
	next_block();
	task_id
}

#[test]
fn an_honest_settled_task_counts_each_member_as_agreed_and_the_model_as_settled() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		assert_eq!(ModelStats::<Test>::get(MODEL), model(|m| m.requests = 1, &[]));
		for v in &drawn {
			assert_eq!(record(*v), drawn_once(|_| {}));
			commit(task_id, *v, &logits(1));
		}
		for v in &drawn {
			reveal(task_id, *v, &logits(1));
		}
		let task = Inference::task(task_id).unwrap();
		assert!(matches!(task.status, TaskStatus::Settled { at: 3, .. }));
		for v in &drawn {
			assert_eq!(record(*v), honest());
			assert!(ValidatorSlashes::<Test>::get(v).is_empty());
		}
		let idle = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		assert!(!ValidatorRecords::<Test>::contains_key(idle));
		// Requested in block 1, settled in block 3: bucket 2.
		assert_eq!(task.created_at, 1);
		let stats = ModelStats::<Test>::get(MODEL);
		assert_eq!(
			stats,
			model(
				|m| {
					m.requests = 1;
					m.settled = 1;
				},
				&[2]
			)
		);
		assert_eq!(stats.settle_blocks[2], 1);
		assert_eq!(stats.settle_blocks.iter().sum::<u32>(), 1);
	});
}

#[test]
fn a_dissenter_counts_as_mismatched_and_its_slash_is_kept_as_emitted() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = all_four_assigned();
		for v in [V1, V2, V3, V4] {
			commit(task_id, v, &logits(if v == V1 { 2 } else { 1 }));
		}
		for v in [V1, V2, V3, V4] {
			reveal(task_id, v, &logits(if v == V1 { 2 } else { 1 }));
		}
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		// V1's pool (its bond and DELEGATOR's) loses 10 %.
		assert_eq!(slash_events(V1), vec![(task_id, SlashReason::Mismatch, 2_000)]);
		assert_eq!(
			record(V1),
			drawn_once(|r| {
				r.committed = 1;
				r.revealed = 1;
				r.mismatched = 1;
				r.slashes = 1;
				r.slashed = 2_000;
			})
		);
		assert_eq!(
			ValidatorSlashes::<Test>::get(V1).to_vec(),
			vec![SlashRecord { task_id, reason: SlashReason::Mismatch, amount: 2_000, at: 3 }]
		);
		for v in [V2, V3, V4] {
			assert_eq!(record(v), honest());
		}
		assert_eq!(ModelStats::<Test>::get(MODEL).settled, 1);
	});
}

#[test]
fn a_fault_covered_by_its_offence_span_counts_as_a_fault_and_not_as_a_slash() {
	ExtBuilder::default().build_and_execute(|| {
		let mut tasks = Vec::new();
		for _ in 0..2 {
			let task_id = all_four_assigned();
			for v in [V1, V2, V3, V4] {
				commit(task_id, v, &logits(if v == V1 { 2 } else { 1 }));
			}
			for v in [V1, V2, V3, V4] {
				reveal(task_id, v, &logits(if v == V1 { 2 } else { 1 }));
			}
			tasks.push(task_id);
		}
		// The second mismatch falls in the span the first opened, with a slash no larger: it is
		// covered, nothing more is taken.
		assert_eq!(slash_events(V1), vec![(tasks[0], SlashReason::Mismatch, 2_000)]);
		assert!(inference_events().iter().any(|e| matches!(e,
			Event::OffenceCovered { task_id, executor, reason: SlashReason::Mismatch }
				if *task_id == tasks[1] && *executor == V1)));
		assert_eq!(
			record(V1),
			ReliabilityRecord {
				assigned: 2,
				committed: 2,
				revealed: 2,
				mismatched: 2,
				slashes: 1,
				slashed: 2_000,
				..Default::default()
			}
		);
		assert_eq!(kept_slashes(V1), vec![(tasks[0], SlashReason::Mismatch, 2_000)]);
	});
}

#[test]
fn a_no_show_at_commit_counts_as_missed_commit() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let absent = drawn[2];
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[1], &logits(1));
		// The commit deadline (end of block 7) opens the reveals: a quorum committed.
		run_to_block(8);
		reveal(task_id, drawn[0], &logits(1));
		reveal(task_id, drawn[1], &logits(1));
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		let slashes = slash_events(absent);
		assert_eq!(slashes.len(), 1);
		let (_, reason, amount) = slashes[0];
		assert_eq!(reason, SlashReason::NoShow);
		assert_eq!(
			record(absent),
			drawn_once(|r| {
				r.missed_commits = 1;
				r.slashes = 1;
				r.slashed = amount;
			})
		);
		assert_eq!(kept_slashes(absent), slashes);
		assert_eq!(ValidatorSlashes::<Test>::get(absent)[0].at, 8);
		assert_eq!(record(drawn[0]), honest());
		assert_eq!(record(drawn[1]), honest());
		// Requested in block 1, settled in block 8.
		assert_eq!(
			ModelStats::<Test>::get(MODEL),
			model(
				|m| {
					m.requests = 1;
					m.settled = 1;
				},
				&[7]
			)
		);
	});
}

#[test]
fn a_committer_that_never_reveals_counts_as_missed_reveal() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let withholder = drawn[0];
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		reveal(task_id, drawn[1], &logits(1));
		reveal(task_id, drawn[2], &logits(1));
		// The reveal deadline is the end of block 11.
		run_to_block(12);
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Settled { at: 11, .. }
		));
		let slashes = slash_events(withholder);
		assert_eq!(slashes.len(), 1);
		assert_eq!(slashes[0].1, SlashReason::Withheld);
		assert_eq!(
			record(withholder),
			drawn_once(|r| {
				r.committed = 1;
				r.missed_reveals = 1;
				r.slashes = 1;
				r.slashed = slashes[0].2;
			})
		);
		assert_eq!(kept_slashes(withholder), slashes);
		assert_eq!(record(drawn[1]), honest());
		assert_eq!(ModelStats::<Test>::get(MODEL).settle_blocks[10], 1);
	});
}

#[test]
fn a_decline_counts_for_the_decliner_and_the_replacement_is_assigned() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let spare = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		let decliner = drawn[1];
		assert_ok!(Inference::decline(
			RuntimeOrigin::signed(decliner),
			task_id,
			DeclineReason::MissingFiles
		));
		assert_eq!(record(decliner), drawn_once(|r| r.declined = 1));
		assert!(!ValidatorRecords::<Test>::contains_key(spare));
		next_block();
		next_block();
		assert_eq!(executors(task_id), vec![drawn[0], drawn[2], spare]);
		assert_eq!(record(spare), drawn_once(|_| {}));
		for v in [drawn[0], drawn[2], spare] {
			commit(task_id, v, &logits(1));
		}
		for v in [drawn[0], drawn[2], spare] {
			reveal(task_id, v, &logits(1));
		}
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		for v in [drawn[0], drawn[2], spare] {
			assert_eq!(record(v), honest());
		}
		assert_eq!(record(decliner), drawn_once(|r| r.declined = 1));
	});
}

#[test]
fn failed_tasks_count_for_the_model_and_charge_no_executor() {
	ExtBuilder::default().build_and_execute(|| {
		// Nobody commits: no evidence against anyone, so no missed commit is counted.
		let (silent, silent_drawn) = assigned_task(ALICE);
		run_to_block(8);
		assert!(matches!(
			Inference::task(silent).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoCommits, .. }
		));
		for v in &silent_drawn {
			assert_eq!(record(*v), drawn_once(|_| {}));
		}
		assert_eq!(
			ModelStats::<Test>::get(MODEL),
			model(
				|m| {
					m.requests = 1;
					m.failed = 1;
				},
				&[]
			)
		);

		// Three different answers: no quorum, so the revealers count as revealed only.
		let (split, split_drawn) = assigned_task(ALICE);
		for (class, v) in split_drawn.iter().enumerate() {
			commit(split, *v, &logits(class));
		}
		for (class, v) in split_drawn.iter().enumerate() {
			reveal(split, *v, &logits(class));
		}
		assert!(matches!(
			Inference::task(split).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoQuorum, .. }
		));
		let revealed_only = drawn_once(|r| {
			r.committed = 1;
			r.revealed = 1;
		});
		for v in &split_drawn {
			let before = if silent_drawn.contains(v) { 1 } else { 0 };
			let mut expected = revealed_only.clone();
			expected.assigned += before;
			assert_eq!(record(*v), expected);
		}
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
		assert_eq!(
			ModelStats::<Test>::get(MODEL),
			model(
				|m| {
					m.requests = 2;
					m.failed = 2;
				},
				&[]
			)
		);
	});
}

#[test]
fn cancelled_tasks_count_for_the_model_and_leave_executors_assigned_only() {
	ExtBuilder::default().build_and_execute(|| {
		let queued = request(ALICE);
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), queued));
		let (task_id, drawn) = assigned_task(ALICE);
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), task_id));
		for v in &drawn {
			assert_eq!(record(*v), drawn_once(|_| {}));
		}
		assert_eq!(
			ModelStats::<Test>::get(MODEL),
			model(
				|m| {
					m.requests = 2;
					m.cancelled = 2;
				},
				&[]
			)
		);
	});
}

#[test]
fn a_rejection_counts_as_rejected_with_its_settlement_time_and_agreed_members() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		for v in &drawn {
			commit_rejection(task_id, *v, Rejection::TooManyTokens);
		}
		run_to_block(5);
		for v in &drawn {
			reveal_rejection(task_id, *v, Rejection::TooManyTokens);
		}
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Rejected { at: 5, .. }
		));
		for v in &drawn {
			assert_eq!(record(*v), honest());
		}
		assert_eq!(
			ModelStats::<Test>::get(MODEL),
			model(
				|m| {
					m.requests = 1;
					m.rejected = 1;
				},
				&[4]
			)
		);
	});
}

#[test]
fn the_kept_slashes_are_the_latest_sixteen() {
	ExtBuilder::default().build_and_execute(|| {
		// V4 (no delegator) dissents in 17 tasks, each in an offence span of its own (so that
		// each is slashed: a fault within a span is covered).
		let mut tasks = Vec::new();
		for _ in 0..=MAX_SLASH_RECORDS {
			let task_id = all_four_assigned();
			for v in [V1, V2, V3, V4] {
				commit(task_id, v, &logits(if v == V4 { 2 } else { 1 }));
			}
			for v in [V1, V2, V3, V4] {
				reveal(task_id, v, &logits(if v == V4 { 2 } else { 1 }));
			}
			tasks.push(task_id);
			run_to_block(System::block_number() + OFFENCE_WINDOW);
		}
		let slashes = slash_events(V4);
		assert_eq!(slashes.len(), 17);
		assert!(slashes
			.iter()
			.all(|(_, reason, amount)| { *reason == SlashReason::Mismatch && *amount > 0 }));
		let kept = ValidatorSlashes::<Test>::get(V4);
		assert_eq!(kept.len(), 16);
		assert_eq!(kept_slashes(V4), slashes[1..].to_vec(), "the oldest was dropped");
		assert_eq!(kept[0].task_id, tasks[1]);
		assert_eq!(kept[15].task_id, tasks[16]);
		let total: Balance = slashes.iter().map(|(_, _, amount)| amount).sum();
		assert_eq!(total, BOND - stake_of(V4, V4));
		let r = record(V4);
		assert_eq!((r.assigned, r.committed, r.revealed, r.mismatched), (17, 17, 17, 17));
		assert_eq!((r.slashes, r.slashed), (17, total));
		assert_eq!(record(V1).agreed, 17);
		assert_eq!(ModelStats::<Test>::get(MODEL).settled, 17);
	});
}

#[test]
fn the_upgrade_counts_only_the_tasks_requested_after_it() {
	use frame_support::traits::{GetStorageVersion, StorageVersion};
	ExtBuilder::default().build_and_execute(|| {
		// A task in flight when a chain of version 1 upgrades: its request and draw predate
		// the records.
		let (before, drawn) = assigned_task(ALICE);
		let _ = ValidatorRecords::<Test>::clear(u32::MAX, None);
		let _ = ModelStats::<Test>::clear(u32::MAX, None);
		StorageVersion::new(1).put::<Inference>();
		crate::migrations::V1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Inference::on_chain_storage_version(), StorageVersion::new(2));
		assert_eq!(RecordsSince::<Test>::get(), before + 1);
		check_invariants();

		for v in &drawn {
			commit(before, *v, &logits(1));
		}
		for v in &drawn {
			reveal(before, *v, &logits(1));
		}
		assert!(matches!(Inference::task(before).unwrap().status, TaskStatus::Settled { .. }));
		assert_eq!(ValidatorRecords::<Test>::iter().count(), 0);
		assert_eq!(ModelStats::<Test>::iter().count(), 0);
		check_invariants();

		let (after, drawn) = assigned_task(ALICE);
		for v in &drawn {
			commit(after, *v, &logits(1));
		}
		for v in &drawn {
			reveal(after, *v, &logits(1));
		}
		for v in &drawn {
			assert_eq!(record(*v), honest());
		}
		assert_eq!(ModelStats::<Test>::get(MODEL).requests, 1);
	});
}

#[test]
fn an_executor_acting_through_its_inference_key_is_counted_as_the_validator() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let (validator, key) = (drawn[0], 60);
		link_key(validator, key);
		assert_ok!(Inference::commit_result(
			RuntimeOrigin::signed(key),
			task_id,
			commitment_for(task_id, validator, &logits(1))
		));
		for v in &drawn[1..] {
			commit(task_id, *v, &logits(1));
		}
		assert_ok!(Inference::reveal_result(
			RuntimeOrigin::signed(key),
			task_id,
			opg_primitives::inference::TaskOutcome::Output(
				opg_primitives::inference::encode_output(&logits(1))
			),
			salt_of(validator)
		));
		for v in &drawn[1..] {
			reveal(task_id, *v, &logits(1));
		}
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		assert_eq!(record(validator), honest());
		assert!(!ValidatorRecords::<Test>::contains_key(key));
	});
}
