//! all-MiniLM-L6-v2 (a real BERT sentence embedder) against reference embeddings computed by
//! sentence-transformers on PyTorch (`scripts/make-reference-embeddings.py`, fixture committed).
//!
//! Needs the model files: `export OPG_MINILM_DIR="$(scripts/fetch-test-models.sh)"`.

mod common;

use opg_inference::{Engine, EngineError, EngineProfile, ModelDescriptor};
use opg_model::{
	comparison::ComparisonRule,
	descriptor::{Architecture, ModelFormat},
	task::Rejection,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
	sentences: Vec<String>,
	embeddings: Vec<Vec<f32>>,
}

fn fixture() -> Fixture {
	let text = include_str!("fixtures/minilm-reference.json");
	serde_json::from_str(text).expect("fixture parses")
}

fn import_minilm(engine: &Engine) -> ModelDescriptor {
	let dir = common::minilm_dir();
	ModelDescriptor {
		weights_hash: engine.import(&dir.join("model.safetensors")).expect("import weights"),
		format: ModelFormat::Safetensors,
		architecture: Architecture::BertEmbedding {
			config_hash: engine.import(&dir.join("config.json")).expect("import config"),
			tokenizer_hash: engine.import(&dir.join("tokenizer.json")).expect("import tokenizer"),
		},
		profile: EngineProfile::REPRODUCIBLE_F32,
	}
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
	let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
	let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
	let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
	dot / (na * nb)
}

#[test]
fn minilm_matches_reference_embeddings() {
	let engine = common::engine("minilm-reference", 1);
	let descriptor = import_minilm(&engine);
	let fixture = fixture();
	assert!(fixture.sentences.len() >= 5);
	let mut ours = Vec::new();
	for (sentence, reference) in fixture.sentences.iter().zip(&fixture.embeddings) {
		let embedding = engine.run(&descriptor, sentence.as_bytes()).unwrap();
		assert_eq!(embedding.len(), 384);
		assert_eq!(embedding.len(), reference.len());
		let similarity = cosine(&embedding, reference);
		let max_diff =
			embedding.iter().zip(reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
		println!("{sentence:?}: cosine {similarity:.8}, max |Δ| {max_diff:e}");
		assert!(similarity >= 0.9999, "{sentence:?}: cosine {similarity}");
		let norm: f64 = embedding.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
		assert!((norm - 1.0).abs() < 1e-5, "not normalised: {norm}");
		ours.push(embedding);
	}
	// Pairs (0, 1) (guitar / instrument) and (4, 5) (cat / kitten) are paraphrases; each ranks
	// its paraphrase above every other sentence.
	for (a, b) in [(0, 1), (1, 0), (4, 5), (5, 4)] {
		let paraphrase = cosine(&ours[a], &ours[b]);
		for (c, other) in ours.iter().enumerate() {
			if c != a && c != b {
				assert!(
					paraphrase > cosine(&ours[a], other),
					"{:?} is closer to {:?} than to {:?}",
					fixture.sentences[a],
					fixture.sentences[c],
					fixture.sentences[b]
				);
			}
		}
	}
}

#[test]
fn minilm_is_bit_identical_across_runs_and_thread_counts() {
	let one = common::engine("minilm-det-1", 1);
	let two = common::engine("minilm-det-2", 2);
	let (d1, d2) = (import_minilm(&one), import_minilm(&two));
	let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
	for sentence in fixture().sentences.iter().take(3) {
		let reference = bits(&one.run(&d1, sentence.as_bytes()).unwrap());
		for _ in 0..2 {
			assert_eq!(bits(&one.run(&d1, sentence.as_bytes()).unwrap()), reference);
			let two_threads = two.run(&d2, sentence.as_bytes()).unwrap();
			assert_eq!(bits(&two_threads), reference, "{sentence:?}: 1 vs 2 threads");
			for rule in [ComparisonRule::Quantized { decimals: 4 }, ComparisonRule::TopK { k: 5 }] {
				let from_one: Vec<f32> = reference.iter().map(|b| f32::from_bits(*b)).collect();
				assert_eq!(rule.digest(&two_threads), rule.digest(&from_one));
			}
		}
	}
}

#[test]
fn minilm_bounds_its_input() {
	let mut config = opg_inference::EngineConfig::new(common::fresh_dir("minilm-bounds"));
	// 256 tokens take seconds in a debug build on a loaded machine: no time limit in the way.
	config.timeout = std::time::Duration::from_secs(600);
	let engine = Engine::new(config).unwrap();
	let descriptor = import_minilm(&engine);
	assert!(engine.run(&descriptor, b"short sentence").is_ok());
	// 254 words and the two special tokens fit; one more word does not.
	let fits = engine.run(&descriptor, "word ".repeat(254).as_bytes());
	assert!(fits.is_ok(), "{fits:?}");
	for long in ["word ".repeat(255), "word ".repeat(400)] {
		assert!(matches!(
			engine.run(&descriptor, long.as_bytes()),
			Err(EngineError::Rejected { rejection: Rejection::TooManyTokens, .. })
		));
	}
	assert!(matches!(
		engine.run(&descriptor, &[0xff, 0xfe]),
		Err(EngineError::Rejected { rejection: Rejection::NotUtf8, .. })
	));
}

#[test]
fn minilm_batch_is_bit_identical_to_one_by_one() {
	let engine = common::engine("minilm-batch", 2);
	let descriptor = import_minilm(&engine);
	let model = engine.load(&descriptor).unwrap();
	let opg_inference::LoadedModel::Bert(bert) = &*model else { panic!("MiniLM is BERT") };
	// Sentences of different lengths, so that all but the longest are padded.
	let fixture = fixture();
	let texts: Vec<&str> = fixture.sentences.iter().map(String::as_str).collect();
	let batch = bert.embed_batch(&texts).unwrap();
	assert_eq!(batch.len(), texts.len());
	let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
	for ((text, batched), reference) in texts.iter().zip(&batch).zip(&fixture.embeddings) {
		let single = bert.embed(text).unwrap();
		assert_eq!(bits(batched), bits(&single), "{text:?}: batch vs single");
		assert!(cosine(batched, reference) >= 0.9999, "{text:?}: batch vs reference");
	}
	// Through the engine, as the worker runs tasks of one model due together: rejected inputs
	// fail alone and the others keep their bits.
	let mut inputs: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
	inputs.insert(1, vec![0xff, 0xfe]);
	inputs.push("word ".repeat(300).into_bytes());
	let results =
		engine.run_batch(&descriptor, inputs.clone(), &opg_inference::CancelToken::new()).unwrap();
	assert_eq!(results.len(), inputs.len());
	for (i, (input, result)) in inputs.iter().zip(&results).enumerate() {
		match (engine.run(&descriptor, input), result) {
			(Ok(alone), Ok(batched)) => assert_eq!(bits(batched), bits(&alone), "input {i}"),
			(
				Err(EngineError::Rejected { rejection: a, .. }),
				Err(EngineError::Rejected { rejection: b, .. }),
			) => assert_eq!(a, *b, "input {i}"),
			(alone, batched) => panic!("input {i}: alone {alone:?}, batched {batched:?}"),
		}
	}
	assert!(matches!(results[1], Err(EngineError::Rejected { rejection: Rejection::NotUtf8, .. })));
	assert!(matches!(
		results.last(),
		Some(Err(EngineError::Rejected { rejection: Rejection::TooManyTokens, .. }))
	));
}

/// The bits of the `FixedOrderFma2` profile, pinned: the `Exact` digest of the embeddings of the
/// 32 benchmark sentences (`benches/sentences.txt`, 5 to 20 tokens), one by one. Executors
/// running different builds of the engine must agree, so no change to the engine (a faster
/// kernel, a fused operation) may change a single bit of a registered profile's outputs: such a
/// change fails here and needs a new profile instead.
#[test]
fn minilm_outputs_are_pinned_by_the_engine_profile() {
	let engine = common::engine("minilm-pinned", 2);
	let descriptor = import_minilm(&engine);
	let mut outputs = Vec::new();
	for sentence in opg_inference::perf::sentences() {
		outputs.extend(engine.run(&descriptor, sentence.as_bytes()).expect("embeds"));
	}
	assert_eq!(outputs.len(), 32 * 384);
	assert_eq!(
		format!("{:?}", ComparisonRule::Exact.digest(&outputs)),
		"0x311d571350dea85a8121df8e2bb740189a5d63d9f5e4fed240af8117c9830c80",
		"the FixedOrderFma2 profile's MiniLM outputs changed"
	);
}
