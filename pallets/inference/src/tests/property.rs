//! Property test: random sequences of requests, commits, reveals, cancels and blocks keep funds
//! conserved and never leave a task open past its deadlines.

use crate::{mock::*, Event, TaskStatus, Tasks};
use frame_support::traits::fungible::Inspect;
use opg_primitives::inference::encode_output;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
	Request { who: usize, redundancy: Option<u8> },
	Commit { task: usize, executor: usize, class: usize },
	Reveal { task: usize, executor: usize, honest: bool },
	Cancel { task: usize },
	Advance { blocks: u64 },
}

fn op() -> impl Strategy<Value = Op> {
	prop_oneof![
		2 => (0usize..2, prop::option::of(1u8..=4)).prop_map(|(who, redundancy)| Op::Request { who, redundancy }),
		4 => (0usize..8, 0usize..4, prop_oneof![3 => Just(1usize), 1 => 0usize..3]).prop_map(|(task, executor, class)| Op::Commit { task, executor, class }),
		5 => (0usize..8, 0usize..4, prop::bool::weighted(0.9)).prop_map(|(task, executor, honest)| Op::Reveal { task, executor, honest }),
		1 => (0usize..8).prop_map(|task| Op::Cancel { task }),
		3 => (1u64..4).prop_map(|blocks| Op::Advance { blocks }),
	]
}

/// What an executor committed to: its class.
type Commitments = BTreeMap<(u64, AccountId), usize>;

fn apply(op: &Op, commitments: &mut Commitments) {
	let requesters = [ALICE, BOB];
	let open: Vec<u64> = Tasks::<Test>::iter()
		.filter(|(_, t)| t.status.is_open())
		.map(|(id, _)| id)
		.collect::<std::collections::BTreeSet<_>>()
		.into_iter()
		.collect();
	let pick = |i: usize| (!open.is_empty()).then(|| open[i % open.len()]);
	match *op {
		Op::Request { who, redundancy } => {
			let _ = Inference::request_inference(
				RuntimeOrigin::signed(requesters[who]),
				MODEL,
				vec![7; 8],
				u64::MAX,
				redundancy,
			);
		},
		Op::Commit { task, executor, class } => {
			let Some(task_id) = pick(task) else { return };
			let drawn = executors(task_id);
			if drawn.is_empty() {
				return;
			}
			let who = drawn[executor % drawn.len()];
			let c = commitment_for(task_id, who, &logits(class));
			if Inference::commit_result(RuntimeOrigin::signed(who), task_id, c).is_ok() {
				commitments.insert((task_id, who), class);
			}
		},
		Op::Reveal { task, executor, honest } => {
			let Some(task_id) = pick(task) else { return };
			let drawn = executors(task_id);
			if drawn.is_empty() {
				return;
			}
			let who = drawn[executor % drawn.len()];
			let Some(class) = commitments.get(&(task_id, who)).copied() else { return };
			let class = if honest { class } else { (class + 1) % 4 };
			let _ = try_reveal(task_id, who, encode_output(&logits(class)), salt_of(who));
		},
		Op::Cancel { task } => {
			let Some(task_id) = pick(task) else { return };
			let requester = Inference::task(task_id).unwrap().requester;
			let _ = Inference::cancel(RuntimeOrigin::signed(requester), task_id);
		},
		Op::Advance { blocks } => {
			for _ in 0..blocks {
				next_block();
			}
		},
	}
}

/// Checks conservation and deadlines.
fn check(issuance: Balance, stakes: &BTreeMap<AccountId, Balance>) {
	check_invariants();
	assert_eq!(Balances::total_issuance(), issuance, "funds created or destroyed");
	let now = System::block_number();
	let mut escrowed: BTreeMap<AccountId, Balance> = BTreeMap::new();
	let mut spent: BTreeMap<AccountId, Balance> = BTreeMap::new();
	let mut slashed = 0;
	let mut requesters: BTreeMap<u64, AccountId> = BTreeMap::new();
	let mut fees: BTreeMap<u64, Balance> = BTreeMap::new();
	for event in inference_events() {
		match event {
			Event::TaskCreated { task_id, requester, fee, .. } => {
				*escrowed.entry(requester).or_default() += fee;
				requesters.insert(task_id, requester);
				fees.insert(task_id, fee);
			},
			Event::TaskSettled { task_id, paid, protocol_fee, refunded, .. }
			| Event::TaskRejected { task_id, paid, protocol_fee, refunded, .. } => {
				// Every task: escrow = paid + protocol fee + refunded.
				assert_eq!(fees[&task_id], paid + protocol_fee + refunded);
				*spent.entry(requesters[&task_id]).or_default() += paid + protocol_fee;
				*escrowed.get_mut(&requesters[&task_id]).unwrap() -= fees[&task_id];
			},
			Event::TaskFailed { task_id, refunded, .. } => {
				assert_eq!(fees[&task_id], refunded);
				*escrowed.get_mut(&requesters[&task_id]).unwrap() -= fees[&task_id];
			},
			Event::TaskCancelled { task_id, paid, refunded } => {
				// Drawn executors are paid their fees; the protocol fee is refunded.
				assert_eq!(fees[&task_id], paid + refunded);
				*spent.entry(requesters[&task_id]).or_default() += paid;
				*escrowed.get_mut(&requesters[&task_id]).unwrap() -= fees[&task_id];
			},
			Event::ExecutorSlashed { amount, .. } => slashed += amount,
			_ => {},
		}
	}
	for who in [ALICE, BOB] {
		let held = escrowed.get(&who).copied().unwrap_or(0);
		assert_eq!(escrow(who), held, "escrow of {who}");
		let total = Balances::total_balance(&who);
		assert_eq!(total, INITIAL - spent.get(&who).copied().unwrap_or(0), "balance of {who}");
	}
	// Every slash is accounted: validators' total stake fell by exactly the slashed amounts.
	let lost: Balance =
		stakes.iter().map(|(v, before)| before - Staking::validator_stake(*v)).sum();
	assert_eq!(lost, slashed);
	// No task stays open past its deadlines (the budget covers every item in these runs).
	for (task_id, task) in Tasks::<Test>::iter() {
		let deadline = match task.status {
			TaskStatus::Queued { assign_at } => assign_at,
			TaskStatus::Committing { commit_deadline } => commit_deadline,
			TaskStatus::Revealing { reveal_deadline } => reveal_deadline,
			_ => continue,
		};
		assert!(deadline >= now, "task {task_id} open past its deadline {deadline} at {now}");
	}
}

proptest! {
	#![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

	#[test]
	fn funds_are_conserved_and_deadlines_met(ops in prop::collection::vec(op(), 1..80)) {
		ExtBuilder::default().build_and_execute(|| {
			let issuance = Balances::total_issuance();
			let stakes: BTreeMap<AccountId, Balance> =
				[V1, V2, V3, V4].into_iter().map(|v| (v, Staking::validator_stake(v))).collect();
			let mut commitments = Commitments::new();
			for op in &ops {
				apply(op, &mut commitments);
				check(issuance, &stakes);
			}
			// Long after the last request, every task has ended (and been pruned).
			for _ in 0..(COMMIT_PERIOD + REVEAL_PERIOD + RESULT_TTL + 5) {
				next_block();
			}
			check(issuance, &stakes);
			assert_eq!(Tasks::<Test>::iter().count(), 0);

			assert_eq!(escrow(ALICE) + escrow(BOB), 0);
		});
	}
}

#[test]
fn random_sequences_reach_every_outcome() {
	// The generator must produce settlements, failures, cancellations and slashes, or the
	// property above would test little.
	use proptest::{strategy::ValueTree, test_runner::TestRunner};
	let mut runner = TestRunner::deterministic();
	let strategy = prop::collection::vec(op(), 60..80);
	let mut seen = [0u32; 4];
	for _ in 0..16 {
		let ops = strategy.new_tree(&mut runner).unwrap().current();
		ExtBuilder::default().build_and_execute(|| {
			let mut commitments = Commitments::new();
			for op in &ops {
				apply(op, &mut commitments);
			}
			for _ in 0..(COMMIT_PERIOD + REVEAL_PERIOD + 2) {
				next_block();
			}
			for event in inference_events() {
				match event {
					Event::TaskSettled { .. } => seen[0] += 1,
					Event::TaskFailed { .. } => seen[1] += 1,
					Event::TaskCancelled { .. } => seen[2] += 1,
					Event::ExecutorSlashed { .. } => seen[3] += 1,
					_ => {},
				}
			}
		});
	}
	assert!(
		seen.iter().all(|n| *n > 0),
		"outcomes (settled, failed, cancelled, slashes): {seen:?}"
	);
	println!("outcomes over 16 random sequences: {seen:?}");
}
