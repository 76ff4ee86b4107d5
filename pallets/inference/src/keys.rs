//! Inference keys: the accounts validators link to commit and reveal for them, and what happens
//! to a link when its validator leaves.
//!
//! A validator links one key ([`InferenceKeys`], reversed in [`KeyOwners`]) with
//! [`set_inference_key`](Pallet::set_inference_key). The link lives as long as the validator's
//! registration: when the staking side removes the validator (`deregister`, or an eviction from
//! a full set), it calls [`OnValidatorRemoved`] and the link is dropped
//! ([`Event::InferenceKeyCleared`]), so that a key never acts for an account that is no longer
//! a validator and is free to be linked again.

use crate::pallet::*;
use frame_support::{traits::Get, weights::Weight};
use opg_primitives::staking::OnValidatorRemoved;

impl<T: Config> OnValidatorRemoved<T::AccountId> for Pallet<T> {
	/// Drops `validator`'s inference key link, if any.
	fn on_validator_removed(validator: &T::AccountId) {
		if let Some(key) = InferenceKeys::<T>::take(validator) {
			KeyOwners::<T>::remove(&key);
			Self::deposit_event(Event::InferenceKeyCleared { validator: validator.clone(), key });
		}
	}

	/// One read and two removals (of [`InferenceKeys`] and [`KeyOwners`]) and an event: charged
	/// from the runtime's `DbWeight` rather than benchmarked, as there is nothing else to it.
	fn weight() -> Weight {
		T::DbWeight::get().reads_writes(1, 2)
	}
}
