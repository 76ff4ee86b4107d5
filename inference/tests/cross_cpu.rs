//! The engine computes the same bits on every CPU it supports. This test binary computes a
//! fingerprint of the engine natively and again under qemu on other CPUs, and compares them part
//! by part, bit for bit:
//! - `qemu-x86_64 -cpu Nehalem`: SSE4.2, neither AVX nor FMA (the portable kernels with the
//!   emulated fused multiply-add, and whatever glibc picks for such a CPU);
//! - `qemu-x86_64 -cpu Haswell`: AVX2 and FMA3 (the AVX2 kernels);
//! - `qemu-aarch64`: the same test built for aarch64 (the portable kernels with NEON's FMA), when
//!   `OPG_CROSS_CPU_AARCH64` names that binary (`scripts/test.sh` builds it);
//! - natively: AVX-512 on the machines here.
//!
//! The fingerprint: the engine's transcendental functions (special values included), its
//! matrix-product kernel, the fused BERT kernels (GELU both ways, ReLU, layer norm, attention),
//! the products on quantised weights and the sampler of language models, the demo MLP on all
//! 1,797 digits, all-MiniLM-L6-v2 on [`sentences`] (over a hundred of varied length, scripts
//! and edge cases, two of them refused as too long; the refusal is part of the fingerprint), and
//! SmolLM2-135M-Instruct: a chat prompt's tokens and a short greedy generation.
//!
//! qemu computes in software: what this catches is a result that depends on which code the
//! program picks for the CPU (its own dispatch, candle's, glibc's), not a CPU's arithmetic. The
//! test binary is a debug build with the engine and candle at opt-level 3; release builds are
//! not covered.
//!
//! It needs `qemu-x86_64` and `qemu-aarch64` (Debian's `qemu-user`, which `scripts/test.sh`
//! installs with the aarch64 cross toolchain).

// Arithmetic on small, known sizes and a xorshift generator.
#![allow(clippy::arithmetic_side_effects)]

mod common;

use candle_core::{Device, Tensor};
use opg_inference::{
	demo, hash_bytes, hash_hex, kernels, llm, mathf, perf, quant, CancelToken, Engine,
	EngineConfig, EngineProfile, LoadedModel, ModelDescriptor,
};
use opg_model::{
	descriptor::{Architecture, ModelFormat},
	generation::{Decoding, Generation, GenerationParams, PromptFormat},
};
use std::{
	io::Read,
	path::Path,
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

/// Adds the line `name hash (n values)` for `values`.
fn add(lines: &mut Vec<String>, started: Instant, name: &str, values: &[f32]) {
	let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect();
	lines.push(format!("{name} {} ({} values)", hash_hex(&hash_bytes(&bytes)), values.len()));
	if !name.starts_with("minilm/") {
		eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
	}
}

/// The fingerprint lines of this CPU: `name hash` per part, and the kernel path taken.
fn fingerprint() -> Vec<String> {
	let mut lines = Vec::new();
	let started = Instant::now();

	// Every 4,099th f32 in [-110, 110], and special values.
	let limit = 110f32.to_bits();
	let xs: Vec<f32> = (0..=limit)
		.step_by(4099)
		.flat_map(|bits| [f32::from_bits(bits), -f32::from_bits(bits)])
		.chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, f32::from_bits(1)])
		.collect();
	for (name, f) in [
		("exp", mathf::exp as fn(f32) -> f32),
		("tanh", mathf::tanh),
		("sigmoid", mathf::sigmoid),
		("gelu-tanh", mathf::gelu_tanh),
		("gelu-erf", kernels::gelu),
	] {
		let values: Vec<f32> = xs.iter().map(|x| f(*x)).collect();
		add(&mut lines, started, name, &values);
	}

	// A matrix product with a remainder in every tile dimension.
	let mut seed = 0x2545_f491_4f6c_dd1du64;
	let mut random = |n: usize| -> Vec<f32> {
		(0..n)
			.map(|_| {
				seed ^= seed << 13;
				seed ^= seed >> 7;
				seed ^= seed << 17;
				(seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
			})
			.collect()
	};
	let (rows, depth, width) = (37, 129, 70);
	let (x, w, bias) = (random(rows * depth), random(depth * width), random(width));
	add(
		&mut lines,
		started,
		"linear",
		&kernels::linear(&x, &w, Some(&bias), depth, width).expect("shapes"),
	);

	// Products on quantised weights (GGUF blocks with random scales and values), 5 rows.
	for (name, kind) in
		[("qlinear-q4_1", quant::QuantKind::Q4_1), ("qlinear-q8_0", quant::QuantKind::Q8_0)]
	{
		let (width, depth) = (40, 96);
		let mut blocks = Vec::new();
		let values = random(width * depth / quant::BLOCK * kind.block_bytes());
		for (i, v) in values.iter().enumerate() {
			// Scales and minimums are f16: keep them in a sane range (byte 1 of each half).
			let byte = (v.to_bits() >> 7) as u8;
			let in_half = i % kind.block_bytes();
			blocks.push(if in_half < 4 && in_half % 2 == 1 { 0x20 | (byte & 0x8f) } else { byte });
		}
		let weights = quant::QuantWeights::new(kind, &blocks, width, depth).expect("shapes");
		add(
			&mut lines,
			started,
			name,
			&quant::qlinear(&random(5 * depth), &weights).expect("product"),
		);
	}
	// The sampler on random scores, several seeds and settings.
	let logits: Vec<f32> = random(1000).iter().map(|v| v * 8.0).collect();
	let draws: Vec<f32> = (0..64u32)
		.map(|step| {
			let (t, p) = match step % 4 {
				0 => (1000, 1000),
				1 => (700, 900),
				2 => (1500, 500),
				_ => (50, 1000),
			};
			llm::sample(&logits, t, p, &[step as u8; 32], step) as f32
		})
		.collect();
	add(&mut lines, started, "llm-sample", &draws);

	// The fused kernels of the BERT encoder, on random tensors.
	let device = Device::Cpu;
	let tensor = |values: Vec<f32>, shape: &[usize]| {
		Tensor::from_vec(values, shape, &device).expect("a tensor")
	};
	let flat = |t: Tensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("f32 values");
	let (rows, n) = (9, 40);
	let xt = tensor(random(rows * n).iter().map(|v| v * 4.0).collect(), &[rows, n]);
	// A matrix product with its bias and each activation fused, as the encoder's feed-forward.
	let weights = kernels::PackedWeights::new(&random(n * 50), n, 50).expect("shapes");
	let bias = random(50);
	for (name, activation) in [
		("linear-gelu", kernels::Activation::Gelu),
		("linear-gelu-tanh", kernels::Activation::GeluTanh),
		("linear-relu", kernels::Activation::Relu),
	] {
		let op = kernels::Linear { weights: &weights, bias: Some(&bias), activation };
		add(&mut lines, started, name, &flat(xt.apply_op1_no_bwd(&op).expect("op")));
	}
	let residual = tensor(random(rows * n), &[rows, n]);
	let params = tensor([random(n), random(n), random(n)].concat(), &[3, n]);
	let norm = kernels::BiasResidualLayerNorm { eps: 1e-12 };
	add(
		&mut lines,
		started,
		"layer-norm",
		&flat(xt.apply_op3_no_bwd(&residual, &params, &norm).expect("op")),
	);
	let (batch, tokens, heads, head) = (2, 7, 3, 8);
	let qkv = tensor(random(batch * tokens * 3 * heads * head), &[batch, tokens, 3 * heads * head]);
	let mask: Vec<f32> =
		(0..batch * tokens).map(|i| if i % 5 == 4 { f32::MIN } else { 0.0 }).collect();
	let mask = tensor(mask, &[batch, tokens]);
	add(
		&mut lines,
		started,
		"attention",
		&flat(qkv.apply_op2_no_bwd(&mask, &kernels::Attention { heads }).expect("op")),
	);
	// Heads of 12 (a remainder after 8 lanes), one sequence of 13 tokens.
	let qkv = tensor(random(13 * 3 * 2 * 12), &[1, 13, 3 * 2 * 12]);
	let mask = tensor(vec![0.0; 13], &[1, 13]);
	add(
		&mut lines,
		started,
		"attention-12",
		&flat(qkv.apply_op2_no_bwd(&mask, &kernels::Attention { heads: 2 }).expect("op")),
	);

	// Emulated, a debug build runs some hundred times slower than natively.
	let mut config = EngineConfig::new(common::fresh_dir("cross-cpu"));
	config.threads = 2;
	config.timeout = std::time::Duration::from_secs(600);
	let engine = Engine::new(config).expect("engine starts");
	let demo_dir = demo::model_dir();
	let mlp = ModelDescriptor {
		weights_hash: engine.import(&demo_dir.join("model.safetensors")).expect("weights"),
		format: ModelFormat::Safetensors,
		architecture: Architecture::Mlp {
			config_hash: engine.import(&demo_dir.join("config.json")).expect("config"),
		},
		profile: EngineProfile::REPRODUCIBLE_F32,
	};
	let digits = demo::parse_digits(&std::fs::read(demo::data_path()).expect("digits"));
	let inputs: Vec<Vec<u8>> = digits.iter().map(|s| demo::encode_f32(&s.input)).collect();
	add(&mut lines, started, "demo-mlp", &run_all(&engine, &mlp, &inputs));

	let dir = common::minilm_dir();
	let minilm = ModelDescriptor {
		weights_hash: engine.import(&dir.join("model.safetensors")).expect("weights"),
		format: ModelFormat::Safetensors,
		architecture: Architecture::BertEmbedding {
			config_hash: engine.import(&dir.join("config.json")).expect("config"),
			tokenizer_hash: engine.import(&dir.join("tokenizer.json")).expect("tokenizer"),
		},
		profile: EngineProfile::REPRODUCIBLE_F32,
	};
	for (i, sentence) in sentences().iter().enumerate() {
		let name = format!("minilm/{i:03}");
		match engine.run(&minilm, sentence.as_bytes()) {
			Ok(values) => add(&mut lines, started, &name, &values),
			// A refusal is an outcome executors agree on too.
			Err(error) => lines.push(format!("{name} refused: {error}")),
		}
	}
	eprintln!("minilm: {:.1} s", started.elapsed().as_secs_f64());

	// SmolLM2-135M-Instruct: a chat prompt's tokens, and a short generation (a raw prompt of 5
	// tokens and 6 new ones: under emulation a step takes seconds).
	let gguf = engine.import(&common::smollm2_gguf()).expect("the GGUF file");
	let llm = |prompt: PromptFormat, max_new_tokens: u32| ModelDescriptor {
		weights_hash: gguf,
		format: ModelFormat::Gguf,
		architecture: Architecture::CausalLm {
			generation: GenerationParams {
				prompt,
				max_prompt_tokens: 256,
				max_new_tokens,
				stop_tokens: [None; 4],
				decoding: Decoding::Greedy,
			},
		},
		profile: EngineProfile::REPRODUCIBLE_F32,
	};
	let raw = engine
		.run_output(
			&llm(PromptFormat::Raw, 6),
			b"The capital of France is",
			[0; 32],
			&CancelToken::new(),
		)
		.expect("a generation");
	let generation = Generation::decode_output(&raw).expect("decodes");
	let ids: Vec<f32> = generation.tokens.iter().map(|&t| t as f32).collect();
	add(&mut lines, started, "smollm2-generation", &ids);
	lines.push(format!("smollm2-text {:?}", generation.text));
	let loaded = engine.load(&llm(PromptFormat::Chat, 1)).expect("SmolLM2 loads");
	let LoadedModel::Llm(chat) = &*loaded else { panic!("a language model") };
	let messages = r#"[{"role": "system", "content": "Réponds en français, s'il te plaît."}, {"role": "user", "content": "Combien font 1234 + 5678 ? 🤔"}]"#;
	let prompt = chat.tokenize(&chat.prompt(messages.as_bytes()).expect("chat")).expect("tokens");
	let prompt: Vec<f32> = prompt.iter().map(|&t| t as f32).collect();
	add(&mut lines, started, "smollm2-chat-prompt", &prompt);

	let test = kernels::self_test();
	eprintln!("self-test: {:?}, {:.2} GFLOP/s", test.path, test.gflops);
	lines.push(format!("self-test {}", test.answer));
	let path = kernels::KernelPath::detect();
	let fma = if path.has_fma_instruction() { "fma instruction" } else { "emulated fma" };
	lines.push(format!("kernel-path {path:?} ({fma})"));
	lines
}

/// The MiniLM inputs: the benchmark's 32 sentences, each alone, in its first words and joined
/// with the next; other scripts, symbols and white space; a 60-word repetition; and two joins too
/// long for the model (refused). 1 to 450 tokens.
fn sentences() -> Vec<String> {
	let bench = perf::sentences();
	let mut all: Vec<String> = bench.iter().map(|s| s.to_string()).collect();
	for (i, sentence) in bench.iter().enumerate() {
		let words: Vec<&str> = sentence.split(' ').collect();
		all.push(words.iter().take(1 + i % 6).copied().collect::<Vec<_>>().join(" "));
	}
	for pair in bench.chunks(2).take(12) {
		all.push(pair.join(" "));
	}
	for edge in [
		"",
		" ",
		"a",
		"A",
		".",
		"Naïve café déjà vu, ÀÉÎÕÜ ñ ç ß.",
		"東京は日本の首都です。",
		"Привет, мир! Как дела?",
		"مرحبا بالعالم",
		"🙂🚀 emoji and text 👍🏽",
		"1234567890 3.14159 -42 1e-9",
		"!!!???...;;;---",
		"tab\tand\nnewline\r\nend",
		"hELLo WoRLD, MiXeD cAsE",
		"zero\u{200b}width\u{feff}space",
		"<html><body>Tags & entities &amp; &lt;</body></html>",
		"SELECT * FROM validators WHERE stake > 0;",
		"0x5f3759df 0xdeadbeef 0b1010",
		"   leading and trailing spaces   ",
		"supercalifragilisticexpialidocious antidisestablishmentarianism",
	] {
		all.push(edge.to_owned());
	}
	all.push(["word"; 60].join(" "));
	all.push(bench.iter().take(6).copied().collect::<Vec<_>>().join(" "));
	all.push(bench.join(" "));
	all.push([bench.join(" "), bench.join(" ")].join(" "));
	all
}

/// The outputs of `inputs`, one batch, concatenated.
fn run_all(engine: &Engine, model: &ModelDescriptor, inputs: &[Vec<u8>]) -> Vec<f32> {
	let outputs =
		engine.run_batch(model, inputs.to_vec(), &CancelToken::new()).expect("the model loads");
	outputs.into_iter().flat_map(|output| output.expect("each input runs")).collect()
}

/// This CPU's fingerprint, computed once for both tests (which run in parallel in one process).
fn native() -> &'static [String] {
	static NATIVE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
	NATIVE.get_or_init(|| {
		let lines = fingerprint();
		// The MiniLM part compares outputs, not only refusals: exactly the two inputs over the
		// token bound are refused.
		let refused: Vec<&str> = lines
			.iter()
			.filter(|line| line.contains(" refused: "))
			.filter_map(|line| line.split(' ').next())
			.collect();
		assert_eq!(refused, ["minilm/098", "minilm/099"], "the refused MiniLM inputs");
		lines
	})
}

/// Prints this CPU's fingerprint; what the cross-CPU tests run under qemu.
#[test]
#[ignore = "run by the cross-CPU tests, under qemu"]
fn print_fingerprint() {
	for line in fingerprint() {
		println!("FINGERPRINT {line}");
	}
}

/// An emulated run of [`print_fingerprint`]: `qemu` with `args`, bounded in time.
struct Emulated {
	name: &'static str,
	child: Child,
}

impl Drop for Emulated {
	/// A run left behind by a failing test is stopped, not left to use the machine.
	fn drop(&mut self) {
		if matches!(self.child.try_wait(), Ok(None)) {
			let _ = self.child.kill();
			let _ = self.child.wait();
		}
	}
}

impl Emulated {
	fn start(name: &'static str, qemu: &str, args: &[&str], binary: &Path) -> Self {
		let child = Command::new(qemu)
			.args(args)
			.arg(binary)
			.args(["--ignored", "--exact", "print_fingerprint", "--nocapture", "--test-threads=1"])
			.stdout(Stdio::piped())
			.stderr(Stdio::piped())
			.spawn()
			.unwrap_or_else(|e| {
				panic!("{qemu} (Debian's qemu-user; scripts/test.sh installs it) did not run: {e}")
			});
		Self { name, child }
	}

	/// The fingerprint lines, once the run has ended (killed past `deadline`).
	fn finish(mut self, deadline: Instant) -> Vec<String> {
		// Read the pipes while waiting, so that a full pipe cannot stall the child.
		let mut stdout = self.child.stdout.take().expect("piped");
		let mut stderr = self.child.stderr.take().expect("piped");
		let out = std::thread::spawn(move || {
			let mut text = String::new();
			let _ = stdout.read_to_string(&mut text);
			text
		});
		let err = std::thread::spawn(move || {
			let mut text = String::new();
			let _ = stderr.read_to_string(&mut text);
			text
		});
		let status = loop {
			if let Some(status) = self.child.try_wait().expect("waiting for qemu") {
				break status;
			}
			if Instant::now() > deadline {
				let _ = self.child.kill();
				let _ = self.child.wait();
				panic!("the fingerprint under {} did not end in time", self.name);
			}
			std::thread::sleep(Duration::from_millis(200));
		};
		let (stdout, stderr) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
		assert!(status.success(), "the fingerprint under {} failed: {stdout}\n{stderr}", self.name);
		eprintln!("{}: {}", self.name, stderr.lines().last().unwrap_or_default());
		stdout
			.lines()
			// libtest may print `test print_fingerprint ... ` before the first line.
			.filter_map(|line| line.split_once("FINGERPRINT ").map(|(_, part)| part))
			.map(str::to_owned)
			.collect()
	}
}

/// Compares an emulated fingerprint with the native one, part by part: prints every part and
/// fails on any difference or missing part, naming them. The last line, the kernel path, must be
/// `path`.
fn compare(native: &[String], cpu: &str, emulated: &[String], path: &str) {
	let parts = native.len() - 1;
	let mut differ = Vec::new();
	for (i, native) in native.iter().take(parts).enumerate() {
		let other = emulated.get(i).map(String::as_str).unwrap_or("missing");
		if native == other {
			println!("same       {native}");
		} else {
			println!("DIFFERENT  native {native} / {cpu} {other}");
			differ.push(native.split(' ').next().unwrap_or_default().to_owned());
		}
	}
	let minilm = native.iter().filter(|line| line.starts_with("minilm/")).count();
	let minilm_differ = differ.iter().filter(|name| name.starts_with("minilm/")).count();
	println!(
		"{cpu}: {} of {parts} parts differ; MiniLM {minilm_differ} of {minilm} sentences",
		differ.len()
	);
	assert_eq!(emulated.last().map(String::as_str), Some(path), "the kernel path under {cpu}");
	assert_eq!(emulated.len(), native.len(), "the run under {cpu} printed every part");
	assert!(differ.is_empty(), "parts differ between this CPU and {cpu}: {differ:?}");
}

/// The bound on one emulated run: a few minutes here, the bound leaves room for a busy machine.
const EMULATION_BOUND: Duration = Duration::from_secs(45 * 60);

/// Native (AVX-512 or AVX2) against an x86-64 without AVX or FMA and a Haswell, both emulated at
/// the same time.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_engine_gives_the_same_bits_on_x86_64_with_and_without_fma() {
	let exe = std::env::current_exe().expect("the test binary");
	let deadline = Instant::now() + EMULATION_BOUND;
	let nehalem = Emulated::start("Nehalem", "qemu-x86_64", &["-cpu", "Nehalem"], &exe);
	let haswell = Emulated::start("Haswell", "qemu-x86_64", &["-cpu", "Haswell"], &exe);
	let native = native();
	println!("native: {}", native.last().map(String::as_str).unwrap_or_default());
	compare(native, "Nehalem", &nehalem.finish(deadline), "kernel-path Portable (emulated fma)");
	compare(native, "Haswell", &haswell.finish(deadline), "kernel-path Avx2Fma (fma instruction)");
}

/// Native against the same test built for aarch64 (`OPG_CROSS_CPU_AARCH64`, which
/// `scripts/test.sh` builds), under `qemu-aarch64`.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_engine_gives_the_same_bits_on_aarch64() {
	let Some(binary) = std::env::var_os("OPG_CROSS_CPU_AARCH64") else {
		panic!(
			"OPG_CROSS_CPU_AARCH64 is not set: it names this test built for aarch64, which \
			 scripts/test.sh builds (rustup target aarch64-unknown-linux-gnu, Debian's \
			 gcc-aarch64-linux-gnu and qemu-user)"
		)
	};
	let deadline = Instant::now() + EMULATION_BOUND;
	let sysroot = std::env::var("OPG_AARCH64_SYSROOT").unwrap_or("/usr/aarch64-linux-gnu".into());
	let arm = Emulated::start("aarch64", "qemu-aarch64", &["-L", &sysroot], Path::new(&binary));
	let native = native();
	compare(native, "aarch64", &arm.finish(deadline), "kernel-path Portable (fma instruction)");
}
