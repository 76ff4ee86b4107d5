//! The engine computes the same bits on another CPU. This test binary runs its own fingerprint
//! natively and again under `qemu-x86_64` emulating a CPU that takes the other kernel path: a
//! Nehalem (SSE4.2, neither AVX nor FMA: the portable path, and whatever glibc picks for such a
//! CPU) when this machine has AVX2 and FMA, as the machines here do, else a Haswell. It compares
//! them bit for bit: the engine's transcendental functions (special values included), its
//! matrix-product kernel, the fused BERT kernels (GELU both ways, ReLU, layer norm, attention),
//! the demo MLP on all 1,797 digits and all-MiniLM-L6-v2 on a few sentences.
//!
//! qemu computes in software: what this catches is a result that depends on which code the
//! program picks for the CPU (its own dispatch, candle's, glibc's), not a CPU's arithmetic. The
//! test binary is a debug build (candle at opt-level 3); release builds are not covered.
//! `scripts/cross-cpu-aarch64.sh` cross-builds this binary for aarch64 and compares its
//! fingerprint under `qemu-aarch64` with the native one.
//!
//! It needs `qemu-x86_64` (Debian's `qemu-user`, which `scripts/test.sh` installs).

// Arithmetic on small, known sizes and a xorshift generator.
#![allow(clippy::arithmetic_side_effects)]

mod common;

use candle_core::{Device, Tensor};
use opg_inference::{
	demo, hash_bytes, hash_hex, kernels, mathf, CancelToken, Engine, EngineConfig, ModelDescriptor,
};
use opg_primitives::models::{Architecture, ModelFormat};
#[cfg(target_arch = "x86_64")]
use std::{
	process::{Command, Stdio},
	time::{Duration, Instant},
};

/// The fingerprint lines of this CPU: `name hash` per part, and the kernel path taken.
fn fingerprint() -> Vec<String> {
	let mut lines = Vec::new();
	let started = std::time::Instant::now();
	let mut add = |name: &str, values: &[f32]| {
		let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect();
		lines.push(format!("{name} {} ({} values)", hash_hex(&hash_bytes(&bytes)), values.len()));
		eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
	};

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

	// The fused kernels of the BERT encoder, on random tensors.
	let device = Device::Cpu;
	let tensor = |values: Vec<f32>, shape: &[usize]| {
		Tensor::from_vec(values, shape, &device).expect("a tensor")
	};
	let flat = |t: Tensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("f32 values");
	let (rows, n) = (9, 40);
	let xt = tensor(random(rows * n).iter().map(|v| v * 4.0).collect(), &[rows, n]);
	let bias = tensor(random(n), &[n]);
	add("bias-gelu", &flat(xt.apply_op2_no_bwd(&bias, &kernels::BiasGelu).expect("op")));
	add("bias-gelu-tanh", &flat(xt.apply_op2_no_bwd(&bias, &kernels::BiasGeluTanh).expect("op")));
	add("bias-relu", &flat(xt.apply_op2_no_bwd(&bias, &kernels::BiasRelu).expect("op")));
	let residual = tensor(random(rows * n), &[rows, n]);
	let params = tensor([random(n), random(n), random(n)].concat(), &[3, n]);
	let norm = kernels::BiasResidualLayerNorm { eps: 1e-12 };
	add("layer-norm", &flat(xt.apply_op3_no_bwd(&residual, &params, &norm).expect("op")));
	let (batch, tokens, heads, head) = (2, 7, 3, 8);
	let qkv = tensor(random(batch * tokens * 3 * heads * head), &[batch, tokens, 3 * heads * head]);
	let mask: Vec<f32> =
		(0..batch * tokens).map(|i| if i % 5 == 4 { f32::MIN } else { 0.0 }).collect();
	let mask = tensor(mask, &[batch, tokens]);
	add(
		"attention",
		&flat(qkv.apply_op2_no_bwd(&mask, &kernels::Attention { heads }).expect("op")),
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
	let native_path = native.last().cloned().unwrap_or_default();
	// The other kernel path than this machine's.
	let (cpu, other_path) = if native_path == "kernel-path fma" {
		("Nehalem", "kernel-path portable")
	} else {
		("Haswell", "kernel-path fma")
	};
	let exe = std::env::current_exe().expect("the test binary");
	let mut child = Command::new("qemu-x86_64")
		.args(["-cpu", cpu])
		.arg(&exe)
		.args(["--ignored", "--exact", "print_fingerprint", "--nocapture", "--test-threads=1"])
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap_or_else(|e| {
			panic!("qemu-x86_64 (Debian's qemu-user; scripts/test.sh installs it) did not run: {e}")
		});
	// Bounded: an emulated debug build takes about a minute here.
	let deadline = Instant::now() + Duration::from_secs(900);
	while child.try_wait().expect("waiting for qemu").is_none() {
		if Instant::now() > deadline {
			let _ = child.kill();
			panic!("the fingerprint under qemu took over 900 s");
		}
		std::thread::sleep(Duration::from_millis(200));
	}
	let run = child.wait_with_output().expect("qemu's output");
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
		println!("native   {native}\n{cpu:8} {emulated}");
	}
	assert_eq!(emulated.last().map(String::as_str), Some(other_path), "qemu -cpu {cpu}");
	let parts = native.len() - 1;
	assert_eq!(emulated.len(), native.len(), "the emulated run printed every part");
	assert_eq!(native[..parts], emulated[..parts], "a part differs between the CPUs");
}
