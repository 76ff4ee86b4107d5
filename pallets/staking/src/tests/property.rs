//! Property test: random sequences of staking operations against a reference model.
//!
//! The model knows nothing of shares, pools or rounding: it keeps every position and chunk as an
//! exact (floating-point) amount, multiplies the ones of a slashed validator by `1 - fraction`,
//! and splits each reward after commission in proportion to the amounts. It does mirror the
//! pallet's *lazy* realisation: what is held for a position only drops to its value when the
//! position is touched (its owner's calls, or a slash for a validator's own bond).
//!
//! After every step it checks:
//! - `try_state` (holds equal ledgers, pools add up, sampling tree, reward pot);
//! - for every account, free balance and free + held equal the model's, up to a rounding
//!   tolerance of 2 units per event that touched a pool the account is exposed to (amounts are in
//!   the thousands to millions, so any real bug, e.g. a chunk that escapes a slash, shows);
//! - nothing withdrawn or claimed exceeds what the model says is owed (same tolerance);
//! - total issuance changes exactly by the rewards minted minus what the slash handler burnt, and
//!   all accounts' balances add up to it.

use super::*;
use crate::{Delegations, Event, Pools, Validators};
use core::sync::atomic::{AtomicU64, Ordering};
use frame_support::dispatch::PostDispatchInfo;
use frame_support::traits::fungible::Inspect;
use proptest::{
	prelude::*,
	test_runner::{Config, TestCaseError, TestRunner},
};
use sp_runtime::{DispatchError, DispatchErrorWithPostInfo};
use std::collections::BTreeMap;

const VALIDATORS: [AccountId; 3] = [1, 2, 3];
const COMMISSIONS: [u32; 3] = [0, 10, 33];
const DELEGATORS: [AccountId; 5] = [10, 11, 12, 13, 14];
const FUNDS: Balance = 10_000_000;
const VALIDATOR_BOND: Balance = 200_000;
const CASES: u32 = 100;
const STEPS: usize = 120;

static STEPS_RUN: AtomicU64 = AtomicU64::new(0);
/// Operations the pallet rejected (with an allowed error), to show the test is not vacuous.
static REJECTED: AtomicU64 = AtomicU64::new(0);

fn accounts() -> impl Iterator<Item = AccountId> {
	VALIDATORS.into_iter().chain(DELEGATORS)
}

fn account(index: usize) -> AccountId {
	accounts().nth(index % (VALIDATORS.len() + DELEGATORS.len())).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
	Delegate { who: usize, validator: usize, amount: Balance },
	Undelegate { who: usize, validator: usize, amount: Balance },
	Withdraw { who: usize },
	Claim { who: usize, validator: usize },
	Reward { validator: usize, amount: Balance },
	Slash { validator: usize, parts: u32 },
	BondExtra { validator: usize, amount: Balance },
	Unbond { validator: usize, amount: Balance },
	Advance { blocks: u64 },
}

fn op() -> impl Strategy<Value = Op> {
	let who = 0..VALIDATORS.len() + DELEGATORS.len();
	let validator = 0..VALIDATORS.len();
	prop_oneof![
		4 => (who.clone(), validator.clone(), MIN_DELEGATION..400_000u64)
			.prop_map(|(who, validator, amount)| Op::Delegate { who, validator, amount }),
		3 => (who.clone(), validator.clone(), 1..500_000u64)
			.prop_map(|(who, validator, amount)| Op::Undelegate { who, validator, amount }),
		2 => who.clone().prop_map(|who| Op::Withdraw { who }),
		2 => (who, validator.clone())
			.prop_map(|(who, validator)| Op::Claim { who, validator }),
		3 => (validator.clone(), 0..60_000u64)
			.prop_map(|(validator, amount)| Op::Reward { validator, amount }),
		2 => (validator.clone(), prop_oneof![
				9 => 1_000_000u32..300_000_000,
				1 => Just(1_000_000_000u32),
			])
			.prop_map(|(validator, parts)| Op::Slash { validator, parts }),
		1 => (validator.clone(), 1..200_000u64)
			.prop_map(|(validator, amount)| Op::BondExtra { validator, amount }),
		1 => (validator, 1..300_000u64)
			.prop_map(|(validator, amount)| Op::Unbond { validator, amount }),
		2 => (1..2 * UNBONDING_PERIOD).prop_map(|blocks| Op::Advance { blocks }),
	]
}

#[derive(Default, Clone, Debug)]
struct Position {
	/// What the position is worth.
	value: f64,
	/// What is held for it (its value when last touched).
	held: f64,
	/// Rewards owed, not yet paid.
	unclaimed: f64,
}

#[derive(Clone, Debug)]
struct Chunk {
	owner: AccountId,
	validator: AccountId,
	value: f64,
	held: f64,
	unlock_at: BlockNumber,
}

#[derive(Default, Debug)]
struct Model {
	free: BTreeMap<AccountId, f64>,
	/// `(owner, validator)`; a validator's own bond is `(validator, validator)`.
	positions: BTreeMap<(AccountId, AccountId), Position>,
	chunks: Vec<Chunk>,
	tolerance: BTreeMap<AccountId, f64>,
	minted: Balance,
}

impl Model {
	fn new() -> Self {
		let mut model = Model::default();
		for who in accounts() {
			model.free.insert(who, FUNDS as f64);
			model.tolerance.insert(who, 2.0);
		}
		for v in VALIDATORS {
			*model.free.get_mut(&v).unwrap() -= VALIDATOR_BOND as f64;
			let bond = VALIDATOR_BOND as f64;
			model.positions.insert((v, v), Position { value: bond, held: bond, unclaimed: 0.0 });
		}
		model
	}

	/// Widens the tolerance of everyone exposed to `validator`'s pools, and of `actor`.
	fn event(&mut self, validator: AccountId, actor: AccountId) {
		let mut exposed: Vec<AccountId> = self
			.positions
			.keys()
			.filter(|(_, v)| *v == validator)
			.map(|(who, _)| *who)
			.chain(self.chunks.iter().filter(|c| c.validator == validator).map(|c| c.owner))
			.collect();
		exposed.push(actor);
		exposed.sort();
		exposed.dedup();
		for who in exposed {
			*self.tolerance.get_mut(&who).unwrap() += 2.0;
		}
	}

	fn touch(&mut self, who: AccountId, validator: AccountId) -> &mut Position {
		let position = self.positions.entry((who, validator)).or_default();
		position.held = position.value;
		position
	}

	fn held(&self, who: AccountId) -> f64 {
		self.positions.iter().filter(|((w, _), _)| *w == who).map(|(_, p)| p.held).sum::<f64>()
			+ self.chunks.iter().filter(|c| c.owner == who).map(|c| c.held).sum::<f64>()
	}

	fn tol(&self, who: AccountId) -> f64 {
		self.tolerance[&who]
	}
}

/// The last event of this pallet.
fn last_event() -> Option<Event<Test>> {
	staking_events().pop()
}

/// Errors each operation may legitimately fail with; anything else is a bug.
fn allowed(op: &Op, error: impl Into<DispatchErrorWithPostInfo<PostDispatchInfo>>) -> bool {
	let allowed: &[&str] = match op {
		Op::Delegate { .. } => &["SelfDelegation", "InsufficientBalance", "TooManyDelegations"],
		Op::Undelegate { .. } => {
			&["NotDelegated", "BelowMinimum", "TooManyUnbondingChunks", "ShareRounding"]
		},
		Op::Withdraw { .. } => &["NothingToWithdraw"],
		Op::Claim { .. } => &["NotDelegated", "NoRewards"],
		Op::BondExtra { .. } => &["InsufficientBalance"],
		Op::Unbond { .. } => &["BelowMinimum", "TooManyUnbondingChunks", "ShareRounding"],
		Op::Reward { .. } | Op::Slash { .. } | Op::Advance { .. } => &[],
	};
	match error.into().error {
		DispatchError::Module(e) => e.message.is_some_and(|m| allowed.contains(&m)),
		_ => false,
	}
}

fn check(model: &Model, initial_issuance: Balance, step: usize) -> Result<(), TestCaseError> {
	Staking::do_try_state()
		.map_err(|e| TestCaseError::fail(format!("step {step}: try_state: {e:?}")))?;
	let issuance = Balances::total_issuance();
	prop_assert_eq!(
		issuance,
		initial_issuance + model.minted - slashed_total(),
		"step {}: issuance moved by something else than rewards and slashes",
		step
	);
	let everything: Balance =
		frame_system::Account::<Test>::iter_keys().map(|who| Balances::total_balance(&who)).sum();
	prop_assert_eq!(everything, issuance, "step {}: balances do not add up to issuance", step);
	for who in accounts() {
		let tol = model.tol(who) + 1e-6;
		let free = free(who) as f64;
		let total = free + held(who) as f64;
		let model_free = model.free[&who];
		let model_total = model_free + model.held(who);
		prop_assert!(
			(free - model_free).abs() <= tol,
			"step {}: account {} free {} but model {} (tolerance {})",
			step,
			who,
			free,
			model_free,
			tol
		);
		prop_assert!(
			(total - model_total).abs() <= tol,
			"step {}: account {} free + held {} but model {} (tolerance {})",
			step,
			who,
			total,
			model_total,
			tol
		);
	}
	Ok(())
}

fn apply(model: &mut Model, op: &Op, step: usize) -> Result<(), TestCaseError> {
	let now = System::block_number();
	match *op {
		Op::Delegate { who, validator, amount } => {
			let (who, v) = (account(who), VALIDATORS[validator]);
			match Staking::delegate(RuntimeOrigin::signed(who), v, amount) {
				Ok(()) => {
					model.event(v, who);
					let position = model.touch(who, v);
					position.value += amount as f64;
					position.held += amount as f64;
					*model.free.get_mut(&who).unwrap() -= amount as f64;
				},
				Err(e) => {
					REJECTED.fetch_add(1, Ordering::Relaxed);
					prop_assert!(allowed(op, e), "step {step}: {op:?} failed: {e:?}")
				},
			}
		},
		Op::Undelegate { who, validator, amount } => {
			let (who, v) = (account(who), VALIDATORS[validator]);
			match Staking::undelegate(RuntimeOrigin::signed(who), v, amount) {
				Ok(_) => {
					let Some(Event::Undelegated { amount: taken, .. }) = last_event() else {
						return Err(TestCaseError::fail(format!("step {step}: no Undelegated")));
					};
					model.event(v, who);
					let closed = !Delegations::<Test>::contains_key(who, v);
					let position = model.touch(who, v).clone();
					let chunk = if closed {
						model.positions.remove(&(who, v));
						*model.free.get_mut(&who).unwrap() += position.unclaimed;
						position.value
					} else {
						let position = model.positions.get_mut(&(who, v)).unwrap();
						position.value -= taken as f64;
						position.held -= taken as f64;
						taken as f64
					};
					model.chunks.push(Chunk {
						owner: who,
						validator: v,
						value: chunk,
						held: chunk,
						unlock_at: now + UNBONDING_PERIOD,
					});
				},
				Err(e) => {
					REJECTED.fetch_add(1, Ordering::Relaxed);
					prop_assert!(allowed(op, e), "step {step}: {op:?} failed: {e:?}")
				},
			}
		},
		Op::Unbond { validator, amount } => {
			let v = VALIDATORS[validator];
			match Staking::unbond(RuntimeOrigin::signed(v), amount) {
				Ok(_) => {
					let taken = match last_event() {
						Some(Event::Unbonded { amount, .. }) => amount,
						_ => 0,
					};
					model.event(v, v);
					let emptied = Validators::<Test>::get(v).unwrap().self_stake.principal == 0;
					let position = model.touch(v, v);
					let chunk = if emptied { position.value } else { taken as f64 };
					position.value -= chunk;
					position.held -= chunk;
					model.chunks.push(Chunk {
						owner: v,
						validator: v,
						value: chunk,
						held: chunk,
						unlock_at: now + UNBONDING_PERIOD,
					});
				},
				Err(e) => {
					REJECTED.fetch_add(1, Ordering::Relaxed);
					prop_assert!(allowed(op, e), "step {step}: {op:?} failed: {e:?}")
				},
			}
		},
		Op::BondExtra { validator, amount } => {
			let v = VALIDATORS[validator];
			match Staking::bond_extra(RuntimeOrigin::signed(v), amount) {
				Ok(()) => {
					model.event(v, v);
					let position = model.touch(v, v);
					position.value += amount as f64;
					position.held += amount as f64;
					*model.free.get_mut(&v).unwrap() -= amount as f64;
				},
				Err(e) => {
					REJECTED.fetch_add(1, Ordering::Relaxed);
					prop_assert!(allowed(op, e), "step {step}: {op:?} failed: {e:?}")
				},
			}
		},
		Op::Withdraw { who } => {
			let who = account(who);
			match Staking::withdraw_unbonded(RuntimeOrigin::signed(who)) {
				Ok(_) => {
					let Some(Event::Withdrawn { amount, .. }) = last_event() else {
						return Err(TestCaseError::fail(format!("step {step}: no Withdrawn")));
					};
					let (mature, rest): (Vec<_>, Vec<_>) =
						model.chunks.drain(..).partition(|c| c.owner == who && c.unlock_at <= now);
					model.chunks = rest;
					let owed: f64 = mature.iter().map(|c| c.value).sum();
					for chunk in &mature {
						model.event(chunk.validator, who);
					}
					prop_assert!(
						amount as f64 <= owed + model.tol(who),
						"step {step}: {who} withdrew {amount}, owed {owed}"
					);
					*model.free.get_mut(&who).unwrap() += owed;
				},
				Err(e) => {
					REJECTED.fetch_add(1, Ordering::Relaxed);
					prop_assert!(allowed(op, e), "step {step}: {op:?} failed: {e:?}")
				},
			}
		},
		Op::Claim { who, validator } => {
			let (who, v) = (account(who), VALIDATORS[validator]);
			match Staking::claim_rewards(RuntimeOrigin::signed(who), v) {
				Ok(()) => {
					let Some(Event::RewardsClaimed { amount, .. }) = last_event() else {
						return Err(TestCaseError::fail(format!("step {step}: no RewardsClaimed")));
					};
					model.event(v, who);
					let tol = model.tol(who);
					let position = model.touch(who, v);
					let owed = core::mem::take(&mut position.unclaimed);
					prop_assert!(
						amount as f64 <= owed + tol,
						"step {step}: {who} claimed {amount}, owed {owed}"
					);
					*model.free.get_mut(&who).unwrap() += owed;
				},
				Err(e) => {
					REJECTED.fetch_add(1, Ordering::Relaxed);
					prop_assert!(allowed(op, e), "step {step}: {op:?} failed: {e:?}")
				},
			}
		},
		Op::Reward { validator, amount } => {
			let v = VALIDATORS[validator];
			let no_shares = Pools::<Test>::get(v).unwrap().active.shares == 0;
			match reward(v, amount) {
				Ok(()) => {
					model.minted += amount;
					model.event(v, v);
					let commission = if no_shares {
						amount
					} else {
						Perbill::from_percent(COMMISSIONS[validator]).mul_floor(amount)
					};
					let part = (amount - commission) as f64;
					let total: f64 = model
						.positions
						.iter()
						.filter(|((_, pv), _)| *pv == v)
						.map(|(_, p)| p.value)
						.sum();
					let own = model.positions.entry((v, v)).or_default();
					own.unclaimed += commission as f64;
					if total > 0.0 {
						for ((_, pv), position) in model.positions.iter_mut() {
							if *pv == v {
								position.unclaimed += part * position.value / total;
							}
						}
					} else {
						model.positions.get_mut(&(v, v)).unwrap().unclaimed += part;
					}
				},
				Err(e) => prop_assert!(false, "step {step}: {op:?} failed: {e:?}"),
			}
		},
		Op::Slash { validator, parts } => {
			let v = VALIDATORS[validator];
			let fraction = Perbill::from_parts(parts);
			let cut = <Staking as opg_primitives::staking::InferenceStaking<_>>::slash(
				&v,
				fraction,
				opg_primitives::staking::SlashReason::Mismatch,
			);
			let keep = 1.0 - parts as f64 / 1e9;
			let mut expected = 0.0;
			for ((_, pv), position) in model.positions.iter_mut() {
				if *pv == v {
					expected += position.value * (1.0 - keep);
					position.value *= keep;
				}
			}
			for chunk in model.chunks.iter_mut().filter(|c| c.validator == v) {
				expected += chunk.value * (1.0 - keep);
				chunk.value *= keep;
			}
			model.event(v, v);
			// The validator's own bond is burnt at once.
			model.touch(v, v);
			// The pools' values drift from the model by the rounding its members are allowed.
			let drift: f64 = model
				.positions
				.keys()
				.filter(|(_, pv)| *pv == v)
				.map(|(who, _)| *who)
				.chain(model.chunks.iter().filter(|c| c.validator == v).map(|c| c.owner))
				.map(|who| model.tol(who))
				.sum();
			prop_assert!(
				(cut as f64 - expected).abs() <= drift + 2.0,
				"step {step}: slash took {cut}, expected about {expected}"
			);
		},
		Op::Advance { blocks } => run_to_block(now + blocks),
	}
	Ok(())
}

fn run_case(ops: Vec<Op>) -> Result<(), TestCaseError> {
	let mut builder = ExtBuilder::default();
	for who in accounts() {
		builder = builder.balance(who, FUNDS);
	}
	for (v, commission) in VALIDATORS.into_iter().zip(COMMISSIONS) {
		builder = builder.validator(v, VALIDATOR_BOND, Perbill::from_percent(commission));
	}
	let mut ext = builder.build();
	ext.execute_with(|| {
		let initial_issuance = Balances::total_issuance();
		let mut model = Model::new();
		check(&model, initial_issuance, 0)?;
		for (step, op) in ops.iter().enumerate() {
			apply(&mut model, op, step)?;
			check(&model, initial_issuance, step)?;
			STEPS_RUN.fetch_add(1, Ordering::Relaxed);
		}
		Ok(())
	})
}

#[test]
fn random_operations_match_the_reference_model() {
	let config = Config {
		cases: CASES,
		// Failing cases are printed (shrunk) rather than saved into the source tree.
		failure_persistence: None,
		..Config::default()
	};
	let mut runner = TestRunner::new(config);
	STEPS_RUN.store(0, Ordering::Relaxed);
	REJECTED.store(0, Ordering::Relaxed);
	let result = runner.run(&prop::collection::vec(op(), STEPS), run_case);
	if let Err(error) = result {
		panic!("{error}");
	}
	let steps = STEPS_RUN.load(Ordering::Relaxed);
	let rejected = REJECTED.load(Ordering::Relaxed);
	println!("property test: {CASES} cases, {steps} steps, {rejected} rejected by the pallet");
	assert!(steps >= 10_000, "only {steps} steps ran");
	assert!(rejected * 2 < steps, "most operations were rejected: the test is too weak");
}
