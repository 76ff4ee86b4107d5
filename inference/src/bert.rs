//! `Architecture::BertEmbedding`: a BERT encoder (the configuration and weights of
//! `candle_transformers::models::bert`, run by the engine's own encoder with pre-transposed
//! weights and fused kernels, see `encoder.rs` and [`crate::kernels`]) with a `tokenizers`
//! tokenizer, mean pooling over the tokens and L2 normalisation — the sentence-transformers
//! recipe of models such as all-MiniLM-L6-v2.
//!
//! Files: the Hugging Face `config.json` (`config_hash`), `tokenizer.json` (`tokenizer_hash`)
//! and `model.safetensors` (the weights). Input: UTF-8 text, one sentence. Output: the
//! normalised embedding (`hidden_size` values).

use crate::encoder::Encoder;
use crate::error::{EngineError, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use opg_model::task::Rejection;
use tokenizers::Tokenizer;

/// A loaded sentence-embedding model.
pub struct BertEmbedder {
	encoder: Encoder,
	tokenizer: Tokenizer,
	max_tokens: usize,
	shape: BertShape,
}

/// The sizes of a BERT encoder that determine its cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BertShape {
	/// Encoder layers.
	pub layers: usize,
	/// Hidden size (embedding width).
	pub hidden: usize,
	/// Feed-forward inner size.
	pub intermediate: usize,
}

impl BertShape {
	/// Floating-point operations (a multiply-add counts 2) of the encoder's matrix products for
	/// `batch` sequences of `tokens` tokens each: per layer the Q, K, V and output projections
	/// (`4 · 2·t·h·h`), the two feed-forward products (`2 · 2·t·h·i`) and attention's
	/// `Q·Kᵀ` and `P·V` (`2 · 2·t·t·h`, all heads together). Embeddings, layer norms,
	/// softmax, GELU and pooling are left out (they are `O(t·h)`, under 1 % here).
	pub fn flops(&self, batch: usize, tokens: usize) -> f64 {
		let (t, h, i) = (tokens as f64, self.hidden as f64, self.intermediate as f64);
		let per_layer = 8.0 * t * h * h + 4.0 * t * h * i + 4.0 * t * t * h;
		per_layer * self.layers as f64 * batch as f64
	}
}

impl BertEmbedder {
	/// Builds the model from its configuration, tokenizer and weights. Inputs longer than
	/// `max_tokens` tokens (capped by the model's `max_position_embeddings`) are refused.
	pub fn load(
		config: &[u8],
		tokenizer: &[u8],
		weights: Vec<u8>,
		max_tokens: usize,
	) -> Result<Self> {
		let config: Config = serde_json::from_slice(config)
			.map_err(|e| EngineError::InvalidConfig(format!("BERT config: {e}")))?;
		let mut tokenizer = Tokenizer::from_bytes(tokenizer)
			.map_err(|e| EngineError::InvalidConfig(format!("tokenizer: {e}")))?;
		// One sentence per run: no padding; over-long inputs are refused, not silently cut.
		tokenizer.with_padding(None);
		tokenizer
			.with_truncation(None)
			.map_err(|e| EngineError::InvalidConfig(format!("tokenizer: {e}")))?;
		let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
			.map_err(|e| EngineError::InvalidWeights(e.to_string()))?;
		let encoder =
			Encoder::load(vb, &config).map_err(|e| EngineError::InvalidWeights(e.to_string()))?;
		let max_tokens = max_tokens.min(config.max_position_embeddings);
		let shape = BertShape {
			layers: config.num_hidden_layers,
			hidden: config.hidden_size,
			intermediate: config.intermediate_size,
		};
		Ok(Self { encoder, tokenizer, max_tokens, shape })
	}

	/// Tokenises `text` (with the special tokens); refuses more than the token bound.
	pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
		let encoding = self.tokenizer.encode(text, true).map_err(|e| EngineError::Rejected {
			rejection: Rejection::Untokenizable,
			detail: format!("tokenizer: {e}"),
		})?;
		let ids = encoding.get_ids();
		if ids.is_empty() {
			// A tokenizer without special tokens turns empty text into nothing to embed.
			return Err(EngineError::Rejected {
				rejection: Rejection::Untokenizable,
				detail: "no tokens".into(),
			});
		}
		if ids.len() > self.max_tokens {
			return Err(EngineError::Rejected {
				rejection: Rejection::TooManyTokens,
				detail: format!("{} tokens, above the model's {}", ids.len(), self.max_tokens),
			});
		}
		Ok(ids.to_vec())
	}

	/// Embeds already tokenised input: mean of the last hidden states over the tokens, then
	/// L2-normalised.
	pub fn embed_ids(&self, ids: &[u32]) -> Result<Vec<f32>> {
		let mut embeddings = self.embed_ids_batch(core::slice::from_ref(&ids.to_vec()))?;
		embeddings.pop().ok_or_else(|| EngineError::InvalidInput("no tokens".into()))
	}

	/// Embeds one UTF-8 sentence.
	pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
		let ids = self.tokenize(text)?;
		self.embed_ids(&ids)
	}

	/// Embeds several sentences in one forward pass (see [`Self::embed_ids_batch`]): each
	/// embedding is bit-identical to [`Self::embed`]'s for that sentence alone.
	pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
		let sequences = texts.iter().map(|text| self.tokenize(text)).collect::<Result<Vec<_>>>()?;
		self.embed_ids_batch(&sequences)
	}

	/// Embeds several tokenised sentences in one forward pass: the sequences are padded to the
	/// longest one and the padding is masked out of attention and pooling.
	///
	/// Padding changes no bit of a real token's result: the encoder computes every row with
	/// the same fixed-order operations whatever the rows beside it ([`crate::kernels::linear`]),
	/// a padded key's attention weight is exactly 0 (its score is pushed to `f32::MIN`, and
	/// adding 0 leaves a sum unchanged), and the pooling sums each sequence's own tokens in
	/// order. So batched and one-by-one embeddings are bit-identical, which the tests check.
	pub fn embed_ids_batch(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
		let len = sequences.iter().map(Vec::len).max().unwrap_or(0);
		let batch = sequences.len();
		if batch == 0 {
			return Ok(Vec::new());
		}
		if sequences.iter().any(Vec::is_empty) {
			return Err(EngineError::InvalidInput("a sequence without tokens".into()));
		}
		let mut ids = Vec::with_capacity(batch.saturating_mul(len));
		let mut mask = Vec::with_capacity(batch.saturating_mul(len));
		for sequence in sequences {
			let padding = len.saturating_sub(sequence.len());
			ids.extend_from_slice(sequence);
			ids.extend(core::iter::repeat_n(0u32, padding));
			mask.extend(core::iter::repeat_n(1u32, sequence.len()));
			mask.extend(core::iter::repeat_n(0u32, padding));
		}
		let input_ids = Tensor::from_vec(ids, (batch, len), &Device::Cpu)?;
		let attention_mask = Tensor::from_vec(mask, (batch, len), &Device::Cpu)?;
		let hidden = self.encoder.forward(&input_ids, &attention_mask)?;
		let width = self.shape.hidden;
		let hidden = hidden.flatten_all()?.to_vec1::<f32>()?;
		let embeddings = hidden
			.chunks_exact(len.saturating_mul(width).max(1))
			.zip(sequences)
			.map(|(states, sequence)| pool(states, sequence.len(), width))
			.collect();
		Ok(embeddings)
	}

	/// The encoder's sizes (for FLOP counts).
	pub fn shape(&self) -> BertShape {
		self.shape
	}

	/// The effective token bound.
	pub fn max_tokens(&self) -> usize {
		self.max_tokens
	}
}

/// Mean of the first `tokens` rows of `states: [.., width]` (summed in token order), divided
/// by its L2 norm or by `1e-12` if that is larger (sentence-transformers' `Normalize`).
fn pool(states: &[f32], tokens: usize, width: usize) -> Vec<f32> {
	let mut pooled = vec![0f32; width];
	for row in states.chunks_exact(width.max(1)).take(tokens) {
		for (p, x) in pooled.iter_mut().zip(row) {
			*p += x;
		}
	}
	let count = tokens as f32;
	for p in pooled.iter_mut() {
		*p /= count;
	}
	let norm = crate::kernels::dot(&pooled, &pooled).sqrt();
	let norm = if norm > 1e-12 { norm } else { 1e-12 };
	for p in pooled.iter_mut() {
		*p /= norm;
	}
	pooled
}
