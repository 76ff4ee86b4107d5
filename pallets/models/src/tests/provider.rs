//! What other pallets and clients read: `ModelProvider`, the view functions, the hooks.

use crate::{mock::*, ModelInfoOf};
use codec::{Decode, Encode};
use frame_support::{
	assert_ok,
	traits::Hooks,
	view_functions::{ViewFunction, ViewFunctionId},
};
use opg_primitives::models::{
	Architecture, ComparisonRule, EngineProfile, InputKind, ModelDescriptor, ModelFormat,
	ModelParams, ModelProvider, OutputKind, PendingTasksGuard,
};
use sp_core::H256;

#[test]
fn runnable_model_returns_the_parameters_of_active_models_only() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		let expected = ModelParams {
			version: 1,
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
		};
		assert_eq!(Models::runnable_model(0), Some(expected.clone()));
		assert_eq!(Models::runnable_model(1), None);

		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));
		assert_eq!(Models::runnable_model(0), None);
		assert!(Models::model(0).is_some());

		assert_ok!(Models::reactivate(RuntimeOrigin::signed(ALICE), 0));
		assert_eq!(Models::runnable_model(0), Some(expected));

		assert_ok!(Models::remove_model(RuntimeOrigin::signed(ALICE), 0));
		assert_eq!(Models::runnable_model(0), None);
	});
}

#[test]
fn servers_are_listed_whatever_the_status() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, mnist_spec());
		assert!(Models::servers(0).is_empty());
		assert!(Models::servers(42).is_empty());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_2), 0));
		assert_ok!(Models::deprecate(RuntimeOrigin::signed(ALICE), 0));
		assert_eq!(Models::servers(0).into_inner(), vec![VALIDATOR_2]);
		assert!(Models::is_served_by(0, &VALIDATOR_2));
		assert!(!Models::is_served_by(42, &VALIDATOR_2));
	});
}

/// Runs a view function the way the runtime API does: by id, with SCALE-encoded arguments.
fn query<V: ViewFunction + Encode>(view: V) -> Vec<u8> {
	let id: ViewFunctionId = V::id();
	Test::execute_view_function(id, view.encode()).expect("the view function exists")
}

#[test]
fn view_functions_read_models_and_servers() {
	ExtBuilder::default().build_and_execute(|| {
		register(ALICE, bert_spec());
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_3), 0));
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));

		let model = query(crate::ModelViewFunction::<Test>::new(0));
		let model = Option::<ModelInfoOf<Test>>::decode(&mut &model[..]).unwrap();
		assert_eq!(model, Models::model(0));
		assert_eq!(model.unwrap().owner, ALICE);

		let missing = query(crate::ModelViewFunction::<Test>::new(1));
		assert_eq!(Option::<ModelInfoOf<Test>>::decode(&mut &missing[..]).unwrap(), None);

		let servers = query(crate::ModelServersViewFunction::<Test>::new(0));
		assert_eq!(
			Vec::<AccountId>::decode(&mut &servers[..]).unwrap(),
			vec![VALIDATOR_1, VALIDATOR_3]
		);
	});
}

#[test]
fn integrity_test_passes() {
	ExtBuilder::default().build_and_execute(|| {
		<Models as Hooks<u64>>::integrity_test();
	});
}

#[test]
fn no_inference_side_means_no_pending_tasks() {
	assert!(!<() as PendingTasksGuard>::has_pending_tasks(0));
}
