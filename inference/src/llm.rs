//! Causal language models: a `llama` network from a GGUF file, its tokenizer and chat template
//! from the file's metadata, and text generation with a key-value cache under the
//! registration's [`GenerationParams`].
//!
//! # Same tokens on every executor
//!
//! Every step is the engine's own, in an order fixed by this code:
//!
//! - the weight matrices stay quantised (`Q4_1`, `Q8_0`) and [`qlinear`] multiplies by them with
//!   the bits of the `f32` product on the dequantised weights ([`crate::quant`]), so the model
//!   computes in `f32` on exactly the file's values, as the registration's
//!   [`EngineProfile::REPRODUCIBLE_F32`](opg_model::descriptor::EngineProfile) says;
//! - RMS norm, rotary embeddings, attention, SiLU and the residual sums use basic operations
//!   and the engine's `exp` ([`crate::mathf`]); the rotary angles' `sin` and `cos` and the
//!   frequencies' `pow` are the engine's own too, in `f64`;
//! - the next token is the highest score with the lowest id among equals (NaN below every
//!   number), or a draw from a generator seeded by the caller, with probabilities in `f64`.
//!
//! The thread count only splits products into strips and attention into heads, which changes no
//! bit. So executors on any supported CPU generate the same token ids; `tests/llm.rs` checks the
//! first 32 greedy tokens of 10 prompts against Hugging Face transformers, and
//! `tests/cross_cpu.rs` compares generations across CPUs.

// Index arithmetic stays within buffers sized from the model's checked configuration; float
// arithmetic is the computation itself.
// Indexing too: an index out of bounds would be a bug of this module, and the engine runs every
// model inside `catch_unwind` (a panic fails that inference, not the node).
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::{
	error::{EngineError, Result},
	kernels::{dot, softmax},
	mathf,
	quant::{qlinear, QuantKind, QuantWeights},
};
use candle_core::quantized::{gguf_file, GgmlDType};
use opg_model::{
	generation::{Decoding, Generation, GenerationParams, PromptFormat},
	task::Rejection,
};
use rayon::prelude::*;
use std::{
	io::Cursor,
	sync::atomic::{AtomicBool, Ordering},
};

/// Most instructions a chat template may execute for one prompt (minijinja's fuel): a template
/// that loops without end is refused for every executor alike instead of hanging them.
const TEMPLATE_FUEL: u64 = 2_000_000;

/// Most bytes of key-value cache one generation may hold (prompt and generated positions of every
/// block): a model whose registration allows more is refused at load, so that no registration can
/// make executors run out of memory.
pub const MAX_KV_CACHE_BYTES: usize = 1 << 30;

/// The chat templates the engine renders, by the blake2-256 of their text, with what they are.
///
/// Jinja bounds a template's instructions (the fuel above) but not its memory: `~` and `+`
/// build strings of any size, so a template registered with a model could abort every executor
/// that renders it, on a message of its choosing. Only templates reviewed here are rendered; a
/// model with another template is refused at load (its executors decline, nobody is slashed), and
/// can still be registered with [`PromptFormat::Raw`], its client rendering the prompt.
pub const REVIEWED_TEMPLATES: &[(&str, &str)] = &[(
	"786dc803909c78d9d03264ecb6d82c6bcbbe28070b7e342b474af75e0d1c93db",
	"ChatML with SmolLM's default system message (HuggingFaceTB SmolLM2 Instruct)",
)];

/// Whether the engine renders chat `template` (see [`REVIEWED_TEMPLATES`]).
pub fn is_reviewed_template(template: &str) -> bool {
	let hash = crate::store::hash_hex(&crate::store::hash_bytes(template.as_bytes()));
	REVIEWED_TEMPLATES.iter().any(|(reviewed, _)| *reviewed == hash)
}

/// Prompt positions computed in one forward pass: bounds the activations a prefill holds
/// (`PREFILL_CHUNK × ffn` values a layer) and how long the engine runs before it sees its time
/// limit.
pub const PREFILL_CHUNK: usize = 128;

/// The network's shape, from the GGUF metadata (`llama.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlamaConfig {
	/// Transformer blocks.
	pub layers: usize,
	/// Width of the residual stream.
	pub hidden: usize,
	/// Width of the feed-forward layer.
	pub ffn: usize,
	/// Query heads.
	pub heads: usize,
	/// Key and value heads (grouped-query attention).
	pub kv_heads: usize,
	/// Longest sequence (prompt and generation) the model was trained for.
	pub context: usize,
	/// Tokens in the vocabulary.
	pub vocab: usize,
	/// Rotary frequency base, bits of the `f32` in the file.
	pub rope_base: u32,
	/// RMS norm epsilon, bits of the `f32` in the file.
	pub rms_eps: u32,
}

impl LlamaConfig {
	/// Width of one head.
	pub fn head_dim(&self) -> usize {
		self.hidden / self.heads
	}
}

/// One transformer block's weights.
struct Block {
	attn_norm: Vec<f32>,
	q: QuantWeights,
	k: QuantWeights,
	v: QuantWeights,
	o: QuantWeights,
	ffn_norm: Vec<f32>,
	gate: QuantWeights,
	up: QuantWeights,
	down: QuantWeights,
}

/// A loaded causal language model.
pub struct CausalLm {
	config: LlamaConfig,
	params: GenerationParams,
	embed: QuantWeights,
	/// The output projection, when the file has one apart from the embeddings.
	output: Option<QuantWeights>,
	output_norm: Vec<f32>,
	blocks: Vec<Block>,
	tokenizer: tokenizers::Tokenizer,
	template: Option<String>,
	bos: Option<(u32, String)>,
	eos: (u32, String),
	add_bos: bool,
	/// `(cos, sin)` of every position's rotary angles, `[position][head_dim / 2]`.
	rope: Vec<(f32, f32)>,
	/// UTF-8 bytes of each token's string: at least its decoded bytes (a byte-level token spells
	/// each byte as one character of one or two bytes; a token outside that alphabet decodes to
	/// its own UTF-8).
	token_bytes: Vec<usize>,
	/// Bytes of the longest token's text (a byte-level token's characters, a special token's
	/// UTF-8 bytes).
	longest_token: usize,
}

/// The keys and values of the positions computed so far, per block.
struct KvCache {
	keys: Vec<Vec<f32>>,
	values: Vec<Vec<f32>>,
	len: usize,
}

fn invalid(what: impl Into<String>) -> EngineError {
	EngineError::InvalidWeights(what.into())
}

fn rejected(rejection: Rejection, detail: impl Into<String>) -> EngineError {
	EngineError::Rejected { rejection, detail: detail.into() }
}

/// A message of a chat input.
#[derive(serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Message {
	role: String,
	content: String,
}

impl CausalLm {
	/// Loads a GGUF file of a `llama` network with its `gpt2` (byte-level BPE) tokenizer, to
	/// generate under `params`.
	pub fn load(gguf: &[u8], params: GenerationParams) -> Result<Self> {
		let mut reader = Cursor::new(gguf);
		let content = gguf_file::Content::read(&mut reader)
			.map_err(|e| invalid(format!("not a GGUF file: {e}")))?;
		let meta = Meta(&content);
		let arch = meta.string("general.architecture")?;
		if arch != "llama" {
			return Err(EngineError::UnsupportedFormat("GGUF architecture other than llama"));
		}
		let tokens = meta.strings("tokenizer.ggml.tokens")?;
		let config = LlamaConfig {
			layers: meta.usize("llama.block_count")?,
			hidden: meta.usize("llama.embedding_length")?,
			ffn: meta.usize("llama.feed_forward_length")?,
			heads: meta.usize("llama.attention.head_count")?,
			kv_heads: meta.usize("llama.attention.head_count_kv")?,
			context: meta.usize("llama.context_length")?,
			vocab: tokens.len(),
			rope_base: match meta.0.metadata.get("llama.rope.freq_base") {
				None => 10_000f32.to_bits(),
				Some(_) => meta.f32("llama.rope.freq_base")?.to_bits(),
			},
			rms_eps: meta.f32("llama.attention.layer_norm_rms_epsilon")?.to_bits(),
		};
		let c = &config;
		if c.layers == 0
			|| c.layers > 256
			|| c.heads == 0
			|| c.kv_heads == 0
			|| !c.hidden.is_multiple_of(c.heads)
			|| !c.heads.is_multiple_of(c.kv_heads)
			|| !c.head_dim().is_multiple_of(2)
			|| c.vocab == 0
			|| c.hidden > 16_384
			|| c.ffn > 65_536
		{
			return Err(EngineError::InvalidConfig(format!("unsupported llama shape {config:?}")));
		}
		// Variants this engine does not compute are refused, not approximated.
		let scaled = content.metadata.keys().any(|key| key.starts_with("llama.rope.scaling."));
		if scaled || content.tensor_infos.contains_key("rope_freqs.weight") {
			return Err(EngineError::UnsupportedFormat("llama with scaled rotary embeddings"));
		}
		if let Ok(rope_dim) = meta.usize("llama.rope.dimension_count") {
			if rope_dim != c.head_dim() {
				return Err(EngineError::InvalidConfig("partial rotary embeddings".into()));
			}
		}
		let positions =
			(params.max_prompt_tokens as usize).saturating_add(params.max_new_tokens as usize);
		if positions > c.context {
			return Err(EngineError::InvalidConfig(format!(
				"{positions} positions of prompt and generation over the model's context of {}",
				c.context
			)));
		}
		let kv = c.kv_heads * c.head_dim();
		let cache_bytes = positions.saturating_mul(kv).saturating_mul(c.layers).saturating_mul(8);
		if cache_bytes > MAX_KV_CACHE_BYTES {
			return Err(EngineError::InvalidConfig(format!(
				"a key-value cache of {cache_bytes} bytes for {positions} positions, at most {MAX_KV_CACHE_BYTES}"
			)));
		}
		let tensors = Tensors { content: &content, data: gguf };
		let embed = tensors.matrix("token_embd.weight", c.vocab, c.hidden)?;
		let output = if content.tensor_infos.contains_key("output.weight") {
			Some(tensors.matrix("output.weight", c.vocab, c.hidden)?)
		} else {
			None
		};
		let output_norm = tensors.vector("output_norm.weight", c.hidden)?;
		let blocks = (0..c.layers)
			.map(|i| {
				let name = |part: &str| format!("blk.{i}.{part}.weight");
				Ok(Block {
					attn_norm: tensors.vector(&name("attn_norm"), c.hidden)?,
					q: tensors.matrix(&name("attn_q"), c.hidden, c.hidden)?,
					k: tensors.matrix(&name("attn_k"), kv, c.hidden)?,
					v: tensors.matrix(&name("attn_v"), kv, c.hidden)?,
					o: tensors.matrix(&name("attn_output"), c.hidden, c.hidden)?,
					ffn_norm: tensors.vector(&name("ffn_norm"), c.hidden)?,
					gate: tensors.matrix(&name("ffn_gate"), c.ffn, c.hidden)?,
					up: tensors.matrix(&name("ffn_up"), c.ffn, c.hidden)?,
					down: tensors.matrix(&name("ffn_down"), c.hidden, c.ffn)?,
				})
			})
			.collect::<Result<Vec<_>>>()?;

		let tokenizer = build_tokenizer(&meta, &tokens)?;
		let token = |key: &str| -> Result<Option<(u32, String)>> {
			match meta.0.metadata.get(key) {
				None => Ok(None),
				Some(value) => {
					let id = value.to_u32().map_err(|e| invalid(format!("{key}: {e}")))?;
					let text = tokens
						.get(id as usize)
						.cloned()
						.ok_or_else(|| invalid(format!("{key} {id} outside the vocabulary")))?;
					Ok(Some((id, text)))
				},
			}
		};
		let eos = token("tokenizer.ggml.eos_token_id")?
			.ok_or_else(|| invalid("no end-of-sequence token"))?;
		let bos = token("tokenizer.ggml.bos_token_id")?;
		let add_bos = meta
			.0
			.metadata
			.get("tokenizer.ggml.add_bos_token")
			.map(|v| v.to_bool().unwrap_or(false))
			.unwrap_or(false);
		let template = meta
			.0
			.metadata
			.get("tokenizer.chat_template")
			.and_then(|v| v.to_string().ok())
			.cloned();
		if params.prompt == PromptFormat::Chat {
			match template.as_deref() {
				None => {
					return Err(EngineError::InvalidConfig(
						"chat prompts but no chat template".into(),
					))
				},
				Some(template) if !is_reviewed_template(template) => {
					return Err(EngineError::UnsupportedFormat(
						"a chat template the engine has not reviewed (see REVIEWED_TEMPLATES)",
					))
				},
				Some(_) => {},
			}
		}
		let rope = rope_table(c, positions);
		let token_bytes: Vec<usize> = tokens.iter().map(String::len).collect();
		let longest_token = token_bytes.iter().copied().max().unwrap_or(1).max(1);
		Ok(Self {
			token_bytes,
			longest_token,
			config,
			params,
			embed,
			output,
			output_norm,
			blocks,
			tokenizer,
			template,
			bos,
			eos,
			add_bos,
			rope,
		})
	}

	/// The network's shape.
	pub fn config(&self) -> &LlamaConfig {
		&self.config
	}

	/// The generation parameters it was loaded with.
	pub fn params(&self) -> &GenerationParams {
		&self.params
	}

	/// The prompt's text: the input as it is, or chat messages rendered with the model's
	/// template. [`Rejection::NotUtf8`] and [`Rejection::MalformedChat`] as the input deserves.
	pub fn prompt(&self, input: &[u8]) -> Result<String> {
		let text = std::str::from_utf8(input)
			.map_err(|e| rejected(Rejection::NotUtf8, format!("input is not UTF-8: {e}")))?;
		match self.params.prompt {
			PromptFormat::Raw => Ok(text.to_owned()),
			PromptFormat::Chat => self.render_chat(text),
		}
	}

	fn render_chat(&self, json: &str) -> Result<String> {
		let malformed = |detail: String| rejected(Rejection::MalformedChat, detail);
		let messages: Vec<Message> =
			serde_json::from_str(json).map_err(|e| malformed(format!("chat messages: {e}")))?;
		if let Some(message) =
			messages.iter().find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant"))
		{
			return Err(malformed(format!("unknown role {:?}", message.role)));
		}
		let template = self.template.as_deref().unwrap_or_default();
		let mut env = minijinja::Environment::new();
		env.set_fuel(Some(TEMPLATE_FUEL));
		env.add_function(
			"raise_exception",
			|message: String| -> std::result::Result<String, minijinja::Error> {
				Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
			},
		);
		let template = env
			.template_from_str(template)
			.map_err(|e| malformed(format!("the model's chat template: {e}")))?;
		template
			.render(minijinja::context! {
				messages => messages,
				add_generation_prompt => true,
				bos_token => self.bos.as_ref().map(|(_, text)| text.clone()).unwrap_or_default(),
				eos_token => self.eos.1.clone(),
			})
			.map_err(|e| malformed(format!("chat template: {e}")))
	}

	/// The prompt's token ids (with the beginning-of-sequence token if the model adds one),
	/// [`Rejection::Untokenizable`] if the tokenizer fails or gives none, and
	/// [`Rejection::TooManyTokens`] over `max_prompt_tokens`.
	pub fn tokenize(&self, prompt: &str) -> Result<Vec<u32>> {
		let max = self.params.max_prompt_tokens as usize;
		// No token is longer than the longest of the vocabulary: a longer prompt has too many
		// tokens for sure, and is refused before the tokenizer spends time on it.
		if prompt.len() > max.saturating_mul(self.longest_token) {
			return Err(rejected(
				Rejection::TooManyTokens,
				format!("{} bytes of prompt, more than {max} tokens", prompt.len()),
			));
		}
		let encoding = self
			.tokenizer
			.encode(prompt, false)
			.map_err(|e| rejected(Rejection::Untokenizable, format!("tokenizer: {e}")))?;
		let mut ids = Vec::with_capacity(encoding.len() + 1);
		if self.add_bos {
			if let Some((bos, _)) = &self.bos {
				ids.push(*bos);
			}
		}
		ids.extend_from_slice(encoding.get_ids());
		if ids.is_empty() {
			return Err(rejected(Rejection::Untokenizable, "the prompt has no tokens"));
		}
		if ids.len() > max {
			return Err(rejected(
				Rejection::TooManyTokens,
				format!("{} prompt tokens, at most {max}", ids.len()),
			));
		}
		Ok(ids)
	}

	/// Text of token ids, special tokens left out, invalid UTF-8 replaced by U+FFFD.
	pub fn decode(&self, ids: &[u32]) -> Result<String> {
		self.tokenizer
			.decode(ids, true)
			.map_err(|e| EngineError::Worker(format!("detokenizer: {e}")))
	}

	/// Generates from a raw input (prompt or chat messages), drawing with `seed` if the model
	/// samples. Stops early when `stop` is set (the engine's time limit), with an error.
	pub fn generate(&self, input: &[u8], seed: &[u8; 32], stop: &AtomicBool) -> Result<Generation> {
		let prompt = self.prompt(input)?;
		let ids = self.tokenize(&prompt)?;
		let tokens = self.generate_ids(&ids, seed, stop)?;
		let text = self.decode(&tokens)?;
		Ok(Generation { prompt_tokens: ids.len() as u32, tokens, text })
	}

	/// The generated ids after the prompt `ids`: until the end-of-sequence token or a stop
	/// token (kept), `max_new_tokens`, or the token that would make the text longer than
	/// [`GenerationParams::max_text_bytes`] (left out).
	pub fn generate_ids(
		&self,
		ids: &[u32],
		seed: &[u8; 32],
		stop: &AtomicBool,
	) -> Result<Vec<u32>> {
		let mut cache = self.cache();
		let mut logits = self.prefill(ids, &mut cache, stop)?;
		let mut out = Vec::new();
		let max_text = self.params.max_text_bytes() as usize;
		// An upper bound of the text's bytes: three (U+FFFD) per byte of every token's string.
		let mut bound = 0usize;
		for step in 0..self.params.max_new_tokens {
			let token = match self.params.decoding {
				Decoding::Greedy => argmax(&logits),
				Decoding::Sample { temperature_milli, top_p_milli } => {
					sample(&logits, temperature_milli, top_p_milli, seed, step)
				},
			};
			out.push(token);
			bound = bound
				.saturating_add(3 * self.token_bytes.get(token as usize).copied().unwrap_or(0));
			if bound > max_text && self.decode(&out)?.len() > max_text {
				out.pop();
				break;
			}
			if token == self.eos.0
				|| self.params.is_stop(token)
				|| step + 1 == self.params.max_new_tokens
			{
				break;
			}
			if stop.load(Ordering::Relaxed) {
				return Err(EngineError::Timeout);
			}
			logits = self.forward(&[token], &mut cache)?;
		}
		Ok(out)
	}

	/// Next-token scores after the prompt `ids` (run as generation runs it, in chunks): for the
	/// tests and the benchmark.
	pub fn prefill_logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
		let mut cache = self.cache();
		self.prefill(ids, &mut cache, &AtomicBool::new(false))
	}

	/// Greedy generation of `count` tokens (ignoring stop tokens) with each step's scores, the
	/// prompt in one forward pass: for the reference comparison.
	pub fn greedy_with_logits(&self, ids: &[u32], count: usize) -> Result<Vec<(u32, Vec<f32>)>> {
		let mut cache = self.cache();
		let mut logits = self.forward(ids, &mut cache)?;
		let mut out = Vec::with_capacity(count);
		for step in 0..count {
			let token = argmax(&logits);
			out.push((token, logits));
			if step + 1 == count {
				break;
			}
			logits = self.forward(&[token], &mut cache)?;
		}
		Ok(out)
	}

	/// The prompt's forward passes, [`PREFILL_CHUNK`] positions at a time (each position's
	/// result depends on its row and the cached keys alone, so the chunking changes no bit),
	/// checking `stop` between chunks; the last position's scores.
	fn prefill(&self, ids: &[u32], cache: &mut KvCache, stop: &AtomicBool) -> Result<Vec<f32>> {
		let mut logits = Vec::new();
		for chunk in ids.chunks(PREFILL_CHUNK) {
			if stop.load(Ordering::Relaxed) {
				return Err(EngineError::Timeout);
			}
			logits = self.forward(chunk, cache)?;
		}
		Ok(logits)
	}

	fn cache(&self) -> KvCache {
		let positions = self.rope.len() / (self.config.head_dim() / 2);
		let kv = self.config.kv_heads * self.config.head_dim();
		KvCache {
			keys: (0..self.config.layers).map(|_| Vec::with_capacity(positions * kv)).collect(),
			values: (0..self.config.layers).map(|_| Vec::with_capacity(positions * kv)).collect(),
			len: 0,
		}
	}

	/// Runs `ids` at the next positions of `cache` and returns the last position's scores.
	fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
		let c = &self.config;
		let (hidden, head_dim) = (c.hidden, c.head_dim());
		let start = cache.len;
		let positions = self.rope.len() / (head_dim / 2);
		if ids.is_empty() || start + ids.len() > positions {
			return Err(EngineError::Worker(format!(
				"{} tokens after {start} exceed the {positions} positions",
				ids.len()
			)));
		}
		let rows = ids.len();
		let mut x = Vec::with_capacity(rows * hidden);
		for &id in ids {
			let row = self
				.embed
				.row(id as usize)
				.ok_or_else(|| EngineError::Worker(format!("token {id} outside the vocabulary")))?;
			x.extend_from_slice(&row);
		}
		let eps = f32::from_bits(c.rms_eps);
		let product = |x: &[f32], w: &QuantWeights| qlinear(x, w).map_err(EngineError::Worker);
		for (layer, block) in self.blocks.iter().enumerate() {
			let h = rms_norm(&x, &block.attn_norm, eps);
			let mut q = product(&h, &block.q)?;
			let mut k = product(&h, &block.k)?;
			let v = product(&h, &block.v)?;
			self.rotate(&mut q, c.heads, start);
			self.rotate(&mut k, c.kv_heads, start);
			cache.keys[layer].extend_from_slice(&k);
			cache.values[layer].extend_from_slice(&v);
			let attended = attention(c, &q, &cache.keys[layer], &cache.values[layer], start);
			let o = product(&attended, &block.o)?;
			add(&mut x, &o);
			let h = rms_norm(&x, &block.ffn_norm, eps);
			let gate = product(&h, &block.gate)?;
			let up = product(&h, &block.up)?;
			let act: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| silu(g) * u).collect();
			let down = product(&act, &block.down)?;
			add(&mut x, &down);
		}
		cache.len = start + rows;
		let last = &x[(rows - 1) * hidden..];
		let h = rms_norm(last, &self.output_norm, eps);
		product(&h, self.output.as_ref().unwrap_or(&self.embed))
	}

	/// Rotary embeddings of `heads` heads per row, rows at positions from `start`: adjacent
	/// pairs `(x[2i], x[2i+1])` rotated by `position · base^(−2i/d)` (GGUF's `llama` layout).
	fn rotate(&self, x: &mut [f32], heads: usize, start: usize) {
		let head_dim = self.config.head_dim();
		let half = head_dim / 2;
		for (r, row) in x.chunks_exact_mut(heads * head_dim).enumerate() {
			let angles = &self.rope[(start + r) * half..(start + r + 1) * half];
			for head in row.chunks_exact_mut(head_dim) {
				for (pair, &(cos, sin)) in head.chunks_exact_mut(2).zip(angles) {
					let (a, b) = (pair[0], pair[1]);
					pair[0] = a * cos - b * sin;
					pair[1] = a * sin + b * cos;
				}
			}
		}
	}
}

/// `(cos, sin)` of `position · inv_freq[i]` for every position and pair: `inv_freq[i] =
/// base^(−2i/d)` rounded to `f32`, the angle the `f32` product (as in the reference
/// implementations), its `cos` and `sin` computed in `f64` ([`mathf::sin_cos64`]) and rounded.
fn rope_table(c: &LlamaConfig, positions: usize) -> Vec<(f32, f32)> {
	let head_dim = c.head_dim();
	let base = f64::from(f32::from_bits(c.rope_base));
	let inv_freq: Vec<f32> = (0..head_dim / 2)
		.map(|i| mathf::pow64(base, -((2 * i) as f64) / head_dim as f64) as f32)
		.collect();
	let mut table = Vec::with_capacity(positions * inv_freq.len());
	for position in 0..positions {
		for &f in &inv_freq {
			let angle = position as f32 * f;
			let (sin, cos) = mathf::sin_cos64(f64::from(angle));
			table.push((cos as f32, sin as f32));
		}
	}
	table
}

/// RMS norm of each row: `x / sqrt(mean(x²) + eps) · w`, the sum of squares in
/// [`dot`]'s fixed order.
fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
	let n = w.len();
	let mut out = Vec::with_capacity(x.len());
	for row in x.chunks_exact(n) {
		let mean = dot(row, row) / n as f32;
		let scale = 1.0 / (mean + eps).sqrt();
		out.extend(row.iter().zip(w).map(|(&v, &g)| (v * scale) * g));
	}
	out
}

/// `x += y`, element by element.
fn add(x: &mut [f32], y: &[f32]) {
	for (a, b) in x.iter_mut().zip(y) {
		*a += b;
	}
}

/// SiLU, `x · sigmoid(x)`, with the engine's sigmoid.
fn silu(x: f32) -> f32 {
	x * mathf::sigmoid(x)
}

/// Causal grouped-query attention of `rows` query rows at positions `start..`, against the
/// cached keys and values of positions `0..start + rows`: per head, scores `q · k / √d` in
/// [`dot`]'s order, [`softmax`], then `Σ p_j v_j` over positions in increasing order.
fn attention(c: &LlamaConfig, q: &[f32], keys: &[f32], values: &[f32], start: usize) -> Vec<f32> {
	let head_dim = c.head_dim();
	let (hidden, kv) = (c.hidden, c.kv_heads * head_dim);
	let group = c.heads / c.kv_heads;
	let rows = q.len() / hidden;
	let scale = 1.0 / (head_dim as f32).sqrt();
	let mut out = vec![0f32; rows * hidden];
	// One task per (row, head); each writes its own slice of the output.
	out.par_chunks_exact_mut(head_dim).enumerate().for_each(|(index, o)| {
		let (r, h) = (index / c.heads, index % c.heads);
		let query = &q[r * hidden + h * head_dim..r * hidden + (h + 1) * head_dim];
		let kv_head = h / group;
		let seen = start + r + 1;
		let mut scores: Vec<f32> = (0..seen)
			.map(|j| {
				dot(query, &keys[j * kv + kv_head * head_dim..j * kv + (kv_head + 1) * head_dim])
					* scale
			})
			.collect();
		softmax(&mut scores);
		for (j, &p) in scores.iter().enumerate() {
			let value = &values[j * kv + kv_head * head_dim..j * kv + (kv_head + 1) * head_dim];
			for (a, &v) in o.iter_mut().zip(value) {
				*a += p * v;
			}
		}
	});
	out
}

/// The highest score's id, the lowest id among equal scores, NaN below every number.
pub fn argmax(logits: &[f32]) -> u32 {
	let mut best = 0usize;
	for (i, &v) in logits.iter().enumerate() {
		let current = logits[best];
		if !v.is_nan() && (current.is_nan() || v > current) {
			best = i;
		}
	}
	best as u32
}

/// A draw from the scores at `temperature_milli / 1000`, restricted to the smallest set of most
/// likely tokens (by probability, then lowest id) whose probability reaches `top_p_milli / 1000`.
/// The uniform variate of step `step` is the first 53 bits of `blake2_256(seed ‖ step)`;
/// probabilities and sums are in `f64`, in a fixed order.
pub fn sample(
	logits: &[f32],
	temperature_milli: u16,
	top_p_milli: u16,
	seed: &[u8; 32],
	step: u32,
) -> u32 {
	let temperature = f64::from(temperature_milli.max(1)) / 1000.0;
	let max = logits.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
	if max.is_infinite() {
		// No finite scale: the highest score (the lowest id among infinite ones) is certain.
		return argmax(logits);
	}
	let mut weights: Vec<(f64, u32)> = logits
		.iter()
		.enumerate()
		.filter(|(_, v)| !v.is_nan())
		.map(|(i, &v)| (mathf::exp64((f64::from(v) - f64::from(max)) / temperature), i as u32))
		.filter(|(w, _)| *w > 0.0)
		.collect();
	weights.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
	let total: f64 = weights.iter().fold(0.0, |s, (w, _)| s + w);
	let target = total * f64::from(top_p_milli.min(1000)) / 1000.0;
	let mut kept = 0;
	let mut mass = 0.0;
	for (w, _) in &weights {
		mass += w;
		kept += 1;
		if mass >= target {
			break;
		}
	}
	let mut preimage = Vec::with_capacity(36);
	preimage.extend_from_slice(seed);
	preimage.extend_from_slice(&step.to_le_bytes());
	let hash = sp_crypto_hashing::blake2_256(&preimage);
	let mut word = [0u8; 8];
	word.copy_from_slice(&hash[..8]);
	let uniform = (u64::from_le_bytes(word) >> 11) as f64 / (1u64 << 53) as f64;
	let threshold = uniform * mass;
	let mut running = 0.0;
	for (w, id) in weights.iter().take(kept) {
		running += w;
		if running > threshold {
			return *id;
		}
	}
	weights.get(kept.saturating_sub(1)).map_or_else(|| argmax(logits), |(_, id)| *id)
}

/// Typed access to GGUF metadata.
struct Meta<'a>(&'a gguf_file::Content);

impl Meta<'_> {
	fn get(&self, key: &str) -> Result<&gguf_file::Value> {
		self.0.metadata.get(key).ok_or_else(|| invalid(format!("GGUF metadata {key} missing")))
	}
	fn string(&self, key: &str) -> Result<String> {
		self.get(key)?.to_string().cloned().map_err(|e| invalid(format!("{key}: {e}")))
	}
	fn usize(&self, key: &str) -> Result<usize> {
		let value = self.get(key)?;
		let n = value
			.to_u32()
			.map(u64::from)
			.or_else(|_| value.to_u64())
			.map_err(|e| invalid(format!("{key}: {e}")))?;
		usize::try_from(n).map_err(|_| invalid(format!("{key}: {n} too large")))
	}
	fn f32(&self, key: &str) -> Result<f32> {
		self.get(key)?.to_f32().map_err(|e| invalid(format!("{key}: {e}")))
	}
	fn strings(&self, key: &str) -> Result<Vec<String>> {
		self.get(key)?
			.to_vec()
			.map_err(|e| invalid(format!("{key}: {e}")))?
			.iter()
			.map(|v| v.to_string().cloned().map_err(|e| invalid(format!("{key}: {e}"))))
			.collect()
	}
}

/// The tensors of a GGUF file, read from its bytes.
struct Tensors<'a> {
	content: &'a gguf_file::Content,
	data: &'a [u8],
}

impl Tensors<'_> {
	fn raw(&self, name: &str) -> Result<(&gguf_file::TensorInfo, &[u8])> {
		let info = self
			.content
			.tensor_infos
			.get(name)
			.ok_or_else(|| invalid(format!("tensor {name} missing")))?;
		let elements = info.shape.elem_count();
		let dtype = info.ggml_dtype;
		let bytes = elements / dtype.block_size() * dtype.type_size();
		let start = self
			.content
			.tensor_data_offset
			.checked_add(info.offset)
			.and_then(|s| usize::try_from(s).ok());
		let data = start
			.and_then(|s| self.data.get(s..s.checked_add(bytes)?))
			.ok_or_else(|| invalid(format!("tensor {name} outside the file")))?;
		Ok((info, data))
	}

	/// A `[rows, depth]` matrix in `Q4_1` or `Q8_0`.
	fn matrix(&self, name: &str, rows: usize, depth: usize) -> Result<QuantWeights> {
		let (info, data) = self.raw(name)?;
		if info.shape.dims() != [rows, depth] {
			return Err(invalid(format!(
				"tensor {name} of shape {:?}, {rows} × {depth} expected",
				info.shape.dims()
			)));
		}
		let kind = match info.ggml_dtype {
			GgmlDType::Q4_1 => QuantKind::Q4_1,
			GgmlDType::Q8_0 => QuantKind::Q8_0,
			other => {
				return Err(invalid(format!(
					"tensor {name} in {other:?}: the engine reads Q4_1 and Q8_0"
				)))
			},
		};
		QuantWeights::new(kind, data, rows, depth)
			.map_err(|e| invalid(format!("tensor {name}: {e}")))
	}

	/// A vector of `len` `f32`.
	fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
		let (info, data) = self.raw(name)?;
		if info.ggml_dtype != GgmlDType::F32 || info.shape.elem_count() != len {
			return Err(invalid(format!("tensor {name}: {len} f32 expected")));
		}
		Ok(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
	}
}

/// The byte-level BPE tokenizer described by the GGUF metadata (`tokenizer.ggml.*`, model
/// `gpt2`): the vocabulary and merges, the pre-tokenizer of its `pre` type, control tokens as
/// special tokens.
fn build_tokenizer(meta: &Meta, tokens: &[String]) -> Result<tokenizers::Tokenizer> {
	use tokenizers::{
		decoders::byte_level::ByteLevel as ByteLevelDecoder,
		models::bpe::{Vocab, BPE},
		pre_tokenizers::{byte_level::ByteLevel, digits::Digits, sequence::Sequence},
		AddedToken, PreTokenizerWrapper,
	};
	let model = meta.string("tokenizer.ggml.model")?;
	if model != "gpt2" {
		return Err(EngineError::UnsupportedFormat(
			"GGUF tokenizer other than gpt2 (byte-level BPE)",
		));
	}
	let pre = meta.string("tokenizer.ggml.pre").unwrap_or_default();
	// llama.cpp's pre-tokenizer types: `smollm` splits every digit apart, then GPT-2's split.
	let digits = match pre.as_str() {
		"smollm" => true,
		"gpt2" | "default" | "" => false,
		_ => {
			return Err(EngineError::UnsupportedFormat(
				"GGUF pre-tokenizer other than smollm or gpt2",
			))
		},
	};
	let types: Vec<i32> = match meta.0.metadata.get("tokenizer.ggml.token_type") {
		Some(value) => value
			.to_vec()
			.map_err(|e| invalid(format!("token types: {e}")))?
			.iter()
			.map(|v| v.to_i32().unwrap_or(1))
			.collect(),
		None => vec![1; tokens.len()],
	};
	let merges: Vec<(String, String)> = meta
		.strings("tokenizer.ggml.merges")?
		.iter()
		.map(|m| {
			m.split_once(' ')
				.map(|(a, b)| (a.to_owned(), b.to_owned()))
				.ok_or_else(|| invalid(format!("merge {m:?}")))
		})
		.collect::<Result<_>>()?;
	let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
	if vocab.len() != tokens.len() {
		return Err(invalid("the vocabulary repeats a token"));
	}
	let bpe = BPE::builder()
		.vocab_and_merges(vocab, merges)
		.build()
		.map_err(|e| invalid(format!("tokenizer: {e}")))?;
	let mut tokenizer = tokenizers::Tokenizer::new(bpe);
	let byte_level: PreTokenizerWrapper = ByteLevel::new(false, true, true).into();
	let pre_tokenizer: PreTokenizerWrapper = if digits {
		Sequence::new(vec![Digits::new(true).into(), byte_level]).into()
	} else {
		byte_level
	};
	tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
	tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
	// Control tokens (type 3) are special: matched whole in the text, left out of decoded text.
	let special: Vec<AddedToken> = tokens
		.iter()
		.zip(&types)
		.filter(|(_, &t)| t == 3)
		.map(|(token, _)| AddedToken::from(token.clone(), true))
		.collect();
	tokenizer.add_special_tokens(&special);
	Ok(tokenizer)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn argmax_takes_the_lowest_id_among_equals_and_skips_nan() {
		assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
		assert_eq!(argmax(&[f32::NAN, -1.0, -2.0]), 1);
		assert_eq!(argmax(&[f32::NAN, f32::NAN]), 0);
		assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY, -1e30]), 2);
	}

	#[test]
	fn sampling_is_seeded_and_respects_top_p_and_temperature() {
		let logits = [2.0f32, 1.0, 0.5, -1.0, f32::NAN, 1.0];
		let seed = [7u8; 32];
		let draws: Vec<u32> = (0..200).map(|s| sample(&logits, 1000, 1000, &seed, s)).collect();
		// Same seed and step, same token; every token with weight can come out.
		assert_eq!(
			draws,
			(0..200).map(|s| sample(&logits, 1000, 1000, &seed, s)).collect::<Vec<_>>()
		);
		for id in [0, 1, 2, 3, 5] {
			assert!(draws.contains(&id), "{id} never drawn");
		}
		assert!(!draws.contains(&4), "NaN drawn");
		// An infinite score is certain, whatever the settings (and no panic).
		let certain = [1.0f32, f32::INFINITY, f32::INFINITY, f32::NAN];
		assert!((0..20).all(|s| sample(&certain, 1000, 500, &seed, s) == 1));
		// top_p small enough keeps only the best token; a tiny temperature is greedy.
		assert!((0..100).all(|s| sample(&logits, 1000, 100, &seed, s) == 0));
		assert!((0..100).all(|s| sample(&logits, 1, 1000, &seed, s) == 0));
		// Ties in probability are kept in id order: tokens 1 and 5 both come out.
		let other: Vec<u32> =
			(0..200).map(|s| sample(&logits, 1000, 1000, &[8u8; 32], s)).collect();
		assert_ne!(draws, other);
	}

	#[test]
	fn only_reviewed_chat_templates_are_rendered() {
		let chatml = "{% for message in messages %}{{ message['content'] }}{% endfor %}";
		assert!(!is_reviewed_template(chatml));
		assert!(!is_reviewed_template(""));
	}

	#[test]
	fn rms_norm_and_silu_are_the_formulas() {
		let x = [3.0f32, 4.0];
		let out = rms_norm(&x, &[1.0, 2.0], 0.0);
		let scale = 1.0 / (12.5f32).sqrt();
		assert_eq!(out, vec![3.0 * scale, (4.0 * scale) * 2.0]);
		assert_eq!(silu(0.0), 0.0);
		assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
	}
}
