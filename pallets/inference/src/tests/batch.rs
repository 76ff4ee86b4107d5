//! Batched commits and reveals, and who pays for commits and reveals.

use crate::{mock::*, weights::WeightInfo, Error, Event, TaskStatus};
use frame_support::{
	assert_noop, assert_ok,
	dispatch::{GetDispatchInfo, Pays},
	BoundedVec,
};
use opg_primitives::inference::{encode_output, TaskId, TaskOutcome};
use sp_core::H256;
use sp_runtime::DispatchError;

/// Two tasks of redundancy 4 (every validator executes both), assigned.
fn two_tasks() -> (TaskId, TaskId) {
	let first = request_with(ALICE, Some(4));
	let second = request_with(BOB, Some(4));
	next_block();
	next_block();
	(first, second)
}

fn commits_of(who: AccountId, tasks: &[TaskId]) -> BoundedVec<(TaskId, H256), ConstMaxBatch> {
	tasks
		.iter()
		.map(|task_id| (*task_id, commitment_for(*task_id, who, &logits(1))))
		.collect::<Vec<_>>()
		.try_into()
		.unwrap()
}

type ConstMaxBatch = frame_support::traits::ConstU32<MAX_BATCH>;
type RevealsOf =
	BoundedVec<(TaskId, TaskOutcome<Vec<u8>>, opg_primitives::inference::Salt), ConstMaxBatch>;

fn reveals_of(who: AccountId, tasks: &[TaskId]) -> RevealsOf {
	tasks
		.iter()
		.map(|task_id| (*task_id, TaskOutcome::Output(encode_output(&logits(1))), salt_of(who)))
		.collect::<Vec<_>>()
		.try_into()
		.unwrap()
}

#[test]
fn valid_commits_and_reveals_are_free_and_refused_ones_pay() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let info = Inference::commit_result(
			RuntimeOrigin::signed(drawn[0]),
			task_id,
			commitment_for(task_id, drawn[0], &logits(1)),
		)
		.unwrap();
		assert_eq!(info.pays_fee, Pays::No);
		// A refused commit pays (the error's post-info keeps the default).
		let refused =
			Inference::commit_result(RuntimeOrigin::signed(drawn[0]), task_id, H256::zero())
				.unwrap_err();
		assert_eq!(refused.post_info.pays_fee, Pays::Yes);
		assert_eq!(refused.error, Error::<Test>::AlreadyCommitted.into());
		for v in &drawn[1..] {
			commit(task_id, *v, &logits(1));
		}
		let info = Inference::reveal_result(
			RuntimeOrigin::signed(drawn[0]),
			task_id,
			TaskOutcome::Output(encode_output(&logits(1))),
			salt_of(drawn[0]),
		)
		.unwrap();
		assert_eq!(info.pays_fee, Pays::No);
		let refused = try_reveal(task_id, drawn[1], encode_output(&logits(2)), salt_of(drawn[1]))
			.unwrap_err();
		assert_eq!(refused.post_info.pays_fee, Pays::Yes);
		assert_eq!(refused.error, Error::<Test>::CommitmentMismatch.into());
		// The calls declare that they pay: the fee is withheld before dispatch, and given back
		// only to a valid one, so that an invalid one cannot be sent for free.
		let call = crate::Call::<Test>::commit_result { task_id, commitment: H256::zero() };
		assert_eq!(call.get_dispatch_info().pays_fee, Pays::Yes);
	});
}

#[test]
fn a_batch_of_commits_applies_every_valid_entry_and_is_free() {
	ExtBuilder::default().build_and_execute(|| {
		let (first, second) = two_tasks();
		let info =
			Inference::commit_results(RuntimeOrigin::signed(V1), commits_of(V1, &[first, second]))
				.unwrap();
		assert_eq!(info.pays_fee, Pays::No);
		assert_eq!(
			info.actual_weight,
			Some(<Test as crate::Config>::WeightInfo::commit_results(2))
		);
		for task_id in [first, second] {
			assert!(inference_events().contains(&Event::ResultCommitted { task_id, executor: V1 }));
		}
		// The other executors' batches open both tasks' reveals; a batch of reveals then settles
		// each task with its last entry.
		for v in [V2, V3, V4] {
			assert_ok!(Inference::commit_results(
				RuntimeOrigin::signed(v),
				commits_of(v, &[first, second])
			));
		}
		for task_id in [first, second] {
			assert!(matches!(
				Inference::task(task_id).unwrap().status,
				TaskStatus::Revealing { .. }
			));
		}
		for v in [V1, V2] {
			let reveals = reveals_of(v, &[first, second]);
			let declared = Inference::reveal_results_weight(&reveals);
			let info = Inference::reveal_results(RuntimeOrigin::signed(v), reveals).unwrap();
			assert_eq!(info.pays_fee, Pays::No);
			assert!(info.actual_weight.unwrap().all_lte(declared));
		}
		let reveals = reveals_of(V3, &[first, second]);
		let declared = Inference::reveal_results_weight(&reveals);
		let info = Inference::reveal_results(RuntimeOrigin::signed(V3), reveals).unwrap();
		// The third reveal of each task reaches the quorum of 3 but V4 still may reveal: no end.
		assert!(info.actual_weight.unwrap().all_lte(declared));
		let info =
			Inference::reveal_results(RuntimeOrigin::signed(V4), reveals_of(V4, &[first, second]))
				.unwrap();
		assert_eq!(info.pays_fee, Pays::No);
		for task_id in [first, second] {
			assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
			assert!(inference_events()
				.iter()
				.any(|e| matches!(e, Event::TaskSettled { task_id: t, .. } if *t == task_id)));
		}
		check_invariants();
	});
}

#[test]
fn a_failed_entry_changes_nothing_leaves_the_others_and_makes_the_batch_pay() {
	ExtBuilder::default().build_and_execute(|| {
		let (first, second) = two_tasks();
		commit(second, V1, &logits(1));
		let before = Inference::task(second).unwrap();
		System::reset_events();
		let mut batch = commits_of(V1, &[first, second]);
		batch.try_push((77, H256::zero())).unwrap();
		let info = Inference::commit_results(RuntimeOrigin::signed(V1), batch).unwrap();
		assert_eq!(info.pays_fee, Pays::Yes);
		let events = inference_events();
		assert_eq!(
			events,
			vec![
				Event::ResultCommitted { task_id: first, executor: V1 },
				Event::BatchEntryFailed {
					task_id: second,
					error: Error::<Test>::AlreadyCommitted.into()
				},
				Event::BatchEntryFailed {
					task_id: 77,
					error: DispatchError::from(Error::<Test>::TaskNotFound)
				},
			]
		);
		assert_eq!(Inference::task(second).unwrap(), before);
		assert!(Inference::task(first)
			.unwrap()
			.executors
			.iter()
			.any(|e| e.who == V1 && e.commitment.is_some()));

		// A reveal entry that fails half-way (a wrong salt) leaves no trace either.
		for v in [V2, V3, V4] {
			assert_ok!(Inference::commit_results(
				RuntimeOrigin::signed(v),
				commits_of(v, &[first, second])
			));
		}
		let mut reveals = reveals_of(V1, &[first, second]);
		reveals[1].2 = [0xEE; 32];
		let before = Inference::task(second).unwrap();
		let info = Inference::reveal_results(RuntimeOrigin::signed(V1), reveals).unwrap();
		assert_eq!(info.pays_fee, Pays::Yes);
		assert_eq!(Inference::task(second).unwrap(), before);
		assert!(Inference::task(first)
			.unwrap()
			.executors
			.iter()
			.any(|e| e.who == V1 && e.revealed.is_some()));
		System::assert_last_event(
			Event::BatchEntryFailed {
				task_id: second,
				error: Error::<Test>::CommitmentMismatch.into(),
			}
			.into(),
		);
		check_invariants();
	});
}

#[test]
fn batches_are_bounded_and_not_empty() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Inference::commit_results(RuntimeOrigin::signed(V1), BoundedVec::new()),
			Error::<Test>::EmptyBatch
		);
		assert_noop!(
			Inference::reveal_results(RuntimeOrigin::signed(V1), BoundedVec::new()),
			Error::<Test>::EmptyBatch
		);
		// More than MaxBatch entries do not decode.
		use codec::{Decode, Encode};
		let entries = vec![(0u64, H256::zero()); MAX_BATCH as usize + 1];
		let encoded = entries.encode();
		assert!(BoundedVec::<(TaskId, H256), ConstMaxBatch>::decode(&mut &encoded[..]).is_err());
		// Declared weights grow with the batch.
		let one = Inference::reveal_results_weight(&reveals_of(V1, &[0]));
		let two = Inference::reveal_results_weight(&reveals_of(V1, &[0, 1]));
		assert!(two.all_gt(one));
	});
}
