//! Causal language models: what the registry refuses about their architecture, kinds, rule,
//! format, generation parameters and token fees, and what it stores.

use crate::{mock::*, Error, ModelSpec};
use frame_support::{assert_noop, assert_ok};
use opg_primitives::models::{
	Architecture, ComparisonRule, Decoding, GenerationParams, InputKind, ModelDescriptor,
	ModelFormat, ModelProvider, OutputKind, TokenFees, MAX_NEW_TOKENS, MAX_PROMPT_TOKENS,
};

/// Asserts that registering `spec` by ALICE fails with `error` and changes nothing.
fn assert_rejected(spec: ModelSpec<Balance>, error: Error<Test>) {
	assert_noop!(Models::register_model(RuntimeOrigin::signed(ALICE), spec), error);
}

/// `llm_spec` with `generation` as its parameters.
fn with_generation(generation: GenerationParams) -> ModelSpec<Balance> {
	let spec = llm_spec();
	let architecture = Architecture::CausalLm { generation };
	ModelSpec { descriptor: ModelDescriptor { architecture, ..spec.descriptor }, ..spec }
}

#[test]
fn a_causal_language_model_registers_with_its_prices_and_limits() {
	ExtBuilder::default().build_and_execute(|| {
		let model_id = register(ALICE, llm_spec());
		let params = Models::runnable_model(model_id).unwrap();
		assert_eq!(params.generation(), Some(generation()));
		assert_eq!(
			params.token_fees,
			Some(TokenFees { per_prompt_token: 1, per_generated_token: 3 })
		);
		assert_eq!(params.comparison, ComparisonRule::Tokens);
		// A raw prompt, and no token fees, are fine too.
		let raw_generation =
			GenerationParams { prompt: opg_primitives::models::PromptFormat::Raw, ..generation() };
		let raw = ModelSpec {
			input: InputKind::Text { max_bytes: 1_000 },
			token_fees: None,
			..with_generation(raw_generation)
		};
		let raw_id = register(ALICE, raw);
		assert_eq!(Models::runnable_model(raw_id).unwrap().token_fees, None);
		assert_eq!(held(ALICE), expected_deposit(model_id) + expected_deposit(raw_id));
	});
}

#[test]
fn kinds_that_do_not_fit_the_architecture_are_refused() {
	ExtBuilder::default().build_and_execute(|| {
		// Input: a language model takes no vector; chat goes to language models only.
		assert_rejected(
			ModelSpec { input: InputKind::F32Vector { len: 4 }, ..llm_spec() },
			Error::InputKindMismatch,
		);
		assert_rejected(
			ModelSpec { input: InputKind::Chat { max_bytes: 64 }, ..bert_spec() },
			Error::InputKindMismatch,
		);
		// Output: a language model generates; nothing else does.
		assert_rejected(
			ModelSpec { output: OutputKind::Logits, ..llm_spec() },
			Error::OutputKindMismatch,
		);
		assert_rejected(
			ModelSpec { output: OutputKind::Generation, ..mnist_spec() },
			Error::OutputKindMismatch,
		);
	});
}

#[test]
fn a_rule_that_does_not_compare_the_output_kind_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		for comparison in [
			ComparisonRule::Exact,
			ComparisonRule::Argmax,
			ComparisonRule::TopK { k: 2 },
			ComparisonRule::Quantized { decimals: 2 },
		] {
			assert_rejected(ModelSpec { comparison, ..llm_spec() }, Error::RuleMismatch);
		}
		assert_rejected(
			ModelSpec { comparison: ComparisonRule::Tokens, ..mnist_spec() },
			Error::RuleMismatch,
		);
	});
}

#[test]
fn a_language_model_is_a_gguf_file_and_only_it_is() {
	ExtBuilder::default().build_and_execute(|| {
		let llm = llm_spec();
		let safetensors = ModelDescriptor { format: ModelFormat::Safetensors, ..llm.descriptor };
		assert_rejected(ModelSpec { descriptor: safetensors, ..llm }, Error::FormatMismatch);
		let mnist = mnist_spec();
		let gguf = ModelDescriptor { format: ModelFormat::Gguf, ..mnist.descriptor };
		assert_rejected(ModelSpec { descriptor: gguf, ..mnist }, Error::FormatMismatch);
	});
}

#[test]
fn generation_parameters_out_of_bounds_are_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let base = generation();
		for max_prompt_tokens in [0, MAX_PROMPT_TOKENS + 1] {
			assert_rejected(
				with_generation(GenerationParams { max_prompt_tokens, ..base }),
				Error::InvalidPromptLimit,
			);
		}
		for max_new_tokens in [0, MAX_NEW_TOKENS + 1] {
			assert_rejected(
				with_generation(GenerationParams { max_new_tokens, ..base }),
				Error::InvalidNewTokenLimit,
			);
		}
		for (temperature_milli, top_p_milli) in [(0, 900), (4_001, 900), (700, 0), (700, 1_001)] {
			let decoding = Decoding::Sample { temperature_milli, top_p_milli };
			assert_rejected(
				with_generation(GenerationParams { decoding, ..base }),
				Error::InvalidSampling,
			);
		}
		let decoding = Decoding::Sample { temperature_milli: 700, top_p_milli: 950 };
		register(ALICE, with_generation(GenerationParams { decoding, ..base }));
	});
}

#[test]
fn a_generation_longer_than_a_reveal_is_refused() {
	ExtBuilder::default().build_and_execute(|| {
		// 14 + 36 bytes a token (an id and at most 32 bytes of text): 454 tokens fit 16 KiB,
		// 455 do not.
		let fits = GenerationParams { max_new_tokens: 454, ..generation() };
		assert!(fits.max_output_bytes() <= MAX_OUTPUT_LEN);
		register(ALICE, with_generation(fits));
		let too_long = GenerationParams { max_new_tokens: 455, ..generation() };
		assert!(too_long.max_output_bytes() > MAX_OUTPUT_LEN);
		assert_rejected(with_generation(too_long), Error::GenerationTooLong);
		assert_rejected(
			with_generation(GenerationParams { max_new_tokens: MAX_NEW_TOKENS, ..generation() }),
			Error::GenerationTooLong,
		);
	});
}

#[test]
fn token_fees_are_for_language_models_and_must_not_overflow() {
	ExtBuilder::default().build_and_execute(|| {
		let fees = Some(TokenFees { per_prompt_token: 1, per_generated_token: 1 });
		assert_rejected(
			ModelSpec { token_fees: fees, ..mnist_spec() },
			Error::TokenFeesNotApplicable,
		);
		assert_rejected(
			ModelSpec { token_fees: fees, ..bert_spec() },
			Error::TokenFeesNotApplicable,
		);
		// The dearest task: (fee + 512 × prompt price + 128 × token price) × MaxRedundancy.
		let per_token = Balance::MAX / 128;
		let dear = Some(TokenFees { per_prompt_token: 0, per_generated_token: per_token });
		assert_rejected(ModelSpec { token_fees: dear, ..llm_spec() }, Error::TokenFeesOverflow);
		let limit = Balance::MAX / Balance::from(MAX_REDUNDANCY) / 1_000;
		let fine = Some(TokenFees { per_prompt_token: limit, per_generated_token: 0 });
		assert_ok!(Models::register_model(
			RuntimeOrigin::signed(ALICE),
			ModelSpec { token_fees: fine, ..llm_spec() }
		));
	});
}

#[test]
fn a_new_version_is_checked_like_a_registration() {
	ExtBuilder::default().build_and_execute(|| {
		let model_id = register(ALICE, llm_spec());
		assert_noop!(
			Models::publish_version(
				RuntimeOrigin::signed(ALICE),
				model_id,
				ModelSpec { output: OutputKind::Values, ..llm_spec() }
			),
			Error::<Test>::OutputKindMismatch
		);
		assert_ok!(Models::publish_version(RuntimeOrigin::signed(ALICE), model_id, llm_spec()));
	});
}
