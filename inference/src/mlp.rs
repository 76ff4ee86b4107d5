//! `Architecture::Mlp`: a multi-layer perceptron described by a JSON configuration and a
//! safetensors weights file.
//!
//! Configuration (`config_hash`):
//!
//! ```json
//! { "input_size": 64,
//!   "layers": [ { "size": 32, "activation": "relu" }, { "size": 10, "activation": "none" } ],
//!   "softmax": true }
//! ```
//!
//! Weights: for layer `i`, `layers.{i}.weight` of shape `[size, previous size]` and
//! `layers.{i}.bias` of shape `[size]` (the `candle_nn::Linear` / PyTorch `nn.Linear` layout).
//! Input: `input_size` little-endian `f32`. Output: the last layer's `size` values, passed
//! through a softmax if `softmax` is set.

use crate::error::{EngineError, Result};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Linear, VarBuilder};
use opg_primitives::inference::Rejection;
use serde::{Deserialize, Serialize};

/// Largest layer width accepted in a configuration (bounds the memory a config can request).
pub const MAX_LAYER_SIZE: usize = 1 << 16;
/// Largest number of layers accepted in a configuration.
pub const MAX_LAYERS: usize = 64;

/// Activation applied after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
	/// Identity.
	None,
	/// `max(0, x)`.
	Relu,
	/// `tanh(x)`.
	Tanh,
	/// `1 / (1 + e^-x)`.
	Sigmoid,
	/// Exact (erf) GELU.
	Gelu,
}

/// One dense layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
	/// Output width.
	pub size: usize,
	/// Activation after the affine map.
	pub activation: Activation,
}

/// An MLP's configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
	/// Length of the input vector.
	pub input_size: usize,
	/// The layers, first to last.
	pub layers: Vec<LayerConfig>,
	/// Whether the output goes through a softmax.
	#[serde(default)]
	pub softmax: bool,
}

impl MlpConfig {
	/// Parses and checks a configuration file.
	pub fn from_json(bytes: &[u8]) -> Result<Self> {
		let config: Self = serde_json::from_slice(bytes)
			.map_err(|e| EngineError::InvalidConfig(format!("MLP config: {e}")))?;
		let sizes = core::iter::once(config.input_size).chain(config.layers.iter().map(|l| l.size));
		if config.layers.is_empty() || config.layers.len() > MAX_LAYERS {
			return Err(EngineError::InvalidConfig(format!(
				"MLP needs 1 to {MAX_LAYERS} layers, got {}",
				config.layers.len()
			)));
		}
		for size in sizes {
			if size == 0 || size > MAX_LAYER_SIZE {
				return Err(EngineError::InvalidConfig(format!(
					"MLP layer size {size} outside 1..={MAX_LAYER_SIZE}"
				)));
			}
		}
		Ok(config)
	}

	/// Length of the output vector.
	pub fn output_size(&self) -> usize {
		self.layers.last().map_or(0, |l| l.size)
	}
}

/// A loaded MLP.
pub struct Mlp {
	config: MlpConfig,
	layers: Vec<(Linear, Activation)>,
}

impl Mlp {
	/// Builds the network from its configuration and safetensors weights.
	pub fn load(config: MlpConfig, weights: Vec<u8>) -> Result<Self> {
		let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
			.map_err(|e| EngineError::InvalidWeights(e.to_string()))?;
		let mut layers = Vec::with_capacity(config.layers.len());
		let mut previous = config.input_size;
		for (i, layer) in config.layers.iter().enumerate() {
			let linear = candle_nn::linear(previous, layer.size, vb.pp(format!("layers.{i}")))
				.map_err(|e| EngineError::InvalidWeights(format!("layer {i}: {e}")))?;
			layers.push((linear, layer.activation));
			previous = layer.size;
		}
		Ok(Self { config, layers })
	}

	/// The configuration.
	pub fn config(&self) -> &MlpConfig {
		&self.config
	}

	/// Decodes an input (`input_size` little-endian `f32`).
	pub fn decode_input(&self, input: &[u8]) -> Result<Vec<f32>> {
		let expected = self.config.input_size.saturating_mul(4);
		if input.len() != expected {
			return Err(EngineError::Rejected {
				rejection: Rejection::InputShape,
				detail: format!(
					"MLP expects {} little-endian f32 ({expected} bytes), got {} bytes",
					self.config.input_size,
					input.len()
				),
			});
		}
		Ok(input
			.chunks_exact(4)
			// `chunks_exact(4)` yields 4-byte chunks only, so the conversion never fails.
			.map(|c| <[u8; 4]>::try_from(c).map_or(f32::NAN, f32::from_le_bytes))
			.collect())
	}

	/// Runs a batch of inputs, `[batch, input_size]`, returning `[batch, output_size]`.
	pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
		let mut xs = xs.clone();
		for (linear, activation) in &self.layers {
			xs = linear.forward(&xs)?;
			xs = match activation {
				Activation::None => xs,
				Activation::Relu => xs.relu()?,
				Activation::Tanh => xs.tanh()?,
				Activation::Sigmoid => candle_nn::ops::sigmoid(&xs)?,
				Activation::Gelu => xs.gelu_erf()?,
			};
		}
		if self.config.softmax {
			xs = candle_nn::ops::softmax_last_dim(&xs)?;
		}
		Ok(xs)
	}

	/// Runs one decoded input.
	pub fn run(&self, input: &[f32]) -> Result<Vec<f32>> {
		let xs = Tensor::from_slice(input, (1, input.len()), &Device::Cpu)?;
		let ys = self.forward(&xs)?;
		Ok(ys.squeeze(0)?.to_vec1::<f32>()?)
	}
}

/// Argmax along the last dimension (used by the demo's training example).
pub fn argmax_last(xs: &Tensor) -> candle_core::Result<Tensor> {
	xs.argmax(D::Minus1)
}
