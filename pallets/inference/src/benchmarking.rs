//! Benchmarks of the calls and of the agenda's items, each in its worst case.

// Set-up code on data the benchmark built itself: a panic is a failed benchmark, not a halted
// chain.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::*;
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	Get,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use opg_primitives::{
	inference::{commitment, encode_output, Salt, TaskOutcome},
	models::{ComparisonRule, ModelId, ModelProvider, MAX_TOP_K},
	staking::InferenceStaking,
};
use sp_runtime::traits::{Bounded, Saturating};

const SEED: u32 = 0;

fn max_servers<T: Config>() -> u32 {
	Pallet::<T>::max_servers()
}

/// A requester with plenty of funds.
fn requester<T: Config>() -> T::AccountId {
	let who: T::AccountId = account("requester", 0, SEED);
	T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 4u32.into());
	who
}

/// The fee per executor of benchmark models.
fn fee<T: Config>() -> BalanceOf<T> {
	T::Currency::minimum_balance().saturating_mul(1_000u32.into())
}

/// A model with `redundancy` executors and `comparison`, served by `servers` validators of
/// equal stake; returns its id and its servers.
fn model_with_servers<T: Config>(
	redundancy: u32,
	servers: u32,
	comparison: ComparisonRule,
) -> (ModelId, Vec<T::AccountId>) {
	let owner: T::AccountId = account("owner", 0, SEED);
	let model_id = T::BenchmarkHelper::create_model(&owner, redundancy, fee::<T>(), comparison);
	let accounts: Vec<T::AccountId> =
		(0..servers).map(|i| account::<T::AccountId>("server", i, SEED)).collect();
	for who in &accounts {
		T::BenchmarkHelper::make_validator(who, 1, Some(model_id));
	}
	(model_id, accounts)
}

/// Requests a task of `model_id` with `redundancy` and draws its executors.
fn assigned_task<T: Config>(model_id: ModelId, redundancy: u32) -> TaskId {
	let caller = requester::<T>();
	let task_id = NextTaskId::<T>::get();
	Pallet::<T>::request_inference(
		RawOrigin::Signed(caller).into(),
		model_id,
		vec![1u8; 16],
		BalanceOf::<T>::max_value(),
		Some(u8::try_from(redundancy).unwrap_or(u8::MAX)),
	)
	.expect("the benchmark model is runnable and served");
	let task = Tasks::<T>::get(task_id).expect("just requested");
	Pallet::<T>::assign_with_seed(task_id, task, b"benchmark seed");
	task_id
}

/// Requests `n` tasks of `model_id` with `redundancy` in consecutive blocks, as a worker meets
/// them (so that the agenda admits each), draws their executors, and goes back to the block
/// after the first request, in which every task takes commits and reveals.
fn tasks_in_consecutive_blocks<T: Config>(
	model_id: ModelId,
	redundancy: u32,
	n: u32,
) -> Vec<TaskId> {
	let start = frame_system::Pallet::<T>::block_number();
	let tasks = (0..n)
		.map(|k| {
			frame_system::Pallet::<T>::set_block_number(start + k.into());
			assigned_task::<T>(model_id, redundancy)
		})
		.collect();
	frame_system::Pallet::<T>::set_block_number(start + 1u32.into());
	tasks
}

/// Asserts that every task of `tasks` takes reveals.
fn assert_revealing<T: Config>(tasks: &[TaskId]) {
	for task_id in tasks {
		assert!(matches!(
			Tasks::<T>::get(task_id).map(|t| t.status),
			Some(TaskStatus::Revealing { .. })
		));
	}
}

fn executors<T: Config>(task_id: TaskId) -> Vec<T::AccountId> {
	Tasks::<T>::get(task_id)
		.map(|task| task.executors.iter().map(|e| e.who.clone()).collect())
		.unwrap_or_default()
}

fn salt(i: u32) -> Salt {
	let mut salt = [7u8; 32];
	salt[..4].copy_from_slice(&i.to_le_bytes());
	salt
}

/// An output of `len` bytes (rounded down to whole `f32`s) whose values depend on `variant`.
fn output(len: u32, variant: u32) -> Vec<f32> {
	(0..len / 4).map(|i| ((i.wrapping_mul(37) ^ variant) % 101) as f32 / 7.0).collect()
}

/// `who` commits to `values` and returns what it will reveal.
fn commit<T: Config>(task_id: TaskId, who: &T::AccountId, values: &[f32], i: u32) -> Vec<u8> {
	let rule = Tasks::<T>::get(task_id).expect("task exists").comparison;
	let c = commitment(&rule.digest(values), &salt(i), who);
	Pallet::<T>::commit_result(RawOrigin::Signed(who.clone()).into(), task_id, c)
		.expect("executor commits in time");
	encode_output(values)
}

/// Fills `who`'s kept slashes ([`ValidatorSlashes`]) to `MaxSlashRecords`, so that its next
/// slash drops the oldest: the costliest list to read and write.
fn fill_slashes<T: Config>(who: &T::AccountId) {
	let full: Vec<SlashRecordOf<T>> = (0..T::MaxSlashRecords::get())
		.map(|i| SlashRecord {
			task_id: u64::from(i) + 1_000_000,
			reason: opg_primitives::staking::SlashReason::Mismatch,
			amount: fee::<T>(),
			at: 1u32.into(),
		})
		.collect();
	ValidatorSlashes::<T>::insert(who, SlashRecordsOf::<T>::truncate_from(full));
	ValidatorRecords::<T>::mutate(who, |r| {
		r.assigned = u32::MAX / 2;
		r.committed = u32::MAX / 2;
		r.revealed = u32::MAX / 2;
		r.mismatched = u32::MAX / 2;
		r.slashes = T::MaxSlashRecords::get();
		r.slashed = fee::<T>().saturating_mul(T::MaxSlashRecords::get().into());
	});
}

/// The reveal deadline of `task_id`, whose reveals are open.
fn reveal_deadline<T: Config>(task_id: TaskId) -> BlockNumberFor<T> {
	match Tasks::<T>::get(task_id).map(|t| t.status) {
		Some(TaskStatus::Revealing { reveal_deadline }) => reveal_deadline,
		_ => panic!("all committed: reveals are open"),
	}
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// `i` bytes of input, `s` servers declared for the model (their list is read and decoded).
	#[benchmark]
	fn request_inference(
		i: Linear<1, { T::MaxInputLen::get() }>,
		s: Linear<1, { max_servers::<T>() }>,
	) {
		let (model_id, _) = model_with_servers::<T>(1, s, ComparisonRule::Argmax);
		let caller = requester::<T>();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(caller),
			model_id,
			vec![1u8; i as usize],
			BalanceOf::<T>::max_value(),
			None,
		);

		assert!(Tasks::<T>::contains_key(0));
	}

	/// Worst case: the last commit, which opens the reveal phase.
	#[benchmark]
	fn commit_result(r: Linear<1, { T::MaxRedundancy::get() }>) {
		let (model_id, _) = model_with_servers::<T>(r, r, ComparisonRule::Argmax);
		let task_id = assigned_task::<T>(model_id, r);
		let drawn = executors::<T>(task_id);
		let (last, others) = drawn.split_last().expect("r >= 1");
		for (n, who) in others.iter().enumerate() {
			commit::<T>(task_id, who, &[1.0, 0.0], n as u32);
		}
		let rule = Tasks::<T>::get(task_id).expect("exists").comparison;
		let c = commitment(&rule.digest(&[1.0, 0.0]), &salt(r), last);

		#[extrinsic_call]
		_(RawOrigin::Signed(last.clone()), task_id, c);

		assert!(matches!(
			Tasks::<T>::get(task_id).map(|t| t.status),
			Some(TaskStatus::Revealing { .. })
		));
	}

	/// A reveal that does not end the task, of an output of `o` bytes under the costliest
	/// rule to canonicalise (`TopK` with the largest `k`: a full sort).
	#[benchmark]
	fn reveal_result(o: Linear<4, { T::MaxOutputLen::get() }>) {
		let (model_id, _) = model_with_servers::<T>(2, 2, ComparisonRule::TopK { k: MAX_TOP_K });
		let task_id = assigned_task::<T>(model_id, 2);
		let drawn = executors::<T>(task_id);
		let values = output(o, 1);
		let bytes = commit::<T>(task_id, &drawn[0], &values, 0);
		commit::<T>(task_id, &drawn[1], &values, 1);

		#[extrinsic_call]
		_(RawOrigin::Signed(drawn[0].clone()), task_id, TaskOutcome::Output(bytes), salt(0));

		assert!(matches!(
			Tasks::<T>::get(task_id).map(|t| t.status),
			Some(TaskStatus::Revealing { .. })
		));
	}

	/// `n` commits in one batch, each the last of a task of the largest redundancy (it opens
	/// the task's reveals). The tasks are requested in consecutive blocks, as a worker meets
	/// them, so that the agenda admits each.
	#[benchmark]
	fn commit_results(n: Linear<1, { T::MaxBatch::get() }>) {
		let r = T::MaxRedundancy::get();
		let (model_id, servers) = model_with_servers::<T>(r, r, ComparisonRule::Argmax);
		// Every server executes every task.
		let signer = servers[0].clone();
		let tasks = tasks_in_consecutive_blocks::<T>(model_id, r, n);
		let mut batch = Vec::new();
		for (k, task_id) in tasks.iter().enumerate() {
			for (m, who) in servers.iter().enumerate().skip(1) {
				commit::<T>(*task_id, who, &[1.0, 0.0], m as u32);
			}
			let rule = Tasks::<T>::get(task_id).expect("exists").comparison;
			let c = commitment(&rule.digest(&[1.0, 0.0]), &salt(k as u32), &signer);
			batch.push((*task_id, c));
		}
		let batch: frame_support::BoundedVec<_, T::MaxBatch> =
			batch.try_into().expect("n <= MaxBatch");

		#[extrinsic_call]
		_(RawOrigin::Signed(signer), batch);

		assert_revealing::<T>(&tasks);
	}

	/// `n` reveals in one batch, none of which ends its task, of one-value outputs under the
	/// costliest rule to canonicalise (`TopK` with the largest `k`); a longer output adds the
	/// slope of `reveal_result`, and ending a task the weight of its settlement.
	#[benchmark]
	fn reveal_results(n: Linear<1, { T::MaxBatch::get() }>) {
		let (model_id, servers) =
			model_with_servers::<T>(2, 2, ComparisonRule::TopK { k: MAX_TOP_K });
		let (signer, other) = (servers[0].clone(), servers[1].clone());
		let values = output(4, 1);
		let tasks = tasks_in_consecutive_blocks::<T>(model_id, 2, n);
		let mut batch = Vec::new();
		for (k, task_id) in (0u32..).zip(tasks.iter().copied()) {
			let bytes = commit::<T>(task_id, &signer, &values, k);
			commit::<T>(task_id, &other, &values, n + k);
			batch.push((task_id, TaskOutcome::Output(bytes), salt(k)));
		}
		let batch: frame_support::BoundedVec<_, T::MaxBatch> =
			batch.try_into().expect("n <= MaxBatch");

		#[extrinsic_call]
		_(RawOrigin::Signed(signer), batch);

		assert_revealing::<T>(&tasks);
	}

	#[benchmark]
	fn cancel(r: Linear<1, { T::MaxRedundancy::get() }>) {
		let (model_id, _) = model_with_servers::<T>(r, r, ComparisonRule::Argmax);
		let task_id = assigned_task::<T>(model_id, r);
		let requester = Tasks::<T>::get(task_id).expect("exists").requester;

		#[extrinsic_call]
		_(RawOrigin::Signed(requester), task_id);

		assert!(matches!(
			Tasks::<T>::get(task_id).map(|t| t.status),
			Some(TaskStatus::Cancelled { .. })
		));
	}

	/// Replacing a validator's inference key (the worst case: the proof is checked and an old
	/// key's link is removed).
	#[benchmark]
	fn set_inference_key() {
		let validator: T::AccountId = account("validator", 0, SEED);
		T::BenchmarkHelper::make_validator(&validator, 1, None);
		let payload = Pallet::<T>::key_proof_payload(&validator);
		let (old, old_proof) = T::BenchmarkHelper::inference_key(&payload);
		let (new, proof) = T::BenchmarkHelper::inference_key(&payload);
		Pallet::<T>::set_inference_key(
			RawOrigin::Signed(validator.clone()).into(),
			old.clone(),
			old_proof,
		)
		.expect("a validator links a key");

		#[extrinsic_call]
		_(RawOrigin::Signed(validator.clone()), new.clone(), proof);

		assert_eq!(InferenceKeys::<T>::get(&validator), Some(new.clone()));
		assert_eq!(KeyOwners::<T>::get(&new), Some(validator));
		assert!(!KeyOwners::<T>::contains_key(&old));
	}

	/// Drawing `r` executors among `s` servers when validators that do not serve the model
	/// hold most of the stake: rejection sampling exhausts its attempts and the bounded scan of
	/// the servers finishes the draw (the costlier path).
	#[benchmark]
	fn assign(
		r: Linear<1, { T::MaxRedundancy::get() }>,
		s: Linear<{ T::MaxRedundancy::get() }, { max_servers::<T>() }>,
	) {
		let (model_id, _) = model_with_servers::<T>(r, s, ComparisonRule::Argmax);
		for i in 0..8u32 {
			let whale: T::AccountId = account("whale", i, SEED);
			T::BenchmarkHelper::make_validator(&whale, 100_000, None);
		}
		let caller = requester::<T>();
		let task_id = NextTaskId::<T>::get();
		Pallet::<T>::request_inference(
			RawOrigin::Signed(caller).into(),
			model_id,
			vec![1u8; 16],
			BalanceOf::<T>::max_value(),
			None,
		)
		.expect("runnable and served");
		let task = Tasks::<T>::get(task_id).expect("just requested");

		#[block]
		{
			Pallet::<T>::assign_with_seed(task_id, task, b"benchmark seed");
		}

		assert_eq!(executors::<T>(task_id).len(), r as usize);
	}

	/// Drawing `MaxRedundancy` executors among as many servers holding most of the stake, with
	/// `v` other eligible validators registered: the cost of the stake-weighted draw as the
	/// validator set grows (logarithmic: each draw walks the Fenwick tree of the staking pallet).
	/// Informational: agenda items are charged `assign`'s worst case.
	#[benchmark]
	fn draw_executors(
		v: Linear<
			0,
			{ T::BenchmarkHelper::max_validators().saturating_sub(T::MaxRedundancy::get() + 16) },
		>,
	) {
		let r = T::MaxRedundancy::get();
		let (model_id, _) = model_with_servers::<T>(r, 0, ComparisonRule::Argmax);
		for i in 0..r {
			let server: T::AccountId = account("heavy server", i, SEED);
			T::BenchmarkHelper::make_validator(&server, 1_000, Some(model_id));
		}
		for i in 0..v {
			let other: T::AccountId = account("other", i, SEED);
			T::BenchmarkHelper::make_validator(&other, 1, None);
		}
		let servers = T::Models::servers(model_id);
		let drawn;

		#[block]
		{
			drawn = Pallet::<T>::draw_executors(&servers, r, b"benchmark seed");
		}

		assert_eq!(drawn.map(|d| d.len()), Some(r as usize));
	}

	/// The commit deadline of a task one commit short of its quorum: it fails, refunds the
	/// escrow, releases its `r` executors and gives back its reveal deadline's reservation.
	/// (Nobody is slashed: fewer commits than the quorum prove nothing. With a quorum the
	/// reveals open instead, which only releases the executors that did not commit.)
	#[benchmark]
	fn close_commits(r: Linear<1, { T::MaxRedundancy::get() }>) {
		let (model_id, _) = model_with_servers::<T>(r, r, ComparisonRule::Argmax);
		let task_id = assigned_task::<T>(model_id, r);
		let drawn = executors::<T>(task_id);
		let task = Tasks::<T>::get(task_id).expect("exists");
		let quorum = task.quorum as usize;
		for (n, who) in drawn.iter().enumerate().take(quorum.saturating_sub(1)) {
			commit::<T>(task_id, who, &[1.0, 0.0], n as u32);
		}
		let deadline = task.plan.commit_deadline;
		frame_system::Pallet::<T>::set_block_number(deadline);

		#[block]
		{
			Pallet::<T>::on_commit_deadline(task_id, deadline);
		}

		assert!(matches!(
			Tasks::<T>::get(task_id).map(|t| t.status),
			Some(TaskStatus::Failed { reason: FailReason::NoQuorum | FailReason::NoCommits, .. })
		));
	}

	/// Settlement at the reveal deadline of `r` (at least 3) executors: a majority agrees (paid
	/// through the staking pallet), the others reveal another output (slashed), the last never
	/// reveals (slashed); outputs are as long as allowed, and each slash jails its validator
	/// and drops the oldest of its full list of kept slashes. Every executor's record and the
	/// model's figures are written.
	#[benchmark]
	fn settle(r: Linear<3, { T::MaxRedundancy::get() }>) {
		let (model_id, _) =
			model_with_servers::<T>(r, r, ComparisonRule::Quantized { decimals: 3 });
		let task_id = assigned_task::<T>(model_id, r);
		let drawn = executors::<T>(task_id);
		let quorum = Tasks::<T>::get(task_id).expect("exists").quorum;
		let len = T::MaxOutputLen::get();
		let mut reveals = Vec::new();
		for (n, who) in drawn.iter().enumerate() {
			let n = n as u32;
			let variant = if n < quorum { 0 } else { n };
			reveals.push(commit::<T>(task_id, who, &output(len, variant), n));
			if n >= quorum {
				T::BenchmarkHelper::prime_for_jail(who);
				fill_slashes::<T>(who);
			}
		}
		let last = drawn.len().saturating_sub(1);
		for (n, who) in drawn.iter().enumerate().take(last) {
			Pallet::<T>::reveal_result(
				RawOrigin::Signed(who.clone()).into(),
				task_id,
				TaskOutcome::Output(reveals[n].clone()),
				salt(n as u32),
			)
			.expect("matches its commitment");
		}
		let deadline = reveal_deadline::<T>(task_id);
		frame_system::Pallet::<T>::set_block_number(deadline);

		#[block]
		{
			Pallet::<T>::on_reveal_deadline(task_id, deadline);
		}

		assert!(matches!(
			Tasks::<T>::get(task_id).map(|t| t.status),
			Some(TaskStatus::Settled { .. })
		));
		let slashed = drawn.iter().skip(quorum as usize);
		assert!(slashed.clone().all(|who| !T::Staking::is_eligible(who)), "jailed");
		let kept = ValidatorSlashes::<T>::get(&drawn[last]);
		assert_eq!(kept.last().map(|slash| slash.task_id), Some(task_id), "slash kept");
		assert_eq!(ModelStats::<T>::get(model_id).settled, 1);
	}

	/// The other end of a reveal deadline: all `r` executors committed and none revealed, so
	/// the task fails without a quorum and every one of them is slashed for withholding, each
	/// on the fault that jails it and dropping the oldest of its full list of kept slashes.
	#[benchmark]
	fn fail_reveals(r: Linear<1, { T::MaxRedundancy::get() }>) {
		let (model_id, _) = model_with_servers::<T>(r, r, ComparisonRule::Argmax);
		let task_id = assigned_task::<T>(model_id, r);
		let drawn = executors::<T>(task_id);
		for (n, who) in drawn.iter().enumerate() {
			commit::<T>(task_id, who, &[1.0, 0.0], n as u32);
			T::BenchmarkHelper::prime_for_jail(who);
			fill_slashes::<T>(who);
		}
		let deadline = reveal_deadline::<T>(task_id);
		frame_system::Pallet::<T>::set_block_number(deadline);

		#[block]
		{
			Pallet::<T>::on_reveal_deadline(task_id, deadline);
		}

		assert!(matches!(
			Tasks::<T>::get(task_id).map(|t| t.status),
			Some(TaskStatus::Failed { reason: FailReason::NoQuorum, .. })
		));
		assert!(drawn.iter().all(|who| !T::Staking::is_eligible(who)), "jailed");
		assert!(drawn.iter().all(|who| ValidatorSlashes::<T>::get(who)
			.last()
			.is_some_and(|slash| slash.task_id == task_id)));
		assert_eq!(ModelStats::<T>::get(model_id).failed, 1);
	}

	/// Worst case: the last executor yet to commit declines while every other one committed,
	/// and a replacement is scheduled.
	#[benchmark]
	fn decline(r: Linear<1, { T::MaxRedundancy::get() }>) {
		let (model_id, _) = model_with_servers::<T>(r, r + 1, ComparisonRule::Argmax);
		let task_id = assigned_task::<T>(model_id, r);
		let drawn = executors::<T>(task_id);
		let (last, others) = drawn.split_last().expect("r >= 1");
		for (n, who) in others.iter().enumerate() {
			commit::<T>(task_id, who, &[1.0, 0.0], n as u32);
		}

		#[extrinsic_call]
		_(RawOrigin::Signed(last.clone()), task_id, DeclineReason::Overloaded);

		let task = Tasks::<T>::get(task_id).expect("still open");
		assert_eq!(task.declined.len(), 1);
		assert_eq!(task.replacements_pending, 1);
	}

	/// Drawing a replacement among `s` servers when validators that do not serve the model hold
	/// most of the stake (as `assign`), excluding `r - 1` executors and one that declined.
	#[benchmark]
	fn replace(
		r: Linear<1, { T::MaxRedundancy::get() }>,
		s: Linear<{ T::MaxRedundancy::get() + 1 }, { max_servers::<T>() }>,
	) {
		let (model_id, _) = model_with_servers::<T>(r, s, ComparisonRule::Argmax);
		for i in 0..8u32 {
			let whale: T::AccountId = account("whale", i, SEED);
			T::BenchmarkHelper::make_validator(&whale, 100_000, None);
		}
		let task_id = assigned_task::<T>(model_id, r);
		let drawn = executors::<T>(task_id);
		Pallet::<T>::decline(
			RawOrigin::Signed(drawn[0].clone()).into(),
			task_id,
			DeclineReason::MissingFiles,
		)
		.expect("an executor declines in time");
		let task = Tasks::<T>::get(task_id).expect("still open");

		#[block]
		{
			Pallet::<T>::replace_with_seed(task_id, task, Some(b"benchmark seed".as_slice()));
		}

		assert_eq!(executors::<T>(task_id).len(), r as usize);
	}

	/// Pruning a settled task with the longest result.
	#[benchmark]
	fn expire() {
		let (model_id, _) = model_with_servers::<T>(1, 1, ComparisonRule::Exact);
		let task_id = assigned_task::<T>(model_id, 1);
		let drawn = executors::<T>(task_id);
		let bytes = commit::<T>(task_id, &drawn[0], &output(T::MaxOutputLen::get(), 0), 0);
		Pallet::<T>::reveal_result(
			RawOrigin::Signed(drawn[0].clone()).into(),
			task_id,
			TaskOutcome::Output(bytes),
			salt(0),
		)
		.expect("matches its commitment");
		let at = Tasks::<T>::get(task_id).expect("kept until it expires").plan.expires_at;
		frame_system::Pallet::<T>::set_block_number(at);

		#[block]
		{
			Pallet::<T>::on_expire(task_id, at);
		}

		assert!(!Tasks::<T>::contains_key(task_id));
	}

	impl_benchmark_test_suite!(
		Pallet,
		crate::mock::ExtBuilder::default().build(),
		crate::mock::Test
	);
}
