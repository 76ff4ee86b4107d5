//! Assignment: in the block after the request, distinct eligible servers, by stake.

use crate::{mock::*, Event, FailReason, Pallet, TaskStatus};
use frame_support::assert_ok;
use opg_primitives::inference::PendingAction;
use std::collections::BTreeMap;

#[test]
fn executors_are_drawn_in_the_next_block() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		// Block 1 ends: nothing drawn yet (the request's own block).
		next_block();
		assert!(executors(task_id).is_empty());
		// Block 2 ends: drawn from block 2's randomness.
		next_block();
		let drawn = executors(task_id);
		assert_eq!(drawn.len(), 3);
		let task = Inference::task(task_id).unwrap();
		assert_eq!(task.status, TaskStatus::Committing { commit_deadline: 2 + COMMIT_PERIOD });
		assert!(inference_events().contains(&Event::TaskAssigned {
			task_id,
			executors: drawn.clone().try_into().unwrap(),
			commit_deadline: 2 + COMMIT_PERIOD,
		}));
		let mut distinct = drawn.clone();
		distinct.sort();
		distinct.dedup();
		assert_eq!(distinct.len(), 3);
		assert!(drawn.iter().all(|v| [V1, V2, V3, V4].contains(v)));
		for v in &drawn {
			assert_eq!(
				Inference::pending_tasks(v, 10),
				vec![(task_id, PendingAction::Commit { deadline: 7 })]
			);
		}
	});
}

#[test]
fn only_eligible_servers_are_drawn() {
	ExtBuilder::default()
		.validators(vec![(V1, BOND), (V2, BOND), (V3, BOND), (V4, 50 * BOND)])
		.servers(vec![V1, V2, V3])
		.build_and_execute(|| {
			// V4 holds most of the stake but does not serve the model; V3 is chilled after the
			// request.
			for _ in 0..10 {
				let (task_id, drawn) = assigned_task(ALICE);
				assert!(!drawn.contains(&V4), "{task_id}: {drawn:?}");
				assert_eq!(drawn.len(), 3);
			}
			let task_id = request_with(ALICE, Some(2));
			assert_ok!(Staking::chill(RuntimeOrigin::signed(V3)));
			next_block();
			next_block();
			let mut drawn = executors(task_id);
			drawn.sort();
			assert_eq!(drawn, vec![V1, V2]);
		});
}

#[test]
fn servers_with_little_stake_are_found_by_the_fallback() {
	// Non-serving validators hold 99.8 % of the stake: rejection sampling gives up after
	// MaxSamplingAttempts × redundancy draws and the bounded scan finds the servers.
	ExtBuilder::default()
		.validators(vec![(V1, 1_000), (V2, 1_000), (V3, 1_000), (21, 900_000), (22, 900_000)])
		.servers(vec![V1, V2, V3])
		.build_and_execute(|| {
			let (_, mut drawn) = assigned_task(ALICE);
			drawn.sort();
			assert_eq!(drawn, vec![V1, V2, V3]);
		});
}

#[test]
fn draws_are_proportional_to_stake() {
	// Total stakes 1 : 2 : 3 : 4 (V1 also has DELEGATOR's 10,000).
	ExtBuilder::default()
		.validators(vec![(V1, 10_000), (V2, 40_000), (V3, 60_000), (V4, 80_000)])
		.build_and_execute(|| {
			// V1: 10,000 own + 10,000 delegated = 20,000.
			let servers = vec![V1, V2, V3, V4];
			let mut counts = BTreeMap::new();
			let draws = 20_000u32;
			for seed in 0..draws {
				let drawn =
					Pallet::<Test>::draw_executors(&servers, 1, &seed.to_le_bytes()).unwrap();
				*counts.entry(drawn[0]).or_insert(0u32) += 1;
			}
			let total = 200_000f64;
			for (v, stake) in [(V1, 20_000f64), (V2, 40_000.0), (V3, 60_000.0), (V4, 80_000.0)] {
				let expected = stake / total * f64::from(draws);
				let got = f64::from(counts[&v]);
				// Five standard deviations of a binomial: a wrong weighting fails, chance does
				// not (the seeds are fixed, so the test is deterministic anyway).
				let sigma = (expected * (1.0 - stake / total)).sqrt();
				assert!((got - expected).abs() < 5.0 * sigma, "{v}: {got} vs {expected}");
			}
		});
}

#[test]
fn draws_without_replacement_keep_stake_weights() {
	ExtBuilder::default()
		.validators(vec![(V1, 10_000), (V2, 40_000), (V3, 60_000), (V4, 80_000)])
		.build_and_execute(|| {
			let servers = vec![V1, V2, V3, V4];
			for seed in 0..500u32 {
				let drawn =
					Pallet::<Test>::draw_executors(&servers, 4, &seed.to_le_bytes()).unwrap();
				let mut sorted = drawn.clone();
				sorted.sort();
				assert_eq!(sorted, servers);
			}
			assert_eq!(Pallet::<Test>::draw_executors(&servers[..2], 3, b"seed"), None);
		});
}

#[test]
fn different_blocks_draw_different_executors() {
	ExtBuilder::default()
		.validators((0..8).map(|i| (20 + i, BOND)).collect())
		.servers((20..28).collect())
		.build_and_execute(|| {
			let mut sets = std::collections::BTreeSet::new();
			for _ in 0..10 {
				let (_, mut drawn) = assigned_task(ALICE);
				drawn.sort();
				sets.insert(drawn);
			}
			assert!(sets.len() > 1, "ten tasks, always the same executors");
		});
}

#[test]
fn missing_randomness_postpones_then_fails() {
	ExtBuilder::default().build_and_execute(|| {
		set_randomness(false);
		let task_id = request(ALICE);
		next_block();
		next_block();
		assert_eq!(Inference::task(task_id).unwrap().status, TaskStatus::Queued { assign_at: 3 });
		assert!(inference_events().contains(&Event::AssignmentPostponed { task_id }));
		set_randomness(true);
		next_block();
		assert_eq!(executors(task_id).len(), 3);

		set_randomness(false);
		let task_id = request(ALICE);
		for _ in 0..=MAX_ASSIGNMENT_DELAY + 1 {
			next_block();
		}
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoRandomness, .. }
		));
		// Task 0 meanwhile failed at its commit deadline: both refunded.
		assert_eq!(escrow(ALICE), 0);
		assert_eq!(free(ALICE), INITIAL);
	});
}
