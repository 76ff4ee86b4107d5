//! Prefill and decode speed of the engine on a GGUF language model, for `scripts/bench-llm.sh`:
//!
//!     bench-llm GGUF THREADS RUNS
//!
//! Loads the model (greedy, the chat prompt of `scripts/bench-llm-ref.py`, about 100 tokens), then RUNS times: the prompt's
//! forward pass (prefill tokens/s) and 64 generated tokens one at a time with the key-value cache
//! (decode tokens/s), stop tokens ignored. Prints the medians and the process's peak resident
//! memory as one `RESULT` line.

use opg_inference::llm::CausalLm;
use opg_model::generation::{Decoding, GenerationParams, PromptFormat};
use std::time::Instant;

/// The chat messages `scripts/bench-llm-ref.py` uses too.
pub const PROMPT: &str = concat!(
	r#"[{"role": "system", "content": "You are a careful technical writer. Answer in plain English, "#,
	r#"in short paragraphs, without lists."}, {"role": "user", "content": "A network of "#,
	r#"validators runs a small language model for its users. Each validator computes the same "#,
	r#"answer from the same prompt, and the network only accepts an answer when the validators "#,
	r#"agree on every token. Explain why the order of floating point additions matters for this, "#,
	r#"and what a validator has to fix so that its results match the others exactly."}]"#
);

const NEW_TOKENS: usize = 64;

fn median(mut values: Vec<f64>) -> f64 {
	values.sort_by(f64::total_cmp);
	values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn peak_rss_mib() -> f64 {
	let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
	status
		.lines()
		.find_map(|line| line.strip_prefix("VmHWM:"))
		.and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
		.map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
	let args: Vec<String> = std::env::args().collect();
	let (Some(path), Some(threads), Some(runs)) = (args.get(1), args.get(2), args.get(3)) else {
		eprintln!("usage: bench-llm GGUF THREADS RUNS");
		std::process::exit(2);
	};
	let threads: usize = threads.parse().expect("THREADS");
	let runs: usize = runs.parse().expect("RUNS");
	let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
	let bytes = std::fs::read(path).expect("read the GGUF file");
	let params = GenerationParams {
		prompt: PromptFormat::Chat,
		max_prompt_tokens: 512,
		max_new_tokens: NEW_TOKENS as u32,
		stop_tokens: [None; 4],
		decoding: Decoding::Greedy,
	};
	let model = CausalLm::load(&bytes, params).expect("load the model");
	drop(bytes);
	let ids = model.tokenize(&model.prompt(PROMPT.as_bytes()).expect("prompt")).expect("tokens");
	let (mut prefill, mut decode) = (Vec::new(), Vec::new());
	let mut text = String::new();
	pool.install(|| {
		for _ in 0..runs {
			let start = Instant::now();
			model.prefill_logits(&ids).expect("prefill");
			prefill.push(ids.len() as f64 / start.elapsed().as_secs_f64());
			// The prefill again, then the decoding steps alone.
			let start = Instant::now();
			let steps = model.greedy_with_logits(&ids, NEW_TOKENS + 1).expect("decode");
			let total = start.elapsed().as_secs_f64();
			let prefill_time = ids.len() as f64 / prefill.last().copied().unwrap_or(f64::MAX);
			decode.push(NEW_TOKENS as f64 / (total - prefill_time).max(1e-9));
			let generated: Vec<u32> = steps.iter().map(|(id, _)| *id).take(NEW_TOKENS).collect();
			text = model.decode(&generated).unwrap_or_default();
		}
	});
	eprintln!("generated: {text}");
	println!(
		"RESULT impl=engine threads={threads} prompt_tokens={} prefill_tok_s={:.2} decode_tok_s={:.2} peak_rss_mib={:.1}",
		ids.len(),
		median(prefill),
		median(decode),
		peak_rss_mib()
	);
}
