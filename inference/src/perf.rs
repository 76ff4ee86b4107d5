//! Measurements shared by the benchmarks and `examples/bench.rs`: the sentences they embed and
//! the machine's attainable matrix-product rate, against which the engine's GFLOP/s are read.

use crate::error::Result;
use candle_core::{Device, Tensor};
use std::time::Instant;

/// The sentences of the MiniLM benchmarks, one per line (also read by
/// `scripts/bench-minilm-torch.py`, so that candle and PyTorch embed the same text). The first is
/// the single-sentence benchmark's (15 tokens with the special tokens).
pub const SENTENCES: &str = include_str!("../benches/sentences.txt");

/// [`SENTENCES`] as a list.
pub fn sentences() -> Vec<&'static str> {
	SENTENCES.lines().map(str::trim).filter(|line| !line.is_empty()).collect()
}

/// GFLOP/s of a `size × size × size` `f32` matrix product through candle (the `gemm` crate with
/// its run-time selected SIMD kernel, as the engine's matrix products), best of `repeats`: the
/// practical peak of the threads it runs on. Run it inside `Engine::execute` to measure the
/// engine's thread count.
pub fn matmul_gflops(size: usize, repeats: usize) -> Result<f64> {
	let a = Tensor::ones((size, size), candle_core::DType::F32, &Device::Cpu)?;
	let b = Tensor::ones((size, size), candle_core::DType::F32, &Device::Cpu)?;
	// Warm-up: page in the buffers and start the pool.
	a.matmul(&b)?;
	let mut best = f64::INFINITY;
	for _ in 0..repeats.max(1) {
		let start = Instant::now();
		a.matmul(&b)?;
		best = best.min(start.elapsed().as_secs_f64());
	}
	let size = size as f64;
	Ok(2.0 * size * size * size / best / 1e9)
}
