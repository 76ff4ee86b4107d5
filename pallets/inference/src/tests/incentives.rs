//! Property test of the incentives over long random runs: honest validators are never slashed,
//! faulty ones are slashed for every fault window they offend in but at most the largest slash
//! per offence span, and no money is created or lost.
//!
//! Each run is 10,000 random steps. Agents act in every block:
//! - V1 and V2 are honest: they commit the right outcome as soon as they are drawn (the output
//!   for a runnable input, the model's rejection for an input it refuses) and reveal as soon as
//!   reveals open;
//! - V3 and V4 are faulty, each in its own way (no collusion: their wrong answers differ): they
//!   commit a wrong class, or nothing, and withhold reveals, at random;
//! - any of them sometimes declines a task before committing (a replacement is then drawn).
//!
//! Steps: requests with runnable inputs, with inputs the model refuses (settled `Rejected`), with
//! inputs the chain refuses (not UTF-8); cancellations; delegations and undelegations; chilling
//! and re-activating the faulty validators; commission changes; blocks passing. The agenda of the
//! mock is small, so requests also meet `AgendaFull`.

use super::Rng;
use crate::{mock::*, Event, OffenceSpans, TaskStatus, Tasks};
use frame_support::traits::fungible::Inspect;
use opg_primitives::{
	inference::{encode_output, Rejection, TaskOutcome},
	staking::SlashReason,
};
use sp_runtime::Perbill;
use std::collections::BTreeMap;

const HONEST: [AccountId; 2] = [V1, V2];
const FAULTY: [AccountId; 2] = [V3, V4];
/// An input the mock model refuses (its executors reject it with `TooManyTokens`).
const REFUSED_PREFIX: u8 = b'X';

/// What each executor committed to, to reveal it later.
type Committed = BTreeMap<(u64, AccountId), TaskOutcome<Vec<u8>>>;

fn right_outcome(task_id: u64) -> TaskOutcome<Vec<u8>> {
	let input = Inference::task_input(task_id).unwrap_or_default();
	if input.first() == Some(&REFUSED_PREFIX) {
		TaskOutcome::Rejected(Rejection::TooManyTokens)
	} else {
		TaskOutcome::Output(encode_output(&logits(1)))
	}
}

fn digest_of(task_id: u64, outcome: &TaskOutcome<Vec<u8>>) -> sp_core::H256 {
	let rule = Inference::task(task_id).unwrap().comparison;
	outcome.digest(&rule).unwrap()
}

/// Every agent does what it does in this block.
fn agents_act(rng: &mut Rng, committed: &mut Committed) {
	let open: Vec<(u64, crate::TaskInfoOf<Test>)> =
		Tasks::<Test>::iter().filter(|(_, t)| t.status.is_open()).collect();
	for (task_id, task) in open {
		for executor in task.executors.iter() {
			let who = executor.who;
			let honest = HONEST.contains(&who);
			match task.status {
				TaskStatus::Committing { commit_deadline }
					if executor.commitment.is_none()
						&& System::block_number() < commit_deadline =>
				{
					if rng.chance(5) {
						// Its node lacks the files or is overloaded, honest or not: it declines
						// (and a replacement may be drawn), and is never charged for it.
						frame_support::assert_ok!(Inference::decline(
							RuntimeOrigin::signed(who),
							task_id,
							crate::DeclineReason::Overloaded
						));
						continue;
					}
					let outcome = if honest {
						right_outcome(task_id)
					} else {
						match rng.below(4) {
							// No-show this block (it may still commit later, or never).
							0 | 1 => continue,
							// A wrong class of its own: V3 says 2, V4 says 3.
							2 => TaskOutcome::Output(encode_output(&logits(if who == V3 {
								2
							} else {
								3
							}))),
							_ => right_outcome(task_id),
						}
					};
					let c = opg_primitives::inference::commitment(
						&digest_of(task_id, &outcome),
						&salt_of(who),
						&who,
					);
					frame_support::assert_ok!(Inference::commit_result(
						RuntimeOrigin::signed(who),
						task_id,
						c
					));
					committed.insert((task_id, who), outcome);
				},
				TaskStatus::Revealing { reveal_deadline }
					if executor.commitment.is_some()
						&& executor.revealed.is_none()
						&& System::block_number() < reveal_deadline =>
				{
					if !honest && rng.chance(30) {
						continue; // withholds, this block
					}
					let outcome = committed[&(task_id, who)].clone();
					frame_support::assert_ok!(Inference::reveal_result(
						RuntimeOrigin::signed(who),
						task_id,
						outcome,
						salt_of(who)
					));
					// The last reveal settles and may end the task: re-read before going on.
					if !Inference::task(task_id).is_some_and(|t| t.status.is_open()) {
						break;
					}
				},
				_ => {},
			}
		}
	}
}

fn step(rng: &mut Rng, committed: &mut Committed) {
	let requesters = [ALICE, BOB];
	match rng.below(20) {
		0..=4 => {
			let who = requesters[rng.below(2) as usize];
			let redundancy = Some(1 + rng.below(4) as u8);
			let _ = Inference::request_inference(
				RuntimeOrigin::signed(who),
				MODEL,
				vec![b'a'; 1 + rng.below(8) as usize],
				u64::MAX,
				redundancy,
			);
		},
		5 => {
			let who = requesters[rng.below(2) as usize];
			let _ = Inference::request_inference(
				RuntimeOrigin::signed(who),
				MODEL,
				vec![REFUSED_PREFIX, b'y'],
				u64::MAX,
				None,
			);
		},
		6 => {
			let refused = Inference::request_inference(
				RuntimeOrigin::signed(ALICE),
				MODEL,
				vec![0xff, 0xfe],
				u64::MAX,
				None,
			);
			assert!(refused.is_err(), "non-UTF-8 text is refused at request");
		},
		7 => {
			let open: Vec<u64> = Tasks::<Test>::iter()
				.filter(|(_, t)| t.status.is_open())
				.map(|(id, _)| id)
				.collect();
			if let Some(task_id) = open.get(rng.below(open.len().max(1) as u64) as usize) {
				let requester = Inference::task(*task_id).unwrap().requester;
				let _ = Inference::cancel(RuntimeOrigin::signed(requester), *task_id);
			}
		},
		8 => {
			let to = [V1, V2, V3, V4][rng.below(4) as usize];
			let _ = Staking::delegate(RuntimeOrigin::signed(DELEGATOR), to, 100 + rng.below(1_000));
		},
		9 => {
			let from = [V1, V2, V3, V4][rng.below(4) as usize];
			let _ = Staking::undelegate(RuntimeOrigin::signed(DELEGATOR), from, 100);
		},
		10 => {
			let who = FAULTY[rng.below(2) as usize];
			if rng.chance(50) {
				let _ = Staking::chill(RuntimeOrigin::signed(who));
			} else {
				let _ = Staking::activate(RuntimeOrigin::signed(who));
			}
		},
		11 => {
			let who = [V1, V2, V3, V4][rng.below(4) as usize];
			let _ = Staking::set_commission(
				RuntimeOrigin::signed(who),
				Perbill::from_percent(rng.below(30) as u32),
			);
		},
		_ => {
			for _ in 0..1 + rng.below(3) {
				next_block();
				agents_act(rng, committed);
			}
		},
	}
}

/// What the checks remember between steps.
#[derive(Default)]
struct Watch {
	/// Per faulty validator: its span's start, the most it had at stake during the span, and
	/// what was slashed in the span.
	spans: BTreeMap<AccountId, (BlockNumber, Balance, Balance)>,
	stakes: BTreeMap<AccountId, Balance>,
	faults: u32,
	slashes: u32,
	declines: u32,
	replacements: u32,
}

/// Everything a slash of `validator` cuts: its active pool and its unbonding pool.
fn at_stake(validator: AccountId) -> Balance {
	pallet_inference_staking::Pools::<Test>::get(validator)
		.map_or(0, |pool| pool.active.value + pool.unbonding.value)
}

fn check(issuance: Balance, watch: &mut Watch) {
	assert_eq!(Balances::total_issuance(), issuance, "funds created or destroyed");
	// Events are read once, then dropped, so that a long run stays linear.
	let events = inference_events();
	System::reset_events();
	let mut slashed_now: BTreeMap<AccountId, Balance> = BTreeMap::new();
	for event in &events {
		match event {
			Event::ExecutorSlashed { executor, amount, reason, .. } => {
				assert!(!HONEST.contains(executor), "honest {executor} slashed for {reason:?}");
				let span =
					OffenceSpans::<Test>::get(executor).expect("a slash opens or is in a span");
				let before = watch.stakes[executor];
				let entry = watch.spans.entry(*executor).or_insert((span.start, before, 0));
				if entry.0 != span.start {
					*entry = (span.start, before, 0);
				}
				entry.2 += amount;
				*slashed_now.entry(*executor).or_default() += amount;
				watch.slashes += 1;
				watch.faults += 1;
			},
			Event::OffenceCovered { executor, reason, .. } => {
				assert!(!HONEST.contains(executor), "honest {executor} charged for {reason:?}");
				assert!(matches!(
					reason,
					SlashReason::NoShow | SlashReason::Mismatch | SlashReason::Withheld
				));
				watch.faults += 1;
			},
			Event::TaskDeclined { .. } => watch.declines += 1,
			Event::ExecutorReplaced { .. } => watch.replacements += 1,
			_ => {},
		}
	}
	// At most the largest slash per span: `MismatchSlash` of what the validator had at stake
	// when the span started plus whatever joined it during the span (a later, larger fault takes
	// its share of the newcomers' stake too), to rounding (each of at most two slashes a span
	// applies rounds up on two pools).
	for (who, (_, peak, slashed)) in watch.spans.iter_mut() {
		let now = at_stake(*who) + slashed_now.get(who).copied().unwrap_or(0);
		*peak += now.saturating_sub(watch.stakes[who]);
		assert!(
			*slashed <= MISMATCH_SLASH.mul_ceil(*peak) + 4,
			"{who} lost {slashed} in one span, above the largest slash of its stake {peak}"
		);
	}
	for v in [V1, V2, V3, V4] {
		watch.stakes.insert(v, at_stake(v));
	}
}

fn run(seed: u64, steps: u32) -> Watch {
	let mut watch = Watch::default();
	ExtBuilder::default().build_and_execute(|| {
		let issuance = Balances::total_issuance();
		let mut rng = Rng(seed);
		let mut committed = Committed::new();
		check(issuance, &mut watch);
		for i in 0..steps {
			step(&mut rng, &mut committed);
			check(issuance, &mut watch);
			if i % 250 == 0 {
				check_invariants();
			}
		}
		// Let every task end.
		for _ in 0..(COMMIT_PERIOD + REVEAL_PERIOD + RESULT_TTL + 5) {
			next_block();
			agents_act(&mut rng, &mut committed);
		}
		check(issuance, &mut watch);
		assert_eq!(escrow(ALICE) + escrow(BOB), 0);
		for (_, task) in Tasks::<Test>::iter() {
			assert!(!task.status.is_open());
		}
		let _ = Balances::total_balance(&ALICE);
	});
	watch
}

#[test]
fn honest_validators_are_never_slashed_and_faulty_ones_at_most_once_per_span() {
	for seed in [0x9E37_79B9_7F4A_7C15, 42, 7] {
		let watch = run(seed, 10_000);
		// The run exercised what it claims to: faults were made, some slashed, some covered.
		assert!(watch.slashes > 10, "seed {seed}: only {} slashes", watch.slashes);
		assert!(watch.faults > watch.slashes, "seed {seed}: no fault was covered by a span");
		assert!(watch.declines > 10, "seed {seed}: only {} declines", watch.declines);
		assert!(watch.replacements > 0, "seed {seed}: no replacement drawn");
	}
}
