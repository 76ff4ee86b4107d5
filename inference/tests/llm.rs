//! SmolLM2-135M-Instruct (GGUF, `Q4_1`) on the engine: its tokens against Hugging Face
//! transformers' (`scripts/make-reference-llm.py`, saved in
//! `tests/fixtures/smollm2_reference.json`), its rejections, its sampling, and its generation
//! through the engine's store, time limit and thread pool.

mod common;

use codec::Encode;
use opg_inference::{llm::CausalLm, CancelToken, EngineProfile, ModelDescriptor};
use opg_model::{
	comparison::ComparisonRule,
	descriptor::{Architecture, ModelFormat},
	generation::{Decoding, Generation, GenerationParams, PromptFormat},
	task::Rejection,
};
use serde_json::Value;
use std::sync::{atomic::AtomicBool, OnceLock};

/// Greedy tokens compared with the reference per prompt.
const COMPARED: usize = 32;

/// Largest difference between the engine's score of a token and transformers', over the top 5
/// tokens of every step compared (the reference keeps 6 decimals). The two compute the same
/// network on the same weights in `f32`, in different orders: their scores differ in the last
/// bits, not in the third decimal.
const MAX_SCORE_DIFFERENCE: f64 = 2e-3;

/// Largest top-2 gap of the reference's scores at a step where the engine picks another token:
/// only a near-tie may part them (the two compute the same network in different orders).
const NEAR_TIE: f64 = 1e-3;

fn params(prompt: PromptFormat, decoding: Decoding) -> GenerationParams {
	GenerationParams {
		prompt,
		max_prompt_tokens: 512,
		max_new_tokens: 32,
		stop_tokens: [None; 4],
		decoding,
	}
}

fn bytes() -> &'static [u8] {
	static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
	BYTES.get_or_init(|| std::fs::read(common::smollm2_gguf()).expect("read the GGUF file"))
}

fn model(prompt: PromptFormat) -> &'static CausalLm {
	static CHAT: OnceLock<CausalLm> = OnceLock::new();
	static RAW: OnceLock<CausalLm> = OnceLock::new();
	let cell = if prompt == PromptFormat::Chat { &CHAT } else { &RAW };
	cell.get_or_init(|| CausalLm::load(bytes(), params(prompt, Decoding::Greedy)).expect("load"))
}

fn reference() -> Value {
	let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smollm2_reference.json");
	serde_json::from_str(&std::fs::read_to_string(path).expect("the reference")).expect("JSON")
}

fn ids(value: &Value) -> Vec<u32> {
	value.as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect()
}

/// The case's input as the chain receives it: the chat messages as JSON, or the raw prompt.
fn input(case: &Value) -> (PromptFormat, Vec<u8>) {
	match case.get("messages").filter(|m| !m.is_null()) {
		Some(messages) => (PromptFormat::Chat, serde_json::to_vec(messages).expect("JSON")),
		None => (PromptFormat::Raw, case["raw"].as_str().expect("raw").as_bytes().to_vec()),
	}
}

fn top2_gap(logits: &[f32]) -> f64 {
	let mut sorted: Vec<f32> = logits.to_vec();
	sorted.sort_by(|a, b| b.total_cmp(a));
	match sorted.as_slice() {
		[first, second, ..] => f64::from(*first) - f64::from(*second),
		_ => f64::INFINITY,
	}
}

/// The chat template renders as transformers' `apply_chat_template`, and the tokens are
/// llama.cpp's, the reference implementation of GGUF tokenizers. (transformers' GGUF tokenizer
/// leaves out the `smollm` pre-tokenizer's digit split: on the `code` case it splits the spaces
/// before `8080` differently. The greedy comparison below feeds both models transformers' ids.)
#[test]
fn prompts_render_as_transformers_and_tokenize_as_llama_cpp() {
	let reference = reference();
	let mut differ = Vec::new();
	for case in reference["cases"].as_array().expect("cases") {
		let name = case["name"].as_str().unwrap_or("?");
		let (format, input) = input(case);
		let model = model(format);
		let prompt = model.prompt(&input).expect("prompt");
		assert_eq!(prompt, case["rendered"].as_str().expect("rendered"), "{name}: rendering");
		let tokens = model.tokenize(&prompt).expect("tokens");
		assert_eq!(tokens, ids(&case["llama_cpp_prompt_ids"]), "{name}: prompt tokens");
		if tokens != ids(&case["prompt_ids"]) {
			differ.push(name.to_owned());
		}
	}
	assert_eq!(differ, ["code"], "cases where transformers' GGUF tokenizer differs");
}

#[test]
fn greedy_tokens_match_transformers_up_to_near_ties() {
	let reference = reference();
	let (mut equal, mut total, mut parted) = (0, 0, Vec::new());
	let mut largest = 0f64;
	for case in reference["cases"].as_array().expect("cases") {
		let name = case["name"].as_str().unwrap_or("?");
		let (format, _) = input(case);
		let expected = ids(&case["generated_ids"]);
		let gaps: Vec<f64> = case["top2_gaps"]
			.as_array()
			.expect("gaps")
			.iter()
			.map(|g| g.as_f64().expect("gap"))
			.collect();
		let steps = model(format)
			.greedy_with_logits(&ids(&case["prompt_ids"]), COMPARED)
			.expect("generate");
		total += COMPARED;
		for (step, (token, logits)) in steps.iter().enumerate() {
			let (Some(&reference), Some(&theirs)) = (expected.get(step), gaps.get(step)) else {
				panic!("{name}: the reference has no step {step}")
			};
			for pair in case["top5"][step].as_array().expect("top 5") {
				let (id, score) = (pair[0].as_u64().expect("id"), pair[1].as_f64().expect("score"));
				let ours = f64::from(logits.get(id as usize).copied().unwrap_or(f32::NAN));
				let difference = (ours - score).abs();
				assert!(
					difference <= MAX_SCORE_DIFFERENCE,
					"{name}: step {step}, token {id}: engine {ours}, transformers {score}"
				);
				largest = largest.max(difference);
			}
			if *token == reference {
				equal += 1;
				continue;
			}
			// The first step where they part: both must see a near-tie there.
			let ours = top2_gap(logits);
			eprintln!(
				"{name}: step {step}: engine {token}, transformers {reference} (top-2 gap: engine {ours:.2e}, transformers {theirs:.2e})"
			);
			assert!(
				theirs < NEAR_TIE && ours < NEAR_TIE,
				"{name}: parted at step {step} without a near-tie"
			);
			parted.push((name.to_owned(), step));
			break;
		}
	}
	eprintln!("{equal} of {total} greedy tokens equal to transformers'; parted at near-ties: {parted:?}; scores within {largest:.2e}");
	assert!(equal * 10 >= total * 9, "only {equal} of {total} tokens agree");
}

#[test]
fn the_models_rejections_are_deterministic() {
	let chat = model(PromptFormat::Chat);
	let stop = AtomicBool::new(false);
	let rejection = |model: &CausalLm, input: &[u8]| match model.generate(input, &[0; 32], &stop) {
		Err(opg_inference::EngineError::Rejected { rejection, .. }) => rejection,
		other => {
			panic!("{:?}: expected a rejection, got {other:?}", String::from_utf8_lossy(input))
		},
	};
	assert_eq!(rejection(chat, b"\xff"), Rejection::NotUtf8);
	assert_eq!(rejection(chat, b"not json"), Rejection::MalformedChat);
	assert_eq!(rejection(chat, br#"[{"role": "user"}]"#), Rejection::MalformedChat);
	assert_eq!(
		rejection(chat, br#"[{"role": "root", "content": "hi"}]"#),
		Rejection::MalformedChat
	);
	assert_eq!(
		rejection(chat, br#"[{"role": "user", "content": "hi", "x": 1}]"#),
		Rejection::MalformedChat
	);
	let long = format!(r#"[{{"role": "user", "content": "{}"}}]"#, "word ".repeat(600));
	assert_eq!(rejection(chat, long.as_bytes()), Rejection::TooManyTokens);
	// Refused by its length alone, before the tokenizer runs.
	let huge = format!(r#"[{{"role": "user", "content": "{}"}}]"#, "x".repeat(200_000));
	assert_eq!(rejection(chat, huge.as_bytes()), Rejection::TooManyTokens);
	assert_eq!(rejection(model(PromptFormat::Raw), b""), Rejection::Untokenizable);
}

#[test]
fn a_registration_beyond_the_models_context_is_refused_at_load() {
	// 8,192 positions (the model's context) are allowed: 30 blocks × 192 keys and values × 8
	// bytes = 46 KB a position, 377 MB of key-value cache, under `MAX_KV_CACHE_BYTES`.
	let within = GenerationParams {
		max_prompt_tokens: 7_680,
		max_new_tokens: 512,
		..params(PromptFormat::Chat, Decoding::Greedy)
	};
	assert!(CausalLm::load(bytes(), within).is_ok());
	let beyond = GenerationParams { max_prompt_tokens: 8_000, max_new_tokens: 512, ..within };
	assert!(matches!(
		CausalLm::load(bytes(), beyond),
		Err(opg_inference::EngineError::InvalidConfig(_))
	));
}

#[test]
fn sampling_draws_the_same_tokens_from_the_same_seed() {
	let sample = Decoding::Sample { temperature_milli: 1000, top_p_milli: 950 };
	let sampler = CausalLm::load(bytes(), params(PromptFormat::Chat, sample)).expect("load");
	let input = br#"[{"role": "user", "content": "Tell me a short story about a cat."}]"#;
	let stop = AtomicBool::new(false);
	let a = sampler.generate(input, &[1; 32], &stop).expect("generate");
	let b = sampler.generate(input, &[1; 32], &stop).expect("generate");
	let c = sampler.generate(input, &[2; 32], &stop).expect("generate");
	assert_eq!(a, b);
	assert_ne!(a.tokens, c.tokens, "another seed, another story");
	let greedy = model(PromptFormat::Chat).generate(input, &[1; 32], &stop).expect("generate");
	assert_ne!(a.tokens, greedy.tokens);
}

#[test]
fn the_engine_generates_the_same_bits_on_one_and_two_threads() {
	let mut outputs = Vec::new();
	for threads in [1, 2] {
		// Other tests run beside this one: a time limit that only a hang reaches.
		let mut config =
			opg_inference::EngineConfig::new(common::fresh_dir(&format!("llm-{threads}")));
		config.threads = threads;
		config.timeout = std::time::Duration::from_secs(300);
		let engine = opg_inference::Engine::new(config).expect("engine");
		let weights_hash = engine.import(&common::smollm2_gguf()).expect("import");
		let descriptor = ModelDescriptor {
			weights_hash,
			format: ModelFormat::Gguf,
			architecture: Architecture::CausalLm {
				generation: params(PromptFormat::Chat, Decoding::Greedy),
			},
			profile: EngineProfile::REPRODUCIBLE_F32,
		};
		let input = br#"[{"role": "user", "content": "What is 12 + 30?"}]"#;
		let bytes =
			engine.run_output(&descriptor, input, [0; 32], &CancelToken::new()).expect("run");
		let generation = Generation::decode_output(&bytes).expect("a generation");
		assert_eq!(bytes, generation.encode());
		assert!(!generation.tokens.is_empty() && generation.tokens.len() <= 32);
		assert!(generation.prompt_tokens > 10);
		assert!(ComparisonRule::Tokens.digest_output(&bytes).is_some());
		// The engine refuses to treat it as a vector model, and a safetensors descriptor of it.
		assert!(engine.run(&descriptor, input).is_err());
		let wrong = ModelDescriptor { format: ModelFormat::Safetensors, ..descriptor };
		assert!(engine.run_output(&wrong, input, [0; 32], &CancelToken::new()).is_err());
		outputs.push(bytes);
	}
	assert_eq!(outputs[0], outputs[1]);
}

/// The prompt runs in chunks of `PREFILL_CHUNK` positions: a prompt longer than one chunk gives
/// the scores of one forward pass over all of it, bit for bit (the chunking is only how often
/// the time limit is checked).
#[test]
fn a_prompt_in_chunks_gives_the_same_bits() {
	let model = model(PromptFormat::Raw);
	let prompt = "The validators of a chain agree on every token. ".repeat(20);
	let ids = model.tokenize(&prompt).expect("tokens");
	assert!(ids.len() > opg_inference::llm::PREFILL_CHUNK, "{} tokens", ids.len());
	let chunked = model.prefill_logits(&ids).expect("in chunks");
	let whole = model.greedy_with_logits(&ids, 1).expect("one pass").remove(0).1;
	assert_eq!(chunked.len(), whole.len());
	assert!(
		chunked.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()),
		"the chunks changed bits"
	);
	// And a stop requested before the prompt is done ends the generation at once.
	let stopped = AtomicBool::new(true);
	assert!(matches!(
		model.generate_ids(&ids, &[0; 32], &stopped),
		Err(opg_inference::EngineError::Timeout)
	));
}
