//! Constants, share arithmetic, try_state catching corruption.

use super::*;
use crate::{Pool, ShareError, SharePool, Stake, Validators};
use frame_support::traits::Hooks;

#[test]
fn integrity_test_passes() {
	new_test_ext().execute_with(|| {
		<Staking as Hooks<BlockNumber>>::integrity_test();
	});
}

#[test]
fn share_pool_arithmetic() {
	let mut pool = SharePool::<u64>::default();
	assert_eq!(pool.mint(100), Ok(100));
	assert_eq!(pool.mint(50), Ok(50));
	assert_eq!((pool.value, pool.shares), (150, 150));
	assert_eq!(pool.slash(Perbill::from_percent(10)), (15, false));
	assert_eq!(pool.value_of(100), 90);
	// Buying at 0.9 per share rounds the shares down (in favour of the pool).
	assert_eq!(pool.mint(10), Ok(11));
	// Leaving rounds the shares given up up.
	assert_eq!(pool.shares_for(10, 100), 12);
	assert_eq!(pool.mint(0), Err(ShareError::TooSmall));
	pool.burn(pool.shares, 0);
	assert_eq!((pool.value, pool.shares), (0, 0));
	assert_eq!(pool.mint(5), Ok(5));
	assert_eq!(pool.slash(Perbill::one()), (5, true));
	assert_eq!((pool.value, pool.shares, pool.generation), (0, 0, 1));
	assert_eq!(pool.slash(Perbill::one()), (0, false));
}

#[test]
fn positions_are_valued_lazily() {
	let mut pool = Pool::<u64>::default();
	let mut stake = Stake::new(&pool);
	stake.shares = pool.active.mint(100).unwrap();
	stake.principal = 100;
	pool.active.mint(300).unwrap();
	assert_eq!(stake.value(&pool.active), 100);
	pool.active.slash(Perbill::from_percent(25));
	assert_eq!(stake.value(&pool.active), 75);
	pool.active.slash(Perbill::one());
	assert_eq!(stake.value(&pool.active), 0);
}

#[test]
fn try_state_catches_a_hold_that_differs_from_the_ledger() {
	new_test_ext().execute_with(|| {
		register(ALICE, 1_000);
		assert!(Staking::do_try_state().is_ok());
		Validators::<Test>::mutate(ALICE, |v| v.as_mut().unwrap().self_stake.principal = 999);
		assert!(Staking::do_try_state().is_err());
	});
}

#[test]
fn try_state_catches_a_stale_sampling_weight() {
	new_test_ext().execute_with(|| {
		register(ALICE, 1_000);
		Validators::<Test>::mutate(ALICE, |v| v.as_mut().unwrap().sampling_weight = 1);
		assert!(Staking::do_try_state().is_err());
	});
}
