use opg_inference::{
	perf, CancelToken, Engine, EngineConfig, EngineProfile, LoadedModel, ModelDescriptor,
};
use opg_primitives::models::{Architecture, ModelFormat};
use std::{sync::Arc, time::Instant};
fn main() -> Result<(), Box<dyn std::error::Error>> {
	let threads: usize = std::env::args().nth(1).map_or(Ok(1), |t| t.parse())?;
	let runs: usize = std::env::args().nth(2).map_or(Ok(30), |t| t.parse())?;
	let minilm = std::path::PathBuf::from(std::env::var_os("OPG_MINILM_DIR").unwrap());
	let mut config = EngineConfig::new(std::env::temp_dir().join("opg-inference-bench"));
	config.threads = threads;
	let engine = Engine::new(config)?;
	let bert = ModelDescriptor {
		weights_hash: engine.import(&minilm.join("model.safetensors"))?,
		format: ModelFormat::Safetensors,
		architecture: Architecture::BertEmbedding {
			config_hash: engine.import(&minilm.join("config.json"))?,
			tokenizer_hash: engine.import(&minilm.join("tokenizer.json"))?,
		},
		profile: EngineProfile::REPRODUCIBLE_F32,
	};
	let model = engine.load(&bert)?;
	let texts = Arc::new(perf::sentences());
	let job = || {
		let (model, texts) = (model.clone(), texts.clone());
		engine.execute(&CancelToken::new(), move || match &*model {
			LoadedModel::Bert(bert) => bert.embed_batch(&texts),
			LoadedModel::Mlp(_) => Ok(Vec::new()),
		})
	};
	job()?;
	let mut t = Vec::new();
	for _ in 0..runs {
		let s = Instant::now();
		job()?;
		t.push(s.elapsed().as_secs_f64() * 1e3);
	}
	t.sort_by(|a, b| a.partial_cmp(b).unwrap());
	println!("batch median {:.1} ms min {:.1}", t[t.len() / 2], t[0]);
	Ok(())
}
