//! Unit tests by topic, and the property test. Every test ends with `try_state`
//! (`ExtBuilder::build_and_execute`).

// Test code: an overflow here is a failed test, not a halted chain (as `clippy.toml` allows
// unwrap and indexing in tests).
#![allow(clippy::arithmetic_side_effects)]

mod delegation;
mod eviction;
mod jail;
mod misc;
mod property;
mod rewards;
mod sampling;
mod slashing;
mod unbonding;
mod validators;

use crate::mock::*;
use frame_support::assert_ok;
use sp_runtime::Perbill;

/// Registers `who` with `bond` and 10% commission.
pub fn register(who: AccountId, bond: Balance) {
	assert_ok!(Staking::register_validator(
		RuntimeOrigin::signed(who),
		bond,
		Perbill::from_percent(10)
	));
}

/// Delegates `amount` from `who` to `validator`.
pub fn delegate(who: AccountId, validator: AccountId, amount: Balance) {
	assert_ok!(Staking::delegate(RuntimeOrigin::signed(who), validator, amount));
}

/// The position of `who` with `validator`, as the view function reports it.
pub fn position(who: AccountId, validator: AccountId) -> crate::PositionView<Balance> {
	Staking::position(who, validator).expect("position exists")
}
