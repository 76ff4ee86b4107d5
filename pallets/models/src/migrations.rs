//! Storage migrations.

use crate::{pallet::*, ModelInfoOf, ModelStatus, LOG_TARGET};
use alloc::vec::Vec;
use codec::{Decode, Encode};
use frame_support::{
	migrations::VersionedMigration, pallet_prelude::*, storage::unhashed,
	traits::UncheckedOnRuntimeUpgrade,
};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::models::{
	Architecture, ComparisonRule, EngineProfile, InputKind, ModelDescriptor, ModelFormat, ModelId,
	ModelVersion, OutputKind,
};
use sp_core::H256;

/// Version 0 → 1: every model gets an engine profile. The models registered before profiles
/// existed ran on the engine's kernels of the time, which are
/// [`EngineProfile::REPRODUCIBLE_F32`], so that is the profile they get; what they execute does
/// not change.
///
/// The entries grow by the profile's two bytes; the deposits held stay as they were (an owner
/// is not charged by an upgrade) and are brought to the new size at the entry's next change.
pub type V0ToV1<T> =
	VersionedMigration<0, 1, AddEngineProfile<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// The inner, unversioned step of [`V0ToV1`].
pub struct AddEngineProfile<T>(core::marker::PhantomData<T>);

/// A model entry as version 0 stored it: the descriptor's fields flat, no profile.
#[derive(Encode, Decode)]
#[allow(missing_docs)]
pub struct ModelInfoV0<AccountId, Balance, BlockNumber, Name, Uri> {
	pub owner: AccountId,
	pub name: Name,
	pub version: ModelVersion,
	pub previous_version: Option<ModelId>,
	pub next_version: Option<ModelId>,
	pub weights_hash: H256,
	pub size_bytes: u64,
	pub format: ModelFormat,
	pub architecture: Architecture,
	pub input: InputKind,
	pub output: OutputKind,
	pub fee_per_executor: Balance,
	pub redundancy: u32,
	pub quorum: u32,
	pub comparison: ComparisonRule,
	pub status: ModelStatus,
	pub registered_at: BlockNumber,
	pub source_uri: Option<Uri>,
	pub deposit: Balance,
}

/// A version-0 entry of `T`.
pub type ModelInfoV0Of<T> = ModelInfoV0<
	<T as frame_system::Config>::AccountId,
	crate::BalanceOf<T>,
	BlockNumberFor<T>,
	BoundedVec<u8, <T as Config>::MaxNameLen>,
	BoundedVec<u8, <T as Config>::MaxSourceUriLen>,
>;

/// The version-1 entry of `old`: the same model on [`EngineProfile::REPRODUCIBLE_F32`].
pub fn upgrade<T: Config>(old: ModelInfoV0Of<T>) -> ModelInfoV1Of<T> {
	ModelInfoV1 {
		owner: old.owner,
		name: old.name,
		version: old.version,
		previous_version: old.previous_version,
		next_version: old.next_version,
		descriptor: ModelDescriptor {
			weights_hash: old.weights_hash,
			format: old.format,
			architecture: old.architecture,
			profile: EngineProfile::REPRODUCIBLE_F32,
		},
		size_bytes: old.size_bytes,
		input: old.input,
		output: old.output,
		fee_per_executor: old.fee_per_executor,
		redundancy: old.redundancy,
		quorum: old.quorum,
		comparison: old.comparison,
		status: old.status,
		registered_at: old.registered_at,
		source_uri: old.source_uri,
		deposit: old.deposit,
	}
}

impl<T: Config> UncheckedOnRuntimeUpgrade for AddEngineProfile<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut count = 0u64;
		// Written in the version-1 layout (not today's), which `V1ToV2` then reads.
		let ids: Vec<ModelId> = Models::<T>::iter_keys().collect();
		for model_id in ids {
			let key = Models::<T>::hashed_key_for(model_id);
			count = count.saturating_add(1);
			match unhashed::get::<ModelInfoV0Of<T>>(&key) {
				Some(old) => unhashed::put(&key, &upgrade::<T>(old)),
				None => {
					log::error!(target: LOG_TARGET, "model {model_id} is not a version-0 entry");
					unhashed::kill(&key);
				},
			}
		}
		log::info!(target: LOG_TARGET, "gave {count} models the engine profile of their time");
		T::DbWeight::get().reads_writes(count, count)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<alloc::vec::Vec<u8>, sp_runtime::TryRuntimeError> {
		Ok((Models::<T>::iter_keys().count() as u64).encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: alloc::vec::Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let before = u64::decode(&mut &state[..]).map_err(|_| "the pre-upgrade count")?;
		// In the version-1 layout (what this step writes), not today's.
		let mut after = 0u64;
		for key in Models::<T>::iter_keys() {
			let raw = unhashed::get_raw(&Models::<T>::hashed_key_for(key)).unwrap_or_default();
			if <ModelInfoV1Of<T> as codec::DecodeAll>::decode_all(&mut &raw[..]).is_ok() {
				after = after.saturating_add(1);
			}
		}
		ensure!(before == after, "a model entry did not decode after the migration");
		Ok(())
	}
}

/// Version 1 → 2: models get optional prices per token (`ModelInfo::token_fees`). Every model
/// registered before has none: its tasks cost what they cost before. Causal language models
/// and their generation parameters are new variants (of the architecture, input and output
/// kinds and comparison rule) whose encoding leaves every existing entry's unchanged.
///
/// The entries grow by one byte (`None`); as in [`V0ToV1`], the deposits held stay as they were
/// and are brought to the new size at the entry's next change.
pub type V1ToV2<T> =
	VersionedMigration<1, 2, AddTokenFees<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// The inner, unversioned step of [`V1ToV2`].
pub struct AddTokenFees<T>(core::marker::PhantomData<T>);

/// A model entry as version 1 stored it: no token fees.
#[derive(Encode, Decode)]
#[allow(missing_docs)]
pub struct ModelInfoV1<AccountId, Balance, BlockNumber, Name, Uri> {
	pub owner: AccountId,
	pub name: Name,
	pub version: ModelVersion,
	pub previous_version: Option<ModelId>,
	pub next_version: Option<ModelId>,
	pub descriptor: ModelDescriptor,
	pub size_bytes: u64,
	pub input: InputKind,
	pub output: OutputKind,
	pub fee_per_executor: Balance,
	pub redundancy: u32,
	pub quorum: u32,
	pub comparison: ComparisonRule,
	pub status: ModelStatus,
	pub registered_at: BlockNumber,
	pub source_uri: Option<Uri>,
	pub deposit: Balance,
}

/// A version-1 entry of `T`.
pub type ModelInfoV1Of<T> = ModelInfoV1<
	<T as frame_system::Config>::AccountId,
	crate::BalanceOf<T>,
	BlockNumberFor<T>,
	BoundedVec<u8, <T as Config>::MaxNameLen>,
	BoundedVec<u8, <T as Config>::MaxSourceUriLen>,
>;

/// The version-2 entry of `old`: the same model, without token fees.
pub fn upgrade_v1<T: Config>(old: ModelInfoV1Of<T>) -> ModelInfoOf<T> {
	ModelInfoOf::<T> {
		owner: old.owner,
		name: old.name,
		version: old.version,
		previous_version: old.previous_version,
		next_version: old.next_version,
		descriptor: old.descriptor,
		size_bytes: old.size_bytes,
		input: old.input,
		output: old.output,
		fee_per_executor: old.fee_per_executor,
		token_fees: None,
		redundancy: old.redundancy,
		quorum: old.quorum,
		comparison: old.comparison,
		status: old.status,
		registered_at: old.registered_at,
		source_uri: old.source_uri,
		deposit: old.deposit,
	}
}

impl<T: Config> UncheckedOnRuntimeUpgrade for AddTokenFees<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut count = 0u64;
		Models::<T>::translate::<ModelInfoV1Of<T>, _>(|model_id, old| {
			count = count.saturating_add(1);
			log::debug!(target: LOG_TARGET, "model {model_id}: no token fees");
			Some(upgrade_v1::<T>(old))
		});
		log::info!(target: LOG_TARGET, "gave {count} models no token fees");
		T::DbWeight::get().reads_writes(count, count)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
		// Every entry must decode in the version-1 layout, or `translate` would drop it.
		let mut count = 0u64;
		for key in Models::<T>::iter_keys() {
			let raw = unhashed::get_raw(&Models::<T>::hashed_key_for(key))
				.ok_or("a listed model has no value")?;
			<ModelInfoV1Of<T> as codec::DecodeAll>::decode_all(&mut &raw[..])
				.map_err(|_| "a model entry is not in the version-1 layout")?;
			count = count.saturating_add(1);
		}
		Ok(count.encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let before = u64::decode(&mut &state[..]).map_err(|_| "the pre-upgrade count")?;
		let mut after = 0u64;
		for info in Models::<T>::iter_values() {
			ensure!(info.token_fees.is_none(), "a migrated model has token fees");
			after = after.saturating_add(1);
		}
		ensure!(before == after, "a model entry did not decode after the migration");
		Ok(())
	}
}
