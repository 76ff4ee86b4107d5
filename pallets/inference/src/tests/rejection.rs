//! Inputs a model refuses: refused at request when the chain can tell, settled `Rejected` with
//! the executors paid when only the model's files can.

use crate::{mock::*, Error, Event, FailReason, TaskResults, TaskStatus};
use frame_support::assert_noop;
use opg_primitives::{
	inference::Rejection,
	models::{Architecture, InputKind, ModelDescriptor},
	staking::SlashReason,
};
use pallet_models::ModelSpec;
use sp_core::H256;

/// Registers a model like the default one with `input`, served by all four validators.
fn model_with_input(input: InputKind) -> u32 {
	let model_id = pallet_models::NextModelId::<Test>::get();
	frame_support::assert_ok!(Models::register_model(RuntimeOrigin::signed(OWNER), {
		let spec = spec(3, None, opg_primitives::models::ComparisonRule::Argmax);
		let architecture = match input {
			InputKind::F32Vector { .. } => Architecture::Mlp { config_hash: H256::repeat_byte(1) },
			InputKind::Text { .. } => Architecture::BertEmbedding {
				config_hash: H256::repeat_byte(1),
				tokenizer_hash: H256::repeat_byte(2),
			},
			InputKind::Chat { .. } => unreachable!("chat models: see tests/generation.rs"),
		};
		ModelSpec { input, descriptor: ModelDescriptor { architecture, ..spec.descriptor }, ..spec }
	}));
	for v in [V1, V2, V3, V4] {
		frame_support::assert_ok!(Models::serve_model(RuntimeOrigin::signed(v), model_id));
	}
	model_id
}

fn request_input(
	model_id: u32,
	input: Vec<u8>,
) -> frame_support::dispatch::DispatchResultWithPostInfo {
	Inference::request_inference(RuntimeOrigin::signed(ALICE), model_id, input, u64::MAX, None)
}

#[test]
fn inputs_that_do_not_fit_the_declared_shape_are_refused_at_request() {
	ExtBuilder::default().build_and_execute(|| {
		let vector = model_with_input(InputKind::F32Vector { len: 2 });
		let text = model_with_input(InputKind::Text { max_bytes: 8 });
		let before = free(ALICE);
		for wrong in [vec![1], vec![0; 4], vec![0; 7], vec![0; 9], vec![0; 12]] {
			assert_noop!(request_input(vector, wrong), Error::<Test>::InputLengthMismatch);
		}
		assert_noop!(request_input(text, vec![0xff, 0xfe]), Error::<Test>::InputNotUtf8);
		assert_noop!(
			request_input(text, b"nine char".to_vec()),
			Error::<Test>::InputAboveModelLimit
		);
		// Cut in the middle of a character: not UTF-8.
		assert_noop!(
			request_input(text, "é".as_bytes()[..1].to_vec()),
			Error::<Test>::InputNotUtf8
		);
		assert_eq!(free(ALICE), before);
		frame_support::assert_ok!(request_input(vector, vec![0; 8]));
		frame_support::assert_ok!(request_input(text, "héllo".as_bytes().to_vec()));
	});
}

#[test]
fn a_quorum_on_a_rejection_pays_the_executors_and_refunds_the_rest() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		assert_eq!(escrow(ALICE), 3_300);
		for v in &drawn {
			commit_rejection(task_id, *v, Rejection::TooManyTokens);
		}
		for v in &drawn {
			reveal_rejection(task_id, *v, Rejection::TooManyTokens);
		}
		let task = Inference::task(task_id).unwrap();
		assert_eq!(
			task.status,
			TaskStatus::Rejected { rejection: Rejection::TooManyTokens, at: 3 }
		);
		assert!(!TaskResults::<Test>::contains_key(task_id));
		// Three fees and the protocol fee are paid: the work was done.
		assert_eq!(free(ALICE), INITIAL - 3_300);
		assert_eq!(escrow(ALICE), 0);
		assert!(inference_events().contains(&Event::TaskRejected {
			task_id,
			rejection: Rejection::TooManyTokens,
			paid: 3_000,
			protocol_fee: 300,
			refunded: 0,
		}));
		for v in &drawn {
			assert!(inference_events().contains(&Event::ExecutorRewarded {
				task_id,
				executor: *v,
				amount: FEE_PER_EXECUTOR
			}));
			assert_eq!(stake_of(*v, *v), BOND);
		}
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
	});
}

#[test]
fn an_output_against_a_rejection_quorum_is_a_mismatch_and_so_is_another_rejection() {
	ExtBuilder::default().build_and_execute(|| {
		let task_id = request_with(ALICE, Some(4));
		next_block();
		next_block();
		let drawn = executors(task_id);
		// Two agree on the rejection, one computes an output, one another rejection.
		commit_rejection(task_id, drawn[0], Rejection::Untokenizable);
		commit_rejection(task_id, drawn[1], Rejection::Untokenizable);
		commit(task_id, drawn[2], &logits(1));
		commit_rejection(task_id, drawn[3], Rejection::TooManyTokens);
		reveal_rejection(task_id, drawn[0], Rejection::Untokenizable);
		reveal_rejection(task_id, drawn[1], Rejection::Untokenizable);
		reveal(task_id, drawn[2], &logits(1));
		reveal_rejection(task_id, drawn[3], Rejection::TooManyTokens);
		// Quorum 3 of 4 is not reached by two: no quorum, nobody slashed for dissent.
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: FailReason::NoQuorum, .. }
		));
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));

		// Redundancy 3, quorum 2: the rejection wins and the output's executor dissents.
		let (task_id, drawn) = assigned_task(ALICE);
		commit_rejection(task_id, drawn[0], Rejection::Untokenizable);
		commit_rejection(task_id, drawn[1], Rejection::Untokenizable);
		commit(task_id, drawn[2], &logits(1));
		reveal_rejection(task_id, drawn[0], Rejection::Untokenizable);
		reveal_rejection(task_id, drawn[1], Rejection::Untokenizable);
		reveal(task_id, drawn[2], &logits(1));
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Rejected { rejection: Rejection::Untokenizable, .. }
		));
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::ExecutorSlashed { executor, reason: SlashReason::Mismatch, .. }
				if *executor == drawn[2]
		)));
	});
}

#[test]
fn a_revealed_rejection_must_match_its_commitment() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		for v in &drawn {
			commit_rejection(task_id, *v, Rejection::Untokenizable);
		}
		assert_noop!(
			Inference::reveal_result(
				RuntimeOrigin::signed(drawn[0]),
				task_id,
				opg_primitives::inference::TaskOutcome::Rejected(Rejection::TooManyTokens),
				salt_of(drawn[0])
			),
			Error::<Test>::CommitmentMismatch
		);
		assert_noop!(
			try_reveal(
				task_id,
				drawn[0],
				opg_primitives::inference::encode_output(&logits(1)),
				salt_of(drawn[0])
			),
			Error::<Test>::CommitmentMismatch
		);
	});
}

#[test]
fn a_rejection_the_input_kind_rules_out_is_refused_at_reveal() {
	ExtBuilder::default().build_and_execute(|| {
		// The default model takes text: the chain checked its UTF-8 and length already.
		let (task_id, drawn) = assigned_task(ALICE);
		let impossible = [Rejection::NotUtf8, Rejection::InputShape, Rejection::NotUtf8];
		for (v, rejection) in drawn.iter().zip(impossible) {
			commit_rejection(task_id, *v, rejection);
		}
		for (v, rejection) in drawn.iter().zip(impossible) {
			assert_noop!(
				Inference::reveal_result(
					RuntimeOrigin::signed(*v),
					task_id,
					opg_primitives::inference::TaskOutcome::Rejected(rejection),
					salt_of(*v)
				),
				Error::<Test>::ImpossibleRejection
			);
		}
	});
}

#[test]
fn a_model_whose_input_kind_does_not_fit_its_architecture_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let spec = spec(3, None, opg_primitives::models::ComparisonRule::Argmax);
		let architecture = Architecture::Mlp { config_hash: H256::repeat_byte(1) };
		let mlp_with_text = ModelSpec {
			descriptor: ModelDescriptor { architecture, ..spec.descriptor },
			input: InputKind::Text { max_bytes: 8 },
			..spec
		};
		assert_noop!(
			Models::register_model(RuntimeOrigin::signed(OWNER), mlp_with_text),
			pallet_models::Error::<Test>::InputKindMismatch
		);
	});
}
