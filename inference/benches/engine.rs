//! Criterion benchmarks of the engine: `cargo bench -p opg-inference`.
//!
//! - `mlp/<threads>t/run_one`: the demo MLP (64 → 32 → 10), one input per `Engine::run`
//!   (store lookup, cache, worker hand-off included); `forward_1797`: the whole digits data set
//!   as one `[1797, 64]` forward pass. Throughput in inferences per second.
//! - `minilm/<threads>t/1_sentence`: all-MiniLM-L6-v2 on one 15-token sentence through
//!   `Engine::run` (tokenisation, pooling, normalisation included); `batch_32`: 32 sentences in
//!   one padded forward pass (`BertEmbedder::embed_batch`). Throughput is in *FLOPs*
//!   (`BertShape::flops`: the matrix products of the 6 layers and attention for the tokens
//!   computed), so criterion's `elem/s` reads as FLOP/s. Needs `OPG_MINILM_DIR`
//!   (`scripts/fetch-test-models.sh`); skipped with a message when unset.
//!
//! Before the MiniLM groups each thread count prints the practical peak: a 512³ `f32` matrix
//! product through candle's `gemm` (`opg_inference::perf::matmul_gflops`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use opg_inference::{
	demo, perf, CancelToken, Engine, EngineConfig, EngineProfile, LoadedModel, ModelDescriptor,
};
use opg_model::descriptor::{Architecture, ModelFormat};
use std::{path::PathBuf, sync::Arc};

fn engine(threads: usize) -> Engine {
	let dir = std::env::temp_dir().join(format!("opg-inference-criterion-{}", std::process::id()));
	let mut config = EngineConfig::new(dir);
	config.threads = threads;
	Engine::new(config).expect("engine starts")
}

fn import_mlp(engine: &Engine) -> ModelDescriptor {
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

fn import_minilm(engine: &Engine, dir: &std::path::Path) -> ModelDescriptor {
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

fn mlp(c: &mut Criterion) {
	let samples =
		demo::parse_digits(&std::fs::read(demo::data_path()).expect("digits data set is there"));
	let inputs: Vec<Vec<u8>> = samples.iter().map(|s| demo::encode_f32(&s.input)).collect();
	let batch: Vec<f32> = samples.iter().flat_map(|s| s.input.iter().copied()).collect();
	for threads in [1, 2] {
		let engine = engine(threads);
		let descriptor = import_mlp(&engine);
		let LoadedModel::Mlp(_) = &*engine.load(&descriptor).expect("demo MLP loads") else {
			panic!("the demo model is an MLP");
		};
		let mut group = c.benchmark_group(format!("mlp/{threads}t"));
		group.throughput(Throughput::Elements(1));
		let mut next = inputs.iter().cycle();
		group.bench_function("run_one", |b| {
			b.iter(|| engine.run(&descriptor, next.next().expect("cycle")).expect("runs"))
		});
		group.throughput(Throughput::Elements(samples.len() as u64));
		let model = engine.load(&descriptor).expect("cached");
		let batch = Arc::new(batch.clone());
		group.bench_function(BenchmarkId::new("forward", samples.len()), |b| {
			b.iter(|| {
				let (model, batch) = (model.clone(), batch.clone());
				engine
					.execute(&CancelToken::new(), move || {
						let LoadedModel::Mlp(mlp) = &*model else { unreachable!() };
						mlp.forward_rows(&batch)
					})
					.expect("runs")
			})
		});
		group.finish();
	}
}

fn minilm(c: &mut Criterion) {
	let Some(dir) = std::env::var_os("OPG_MINILM_DIR").map(PathBuf::from) else {
		println!(
			"minilm: skipped, OPG_MINILM_DIR is not set (export OPG_MINILM_DIR=\"$(scripts/fetch-test-models.sh)\")"
		);
		return;
	};
	let sentences = perf::sentences();
	let sentence = *sentences.first().expect("sentences.txt is not empty");
	for threads in [1, 2] {
		let engine = engine(threads);
		let descriptor = import_minilm(&engine, &dir);
		let model = engine.load(&descriptor).expect("MiniLM loads");
		let LoadedModel::Bert(bert) = &*model else { panic!("MiniLM is a BERT model") };
		let tokens = bert.tokenize(sentence).expect("tokenises").len();
		let padded =
			sentences.iter().map(|s| bert.tokenize(s).expect("tokenises").len()).max().unwrap_or(0);
		let one = bert.shape().flops(1, tokens);
		let batch = bert.shape().flops(sentences.len(), padded);
		let peak = engine
			.execute(&CancelToken::new(), || perf::matmul_gflops(512, 10))
			.expect("peak measured");
		println!(
			"minilm/{threads}t: 1 sentence = {tokens} tokens, {:.1} MFLOP; batch = {} × {padded} \
			 tokens (padded), {:.1} MFLOP; peak ({threads} thread(s), 512³ gemm) {peak:.1} GFLOP/s \
			 — criterion's elem/s below are FLOP/s",
			one / 1e6,
			sentences.len(),
			batch / 1e6,
		);

		let mut group = c.benchmark_group(format!("minilm/{threads}t"));
		group.sample_size(20);
		group.throughput(Throughput::Elements(one as u64));
		group.bench_function("1_sentence", |b| {
			b.iter(|| engine.run(&descriptor, sentence.as_bytes()).expect("runs"))
		});
		group.throughput(Throughput::Elements(batch as u64));
		group.sample_size(10);
		let texts: Arc<Vec<&'static str>> = Arc::new(sentences.clone());
		group.bench_function(BenchmarkId::new("batch", sentences.len()), |b| {
			b.iter(|| {
				let (model, texts) = (model.clone(), texts.clone());
				engine
					.execute(&CancelToken::new(), move || {
						let LoadedModel::Bert(bert) = &*model else { unreachable!() };
						bert.embed_batch(&texts)
					})
					.expect("runs")
			})
		});
		group.finish();
	}
}

criterion_group!(benches, mlp, minilm);
criterion_main!(benches);
