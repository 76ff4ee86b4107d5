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
use crate::kernels;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use opg_model::task::Rejection;
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

/// One dense layer ready to run: weights transposed to `[in, out]` and packed for
/// [`kernels::linear_packed`].
struct Dense {
	weights: kernels::PackedWeights,
	bias: Vec<f32>,
	activation: Activation,
}

/// A loaded MLP.
///
/// It runs on the engine's own kernels ([`kernels::linear`], the activations of
/// [`Activation::apply`], a fixed-order softmax), so every input row is computed by the same
/// operations in the same order whatever the rows batched with it: [`Mlp::run_batch`] gives
/// each row the bits [`Mlp::run`] gives it alone.
pub struct Mlp {
	config: MlpConfig,
	layers: Vec<Dense>,
}

impl Mlp {
	/// Builds the network from its configuration and safetensors weights.
	pub fn load(config: MlpConfig, weights: Vec<u8>) -> Result<Self> {
		let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
			.map_err(|e| EngineError::InvalidWeights(e.to_string()))?;
		let mut layers = Vec::with_capacity(config.layers.len());
		let mut previous = config.input_size;
		for (i, layer) in config.layers.iter().enumerate() {
			let vb = vb.pp(format!("layers.{i}"));
			let invalid =
				|e: candle_core::Error| EngineError::InvalidWeights(format!("layer {i}: {e}"));
			let weights = vb
				.get((layer.size, previous), "weight")
				.and_then(|w| w.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>())
				.map_err(invalid)?;
			let weights = kernels::PackedWeights::new(&weights, previous, layer.size)
				.map_err(|e| EngineError::InvalidWeights(format!("layer {i}: {e}")))?;
			let bias =
				vb.get(layer.size, "bias").and_then(|b| b.to_vec1::<f32>()).map_err(invalid)?;
			layers.push(Dense { weights, bias, activation: layer.activation });
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

	/// Runs a batch of decoded inputs, `rows` of `input_size` values one after the other,
	/// returning `rows` outputs of `output_size` values one after the other.
	pub fn forward_rows(&self, inputs: &[f32]) -> Result<Vec<f32>> {
		if !inputs.len().is_multiple_of(self.config.input_size.max(1)) {
			return Err(EngineError::InvalidInput(format!(
				"{} values are not whole inputs of {}",
				inputs.len(),
				self.config.input_size
			)));
		}
		let mut xs = inputs.to_vec();
		for layer in &self.layers {
			xs = kernels::linear_packed(&xs, &layer.weights, Some(&layer.bias))
				.map_err(EngineError::InvalidInput)?;
			for x in xs.iter_mut() {
				*x = layer.activation.apply(*x);
			}
		}
		if self.config.softmax {
			for row in xs.chunks_exact_mut(self.config.output_size().max(1)) {
				kernels::softmax(row);
			}
		}
		Ok(xs)
	}

	/// Runs one decoded input.
	pub fn run(&self, input: &[f32]) -> Result<Vec<f32>> {
		self.forward_rows(input)
	}

	/// Runs several decoded inputs in one pass; each output is bit-identical to
	/// [`Self::run`]'s for that input alone.
	pub fn run_batch(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
		let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
		if inputs.iter().any(|input| input.len() != self.config.input_size) {
			return Err(EngineError::InvalidInput("inputs of the wrong length".into()));
		}
		let out = self.forward_rows(&flat)?;
		Ok(out.chunks_exact(self.config.output_size().max(1)).map(<[f32]>::to_vec).collect())
	}
}

impl Activation {
	/// The activation of one value, with the engine's own functions (`erf`-based GELU of
	/// [`kernels::gelu`], [`crate::mathf`]'s `tanh` and sigmoid), never libm's.
	pub fn apply(self, x: f32) -> f32 {
		match self {
			Self::None => x,
			// Not `f32::max`: which zero it returns for −0 is left to the CPU.
			Self::Relu => {
				if x > 0.0 {
					x
				} else {
					0.0
				}
			},
			Self::Tanh => crate::mathf::tanh(x),
			Self::Sigmoid => crate::mathf::sigmoid(x),
			Self::Gelu => kernels::gelu(x),
		}
	}
}

/// Argmax along the last dimension (used by the demo's training example).
pub fn argmax_last(xs: &Tensor) -> candle_core::Result<Tensor> {
	xs.argmax(D::Minus1)
}
