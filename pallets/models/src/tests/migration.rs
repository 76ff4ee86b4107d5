//! The migrations: 0 → 1, every model gets the engine profile of its time; 1 → 2, every model
//! gets no token fees.

use crate::{
	migrations::{ModelInfoV0, ModelInfoV0Of, ModelInfoV1, ModelInfoV1Of, V0ToV1, V1ToV2},
	mock::*,
	Models as ModelsStorage, Pallet,
};
use codec::Encode;
use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
use opg_primitives::models::EngineProfile;

/// Stores `model_id`'s entry as version 0 encoded it, and returns the entry version 1 expects
/// back.
fn store_as_version_0(model_id: u32) -> crate::ModelInfoOf<Test> {
	let info = ModelsStorage::<Test>::get(model_id).unwrap();
	let old: ModelInfoV0Of<Test> = ModelInfoV0 {
		owner: info.owner,
		name: info.name.clone(),
		version: info.version,
		previous_version: info.previous_version,
		next_version: info.next_version,
		weights_hash: info.descriptor.weights_hash,
		size_bytes: info.size_bytes,
		format: info.descriptor.format,
		architecture: info.descriptor.architecture,
		input: info.input,
		output: info.output,
		fee_per_executor: info.fee_per_executor,
		redundancy: info.redundancy,
		quorum: info.quorum,
		comparison: info.comparison,
		status: info.status,
		registered_at: info.registered_at,
		source_uri: info.source_uri.clone(),
		deposit: info.deposit,
	};
	let key = ModelsStorage::<Test>::hashed_key_for(model_id);
	frame_support::storage::unhashed::put_raw(&key, &old.encode());
	// The old layout is not the new one: the entry does not decode until migrated.
	assert!(ModelsStorage::<Test>::try_get(model_id).is_err());
	info
}

#[test]
fn every_model_gets_the_profile_of_its_time_and_nothing_else_changes() {
	ExtBuilder::default().build_and_execute(|| {
		let mnist = register(ALICE, mnist_spec());
		let bert = register(BOB, bert_spec());
		assert!(Models::deprecate(RuntimeOrigin::signed(BOB), bert).is_ok());
		let expected = [store_as_version_0(mnist), store_as_version_0(bert)];
		StorageVersion::new(0).put::<Pallet<Test>>();

		V0ToV1::<Test>::on_runtime_upgrade();

		assert_eq!(Pallet::<Test>::on_chain_storage_version(), 1);
		// Version 1's layout, which the next step reads.
		for model_id in [mnist, bert] {
			let raw = frame_support::storage::unhashed::get_raw(
				&ModelsStorage::<Test>::hashed_key_for(model_id),
			)
			.unwrap();
			let v1 = <ModelInfoV1Of<Test> as codec::DecodeAll>::decode_all(&mut &raw[..]).unwrap();
			assert_eq!(v1.descriptor.profile, EngineProfile::REPRODUCIBLE_F32);
		}
		V1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Pallet::<Test>::on_chain_storage_version(), 2);
		for (model_id, expected) in [mnist, bert].into_iter().zip(expected) {
			let info = ModelsStorage::<Test>::get(model_id).unwrap();
			assert_eq!(info.descriptor.profile, EngineProfile::REPRODUCIBLE_F32);
			assert_eq!(info, expected);
		}
		// Versioned: a second run changes nothing.
		let before = ModelsStorage::<Test>::get(mnist);
		V0ToV1::<Test>::on_runtime_upgrade();
		V1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(ModelsStorage::<Test>::get(mnist), before);
	});
}

/// Stores `model_id`'s entry as version 1 encoded it (it must have no token fees), and returns
/// the entry version 2 expects back.
fn store_as_version_1(model_id: u32) -> crate::ModelInfoOf<Test> {
	let info = ModelsStorage::<Test>::get(model_id).unwrap();
	assert_eq!(info.token_fees, None);
	let old: ModelInfoV1Of<Test> = ModelInfoV1 {
		owner: info.owner,
		name: info.name.clone(),
		version: info.version,
		previous_version: info.previous_version,
		next_version: info.next_version,
		descriptor: info.descriptor,
		size_bytes: info.size_bytes,
		input: info.input,
		output: info.output,
		fee_per_executor: info.fee_per_executor,
		redundancy: info.redundancy,
		quorum: info.quorum,
		comparison: info.comparison,
		status: info.status,
		registered_at: info.registered_at,
		source_uri: info.source_uri.clone(),
		deposit: info.deposit,
	};
	let key = ModelsStorage::<Test>::hashed_key_for(model_id);
	frame_support::storage::unhashed::put_raw(&key, &old.encode());
	assert!(ModelsStorage::<Test>::try_get(model_id).is_err());
	info
}

#[test]
fn every_model_gets_no_token_fees_and_nothing_else_changes() {
	ExtBuilder::default().build_and_execute(|| {
		let mnist = register(ALICE, mnist_spec());
		let bert = register(BOB, bert_spec());
		// A version-2 model with versions linked, so that every field is exercised.
		let next = {
			let id = crate::NextModelId::<Test>::get();
			assert!(Models::publish_version(RuntimeOrigin::signed(BOB), bert, bert_spec()).is_ok());
			id
		};
		let expected =
			[store_as_version_1(mnist), store_as_version_1(bert), store_as_version_1(next)];
		StorageVersion::new(1).put::<Pallet<Test>>();

		#[cfg(feature = "try-runtime")]
		let state = <V1ToV2<Test> as OnRuntimeUpgrade>::pre_upgrade().unwrap();
		V1ToV2::<Test>::on_runtime_upgrade();
		#[cfg(feature = "try-runtime")]
		<V1ToV2<Test> as OnRuntimeUpgrade>::post_upgrade(state).unwrap();

		assert_eq!(Pallet::<Test>::on_chain_storage_version(), 2);
		for (model_id, expected) in [mnist, bert, next].into_iter().zip(expected.iter()) {
			assert_eq!(&ModelsStorage::<Test>::get(model_id).unwrap(), expected);
		}
		// Deposits stay as held (the entry's next change adjusts them).
		assert_eq!(held(ALICE), expected[0].deposit);
		// Versioned: a second run changes nothing.
		V1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(ModelsStorage::<Test>::get(mnist).as_ref(), Some(&expected[0]));
	});
}
