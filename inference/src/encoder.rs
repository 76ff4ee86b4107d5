//! The BERT encoder the engine runs: the computation of
//! `candle_transformers::models::bert::BertModel` (same weights, same configuration, same
//! results up to rounding), with its weights prepared once at load time and each layer run as
//! seven operations instead of about thirty:
//!
//! - Q, K and V are one matrix product with the three weight matrices side by side;
//! - every weight matrix is stored transposed (`[in, out]`, contiguous) and multiplied by the
//!   engine's fixed-order [`Linear`] (see [`crate::kernels::linear`]), packed once at load
//!   ([`PackedWeights`]): each token's row is
//!   computed by the same operations whatever the other rows, so a padded batch gives every
//!   sequence the bits it gets alone;
//! - bias + GELU in the matrix product's output pass, bias + residual + layer norm, and the
//!   whole of attention (scores, mask,
//!   softmax, weighted sum, heads side by side) are fused kernels ([`crate::kernels`]).

use crate::kernels::{Activation, Attention, BiasResidualLayerNorm, Linear, PackedWeights};
use candle_core::{bail, Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct, PositionEmbeddingType};

/// One encoder layer's prepared weights.
struct Layer {
	/// `[hidden, 3·hidden]`: the query, key and value weights, transposed, side by side.
	qkv_weight: PackedWeights,
	/// `[3·hidden]`.
	qkv_bias: Vec<f32>,
	/// `[hidden, hidden]`, transposed.
	attention_output_weight: PackedWeights,
	/// `[3, hidden]`: the attention output's bias, then its layer norm's gain and shift.
	attention_norm: Tensor,
	/// `[hidden, intermediate]`, transposed.
	intermediate_weight: PackedWeights,
	/// `[intermediate]`.
	intermediate_bias: Vec<f32>,
	/// `[intermediate, hidden]`, transposed.
	output_weight: PackedWeights,
	/// `[3, hidden]`: the output's bias, then its layer norm's gain and shift.
	output_norm: Tensor,
}

/// A BERT encoder ready to run.
pub struct Encoder {
	word_embeddings: Tensor,
	position_embeddings: Tensor,
	/// `[3, hidden]`: token type 0's embedding, then the embedding layer norm's gain and shift.
	embedding_norm: Tensor,
	layers: Vec<Layer>,
	heads: usize,
	activation: Activation,
	eps: f32,
}

/// A weight matrix `[out, in]` (PyTorch's `nn.Linear` layout) as a contiguous `[in, out]`.
fn transposed(vb: &VarBuilder, out: usize, input: usize) -> Result<Tensor> {
	vb.get((out, input), "weight")?.t()?.contiguous()
}

/// `[in, out]` weights packed for [`Linear`].
fn packed(weights: &Tensor) -> Result<PackedWeights> {
	let (depth, width) = weights.dims2()?;
	PackedWeights::new(&weights.flatten_all()?.to_vec1::<f32>()?, depth, width)
		.map_err(candle_core::Error::Msg)
}

/// `[3, n]`: a bias and a layer norm's gain and shift.
fn norm_params(bias: &Tensor, norm: &VarBuilder, n: usize) -> Result<Tensor> {
	Tensor::stack(&[bias.clone(), norm.get(n, "weight")?, norm.get(n, "bias")?], 0)
}

impl Encoder {
	/// Loads the weights of `config` from `vb` (tensor names of Hugging Face's `BertModel`, with
	/// or without a `bert.` / `<model_type>.` prefix).
	pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
		let mut prefixes = vec![String::new(), "bert.".to_owned()];
		if let Some(model_type) = &config.model_type {
			prefixes.push(format!("{model_type}."));
		}
		let Some(prefix) = prefixes
			.into_iter()
			.find(|p| vb.contains_tensor(&format!("{p}embeddings.word_embeddings.weight")))
		else {
			bail!("no embeddings.word_embeddings.weight in the weights");
		};
		let vb = if prefix.is_empty() { vb } else { vb.pp(prefix.trim_end_matches('.')) };
		// The only position embedding type the configuration format knows.
		let PositionEmbeddingType::Absolute = config.position_embedding_type;
		let (h, i) = (config.hidden_size, config.intermediate_size);
		if config.num_attention_heads == 0 || !h.is_multiple_of(config.num_attention_heads) {
			bail!("hidden size {h} is not a multiple of {} heads", config.num_attention_heads);
		}
		let e = vb.pp("embeddings");
		let embedding_norm = {
			let token_type =
				e.pp("token_type_embeddings").get((config.type_vocab_size, h), "weight")?.get(0)?;
			norm_params(&token_type, &e.pp("LayerNorm"), h)?
		};
		let mut layers = Vec::with_capacity(config.num_hidden_layers);
		for l in 0..config.num_hidden_layers {
			let layer = vb.pp(format!("encoder.layer.{l}"));
			let attention = layer.pp("attention");
			let this = attention.pp("self");
			let qkv_weight = packed(&Tensor::cat(
				&[
					transposed(&this.pp("query"), h, h)?,
					transposed(&this.pp("key"), h, h)?,
					transposed(&this.pp("value"), h, h)?,
				],
				1,
			)?)?;
			let qkv_bias = Tensor::cat(
				&[
					this.pp("query").get(h, "bias")?,
					this.pp("key").get(h, "bias")?,
					this.pp("value").get(h, "bias")?,
				],
				0,
			)?
			.to_vec1::<f32>()?;
			let out = attention.pp("output");
			let attention_norm =
				norm_params(&out.pp("dense").get(h, "bias")?, &out.pp("LayerNorm"), h)?;
			let intermediate = layer.pp("intermediate").pp("dense");
			let output = layer.pp("output");
			layers.push(Layer {
				qkv_weight,
				qkv_bias,
				attention_output_weight: packed(&transposed(&out.pp("dense"), h, h)?)?,
				attention_norm,
				intermediate_weight: packed(&transposed(&intermediate, i, h)?)?,
				intermediate_bias: intermediate.get(i, "bias")?.to_vec1::<f32>()?,
				output_weight: packed(&transposed(&output.pp("dense"), h, i)?)?,
				output_norm: norm_params(
					&output.pp("dense").get(h, "bias")?,
					&output.pp("LayerNorm"),
					h,
				)?,
			});
		}
		Ok(Self {
			word_embeddings: e.pp("word_embeddings").get((config.vocab_size, h), "weight")?,
			position_embeddings: e
				.pp("position_embeddings")
				.get((config.max_position_embeddings, h), "weight")?,
			embedding_norm,
			layers,
			heads: config.num_attention_heads,
			activation: match config.hidden_act {
				HiddenAct::Gelu => Activation::Gelu,
				HiddenAct::GeluApproximate => Activation::GeluTanh,
				HiddenAct::Relu => Activation::Relu,
			},
			eps: config.layer_norm_eps as f32,
		})
	}

	/// The last hidden states `[batch, tokens, hidden]` of `ids: [batch, tokens]` (token type 0
	/// everywhere); `mask: [batch, tokens]` is 1 for a real token and 0 for padding.
	pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
		let (batch, tokens) = ids.dims2()?;
		let hidden = self.word_embeddings.dim(1)?;
		let rows = batch.saturating_mul(tokens);
		let words = self.word_embeddings.index_select(&ids.flatten_all()?, 0)?;
		let positions = self
			.position_embeddings
			.narrow(0, 0, tokens)?
			.unsqueeze(0)?
			.broadcast_as((batch, tokens, hidden))?
			.reshape((rows, hidden))?;
		let eps = self.eps;
		let mut xs = words.apply_op3_no_bwd(
			&positions,
			&self.embedding_norm,
			&BiasResidualLayerNorm { eps },
		)?;
		// Additive mask: 0 for a token, the most negative f32 for padding (as Hugging Face).
		let mask = mask
			.to_dtype(candle_core::DType::F32)?
			.affine(f64::from(f32::MAX), f64::from(f32::MIN))?;
		for layer in &self.layers {
			let qkv = xs.apply_op1_no_bwd(&Linear {
				weights: &layer.qkv_weight,
				bias: Some(&layer.qkv_bias),
				activation: Activation::Identity,
			})?;
			let context = qkv
				.reshape((batch, tokens, hidden.saturating_mul(3)))?
				.apply_op2_no_bwd(&mask, &Attention { heads: self.heads })?
				.reshape((rows, hidden))?;
			let attended = context
				.apply_op1_no_bwd(&Linear {
					weights: &layer.attention_output_weight,
					bias: None,
					activation: Activation::Identity,
				})?
				.apply_op3_no_bwd(&xs, &layer.attention_norm, &BiasResidualLayerNorm { eps })?;
			let inner = attended.apply_op1_no_bwd(&Linear {
				weights: &layer.intermediate_weight,
				bias: Some(&layer.intermediate_bias),
				activation: self.activation,
			})?;
			xs = inner
				.apply_op1_no_bwd(&Linear {
					weights: &layer.output_weight,
					bias: None,
					activation: Activation::Identity,
				})?
				.apply_op3_no_bwd(&attended, &layer.output_norm, &BiasResidualLayerNorm { eps })?;
		}
		xs.reshape((batch, tokens, hidden))
	}
}
