//! Slashing and jailing. See [`crate::rewards`] for how a slash reaches every position.

use crate::{pallet::*, types::*};
use frame_support::pallet_prelude::*;
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::staking::SlashReason;
use sp_runtime::{
	traits::{Saturating, Zero},
	Perbill,
};

impl<T: Config> Pallet<T> {
	/// Records a fault of `info` at `now`; on the `MaxFaultsBeforeJail`-th within `FaultWindow`
	/// blocks, jails (and chills) it and returns until when.
	fn record_fault(
		info: &mut ValidatorInfoOf<T>,
		now: BlockNumberFor<T>,
	) -> Option<BlockNumberFor<T>> {
		let window = T::FaultWindow::get();
		info.recent_faults.retain(|at| at.saturating_add(window) > now);
		// Cannot fail: the list is emptied whenever it reaches `MaxFaultsBeforeJail`.
		let _ = info.recent_faults.try_push(now);
		if info.recent_faults.len() as u32 >= T::MaxFaultsBeforeJail::get() {
			let until = now.saturating_add(T::JailDuration::get());
			let until = info.jailed_until.map_or(until, |current| current.max(until));
			info.jailed_until = Some(until);
			info.status = ValidatorStatus::Chilled;
			info.recent_faults = Default::default();
			Some(until)
		} else {
			None
		}
	}

	/// Records a fault of `validator` that takes no stake, jailing it as [`Self::do_slash`]
	/// would on its `MaxFaultsBeforeJail`-th fault. Nothing for an account that is not a
	/// validator, nor for one already in jail: such faults come from tasks drawn before the
	/// jail, and do not extend it (a slash still does).
	pub(crate) fn do_note_fault(validator: &T::AccountId) {
		let Some(mut info) = Validators::<T>::get(validator) else { return };
		let Some(pool) = Pools::<T>::get(validator) else { return };
		let now = frame_system::Pallet::<T>::block_number();
		if info.is_jailed(&now) {
			return;
		}
		let jailed_until = Self::record_fault(&mut info, now);
		Self::refresh_sampling_weight(&mut info, &pool);
		Validators::<T>::insert(validator, info);
		if let Some(until) = jailed_until {
			Self::deposit_event(Event::Jailed { validator: validator.clone(), until });
		}
	}

	/// Slashes `fraction` of `validator`'s active and unbonding pools and records the fault,
	/// jailing the validator on its `MaxFaultsBeforeJail`-th fault within `FaultWindow` blocks,
	/// and chilling it when its own bond falls below `MinValidatorBond`. The validator's own
	/// bond is burnt at once; delegations and chunks when next touched. Returns the amount cut
	/// from the pools; zero when `validator` has no pool.
	///
	/// A validator that left (deregistered, or was evicted with tasks in progress) keeps its
	/// pool while positions or chunks refer to it, and the pool is still slashed: faults of the
	/// tasks it took before leaving reach its unbonding chunks (its own bond's, after an
	/// eviction) and its delegators as they would have. There is no record left to jail or
	/// chill.
	pub(crate) fn do_slash(
		validator: &T::AccountId,
		fraction: Perbill,
		reason: SlashReason,
	) -> BalanceOf<T> {
		let Some(mut pool) = Pools::<T>::get(validator) else { return Zero::zero() };
		let now = frame_system::Pallet::<T>::block_number();

		let ended_generation = pool.active.generation;
		let (active, wiped) = pool.active.slash(fraction);
		if wiped {
			WipedRewardPerShare::<T>::insert(validator, ended_generation, pool.reward_per_share);
		}
		let (unbonding, _) = pool.unbonding.slash(fraction);

		let (jailed_until, chilled) = match Validators::<T>::get(validator) {
			Some(mut info) => {
				Self::touch_stake(validator, validator, &mut info.self_stake, &pool);
				let jailed_until = Self::record_fault(&mut info, now);
				// After the jail, which chills too (and says so with `Jailed`).
				let chilled = Self::chill_if_under_bonded(&mut info, &pool);
				Self::refresh_sampling_weight(&mut info, &pool);
				Validators::<T>::insert(validator, info);
				(jailed_until, chilled)
			},
			None => (None, false),
		};
		Pools::<T>::insert(validator, pool);
		Self::deposit_event(Event::Slashed {
			validator: validator.clone(),
			fraction,
			reason,
			active,
			unbonding,
		});
		if let Some(until) = jailed_until {
			Self::deposit_event(Event::Jailed { validator: validator.clone(), until });
		}
		if chilled {
			Self::deposit_event(Event::Chilled { validator: validator.clone() });
		}
		active.saturating_add(unbonding)
	}
}
