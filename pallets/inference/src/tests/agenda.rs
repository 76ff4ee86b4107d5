//! The agenda: admission by weight, reservations given back, the backlog safety net, and a
//! saturation property test.

use super::Rng;
use crate::{
	agenda::SCHEDULE_PROBE, mock::*, Agenda, AgendaCursor, AgendaDraws, AgendaLoad, AgendaReserved,
	Config, DeclineReason, Error, Event, FailReason, TaskStatus, Tasks,
};
use frame_support::{
	assert_ok,
	traits::{fungible::Mutate, Get, OnFinalize, OnInitialize},
	weights::Weight,
};
use std::collections::BTreeMap;

type Pallet = crate::Pallet<Test>;

/// The blocks of a task requested in block 1 and assigned in block 2.
const ASSIGN: u64 = 2;
const COMMIT_DEADLINE: u64 = ASSIGN + COMMIT_PERIOD;
const REVEAL_DEADLINE: u64 = COMMIT_DEADLINE + REVEAL_PERIOD;
const EXPIRY: u64 = REVEAL_DEADLINE + RESULT_TTL;

fn load(at: u64) -> Weight {
	AgendaLoad::<Test>::get(at).weight
}

#[test]
fn a_request_reserves_every_item_it_causes_in_its_block() {
	ExtBuilder::default().build_and_execute(|| {
		let post = Inference::request_inference(
			RuntimeOrigin::signed(ALICE),
			MODEL,
			vec![1, 2, 3, 4],
			Balance::MAX,
			None,
		)
		.unwrap();
		let task = Inference::task(0).unwrap();
		assert_eq!(task.plan.assign_at, ASSIGN);
		assert_eq!(task.plan.commit_deadline, COMMIT_DEADLINE);
		assert_eq!(task.plan.reveal_deadline, REVEAL_DEADLINE);
		assert_eq!(task.plan.expires_at, EXPIRY);
		assert_eq!(task.servers, 4);
		assert_eq!(load(ASSIGN), Pallet::assign_reserve(3, 4));
		assert_eq!(load(COMMIT_DEADLINE), Pallet::commit_deadline_reserve(3));
		assert_eq!(load(REVEAL_DEADLINE), Pallet::reveal_deadline_reserve(3));
		assert_eq!(load(EXPIRY), Pallet::expire_reserve());
		for at in [ASSIGN, COMMIT_DEADLINE, REVEAL_DEADLINE, EXPIRY] {
			assert_eq!(AgendaLoad::<Test>::get(at).items, 1);
		}
		// The request's weight, and so its fee, covers what it reserved.
		let charged = post.actual_weight.unwrap();
		assert!(charged.all_gte(Pallet::task_reserve(3, 4)));
		assert_eq!(charged, Pallet::request_weight(4, 4, 3, 4));
	});
}

#[test]
fn a_full_block_agenda_moves_requests_to_a_later_block() {
	ExtBuilder::default().build_and_execute(|| {
		for _ in 0..MAX_AGENDA_ITEMS {
			let task_id = request(ALICE);
			assert_eq!(
				Inference::task(task_id).unwrap().status,
				TaskStatus::Queued { assign_at: ASSIGN }
			);
		}
		let task_id = request(ALICE);
		assert_eq!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Queued { assign_at: ASSIGN + 1 }
		);
		assert_eq!(Agenda::<Test>::get(ASSIGN).len(), MAX_AGENDA_ITEMS as usize);
		run_to_block(4);
		for task_id in 0..=MAX_AGENDA_ITEMS as u64 {
			assert_eq!(executors(task_id).len(), 3);
		}
	});
}

#[test]
fn the_weight_budget_moves_requests_before_the_item_count_does() {
	ExtBuilder::default().build_and_execute(|| {
		// Block 2 has room for two and a half assignments of redundancy 3, by weight.
		let assign = Pallet::assign_reserve(3, 4);
		let room = assign.saturating_mul(2).saturating_add(assign / 2);
		AgendaLoad::<Test>::mutate(ASSIGN, |load| {
			load.weight = Pallet::agenda_budget().saturating_sub(room)
		});
		let plans: Vec<u64> =
			(0..3).map(|_| Inference::task(request(ALICE)).unwrap().plan.assign_at).collect();
		assert_eq!(plans, vec![ASSIGN, ASSIGN, ASSIGN + 1]);
		assert_eq!(AgendaLoad::<Test>::get(ASSIGN).items, 2);
		assert!(AgendaLoad::<Test>::get(ASSIGN).weight.all_lte(Pallet::agenda_budget()));
	});
}

#[test]
fn requests_are_refused_when_the_agenda_is_full() {
	ExtBuilder::default().build_and_execute(|| {
		// Each request takes four blocks' room; the planning window is 17 blocks wide.
		let mut admitted = 0u32;
		let refused = loop {
			assert!(admitted <= MAX_AGENDA_ITEMS * 17, "the agenda must fill up");
			let free_before = free(BOB);
			match try_request(BOB, u64::MAX, None) {
				Ok(_) => admitted += 1,
				Err(refused) => {
					assert_eq!(free(BOB), free_before);
					break refused;
				},
			}
		};
		assert_eq!(refused.error, Error::<Test>::AgendaFull.into());
		// The refusal is charged the request and the loads it read.
		let charged = refused.post_info.actual_weight.unwrap();
		assert!(charged.all_lt(Pallet::request_weight(1, 4, 3, 0)));
		assert!(admitted >= MAX_AGENDA_ITEMS * 4, "admitted {admitted}");
		assert_eq!(
			try_request(ALICE, u64::MAX, None).map_err(|e| e.error),
			Err(Error::<Test>::AgendaFull.into())
		);
		// Once those blocks are past, requests fit again.
		run_to_block(EXPIRY + 2 * crate::agenda::SCHEDULE_PROBE as u64 + 2);
		assert_ok!(try_request(ALICE, u64::MAX, None));
	});
}

#[test]
fn a_task_that_ends_early_gives_back_its_reservations() {
	ExtBuilder::default().build_and_execute(|| {
		let stale = Pallet::stale_weight();
		// Cancelled before assignment: assignment and both deadlines go back to a stale read.
		let cancelled = request(ALICE);
		let (task_id, drawn) = assigned_task(BOB);
		assert_eq!(Inference::task(task_id).unwrap().plan.assign_at, ASSIGN);
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), cancelled));
		// The cancelled task's assignment was due in block 2, already processed; its deadlines
		// give their reservations back.
		assert_eq!(load(COMMIT_DEADLINE), Pallet::commit_deadline_reserve(3).saturating_add(stale));
		assert_eq!(load(REVEAL_DEADLINE), Pallet::reveal_deadline_reserve(3).saturating_add(stale));
		// All commits in: reveals open at once, and the commit deadline gives its part back.
		for v in &drawn {
			commit(task_id, *v, &logits(1));
		}
		assert_eq!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Revealing { reveal_deadline: REVEAL_DEADLINE }
		);
		assert_eq!(load(COMMIT_DEADLINE), stale.saturating_add(stale));
		for v in &drawn {
			reveal(task_id, *v, &logits(1));
		}
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		assert_eq!(load(REVEAL_DEADLINE), stale.saturating_add(stale));
		// The expiries stay.
		assert_eq!(load(EXPIRY), Pallet::expire_reserve().saturating_mul(2));
		run_to_block(EXPIRY + 1);
		assert!(!Tasks::<Test>::contains_key(task_id));
		assert!(!Tasks::<Test>::contains_key(cancelled));
	});
}

#[test]
fn a_decline_without_room_for_its_replacement_is_neither_replaced_nor_charged() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let next = System::block_number() + 1;
		AgendaLoad::<Test>::mutate(next, |load| load.weight = Pallet::agenda_budget());
		assert_ok!(Inference::decline(
			RuntimeOrigin::signed(drawn[0]),
			task_id,
			DeclineReason::Overloaded
		));
		System::assert_last_event(
			Event::TaskDeclined {
				task_id,
				executor: drawn[0],
				reason: DeclineReason::Overloaded,
				replaced: false,
			}
			.into(),
		);
		let info = pallet_inference_staking::Validators::<Test>::get(drawn[0]).unwrap();
		assert!(info.recent_faults.is_empty(), "a decline in time is not a fault");
		// Give the block its room back for the invariants.
		AgendaLoad::<Test>::mutate(next, |load| load.weight = Weight::zero());
	});
}

#[test]
fn weights_that_rose_after_admission_carry_work_over_to_the_next_block() {
	ExtBuilder::default().build_and_execute(|| {
		for _ in 0..MAX_AGENDA_ITEMS {
			request(ALICE);
		}
		// As if an older runtime had reserved for three assignments only.
		let three = Pallet::assign_reserve(3, 4).saturating_mul(3);
		AgendaLoad::<Test>::mutate(ASSIGN, |load| load.weight = three);
		next_block();
		// Block 2 processes three assignments, the other five wait.
		next_block();
		let assigned = |n: u64| (0..n).filter(|t| !executors(*t).is_empty()).count();
		assert_eq!(assigned(8), 3);
		assert_eq!(Agenda::<Test>::get(ASSIGN).len(), 5);
		assert_eq!(AgendaCursor::<Test>::get(), ASSIGN);
		// The lagging agenda reserves the whole budget in block 3 and catches up.
		assert_eq!(AgendaReserved::<Test>::get(), Some(<Test as Config>::AgendaWeight::get()));
		next_block();
		assert_eq!(assigned(8), 8);
		assert!(!Agenda::<Test>::contains_key(ASSIGN));
		// Caught up in block 3; block 4 has nothing due, so the cursor is already at 5.
		assert_eq!(AgendaCursor::<Test>::get(), 5);
		// A late assignment keeps its planned commit deadline.
		assert_eq!(
			Inference::task(7).unwrap().status,
			TaskStatus::Committing { commit_deadline: COMMIT_DEADLINE }
		);
	});
}

#[test]
fn a_late_commit_deadline_fails_the_task_and_slashes_nobody() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		// A quorum commits; the third executor is a no-show.
		commit(task_id, drawn[0], &logits(1));
		commit(task_id, drawn[1], &logits(1));
		// A backlog: the commit deadline's block has reserved nothing, so its item waits.
		AgendaLoad::<Test>::mutate(COMMIT_DEADLINE, |load| load.weight = Weight::zero());
		run_to_block(COMMIT_DEADLINE + 1);
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Committing { .. }));
		next_block();
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::AgendaFull, .. }
		));
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
		assert_eq!(free(ALICE), INITIAL);
	});
}

#[test]
fn idle_blocks_reserve_nothing_and_keep_the_cursor_current() {
	ExtBuilder::default().build_and_execute(|| {
		run_to_block(10);
		// Nothing was due in block 10: the cursor moved on to 11.
		assert_eq!(AgendaCursor::<Test>::get(), 11);
		let reserved = <Inference as OnInitialize<u64>>::on_initialize(10);
		assert!(reserved.all_lt(Pallet::max_item_weight()));
		request(ALICE);
		next_block();
		// Block 11 reserves its one assignment and the block overhead, not the whole budget.
		assert_eq!(
			AgendaReserved::<Test>::get(),
			Some(Pallet::assign_reserve(3, 4).saturating_add(Pallet::block_overhead_weight()))
		);
		next_block();
		assert!(!AgendaReserved::<Test>::exists());
	});
}

/// Random requests of random redundancy each block, more than the agenda admits, and executors
/// that commit, reveal, decline or stay silent at random, and requesters that cancel. Every
/// block reserves at most `AgendaWeight`, and every admitted item runs in the block it was
/// planned for: after each block its agenda is gone and the cursor is at the next one. The
/// budget is small enough that weight, not the item count, limits admission.
#[test]
fn under_saturation_every_admitted_item_runs_in_its_planned_block() {
	for seed in [3u64, 17, 2026] {
		ExtBuilder::default().build_and_execute(|| {
			set_agenda_budget(2);
			let budget = <Test as Config>::AgendaWeight::get();
			let mut rng = Rng(seed);
			let (mut admitted, mut refused, mut settled) = (0u32, 0u32, 0u32);
			let mut weight_bound = false;
			next_block();
			for _ in 0..400 {
				let now = System::block_number();
				if free(ALICE) < INITIAL / 2 {
					assert_ok!(<Balances as Mutate<AccountId>>::mint_into(&ALICE, INITIAL));
				}
				for _ in 0..rng.below(8) {
					let r = 1 + rng.below(4) as u8;
					match Inference::request_inference(
						RuntimeOrigin::signed(ALICE),
						MODEL,
						vec![1, 2, 3, 4],
						Balance::MAX,
						Some(r),
					) {
						Ok(_) => admitted += 1,
						Err(e) => {
							assert_eq!(e.error, Error::<Test>::AgendaFull.into());
							refused += 1;
						},
					}
				}
				for (task_id, task) in Tasks::<Test>::iter().collect::<Vec<_>>() {
					match task.status {
						TaskStatus::Queued { .. } if rng.chance(2) => {
							assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), task_id));
						},
						TaskStatus::Committing { commit_deadline } => {
							// Ends at the end of its deadline's block, where commits are refused.
							assert!(commit_deadline >= now, "commit phase past its deadline");
							if commit_deadline == now {
								continue;
							}
							for e in task.executors.iter().filter(|e| e.commitment.is_none()) {
								match rng.below(100) {
									0..=79 => commit(task_id, e.who, &logits(1)),
									80..=84 => {
										assert_ok!(Inference::decline(
											RuntimeOrigin::signed(e.who),
											task_id,
											DeclineReason::Overloaded
										));
									},
									_ => {},
								}
							}
						},
						TaskStatus::Revealing { reveal_deadline } => {
							assert!(reveal_deadline >= now, "reveal phase past its deadline");
							if reveal_deadline == now {
								continue;
							}
							for e in task.executors.iter() {
								if e.commitment.is_some() && e.revealed.is_none() && rng.chance(85)
								{
									reveal(task_id, e.who, &logits(1));
								}
							}
						},
						_ => {},
					}
				}
				for load in AgendaLoad::<Test>::iter_values() {
					weight_bound |= load.items < MAX_AGENDA_ITEMS
						&& Pallet::agenda_budget()
							.saturating_sub(load.weight)
							.all_lt(Pallet::max_item_weight());
				}
				<AllPalletsWithSystem as OnFinalize<u64>>::on_finalize(now);
				assert!(!Agenda::<Test>::contains_key(now), "block {now} left items behind");
				assert_eq!(AgendaCursor::<Test>::get(), now + 1);
				settled += inference_events()
					.iter()
					.filter(|e| matches!(e, Event::TaskSettled { .. }))
					.count() as u32;
				System::reset_events();
				System::set_block_number(now + 1);
				<AllPalletsWithSystem as OnInitialize<u64>>::on_initialize(now + 1);
				if let Some(reserved) = AgendaReserved::<Test>::get() {
					assert!(reserved.all_lte(budget), "block {} reserved over budget", now + 1);
				}
			}
			check_invariants();
			assert!(refused > 0, "seed {seed}: the run never saturated the agenda");
			assert!(
				admitted > 200 && settled > 100,
				"seed {seed}: {admitted} admitted, {settled} settled"
			);
			assert!(weight_bound, "seed {seed}: the item count, not weight, bound admission");
		});
	}
}

#[test]
fn a_postponed_assignment_without_room_fails_and_keeps_its_expiry_reserved() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		next_block();
		// Block 2: no randomness, and block 3 (where a new plan would assign) is full.
		set_randomness(false);
		AgendaLoad::<Test>::mutate(ASSIGN + 1, |load| load.weight = Pallet::agenda_budget());
		next_block();
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::AgendaFull, .. }
		));
		assert_eq!(free(ALICE), INITIAL);
		// The old plan's deadlines were given back once, and its expiry is still reserved.
		let stale = Pallet::stale_weight();
		assert_eq!(load(COMMIT_DEADLINE), stale);
		assert_eq!(load(REVEAL_DEADLINE), stale);
		assert_eq!(load(EXPIRY), Pallet::expire_reserve());
		AgendaLoad::<Test>::mutate(ASSIGN + 1, |load| load.weight = Weight::zero());
		set_randomness(true);
		run_to_block(EXPIRY + 1);
		assert!(!Tasks::<Test>::contains_key(task_id));
	});
}

#[test]
fn a_postponed_assignment_plans_anew_and_gives_back_the_old_plan() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request(ALICE);
		next_block();
		set_randomness(false);
		next_block();
		set_randomness(true);
		let plan = Inference::task(task_id).unwrap().plan;
		assert_eq!(plan.assign_at, ASSIGN + 1);
		assert_eq!(plan.commit_deadline, COMMIT_DEADLINE + 1);
		let stale = Pallet::stale_weight();
		assert_eq!(load(COMMIT_DEADLINE), stale);
		assert_eq!(load(REVEAL_DEADLINE), stale);
		assert_eq!(load(EXPIRY), stale);
		assert_eq!(load(COMMIT_DEADLINE + 1), Pallet::commit_deadline_reserve(3));
		next_block();
		assert_eq!(executors(task_id).len(), 3);
		assert_eq!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Committing { commit_deadline: COMMIT_DEADLINE + 1 }
		);
	});
}

#[test]
fn no_request_is_admitted_while_the_agenda_lags() {
	ExtBuilder::default().build_and_execute(|| {
		for _ in 0..MAX_AGENDA_ITEMS {
			request(ALICE);
		}
		let one = Pallet::assign_reserve(3, 4);
		AgendaLoad::<Test>::mutate(ASSIGN, |load| load.weight = one);
		run_to_block(ASSIGN + 1);
		assert_eq!(AgendaCursor::<Test>::get(), ASSIGN);
		assert_eq!(
			try_request(BOB, u64::MAX, None).map_err(|e| e.error),
			Err(Error::<Test>::AgendaFull.into())
		);
		// Caught up in block 3; block 4 has nothing due.
		next_block();
		assert_eq!(AgendaCursor::<Test>::get(), ASSIGN + 3);
		assert_ok!(try_request(BOB, u64::MAX, None));
	});
}

#[test]
fn a_block_draws_executors_for_at_most_max_draws_tasks_and_the_rest_queue() {
	ExtBuilder::default().build_and_execute(|| {
		set_max_draws(2);
		let tasks: Vec<u64> = (0..5).map(|_| request(ALICE)).collect();
		let assign_at: Vec<u64> =
			tasks.iter().map(|t| Inference::task(*t).unwrap().plan.assign_at).collect();
		assert_eq!(assign_at, vec![ASSIGN, ASSIGN, ASSIGN + 1, ASSIGN + 1, ASSIGN + 2]);
		assert_eq!(AgendaDraws::<Test>::get(ASSIGN), 2);
		assert_eq!(AgendaDraws::<Test>::get(ASSIGN + 2), 1);
		// A queued task's deadlines count from its own assignment: full periods for executors.
		let last = Inference::task(tasks[4]).unwrap().plan;
		assert_eq!(last.commit_deadline, ASSIGN + 2 + COMMIT_PERIOD);
		assert_eq!(last.reveal_deadline, ASSIGN + 2 + COMMIT_PERIOD + REVEAL_PERIOD);
		run_to_block(ASSIGN + 3);
		for task_id in &tasks {
			assert_eq!(executors(*task_id).len(), 3);
		}
		// Processed blocks leave no draw count behind.
		for at in ASSIGN..=ASSIGN + 2 {
			assert!(!AgendaDraws::<Test>::contains_key(at));
		}
	});
}

#[test]
fn past_the_queue_requests_are_refused_before_anything_is_held() {
	ExtBuilder::default().build_and_execute(|| {
		set_max_draws(1);
		let queued: Vec<u64> = (0..=SCHEDULE_PROBE).map(|_| request(ALICE)).collect();
		let last = Inference::task(*queued.last().unwrap()).unwrap().plan.assign_at;
		assert_eq!(last, ASSIGN + u64::from(SCHEDULE_PROBE));
		let before = free(ALICE);
		let refused = Inference::request_inference(
			RuntimeOrigin::signed(ALICE),
			MODEL,
			vec![1, 2, 3, 4],
			Balance::MAX,
			None,
		)
		.unwrap_err();
		assert_eq!(refused.error, Error::<Test>::AgendaFull.into());
		assert_eq!(free(ALICE), before, "nothing held for a refused request");
		assert!(!Tasks::<Test>::contains_key(queued.len() as u64));
	});
}

#[test]
fn a_task_cancelled_before_its_assignment_gives_its_draw_back() {
	ExtBuilder::default().build_and_execute(|| {
		set_max_draws(1);
		let first = request(ALICE);
		assert_eq!(AgendaDraws::<Test>::get(ASSIGN), 1);
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), first));
		assert!(!AgendaDraws::<Test>::contains_key(ASSIGN));
		let second = request(ALICE);
		assert_eq!(Inference::task(second).unwrap().plan.assign_at, ASSIGN);
	});
}

#[test]
fn a_decline_without_a_free_draw_next_block_is_neither_replaced_nor_charged() {
	ExtBuilder::default().build_and_execute(|| {
		// Commit period long enough that a decline right after assignment is in time.
		set_commit_period(REPLACEMENT_WINDOW + 3);
		set_max_draws(1);
		let task_id = request_with(ALICE, Some(3));
		run_to_block(ASSIGN + 1);
		let drawn = executors(task_id);
		// A request takes the next block's only draw.
		let other = request_with(ALICE, Some(3));
		assert_eq!(Inference::task(other).unwrap().plan.assign_at, ASSIGN + 2);
		assert_ok!(Inference::decline(
			RuntimeOrigin::signed(drawn[0]),
			task_id,
			DeclineReason::Overloaded
		));
		System::assert_has_event(
			Event::TaskDeclined {
				task_id,
				executor: drawn[0],
				reason: DeclineReason::Overloaded,
				replaced: false,
			}
			.into(),
		);
		assert_eq!(AgendaDraws::<Test>::get(ASSIGN + 2), 1);
		let info = pallet_inference_staking::Validators::<Test>::get(drawn[0]).unwrap();
		assert!(info.recent_faults.is_empty(), "a decline in time is not a fault");
	});
}

/// Requests of random redundancy flood the chain at up to four times what its draws admit,
/// and every drawn executor behaves as an honest node that runs `MaxDrawsPerBlock` tasks a
/// block at most: it commits and reveals its tasks in the order it was given them, at most
/// that many new ones per block. Load never overloads it: no validator is drawn for more
/// than `MaxDrawsPerBlock` tasks in a block, every admitted task settles, and nobody is
/// slashed, jailed or charged a fault. What does not fit queues, or is refused.
#[test]
fn under_a_flood_no_validator_is_drawn_past_its_capacity_and_every_task_settles() {
	for seed in [5u64, 41, 2027] {
		ExtBuilder::default().build_and_execute(|| {
			const CAP: u32 = 2;
			set_max_draws(CAP);
			let mut rng = Rng(seed);
			let (mut admitted, mut refused) = (0u32, 0u32);
			let mut queued_later = false;
			// Per validator: tasks drawn for it and not yet committed, oldest first.
			let mut backlog: BTreeMap<AccountId, Vec<u64>> = BTreeMap::new();
			next_block();
			for _ in 0..150 {
				let now = System::block_number();
				if free(ALICE) < INITIAL / 2 {
					assert_ok!(<Balances as Mutate<AccountId>>::mint_into(&ALICE, INITIAL));
				}
				// Stop requesting for the last blocks so that everything admitted ends.
				let offered = if now < 120 { rng.below(u64::from(4 * CAP) + 1) } else { 0 };
				for _ in 0..offered {
					let r = 1 + rng.below(4) as u8;
					match Inference::request_inference(
						RuntimeOrigin::signed(ALICE),
						MODEL,
						vec![1, 2, 3, 4],
						Balance::MAX,
						Some(r),
					) {
						Ok(_) => {
							admitted += 1;
							let plan = Inference::task(u64::from(admitted) - 1).map(|t| t.plan);
							queued_later |= plan.is_some_and(|p| p.assign_at > now + 1);
						},
						Err(e) => {
							assert_eq!(e.error, Error::<Test>::AgendaFull.into());
							refused += 1;
						},
					}
				}
				// Each node commits at most CAP of its tasks a block, oldest first, and
				// reveals whatever it committed.
				for (_, tasks) in backlog.iter_mut() {
					tasks.retain(|t| {
						matches!(
							Inference::task(*t).map(|t| t.status),
							Some(TaskStatus::Committing { .. })
						)
					});
				}
				for (who, tasks) in backlog.iter_mut() {
					let take = tasks.len().min(CAP as usize);
					for task_id in tasks.drain(..take) {
						commit(task_id, *who, &logits(1));
					}
				}
				for (task_id, task) in Tasks::<Test>::iter().collect::<Vec<_>>() {
					if let TaskStatus::Revealing { .. } = task.status {
						for e in task.executors.iter() {
							if e.commitment.is_some() && e.revealed.is_none() {
								reveal(task_id, e.who, &logits(1));
							}
						}
					}
				}
				assert!(AgendaDraws::<Test>::get(now) <= CAP);
				<AllPalletsWithSystem as OnFinalize<u64>>::on_finalize(now);
				// What this block drew, per validator.
				let mut drawn: BTreeMap<AccountId, u32> = BTreeMap::new();
				for event in System::events() {
					match event.event {
						RuntimeEvent::Inference(Event::TaskAssigned {
							task_id, executors, ..
						}) => {
							for who in executors {
								*drawn.entry(who).or_default() += 1;
								backlog.entry(who).or_default().push(task_id);
							}
						},
						RuntimeEvent::Inference(Event::ExecutorReplaced {
							task_id,
							executor,
							..
						}) => {
							*drawn.entry(executor).or_default() += 1;
							backlog.entry(executor).or_default().push(task_id);
						},
						RuntimeEvent::Inference(
							Event::ExecutorSlashed { .. } | Event::TaskFailed { .. },
						)
						| RuntimeEvent::Staking(pallet_inference_staking::Event::Jailed {
							..
						}) => {
							panic!("seed {seed}, block {now}: load caused {:?}", event.event)
						},
						_ => {},
					}
				}
				for (who, n) in drawn {
					assert!(
						n <= CAP,
						"seed {seed}: validator {who} drawn for {n} tasks in block {now}"
					);
				}
				System::reset_events();
				System::set_block_number(now + 1);
				<AllPalletsWithSystem as OnInitialize<u64>>::on_initialize(now + 1);
			}
			check_invariants();
			assert!(refused > 0 && queued_later, "seed {seed}: the run never saturated the draws");
			assert!(admitted > 150, "seed {seed}: {admitted} admitted");
			for task_id in 0..u64::from(admitted) {
				if let Some(task) = Inference::task(task_id) {
					assert!(
						matches!(task.status, TaskStatus::Settled { .. }),
						"seed {seed}: task {task_id} ended {:?}",
						task.status
					);
				}
			}
			for who in [V1, V2, V3, V4] {
				let info = pallet_inference_staking::Validators::<Test>::get(who).unwrap();
				assert!(info.recent_faults.is_empty(), "seed {seed}: {who} charged a fault");
			}
		});
	}
}

#[test]
fn the_upgrade_to_v1_counts_the_draws_already_planned() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	ExtBuilder::default().build_and_execute(|| {
		set_max_draws(4);
		// Assignments planned in blocks 2 and 3 (four and one), one replacement in block 4.
		let tasks: Vec<u64> = (0..5).map(|_| request(ALICE)).collect();
		run_to_block(3);
		let drawn = executors(tasks[0]);
		assert_ok!(Inference::decline(
			RuntimeOrigin::signed(drawn[0]),
			tasks[0],
			DeclineReason::Overloaded
		));
		let planned: Vec<(u64, u32)> = AgendaDraws::<Test>::iter().collect();
		assert_eq!(
			{
				let mut p = planned.clone();
				p.sort();
				p
			},
			vec![(3, 1), (4, 1)]
		);
		// As a chain of version 0 has it: no draw counted.
		let _ = AgendaDraws::<Test>::clear(u32::MAX, None);
		StorageVersion::new(0).put::<Pallet>();
		crate::migrations::V0ToV1::<Test>::on_runtime_upgrade();
		let mut counted: Vec<(u64, u32)> = AgendaDraws::<Test>::iter().collect();
		counted.sort();
		assert_eq!(counted, vec![(3, 1), (4, 1)]);
		assert_eq!(Pallet::on_chain_storage_version(), StorageVersion::new(1));
		// Versioned: a second run changes nothing.
		AgendaDraws::<Test>::remove(4);
		crate::migrations::V0ToV1::<Test>::on_runtime_upgrade();
		assert!(!AgendaDraws::<Test>::contains_key(4));
		AgendaDraws::<Test>::insert(4, 1);
		check_invariants();
	});
}
