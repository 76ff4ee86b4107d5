//! `register_model`: validation, defaults, ids, deposit and event.

use crate::{mock::*, Error, Event, ModelInfo, ModelInfoOf, ModelStatus, NextModelId};
use frame_support::{assert_noop, assert_ok, traits::fungible::Mutate};
use opg_primitives::models::{
	Architecture, ComparisonRule, EngineProfile, InputKind, ModelDescriptor, ModelFormat,
	OutputKind, MAX_QUANTIZED_DECIMALS, MAX_TOP_K,
};
use sp_core::H256;
use sp_runtime::{DispatchError, TokenError};

#[test]
fn register_model_works() {
	ExtBuilder::default().build_and_execute(|| {
		assert_eq!(NextModelId::<Test>::get(), 0);

		assert_ok!(Models::register_model(RuntimeOrigin::signed(ALICE), mnist_spec()));

		let deposit = 378;
		let expected: ModelInfoOf<Test> = ModelInfo {
			owner: ALICE,
			name: b"mnist".to_vec().try_into().unwrap(),
			version: 1,
			previous_version: None,
			next_version: None,
			descriptor: ModelDescriptor {
				weights_hash: H256::repeat_byte(0xAA),
				format: ModelFormat::Safetensors,
				architecture: Architecture::Mlp { config_hash: H256::repeat_byte(0xBB) },
				profile: EngineProfile::REPRODUCIBLE_F32,
			},
			size_bytes: 420_000,
			input: InputKind::F32Vector { len: 784 },
			output: OutputKind::Logits,
			fee_per_executor: 10,
			token_fees: None,
			redundancy: 3,
			quorum: 2,
			comparison: ComparisonRule::Quantized { decimals: 4 },
			status: ModelStatus::Active,
			registered_at: 1,
			source_uri: None,
			deposit,
		};
		assert_eq!(Models::model(0), Some(expected));
		assert_eq!(NextModelId::<Test>::get(), 1);
		assert_eq!(held(ALICE), deposit);
		assert_eq!(free(ALICE), INITIAL_BALANCE - deposit);
		System::assert_last_event(
			Event::ModelRegistered { model_id: 0, owner: ALICE, deposit }.into(),
		);
	});
}

#[test]
fn register_model_with_every_field() {
	ExtBuilder::default().build_and_execute(|| {
		System::set_block_number(7);

		assert_ok!(Models::register_model(RuntimeOrigin::signed(BOB), bert_spec()));

		let model = Models::model(0).unwrap();
		assert_eq!(model.owner, BOB);
		assert_eq!(model.name.to_vec(), b"minilm-l6".to_vec());
		assert_eq!(
			model.descriptor.architecture,
			Architecture::BertEmbedding {
				config_hash: H256::repeat_byte(0x22),
				tokenizer_hash: H256::repeat_byte(0x33),
			}
		);
		assert_eq!(
			(model.input, model.output),
			(InputKind::Text { max_bytes: 2_048 }, OutputKind::Embedding)
		);
		assert_eq!((model.redundancy, model.quorum), (5, 4));
		assert_eq!(model.registered_at, 7);
		assert_eq!(
			model.source_uri.map(|uri| uri.to_vec()),
			Some(b"https://example.invalid/minilm".to_vec())
		);
		assert_eq!(held(BOB), 512);
		assert_eq!(free(BOB), INITIAL_BALANCE - 512);
		System::assert_last_event(
			Event::ModelRegistered { model_id: 0, owner: BOB, deposit: 512 }.into(),
		);
	});
}

#[test]
fn quorum_defaults_to_majority() {
	ExtBuilder::default().build_and_execute(|| {
		for (redundancy, majority) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)] {
			let model_id = register(ALICE, crate::ModelSpec { redundancy, ..mnist_spec() });
			let model = Models::model(model_id).unwrap();
			assert_eq!((model.redundancy, model.quorum), (redundancy, majority));
		}
	});
}

#[test]
fn ids_are_sequential_across_owners() {
	ExtBuilder::default().build_and_execute(|| {
		assert_eq!(register(ALICE, mnist_spec()), 0);
		assert_eq!(register(BOB, bert_spec()), 1);
		assert_eq!(register(ALICE, bert_spec()), 2);
		assert_eq!(NextModelId::<Test>::get(), 3);
		assert_eq!(Models::model(1).unwrap().owner, BOB);
		System::assert_last_event(
			Event::ModelRegistered { model_id: 2, owner: ALICE, deposit: 512 }.into(),
		);
	});
}

#[test]
fn name_and_uri_at_their_limits_are_accepted() {
	ExtBuilder::default().build_and_execute(|| {
		let spec = crate::ModelSpec {
			name: vec![b'n'; MAX_NAME_LEN as usize],
			source_uri: Some(vec![b'u'; MAX_URI_LEN as usize]),
			..mnist_spec()
		};
		let model_id = register(ALICE, spec);
		assert_eq!(Models::model(model_id).unwrap().name.len(), MAX_NAME_LEN as usize);
		assert_eq!(held(ALICE), expected_deposit(model_id));
	});
}

#[test]
fn comparison_rules_at_their_limits_are_accepted() {
	ExtBuilder::default().build_and_execute(|| {
		for comparison in [
			ComparisonRule::Exact,
			ComparisonRule::Argmax,
			ComparisonRule::Quantized { decimals: 0 },
			ComparisonRule::Quantized { decimals: MAX_QUANTIZED_DECIMALS },
			ComparisonRule::TopK { k: 1 },
			ComparisonRule::TopK { k: MAX_TOP_K },
		] {
			let model_id = register(ALICE, crate::ModelSpec { comparison, ..mnist_spec() });
			assert_eq!(Models::model(model_id).unwrap().comparison, comparison);
		}
	});
}

/// Asserts that registering `spec` by ALICE fails with `error` and changes nothing.
fn assert_rejected(spec: crate::ModelSpec<Balance>, error: Error<Test>) {
	assert_noop!(Models::register_model(RuntimeOrigin::signed(ALICE), spec), error);
}

#[test]
fn invalid_names_are_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		use crate::ModelSpec;
		assert_rejected(ModelSpec { name: vec![], ..mnist_spec() }, Error::NameEmpty);
		assert_rejected(
			ModelSpec { name: vec![b'n'; MAX_NAME_LEN as usize + 1], ..mnist_spec() },
			Error::NameTooLong,
		);
		// Far over the limit: still a clean error.
		assert_rejected(
			ModelSpec { name: vec![b'n'; 100_000], ..mnist_spec() },
			Error::NameTooLong,
		);
	});
}

#[test]
fn invalid_source_uris_are_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		use crate::ModelSpec;
		assert_rejected(
			ModelSpec { source_uri: Some(vec![]), ..mnist_spec() },
			Error::SourceUriEmpty,
		);
		assert_rejected(
			ModelSpec { source_uri: Some(vec![b'u'; MAX_URI_LEN as usize + 1]), ..mnist_spec() },
			Error::SourceUriTooLong,
		);
	});
}

#[test]
fn fees_under_the_minimum_are_rejected() {
	use crate::ModelSpec;
	ExtBuilder::default().build_and_execute(|| {
		assert_rejected(ModelSpec { fee_per_executor: 0, ..mnist_spec() }, Error::FeeBelowMinimum);
		assert_rejected(
			ModelSpec { fee_per_executor: MIN_FEE - 1, ..mnist_spec() },
			Error::FeeBelowMinimum,
		);
		assert_ok!(Models::register_model(
			RuntimeOrigin::signed(ALICE),
			ModelSpec { fee_per_executor: MIN_FEE, ..mnist_spec() }
		));
	});
}

#[test]
fn zero_size_is_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		use crate::ModelSpec;
		assert_rejected(ModelSpec { size_bytes: 0, ..mnist_spec() }, Error::ZeroModelSize);
	});
}

#[test]
fn invalid_redundancy_is_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		use crate::ModelSpec;
		assert_rejected(ModelSpec { redundancy: 0, ..mnist_spec() }, Error::InvalidRedundancy);
		assert_rejected(
			ModelSpec { redundancy: 0, quorum: Some(0), ..mnist_spec() },
			Error::InvalidRedundancy,
		);
		assert_rejected(
			ModelSpec { redundancy: MAX_REDUNDANCY + 1, ..mnist_spec() },
			Error::InvalidRedundancy,
		);
		assert_rejected(
			ModelSpec { redundancy: u32::MAX, ..mnist_spec() },
			Error::InvalidRedundancy,
		);
	});
}

#[test]
fn invalid_quorum_is_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		use crate::ModelSpec;
		assert_rejected(ModelSpec { quorum: Some(0), ..mnist_spec() }, Error::InvalidQuorum);
		assert_rejected(ModelSpec { quorum: Some(4), ..mnist_spec() }, Error::InvalidQuorum);
		assert_rejected(ModelSpec { quorum: Some(u32::MAX), ..mnist_spec() }, Error::InvalidQuorum);
	});
}

#[test]
fn invalid_comparison_rules_are_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		use crate::ModelSpec;
		assert_rejected(
			ModelSpec { comparison: ComparisonRule::TopK { k: 0 }, ..mnist_spec() },
			Error::InvalidTopK,
		);
		assert_rejected(
			ModelSpec { comparison: ComparisonRule::TopK { k: MAX_TOP_K + 1 }, ..mnist_spec() },
			Error::InvalidTopK,
		);
		assert_rejected(
			ModelSpec {
				comparison: ComparisonRule::Quantized { decimals: MAX_QUANTIZED_DECIMALS + 1 },
				..mnist_spec()
			},
			Error::TooManyDecimals,
		);
		assert_rejected(
			ModelSpec {
				comparison: ComparisonRule::Quantized { decimals: u8::MAX },
				..mnist_spec()
			},
			Error::TooManyDecimals,
		);
	});
}

#[test]
fn empty_input_shapes_are_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		use crate::ModelSpec;
		assert_rejected(
			ModelSpec { input: InputKind::F32Vector { len: 0 }, ..mnist_spec() },
			Error::InvalidInputShape,
		);
		assert_rejected(
			ModelSpec { input: InputKind::Text { max_bytes: 0 }, ..bert_spec() },
			Error::InvalidInputShape,
		);
	});
}

#[test]
fn unaffordable_deposit_is_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Models::register_model(RuntimeOrigin::signed(POOR), mnist_spec()),
			DispatchError::Token(TokenError::FundsUnavailable)
		);
		assert_noop!(
			Models::register_model(RuntimeOrigin::signed(NOBODY), mnist_spec()),
			DispatchError::Token(TokenError::FundsUnavailable)
		);
		// The deposit must leave the existential deposit free.
		<Balances as Mutate<AccountId>>::set_balance(&BOB, 378);
		assert_noop!(
			Models::register_model(RuntimeOrigin::signed(BOB), mnist_spec()),
			DispatchError::Token(TokenError::FundsUnavailable)
		);
		<Balances as Mutate<AccountId>>::set_balance(&BOB, 379);
		assert_ok!(Models::register_model(RuntimeOrigin::signed(BOB), mnist_spec()));
		assert_eq!((free(BOB), held(BOB)), (1, 378));
	});
}

#[test]
fn unsigned_origins_are_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Models::register_model(RuntimeOrigin::none(), mnist_spec()),
			DispatchError::BadOrigin
		);
		assert_noop!(
			Models::register_model(RuntimeOrigin::root(), mnist_spec()),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn exhausted_ids_are_rejected() {
	ExtBuilder::default().build_and_execute(|| {
		NextModelId::<Test>::put(u32::MAX);
		assert_noop!(
			Models::register_model(RuntimeOrigin::signed(ALICE), mnist_spec()),
			Error::<Test>::ModelIdsExhausted
		);
	});
}
