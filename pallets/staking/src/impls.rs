//! The staking side other pallets see: [`InferenceStaking`] for [`Pallet`].

use crate::{pallet::*, weights::WeightInfo};
use alloc::vec::Vec;
use opg_primitives::staking::{InferenceStaking, SlashReason};
use sp_runtime::{traits::Zero, DispatchError, Perbill, Weight};

impl<T: Config> InferenceStaking<T::AccountId> for Pallet<T> {
	type Balance = BalanceOf<T>;
	type Credit = CreditOf<T>;

	fn is_validator(who: &T::AccountId) -> bool {
		Validators::<T>::contains_key(who)
	}

	fn is_eligible(who: &T::AccountId) -> bool {
		Self::eligible(who)
	}

	fn total_stake(who: &T::AccountId) -> Self::Balance {
		Self::active_stake(who)
	}

	fn reward(
		validator: &T::AccountId,
		reward: Self::Credit,
	) -> Result<(), (Self::Credit, DispatchError)> {
		Self::do_reward(validator, reward)
	}

	fn slash(validator: &T::AccountId, fraction: Perbill, reason: SlashReason) -> Self::Balance {
		Self::do_slash(validator, fraction, reason)
	}

	fn note_fault(validator: &T::AccountId) {
		Self::do_note_fault(validator)
	}

	fn total_eligible_stake() -> Self::Balance {
		TotalEligibleStake::<T>::get()
	}

	fn eligible_validator_at(point: Self::Balance) -> Option<T::AccountId> {
		Self::validator_at(point)
	}

	fn eligible_validators() -> Vec<(T::AccountId, Self::Balance)> {
		Validators::<T>::iter()
			.filter(|(_, info)| !info.sampling_weight.is_zero())
			.map(|(who, info)| (who, info.sampling_weight))
			.collect()
	}

	fn slash_weight() -> Weight {
		T::WeightInfo::slash(crate::WEIGHT_DELEGATORS)
	}

	fn delegators_weight() -> Weight {
		let d = crate::WEIGHT_DELEGATORS;
		let reward = T::WeightInfo::reward(d).saturating_sub(T::WeightInfo::reward(0));
		let slash = T::WeightInfo::slash(d).saturating_sub(T::WeightInfo::slash(0));
		reward.max(slash)
	}
}
