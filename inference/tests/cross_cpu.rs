//! The engine computes the same bits on another CPU. This test binary runs its own fingerprint
//! natively (on the machines here: x86-64 with AVX2 and FMA, so the kernels' FMA path) and again
//! under `qemu-x86_64 -cpu Nehalem`, an x86-64 with SSE4.2 and neither AVX nor FMA (so the
//! portable kernel path, and whatever glibc picks for such a CPU), and compares them bit for
//! bit: the engine's transcendental functions, its matrix-product kernel, the demo MLP on all
//! 1,797 digits and all-MiniLM-L6-v2 on a few sentences.
//!
//! It needs `qemu-x86_64` (Debian's `qemu-user`, which `scripts/test.sh` installs).

// Arithmetic on small, known sizes and a xorshift generator.
#![allow(clippy::arithmetic_side_effects)]

mod common;

use opg_inference::{
	demo, hash_bytes, hash_hex, kernels, mathf, CancelToken, Engine, EngineConfig, ModelDescriptor,
};
use opg_primitives::models::{Architecture, ModelFormat};
use std::process::Command;

/// The fingerprint lines of this CPU: `name hash` per part, and the kernel path taken.
fn fingerprint() -> Vec<String> {
	let mut lines = Vec::new();
	let started = std::time::Instant::now();
	let mut add = |name: &str, values: &[f32]| {
		let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect();
		lines.push(format!("{name} {} ({} values)", hash_hex(&hash_bytes(&bytes)), values.len()));
		eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
	};

	// Every 4,099th f32 in [-100, 100].
	let limit = 100f32.to_bits();
	let xs: Vec<f32> = (0..=limit)
		.step_by(4099)
		.flat_map(|bits| [f32::from_bits(bits), -f32::from_bits(bits)])
		.collect();
	for (name, f) in [
		("exp", mathf::exp as fn(f32) -> f32),
		("tanh", mathf::tanh),
		("sigmoid", mathf::sigmoid),
		("gelu-tanh", mathf::gelu_tanh),
		("gelu-erf", kernels::gelu),
	] {
		let values: Vec<f32> = xs.iter().map(|x| f(x.clamp(-80.0, 80.0))).collect();
		add(name, &values);
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
	add("linear", &kernels::linear(&x, &w, Some(&bias), depth, width).expect("shapes"));

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
	};
	let digits = demo::parse_digits(&std::fs::read(demo::data_path()).expect("digits"));
	let inputs: Vec<Vec<u8>> = digits.iter().map(|s| demo::encode_f32(&s.input)).collect();
	add("demo-mlp", &run_all(&engine, &mlp, &inputs));

	let dir = common::minilm_dir();
	let minilm = ModelDescriptor {
		weights_hash: engine.import(&dir.join("model.safetensors")).expect("weights"),
		format: ModelFormat::Safetensors,
		architecture: Architecture::BertEmbedding {
			config_hash: engine.import(&dir.join("config.json")).expect("config"),
			tokenizer_hash: engine.import(&dir.join("tokenizer.json")).expect("tokenizer"),
		},
	};
	let sentences = [
		"Validators agree on the bits.",
		"A cat sat on the mat.",
		"Reproducible kernels fix the order of every sum.",
	];
	let inputs: Vec<Vec<u8>> = sentences.iter().map(|s| s.as_bytes().to_vec()).collect();
	add("minilm", &run_all(&engine, &minilm, &inputs));

	#[cfg(target_arch = "x86_64")]
	let fma = std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2");
	#[cfg(not(target_arch = "x86_64"))]
	let fma = true;
	lines.push(format!("kernel-path {}", if fma { "fma" } else { "portable" }));
	lines
}

/// The outputs of `inputs`, one batch, concatenated.
fn run_all(engine: &Engine, model: &ModelDescriptor, inputs: &[Vec<u8>]) -> Vec<f32> {
	let outputs =
		engine.run_batch(model, inputs.to_vec(), &CancelToken::new()).expect("the model loads");
	outputs.into_iter().flat_map(|output| output.expect("each input runs")).collect()
}

/// Prints this CPU's fingerprint; what the cross-CPU test runs under qemu.
#[test]
#[ignore = "run by the_engine_gives_the_same_bits_on_a_cpu_without_fma_or_avx, under qemu"]
fn print_fingerprint() {
	for line in fingerprint() {
		println!("FINGERPRINT {line}");
	}
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_engine_gives_the_same_bits_on_a_cpu_without_fma_or_avx() {
	let native = fingerprint();
	let exe = std::env::current_exe().expect("the test binary");
	let run = Command::new("qemu-x86_64")
		.args(["-cpu", "Nehalem"])
		.arg(&exe)
		.args(["--ignored", "--exact", "print_fingerprint", "--nocapture", "--test-threads=1"])
		.output()
		.unwrap_or_else(|e| {
			panic!("qemu-x86_64 (Debian's qemu-user; scripts/test.sh installs it) did not run: {e}")
		});
	let stdout = String::from_utf8_lossy(&run.stdout);
	assert!(
		run.status.success(),
		"the fingerprint under qemu failed: {stdout}\n{}",
		String::from_utf8_lossy(&run.stderr)
	);
	let emulated: Vec<String> = stdout
		.lines()
		// libtest may print `test print_fingerprint ... ` before the first line.
		.filter_map(|line| line.split_once("FINGERPRINT ").map(|(_, part)| part))
		.map(str::to_owned)
		.collect();
	for (native, emulated) in native.iter().zip(&emulated) {
		println!("native   {native}\nNehalem  {emulated}");
	}
	assert_eq!(emulated.last().map(String::as_str), Some("kernel-path portable"));
	let parts = native.len() - 1;
	assert_eq!(emulated.len(), native.len(), "the emulated run printed every part");
	assert_eq!(native[..parts], emulated[..parts], "a part differs between the CPUs");
}
