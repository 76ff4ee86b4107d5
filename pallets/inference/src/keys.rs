//! Inference keys: the accounts validators link to commit and reveal for them, the proof that
//! a validator holds the key it links, and what happens to a link when its validator leaves.
//!
//! A validator links one key ([`InferenceKeys`], reversed in [`KeyOwners`]) with
//! [`set_inference_key`](Pallet::set_inference_key), which takes the key's signature of
//! [`Pallet::key_proof_payload`] as proof of possession:
//!
//! | bytes | what |
//! |---|---|
//! | 17 | [`KEY_PROOF_CONTEXT`], `b"opg/inference-key"` |
//! | SCALE of the account (32 for the runtime's `AccountId32`) | the validator linking the key |
//! | 32 | the genesis block's hash (`frame_system::BlockHash` of block 0) |
//!
//! The signature is checked with `sp_runtime::traits::Verify` against the key's account (the
//! runtime's `MultiSignature`: an sr25519 `opgi` key signs `{ Sr25519: signature }`). Naming
//! the validator stops a proof from linking the key to another validator; the genesis hash, on
//! another chain. With polkadot.js:
//!
//! ```js
//! const payload = u8aConcat(stringToU8a('opg/inference-key'), decodeAddress(validator), api.genesisHash);
//! await api.tx.inference.setInferenceKey(key.address, { Sr25519: key.sign(payload) }).signAndSend(validator);
//! ```
//!
//! The link lives as long as the validator's
//! registration: when the staking side removes the validator (`deregister`, or an eviction from
//! a full set), it calls [`OnValidatorRemoved`] and the link is dropped
//! ([`Event::InferenceKeyCleared`]), so that a key never acts for an account that is no longer
//! a validator and is free to be linked again. One exception: a validator evicted while it still
//! has a task to commit or reveal keeps its key until the last of those is done, so that its
//! node finishes the work instead of being charged as a no-show or a withholder for it.

use crate::pallet::*;
use alloc::vec::Vec;
use codec::Encode;
use frame_support::{traits::Get, weights::Weight};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::{
	inference::TaskId,
	staking::{InferenceStaking, OnValidatorRemoved},
};
use sp_runtime::traits::Zero;

/// The first bytes of every inference key proof: what the signature is for.
pub const KEY_PROOF_CONTEXT: &[u8] = b"opg/inference-key";

impl<T: Config> Pallet<T> {
	/// What an inference key signs to be linked to `validator`:
	/// `KEY_PROOF_CONTEXT ‖ SCALE(validator) ‖ genesis hash` (see [the module docs](self)).
	pub fn key_proof_payload(validator: &T::AccountId) -> Vec<u8> {
		let genesis = frame_system::BlockHash::<T>::get(BlockNumberFor::<T>::zero());
		let mut payload = KEY_PROOF_CONTEXT.to_vec();
		validator.encode_to(&mut payload);
		genesis.encode_to(&mut payload);
		payload
	}
}

impl<T: Config> Pallet<T> {
	/// Drops `validator`'s inference key link, if any.
	pub(crate) fn clear_key(validator: &T::AccountId) {
		if let Some(key) = InferenceKeys::<T>::take(validator) {
			KeyOwners::<T>::remove(&key);
			Self::deposit_event(Event::InferenceKeyCleared { validator: validator.clone(), key });
		}
	}

	/// Removes `executor`'s entry of `task_id` from [`ExecutorTasks`]; when that was the last
	/// task of a validator that has left meanwhile (evicted while it held tasks), drops its key.
	pub(crate) fn release_task(executor: &T::AccountId, task_id: TaskId) {
		ExecutorTasks::<T>::remove(executor, task_id);
		if InferenceKeys::<T>::contains_key(executor)
			&& !T::Staking::is_validator(executor)
			&& ExecutorTasks::<T>::iter_key_prefix(executor).next().is_none()
		{
			Self::clear_key(executor);
		}
	}
}

impl<T: Config> OnValidatorRemoved<T::AccountId> for Pallet<T> {
	/// Drops `validator`'s inference key link, unless it still has a task to commit or reveal
	/// (an eviction can come at any time): then the key stays until its last such task is done
	/// ([`Pallet::release_task`]), so that the validator finishes its work and is not charged
	/// for work it was stopped from doing.
	fn on_validator_removed(validator: &T::AccountId) {
		if ExecutorTasks::<T>::iter_key_prefix(validator).next().is_none() {
			Self::clear_key(validator);
		}
	}

	/// Two reads and two removals (of [`InferenceKeys`] and [`KeyOwners`]) and an event:
	/// charged from the runtime's `DbWeight` rather than benchmarked, as there is nothing else
	/// to it.
	fn weight() -> Weight {
		T::DbWeight::get().reads_writes(2, 2)
	}
}
