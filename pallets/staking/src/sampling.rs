//! Stake-weighted sampling of eligible validators in `O(log MaxValidators)`.
//!
//! Every registered validator owns a slot in `1..=MaxValidators`; [`StakeTree`] is a Fenwick
//! (binary indexed) tree over the slots holding each validator's *sampling weight*: its active
//! stake while it is eligible, zero otherwise. Every call that changes a validator's stake or
//! eligibility refreshes its weight (`O(log MaxValidators)` writes). Eligibility changes only
//! through such calls: jailing also chills, and only `activate` (after the jail) makes a
//! validator active again, so no weight goes stale with time.

use crate::{pallet::*, types::*};
use frame_support::traits::Get;
use sp_runtime::traits::{Saturating, Zero};

impl<T: Config> Pallet<T> {
	/// Whether `validator` may be assigned tasks now.
	pub(crate) fn eligible(validator: &T::AccountId) -> bool {
		let (Some(info), Some(pool)) =
			(Validators::<T>::get(validator), Pools::<T>::get(validator))
		else {
			return false;
		};
		Self::is_eligible_info(&info, &pool)
	}

	/// Registered (implied), active, not jailed and own bond after slashes at least
	/// `MinValidatorBond`.
	pub(crate) fn is_eligible_info(info: &ValidatorInfoOf<T>, pool: &Pool<BalanceOf<T>>) -> bool {
		let now = frame_system::Pallet::<T>::block_number();
		info.status == ValidatorStatus::Active
			&& !info.is_jailed(&now)
			&& info.self_stake.value(&pool.active) >= T::MinValidatorBond::get()
	}

	/// Sets `info`'s sampling weight to its active stake if eligible, else zero.
	pub(crate) fn refresh_sampling_weight(
		info: &mut ValidatorInfoOf<T>,
		pool: &Pool<BalanceOf<T>>,
	) {
		let weight =
			if Self::is_eligible_info(info, pool) { pool.active.value } else { Zero::zero() };
		Self::set_sampling_weight(info, weight);
	}

	/// Sets `info`'s sampling weight, updating the tree and the total.
	pub(crate) fn set_sampling_weight(info: &mut ValidatorInfoOf<T>, weight: BalanceOf<T>) {
		let old = info.sampling_weight;
		if weight > old {
			let delta = weight.saturating_sub(old);
			Self::tree_update(info.slot, |node| node.saturating_add(delta));
			TotalEligibleStake::<T>::mutate(|total| *total = total.saturating_add(delta));
		} else if weight < old {
			let delta = old.saturating_sub(weight);
			Self::tree_update(info.slot, |node| node.saturating_sub(delta));
			TotalEligibleStake::<T>::mutate(|total| *total = total.saturating_sub(delta));
		}
		info.sampling_weight = weight;
	}

	/// Applies `f` to every tree node covering `slot`.
	fn tree_update(slot: u32, f: impl Fn(BalanceOf<T>) -> BalanceOf<T>) {
		let size = T::MaxValidators::get();
		let mut i = slot;
		while i != 0 && i <= size {
			StakeTree::<T>::mutate(i, |node| *node = f(*node));
			// `i + lowbit(i)`; saturating ends the loop (`size <= 2^24`, checked by
			// `integrity_test`).
			i = i.saturating_add(i & i.wrapping_neg());
		}
	}

	/// Sum of the weights of slots `1..=slot`.
	#[cfg(any(test, feature = "try-runtime"))]
	pub(crate) fn tree_prefix(slot: u32) -> BalanceOf<T> {
		let mut sum = BalanceOf::<T>::zero();
		let mut i = slot.min(T::MaxValidators::get());
		while i != 0 {
			sum = sum.saturating_add(StakeTree::<T>::get(i));
			// `i - lowbit(i)`: clears the lowest set bit, never underflows.
			i &= i.wrapping_sub(1);
		}
		sum
	}

	/// The validator whose segment of `[0, TotalEligibleStake)` contains `point`.
	pub(crate) fn validator_at(point: BalanceOf<T>) -> Option<T::AccountId> {
		if point >= TotalEligibleStake::<T>::get() {
			return None;
		}
		let size = T::MaxValidators::get();
		// Largest power of two not above `size` (`size >= 1`, checked by `integrity_test`).
		let mut step = 1u32.checked_shl(31u32.saturating_sub(size.leading_zeros())).unwrap_or(0);
		let mut position = 0u32;
		let mut rest = point;
		while step != 0 {
			let next = position.saturating_add(step);
			if next <= size {
				let node = StakeTree::<T>::get(next);
				if node <= rest {
					position = next;
					rest = rest.saturating_sub(node);
				}
			}
			step = step.checked_shr(1).unwrap_or(0);
		}
		// `position` is the last slot whose prefix sum is `<= point`; the next one has weight.
		SlotOwner::<T>::get(position.saturating_add(1))
	}

	/// Hands out a free sampling slot, `None` when all `MaxValidators` are taken.
	pub(crate) fn allocate_slot() -> Option<u32> {
		let head = FreeSlotHead::<T>::get();
		if head != 0 {
			FreeSlotHead::<T>::put(FreeSlotNext::<T>::take(head));
			return Some(head);
		}
		let next = NextSlot::<T>::get().checked_add(1)?;
		if next > T::MaxValidators::get() {
			return None;
		}
		NextSlot::<T>::put(next);
		Some(next)
	}

	/// Returns `slot` (whose weight is already zero) to the free list.
	pub(crate) fn free_slot(slot: u32) {
		SlotOwner::<T>::remove(slot);
		let head = FreeSlotHead::<T>::get();
		if head != 0 {
			FreeSlotNext::<T>::insert(slot, head);
		}
		FreeSlotHead::<T>::put(slot);
	}
}
