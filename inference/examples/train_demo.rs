//! Trains the demo MLP digit classifier with candle-nn and writes it to
//! `inference/models/demo-mlp/` (`config.json`, `model.safetensors`).
//!
//! `cargo run -p opg-inference --example train_demo --release`
//!
//! Deterministic: weights start from a fixed pseudo-random sequence and training is full-batch
//! AdamW on one thread, so rerunning it on the same machine reproduces the committed files.

// Training code, not engine code: size arithmetic and casts on small known values are fine.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{loss, AdamW, Optimizer, ParamsAdamW};
use opg_inference::{
	demo::{self, CLASSES, PIXELS},
	mlp::{Activation, LayerConfig, MlpConfig},
};
use std::collections::HashMap;

const HIDDEN: usize = 32;
const STEPS: usize = 400;

/// xorshift64*: a fixed, dependency-free pseudo-random sequence for the initial weights.
struct Rng(u64);

impl Rng {
	fn next_f32(&mut self) -> f32 {
		self.0 ^= self.0 >> 12;
		self.0 ^= self.0 << 25;
		self.0 ^= self.0 >> 27;
		let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
		// Uniform in [-1, 1).
		((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
	}

	/// PyTorch's `nn.Linear` default: uniform in ±1/sqrt(fan_in).
	fn linear(&mut self, fan_in: usize, fan_out: usize) -> candle_core::Result<(Var, Var)> {
		let bound = 1.0 / (fan_in as f32).sqrt();
		let w: Vec<f32> = (0..fan_in * fan_out).map(|_| self.next_f32() * bound).collect();
		let b: Vec<f32> = (0..fan_out).map(|_| self.next_f32() * bound).collect();
		Ok((
			Var::from_tensor(&Tensor::from_vec(w, (fan_out, fan_in), &Device::Cpu)?)?,
			Var::from_tensor(&Tensor::from_vec(b, fan_out, &Device::Cpu)?)?,
		))
	}
}

fn split(samples: &[demo::Sample], held_out: bool) -> candle_core::Result<(Tensor, Tensor)> {
	let chosen: Vec<&demo::Sample> = samples
		.iter()
		.enumerate()
		.filter(|(i, _)| demo::is_held_out(*i) == held_out)
		.map(|(_, s)| s)
		.collect();
	let xs: Vec<f32> = chosen.iter().flat_map(|s| s.input.iter().copied()).collect();
	let ys: Vec<u32> = chosen.iter().map(|s| u32::from(s.label)).collect();
	Ok((
		Tensor::from_vec(xs, (chosen.len(), PIXELS), &Device::Cpu)?,
		Tensor::from_vec(ys, chosen.len(), &Device::Cpu)?,
	))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
	let samples = demo::parse_digits(&std::fs::read(demo::data_path())?);
	let (train_x, train_y) = split(&samples, false)?;
	let (test_x, test_y) = split(&samples, true)?;

	let mut rng = Rng(0x0123_4567_89AB_CDEF);
	let (w1, b1) = rng.linear(PIXELS, HIDDEN)?;
	let (w2, b2) = rng.linear(HIDDEN, CLASSES)?;
	let forward = |xs: &Tensor| -> candle_core::Result<Tensor> {
		let h = xs.matmul(&w1.as_tensor().t()?)?.broadcast_add(b1.as_tensor())?.relu()?;
		h.matmul(&w2.as_tensor().t()?)?.broadcast_add(b2.as_tensor())
	};
	let params = ParamsAdamW { lr: 0.01, weight_decay: 1e-4, ..Default::default() };
	let mut optimizer = AdamW::new(vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()], params)?;
	let accuracy = |xs: &Tensor, ys: &Tensor| -> candle_core::Result<f32> {
		let predicted = forward(xs)?.argmax(D::Minus1)?;
		let correct = predicted.eq(ys)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
		Ok(correct / ys.dims1()? as f32)
	};
	for step in 0..STEPS {
		let loss = loss::cross_entropy(&forward(&train_x)?, &train_y)?;
		optimizer.backward_step(&loss)?;
		if step % 100 == 0 || step + 1 == STEPS {
			println!("step {step:4}: loss {:.4}", loss.to_scalar::<f32>()?);
		}
	}
	println!(
		"train accuracy {:.4}, held-out accuracy {:.4} ({} held-out samples)",
		accuracy(&train_x, &train_y)?,
		accuracy(&test_x, &test_y)?,
		test_y.dims1()?
	);

	let dir = demo::model_dir();
	std::fs::create_dir_all(&dir)?;
	let tensors: HashMap<String, Tensor> = [
		("layers.0.weight", &w1),
		("layers.0.bias", &b1),
		("layers.1.weight", &w2),
		("layers.1.bias", &b2),
	]
	.into_iter()
	.map(|(name, var)| (name.to_owned(), var.as_tensor().detach()))
	.collect();
	candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
	let config = MlpConfig {
		input_size: PIXELS,
		layers: vec![
			LayerConfig { size: HIDDEN, activation: Activation::Relu },
			LayerConfig { size: CLASSES, activation: Activation::None },
		],
		softmax: true,
	};
	std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config)? + "\n")?;
	println!("wrote {}", dir.display());
	Ok(())
}
