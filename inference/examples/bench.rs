//! Latency of the engine on the real models, and the `Exact` digests of their outputs (to
//! compare raw outputs across processes with different `RAYON_NUM_THREADS`, i.e. different
//! `gemm` work splits).
//!
//! `OPG_MINILM_DIR="$(scripts/fetch-test-models.sh)" cargo run -p opg-inference --example bench --release -- THREADS`
//!
//! Not a criterion benchmark: a plain timing loop, reported as the median.

use opg_inference::{demo, Engine, EngineConfig, ModelDescriptor};
use opg_primitives::models::{Architecture, ComparisonRule, ModelFormat};
use std::time::{Duration, Instant};

const SENTENCE: &str = "Validators run the model and commit to the digest of its output.";

fn median(mut samples: Vec<Duration>) -> Duration {
	samples.sort();
	samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
	let threads: usize = std::env::args().nth(1).map_or(Ok(1), |t| t.parse())?;
	let minilm = std::path::PathBuf::from(
		std::env::var_os("OPG_MINILM_DIR")
			.ok_or("set OPG_MINILM_DIR (scripts/fetch-test-models.sh)")?,
	);
	let mut config = EngineConfig::new(std::env::temp_dir().join("opg-inference-bench"));
	config.threads = threads;
	let engine = Engine::new(config)?;
	println!(
		"{:?}, candle gemm split: RAYON_NUM_THREADS={:?}",
		engine.info(),
		std::env::var("RAYON_NUM_THREADS").ok()
	);

	let bert = ModelDescriptor {
		weights_hash: engine.import(&minilm.join("model.safetensors"))?,
		format: ModelFormat::Safetensors,
		architecture: Architecture::BertEmbedding {
			config_hash: engine.import(&minilm.join("config.json"))?,
			tokenizer_hash: engine.import(&minilm.join("tokenizer.json"))?,
		},
	};
	let mlp = ModelDescriptor {
		weights_hash: engine.import(&demo::model_dir().join("model.safetensors"))?,
		format: ModelFormat::Safetensors,
		architecture: Architecture::Mlp {
			config_hash: engine.import(&demo::model_dir().join("config.json"))?,
		},
	};

	let out = engine.run(&bert, SENTENCE.as_bytes())?;
	let mut times = Vec::new();
	for _ in 0..30 {
		let start = Instant::now();
		engine.run(&bert, SENTENCE.as_bytes())?;
		times.push(start.elapsed());
	}
	println!("MiniLM, 1 sentence: median {:?}", median(times));
	let start = Instant::now();
	for _ in 0..32 {
		engine.run(&bert, SENTENCE.as_bytes())?;
	}
	println!("MiniLM, 32 sentences one by one: {:?}", start.elapsed());
	println!("MiniLM Exact digest {:?}", ComparisonRule::Exact.digest(&out));

	let samples = demo::parse_digits(&std::fs::read(demo::data_path())?);
	let inputs: Vec<Vec<u8>> = samples.iter().map(|s| demo::encode_f32(&s.input)).collect();
	let start = Instant::now();
	let mut digest_input = Vec::new();
	for input in &inputs {
		digest_input.extend(engine.run(&mlp, input)?);
	}
	let elapsed = start.elapsed();
	println!(
		"demo MLP: {} inferences in {elapsed:?} ({:.0}/s)",
		inputs.len(),
		inputs.len() as f64 / elapsed.as_secs_f64()
	);
	println!(
		"demo MLP Exact digest of all outputs {:?}",
		ComparisonRule::Exact.digest(&digest_input)
	);
	Ok(())
}
