//! The committed demo MLP: accuracy on the held-out split, determinism, input bounds, cache.

mod common;

use opg_inference::{
	demo::{self, encode_f32},
	Engine, EngineError, EngineProfile, ModelDescriptor,
};
use opg_model::{
	comparison::ComparisonRule,
	descriptor::{Architecture, ModelFormat},
	task::Rejection,
};

fn import_demo(engine: &Engine) -> ModelDescriptor {
	let dir = demo::model_dir();
	ModelDescriptor {
		weights_hash: engine.import(&dir.join("model.safetensors")).expect("import weights"),
		format: ModelFormat::Safetensors,
		architecture: Architecture::Mlp {
			config_hash: engine.import(&dir.join("config.json")).expect("import config"),
		},
		profile: EngineProfile::REPRODUCIBLE_F32,
	}
}

fn samples() -> Vec<demo::Sample> {
	let samples = demo::parse_digits(&std::fs::read(demo::data_path()).expect("read digits.bin"));
	assert_eq!(samples.len(), 1797);
	samples
}

#[test]
fn demo_model_is_small() {
	let dir = demo::model_dir();
	let size: u64 = ["model.safetensors", "config.json"]
		.iter()
		.map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
		.sum();
	assert!(size < 1 << 20, "demo model is {size} bytes");
}

#[test]
fn demo_model_accuracy_on_held_out_split() {
	let engine = common::engine("demo-accuracy", 1);
	let descriptor = import_demo(&engine);
	let (mut correct, mut total) = (0usize, 0usize);
	for (i, sample) in samples().iter().enumerate().filter(|(i, _)| demo::is_held_out(*i)) {
		let output = engine.run(&descriptor, &encode_f32(&sample.input)).unwrap();
		assert_eq!(output.len(), 10, "sample {i}");
		let sum: f32 = output.iter().sum();
		assert!((sum - 1.0).abs() < 1e-4, "softmax output sums to {sum}");
		let predicted = ComparisonRule::Argmax.canonicalise(&output);
		total += 1;
		if predicted == u32::from(sample.label).to_le_bytes() {
			correct += 1;
		}
	}
	let accuracy = correct as f64 / total as f64;
	println!("demo MLP held-out accuracy: {correct}/{total} = {accuracy:.4}");
	assert_eq!(total, 360);
	// Training reported 0.9694 (349/360).
	assert!(accuracy >= 0.95, "held-out accuracy {accuracy}");
}

#[test]
fn demo_output_is_bit_identical_across_runs_and_thread_counts() {
	let one = common::engine("demo-det-1", 1);
	let two = common::engine("demo-det-2", 2);
	let (d1, d2) = (import_demo(&one), import_demo(&two));
	assert_eq!(d1, d2);
	assert_eq!(one.info().threads, 1);
	assert_eq!(two.info().threads, 2);
	// A batch of inputs, run one at a time.
	for sample in samples().iter().take(50) {
		let input = encode_f32(&sample.input);
		let reference = one.run(&d1, &input).unwrap();
		let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
		for _ in 0..3 {
			assert_eq!(bits(&one.run(&d1, &input).unwrap()), bits(&reference));
			assert_eq!(bits(&two.run(&d2, &input).unwrap()), bits(&reference));
		}
		assert_eq!(
			ComparisonRule::Exact.digest(&two.run(&d2, &input).unwrap()),
			ComparisonRule::Exact.digest(&reference)
		);
	}
}

#[test]
fn a_batch_gives_every_input_the_bits_it_gets_alone() {
	// All 1,797 digits as one engine batch (what the worker does with tasks of one model due
	// together), with bad inputs mixed in: each failing alone, every output bit-identical to
	// its one-by-one run, on 1 and 2 threads.
	for threads in [1, 2] {
		let engine = common::engine(&format!("demo-batch-{threads}"), threads);
		let descriptor = import_demo(&engine);
		let mut inputs: Vec<Vec<u8>> = samples().iter().map(|s| encode_f32(&s.input)).collect();
		inputs.insert(3, encode_f32(&[0.5; 63]));
		inputs.insert(700, vec![0u8; engine.config().max_input_bytes + 4]);
		let batch = engine
			.run_batch(&descriptor, inputs.clone(), &opg_inference::CancelToken::new())
			.expect("the batch runs");
		assert_eq!(batch.len(), inputs.len());
		let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
		for (i, (input, batched)) in inputs.iter().zip(&batch).enumerate() {
			match (engine.run(&descriptor, input), batched) {
				(Ok(alone), Ok(batched)) => assert_eq!(bits(batched), bits(&alone), "input {i}"),
				(
					Err(EngineError::Rejected { rejection: a, .. }),
					Err(EngineError::Rejected { rejection: b, .. }),
				) => {
					assert_eq!((i, a), (3, *b))
				},
				(
					Err(EngineError::InputTooLarge { .. }),
					Err(EngineError::InputTooLarge { .. }),
				) => {
					assert_eq!(i, 700)
				},
				(alone, batched) => panic!("input {i}: alone {alone:?}, batched {batched:?}"),
			}
		}
	}
}

#[test]
fn wrong_or_oversized_inputs_are_refused() {
	let engine = common::engine("demo-input", 1);
	let descriptor = import_demo(&engine);
	for short in [encode_f32(&[0.0; 63]), vec![0u8; 257], vec![1], vec![0u8; 4]] {
		assert!(matches!(
			engine.run(&descriptor, &short),
			Err(EngineError::Rejected { rejection: Rejection::InputShape, .. })
		));
	}
	let huge = vec![0u8; engine.config().max_input_bytes + 4];
	assert!(matches!(
		engine.run(&descriptor, &huge),
		Err(EngineError::InputTooLarge { what: "bytes", .. })
	));
}

#[test]
fn unsupported_format_and_missing_files_are_errors() {
	let engine = common::engine("demo-format", 1);
	let mut descriptor = import_demo(&engine);
	descriptor.format = ModelFormat::Onnx;
	assert!(matches!(engine.run(&descriptor, &[]), Err(EngineError::UnsupportedFormat(_))));
	descriptor.format = ModelFormat::Safetensors;
	descriptor.weights_hash = opg_inference::hash_bytes(b"not imported");
	assert!(!engine.has_files(&descriptor));
	assert!(matches!(engine.run(&descriptor, &[]), Err(EngineError::MissingFile(_))));
}

#[test]
fn tampered_weights_are_never_executed() {
	let engine = common::engine("demo-tamper", 1);
	let descriptor = import_demo(&engine);
	let path = engine.store().path_of(&descriptor.weights_hash);
	let mut bytes = std::fs::read(&path).unwrap();
	let last = bytes.len() - 1;
	bytes[last] ^= 1;
	std::fs::write(&path, &bytes).unwrap();
	assert!(matches!(
		engine.run(&descriptor, &encode_f32(&[0.0; 64])),
		Err(EngineError::HashMismatch { .. })
	));
}

#[test]
fn invalid_config_is_an_error() {
	let engine = common::engine("demo-bad-config", 1);
	let mut descriptor = import_demo(&engine);
	let bad = engine
		.store()
		.import_bytes(br#"{"input_size": 64, "layers": [{"size": 7, "activation": "relu"}]}"#)
		.unwrap();
	descriptor.architecture = Architecture::Mlp { config_hash: bad };
	assert!(matches!(
		engine.run(&descriptor, &encode_f32(&[0.0; 64])),
		Err(EngineError::InvalidWeights(_))
	));
}

#[test]
fn cache_is_bounded_by_bytes() {
	let mut config = opg_inference::EngineConfig::new(common::fresh_dir("demo-cache"));
	let model_bytes = ["model.safetensors", "config.json"]
		.iter()
		.map(|f| std::fs::metadata(demo::model_dir().join(f)).unwrap().len())
		.sum::<u64>();
	// Room for one demo-sized model, not two.
	config.cache_bytes = model_bytes + model_bytes / 2;
	let engine = Engine::new(config).unwrap();
	let first = import_demo(&engine);
	// The same weights under a second (equivalent) config file: a second cache entry.
	let config2 = std::fs::read(demo::model_dir().join("config.json")).unwrap();
	let mut config2 = String::from_utf8(config2).unwrap();
	config2.push('\n');
	let second = ModelDescriptor {
		architecture: Architecture::Mlp {
			config_hash: engine.store().import_bytes(config2.as_bytes()).unwrap(),
		},
		..first
	};
	let input = encode_f32(&[0.5; 64]);
	engine.run(&first, &input).unwrap();
	assert_eq!(engine.cache_usage(), (1, model_bytes));
	engine.run(&second, &input).unwrap();
	// The first was evicted to make room.
	assert_eq!(engine.cache_usage().0, 1);
	assert!(engine.cache_usage().1 <= model_bytes + 1);

	let mut tiny = opg_inference::EngineConfig::new(common::fresh_dir("demo-cache-tiny"));
	tiny.cache_bytes = 10;
	let engine = Engine::new(tiny).unwrap();
	let descriptor = import_demo(&engine);
	engine.run(&descriptor, &input).unwrap();
	assert_eq!(engine.cache_usage(), (0, 0));
}

#[test]
fn cache_evicts_the_least_recently_used_model() {
	let mut config = opg_inference::EngineConfig::new(common::fresh_dir("demo-lru"));
	let model_bytes = ["model.safetensors", "config.json"]
		.iter()
		.map(|f| std::fs::metadata(demo::model_dir().join(f)).unwrap().len())
		.sum::<u64>();
	// Room for two demo-sized models (each variant's config is a few bytes longer), not three.
	config.cache_bytes = 2 * model_bytes + 100;
	let engine = Engine::new(config).unwrap();
	let base = import_demo(&engine);
	let config = std::fs::read_to_string(demo::model_dir().join("config.json")).unwrap();
	// Three models: the same weights under three byte-different but equivalent configs.
	let variant = |padding: usize| ModelDescriptor {
		architecture: Architecture::Mlp {
			config_hash: engine
				.store()
				.import_bytes(format!("{config}{}", " ".repeat(padding)).as_bytes())
				.unwrap(),
		},
		..base
	};
	let (a, b, c) = (variant(1), variant(2), variant(3));
	let input = encode_f32(&[0.25; 64]);
	engine.run(&a, &input).unwrap();
	engine.run(&b, &input).unwrap();
	engine.run(&a, &input).unwrap();
	engine.run(&c, &input).unwrap();
	assert!(engine.is_cached(&a) && engine.is_cached(&c));
	assert!(!engine.is_cached(&b), "b was the least recently used");
	assert_eq!(engine.cache_usage().0, 2);
}

/// The bits of the `FixedOrderFma2` profile, pinned: the `Exact` digest of the demo MLP's outputs
/// on all 1,797 digits. No change to the engine may change them (see the MiniLM test of the same
/// name).
#[test]
fn demo_outputs_are_pinned_by_the_engine_profile() {
	let engine = common::engine("demo-pinned", 1);
	let descriptor = import_demo(&engine);
	let mut outputs = Vec::new();
	for sample in samples() {
		outputs.extend(engine.run(&descriptor, &demo::encode_f32(&sample.input)).expect("runs"));
	}
	assert_eq!(
		format!("{:?}", ComparisonRule::Exact.digest(&outputs)),
		"0x8c383615d408ffffc611cdf9e95cefe306a910eab59e364aa2d3e7760c1daff2",
		"the FixedOrderFma2 profile's demo MLP outputs changed"
	);
}
