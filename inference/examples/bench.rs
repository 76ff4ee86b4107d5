//! Latency of the engine on the real models, and the `Exact` digests of their outputs (to
//! compare raw outputs across processes with different `RAYON_NUM_THREADS`, i.e. different
//! thread pools).
//!
//! `OPG_MINILM_DIR="$(scripts/fetch-test-models.sh)" cargo run -p opg-inference --example bench --release -- THREADS [RUNS] [PATH]`
//!
//! `PATH` (`avx2` or `portable`) forces a slower kernel path than the CPU's fastest
//! ([`kernels::KernelPath::force`]): the same bits, to measure what a CPU without AVX-512, or
//! without FMA (the portable path emulates the fused multiply-add there), pays.
//!
//! Not a criterion benchmark: a plain timing loop over the sentences of `benches/sentences.txt`,
//! reported as medians, ending with one `RESULT` line that `scripts/bench-engine.sh` parses and
//! sets beside PyTorch's (`scripts/bench-minilm-torch.py` prints the same line).

use opg_inference::{
	demo, kernels, perf, CancelToken, Engine, EngineConfig, EngineProfile, LoadedModel,
	ModelDescriptor,
};
use opg_model::{
	comparison::ComparisonRule,
	descriptor::{Architecture, ModelFormat},
};
use std::{
	sync::Arc,
	time::{Duration, Instant},
};

fn median(mut samples: Vec<Duration>) -> Duration {
	samples.sort();
	samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> f64 {
	duration.as_secs_f64() * 1e3
}

/// CPU time of the whole process so far (all threads, user + system), from `/proc/self/stat`
/// in clock ticks of 10 ms; `None` off Linux. Less sensitive than wall time to other processes
/// competing for the cores, so it gives a fair one-thread comparison on a busy machine.
fn process_cpu() -> Option<Duration> {
	let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
	// Fields after the command name (which may hold spaces) start at field 3; utime and stime
	// are fields 14 and 15.
	let rest = stat.rsplit_once(')')?.1;
	let mut fields = rest.split_whitespace().skip(11);
	let utime: u64 = fields.next()?.parse().ok()?;
	let stime: u64 = fields.next()?.parse().ok()?;
	Some(Duration::from_millis(utime.saturating_add(stime).saturating_mul(10)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
	let threads: usize = std::env::args().nth(1).map_or(Ok(1), |t| t.parse())?;
	let runs: usize = std::env::args().nth(2).map_or(Ok(30), |t| t.parse())?;
	let path = match std::env::args().nth(3).as_deref() {
		None => kernels::KernelPath::detect(),
		Some("avx2") => kernels::KernelPath::Avx2Fma,
		Some("portable") => kernels::KernelPath::Portable,
		Some(other) => return Err(format!("unknown kernel path {other} (avx2, portable)").into()),
	};
	if !kernels::KernelPath::force(Some(path)) {
		return Err(format!("this CPU cannot run the {path:?} kernels").into());
	}
	let minilm = std::path::PathBuf::from(
		std::env::var_os("OPG_MINILM_DIR")
			.ok_or("set OPG_MINILM_DIR (scripts/fetch-test-models.sh)")?,
	);
	let mut config = EngineConfig::new(std::env::temp_dir().join("opg-inference-bench"));
	config.threads = threads;
	// The slow paths take minutes for a batch: measured, not cut off.
	config.timeout = Duration::from_secs(3600);
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
		profile: EngineProfile::REPRODUCIBLE_F32,
	};
	let mlp = ModelDescriptor {
		weights_hash: engine.import(&demo::model_dir().join("model.safetensors"))?,
		format: ModelFormat::Safetensors,
		architecture: Architecture::Mlp {
			config_hash: engine.import(&demo::model_dir().join("config.json"))?,
		},
		profile: EngineProfile::REPRODUCIBLE_F32,
	};

	let sentences = perf::sentences();
	let sentence = *sentences.first().ok_or("no sentences")?;
	let model = engine.load(&bert)?;
	let LoadedModel::Bert(embedder) = &*model else { return Err("MiniLM is not BERT".into()) };
	let tokens = embedder.tokenize(sentence)?.len();
	let padded = sentences
		.iter()
		.map(|s| embedder.tokenize(s).map(|t| t.len()))
		.try_fold(0, |max, len| len.map(|len| max.max(len)))?;
	let flops_one = embedder.shape().flops(1, tokens);
	let flops_batch = embedder.shape().flops(sentences.len(), padded);

	let out = engine.run(&bert, sentence.as_bytes())?;
	let mut times = Vec::new();
	for _ in 0..runs {
		let start = Instant::now();
		engine.run(&bert, sentence.as_bytes())?;
		times.push(start.elapsed());
	}
	let one = median(times);
	// CPU time per sentence over enough runs for the 10 ms tick to matter little.
	let cpu_runs = runs.saturating_mul(4).max(1);
	let cpu_start = process_cpu();
	for _ in 0..cpu_runs {
		engine.run(&bert, sentence.as_bytes())?;
	}
	let cpu_one = match (cpu_start, process_cpu()) {
		(Some(start), Some(end)) => ms(end.saturating_sub(start)) / cpu_runs as f64,
		_ => f64::NAN,
	};
	println!("MiniLM, 1 sentence ({tokens} tokens): median {one:?}");
	println!("MiniLM Exact digest {:?}", ComparisonRule::Exact.digest(&out));

	let texts = Arc::new(sentences.clone());
	let batch_job = || {
		let (model, texts) = (model.clone(), texts.clone());
		engine.execute(&CancelToken::new(), move || match &*model {
			LoadedModel::Bert(bert) => bert.embed_batch(&texts),
			LoadedModel::Mlp(_) | LoadedModel::Llm(_) => Ok(Vec::new()),
		})
	};
	// A warm-up batch, and a fifth as many batches as single runs (at least 3), unless a slow
	// path is measured with a single run.
	if runs > 1 {
		batch_job()?;
	}
	let mut times = Vec::new();
	for _ in 0..if runs > 1 { runs.div_ceil(5).max(3) } else { 1 } {
		let start = Instant::now();
		batch_job()?;
		times.push(start.elapsed());
	}
	let batch = median(times);
	println!("MiniLM, batch of {} ({padded} tokens padded): median {batch:?}", sentences.len());

	let peak = engine.execute(&CancelToken::new(), || perf::matmul_gflops(512, 10))?;

	let samples = demo::parse_digits(&std::fs::read(demo::data_path())?);
	let inputs: Vec<Vec<u8>> = samples.iter().map(|s| demo::encode_f32(&s.input)).collect();
	let start = Instant::now();
	let mut digest_input = Vec::new();
	for input in &inputs {
		digest_input.extend(engine.run(&mlp, input)?);
	}
	let elapsed = start.elapsed();
	let mlp_rate = inputs.len() as f64 / elapsed.as_secs_f64();
	println!("demo MLP: {} inferences in {elapsed:?} ({mlp_rate:.0}/s)", inputs.len());
	println!(
		"demo MLP Exact digest of all outputs {:?}",
		ComparisonRule::Exact.digest(&digest_input)
	);
	println!(
		"RESULT impl=candle path={path:?} threads={threads} tokens={tokens} one_ms={:.3} one_cpu_ms={cpu_one:.3} \
		 batch={} padded={padded} batch_ms={:.3} one_gflops={:.2} batch_gflops={:.2} peak_gflops={peak:.1} mlp_per_s={mlp_rate:.0}",
		ms(one),
		sentences.len(),
		ms(batch),
		flops_one / one.as_secs_f64() / 1e9,
		flops_batch / batch.as_secs_f64() / 1e9,
	);
	Ok(())
}
