//! What to run: a model's files, architecture and engine profile ([`ModelDescriptor`]), and
//! what its input and output are ([`InputKind`], [`OutputKind`]).
//!
//! The registry (`pallet-models`), the tasks' execution requests and the engine's model cache all
//! use [`ModelDescriptor`] as is, so that the chain and the engine name a model identically.

use crate::{
	generation::{GenerationParams, PromptFormat},
	task::Rejection,
	H256,
};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Identifier of a registered model; assigned sequentially by the registry, never reused.
pub type ModelId = u32;

/// Version number of a model: 1 at registration, the previous version's plus one when published
/// as a new version.
pub type ModelVersion = u32;

/// File format of a model's weights.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub enum ModelFormat {
	/// A `safetensors` file.
	#[codec(index = 0)]
	Safetensors,
	/// An ONNX file (reserved: not executed by the engine yet).
	#[codec(index = 1)]
	Onnx,
	/// A GGUF file: the network's weights (quantised or not), its configuration, tokenizer and
	/// chat template in one file (the engine runs `llama` architectures).
	#[codec(index = 2)]
	Gguf,
}

/// Network architecture: with the weights file, enough for a node to build and run the model
/// unambiguously. Every hash is the blake2-256 of a file the node holds in its model store.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub enum Architecture {
	/// A multi-layer perceptron; the configuration file gives the layer sizes and activations.
	#[codec(index = 0)]
	Mlp {
		/// Hash of the JSON configuration file.
		config_hash: H256,
	},
	/// A BERT encoder producing a sentence embedding.
	#[codec(index = 1)]
	BertEmbedding {
		/// Hash of the JSON configuration file.
		config_hash: H256,
		/// Hash of the tokenizer file (`tokenizer.json`).
		tokenizer_hash: H256,
	},
	/// A causal language model generating text (a `llama` network in a [`ModelFormat::Gguf`]
	/// file, which also holds its tokenizer and chat template), under the registration's
	/// generation parameters.
	#[codec(index = 2)]
	CausalLm {
		/// Prompt and generation limits, stop tokens and decoding.
		generation: GenerationParams,
	},
}

/// The engine a model's results are defined on: the kernels that compute it and the numeric
/// type it computes in. Part of every registration: executors that implement the same profile
/// compute the same bits on any supported CPU, so their digests agree under `Exact`; a node
/// that does not implement a model's profile declines its tasks rather than compute other bits.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub struct EngineProfile {
	/// The kernels: which code computes every product, reduction and function, in what order.
	pub kernels: KernelSet,
	/// The numeric type of weights and activations while the model runs.
	pub dtype: ComputeType,
}

impl EngineProfile {
	/// The reproducible `f32` profile: [`KernelSet::FixedOrderFma2`], [`ComputeType::F32`].
	pub const REPRODUCIBLE_F32: Self =
		Self { kernels: KernelSet::FixedOrderFma2, dtype: ComputeType::F32 };
}

/// A set of kernels of the engine, by revision. A revision that changes any output bit is a new
/// variant, so that a model's registration never silently changes meaning.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub enum KernelSet {
	/// The engine's reproducible kernels, revision 2 (`opg_inference::NUMERICS`
	/// `fixed-order-fma-2`): every output element of a product or reduction is one chain of
	/// fused multiply-adds in an order fixed by the engine's code (the same with the FMA
	/// instruction and without it, whatever the SIMD width, cache sizes or thread count), and
	/// `exp`, `tanh`, `erf` and the activations are the engine's own, in basic operations.
	#[codec(index = 0)]
	FixedOrderFma2,
}

/// The numeric type a model computes in.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub enum ComputeType {
	/// IEEE 754 single precision; weights stored in another type are converted on load.
	#[codec(index = 0)]
	F32,
}

/// What to run: a model's files, how to build the network from them and on which engine
/// profile. Defined once, and used as such by the registry, the tasks' execution requests and
/// the engine (which caches loaded models by it).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub struct ModelDescriptor {
	/// blake2-256 of the weights file.
	pub weights_hash: H256,
	/// Format of the weights file.
	pub format: ModelFormat,
	/// How to build the network, naming its other files by hash.
	pub architecture: Architecture,
	/// The engine profile the model's results are defined on.
	pub profile: EngineProfile,
}

/// What a request's input is.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum InputKind {
	/// A vector of `len` little-endian `f32` values: exactly `4 × len` bytes.
	#[codec(index = 0)]
	F32Vector {
		/// Number of values (at least 1).
		len: u32,
	},
	/// UTF-8 text of at most `max_bytes` bytes, tokenised with the architecture's tokenizer (a
	/// causal language model continues it as it is, without a chat template).
	#[codec(index = 1)]
	Text {
		/// Longest input in bytes (at least 1).
		max_bytes: u32,
	},
	/// Chat messages for a causal language model, rendered with the model's chat template: a
	/// UTF-8 JSON array of `{"role": …, "content": …}` objects (roles `system`, `user`,
	/// `assistant`), of at most `max_bytes` bytes.
	#[codec(index = 2)]
	Chat {
		/// Longest input in bytes (at least 1).
		max_bytes: u32,
	},
}

/// Why an input does not fit a model's declared [`InputKind`]: the chain refuses such a request
/// (`pallet-inference`), so no executor is ever asked to run it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InputMismatch {
	/// An `F32Vector` input whose length is not `4 × len` bytes.
	WrongLength,
	/// A `Text` input that is not UTF-8.
	NotUtf8,
	/// A `Text` input longer than `max_bytes`.
	TooLong,
}

impl InputKind {
	/// Whether `architecture` takes this kind of input: an `Mlp` a vector, a `BertEmbedding`
	/// text, a `CausalLm` text if its prompt is [`PromptFormat::Raw`], chat messages if it is
	/// [`PromptFormat::Chat`].
	pub fn fits(&self, architecture: &Architecture) -> bool {
		match (self, architecture) {
			(Self::F32Vector { .. }, Architecture::Mlp { .. })
			| (Self::Text { .. }, Architecture::BertEmbedding { .. }) => true,
			(Self::Text { .. }, Architecture::CausalLm { generation }) => {
				generation.prompt == PromptFormat::Raw
			},
			(Self::Chat { .. }, Architecture::CausalLm { generation }) => {
				generation.prompt == PromptFormat::Chat
			},
			_ => false,
		}
	}

	/// Whether an honest executor can reach `rejection` on an input the chain accepted for
	/// this kind: a vector only `InputShape` (its length is checked, its fit to the files is
	/// not); a text only `Untokenizable` or `TooManyTokens` (UTF-8 and length are checked);
	/// chat messages also `MalformedChat` (their JSON is not checked on chain).
	pub fn admits(&self, rejection: Rejection) -> bool {
		use Rejection::*;
		match self {
			Self::F32Vector { .. } => matches!(rejection, InputShape),
			Self::Text { .. } => matches!(rejection, Untokenizable | TooManyTokens),
			Self::Chat { .. } => matches!(rejection, MalformedChat | Untokenizable | TooManyTokens),
		}
	}

	/// Whether the declared shape is usable: `len ≥ 1`, `max_bytes ≥ 1`.
	pub fn is_valid(&self) -> bool {
		match *self {
			Self::F32Vector { len } => len >= 1,
			Self::Text { max_bytes } | Self::Chat { max_bytes } => max_bytes >= 1,
		}
	}

	/// Checks `input` against the declared shape: in `O(input)`, with no model file. What only
	/// the model's files decide (an MLP whose configuration disagrees with `len`, a text over
	/// the token limit) is left to the executors, who reject it as a result.
	pub fn check(&self, input: &[u8]) -> Result<(), InputMismatch> {
		match *self {
			Self::F32Vector { len } => {
				let expected = u64::from(len).saturating_mul(4);
				if u64::try_from(input.len()).unwrap_or(u64::MAX) != expected {
					return Err(InputMismatch::WrongLength);
				}
			},
			Self::Text { max_bytes } | Self::Chat { max_bytes } => {
				if u64::try_from(input.len()).unwrap_or(u64::MAX) > u64::from(max_bytes) {
					return Err(InputMismatch::TooLong);
				}
				if core::str::from_utf8(input).is_err() {
					return Err(InputMismatch::NotUtf8);
				}
			},
		}
		Ok(())
	}
}

/// What a model's output means: a vector of `f32` values, or generated text.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum OutputKind {
	/// One score per class: `Argmax` and `TopK` comparisons make sense.
	#[codec(index = 0)]
	Logits,
	/// An embedding vector.
	#[codec(index = 1)]
	Embedding,
	/// Any other vector of values.
	#[codec(index = 2)]
	Values,
	/// Generated text: a SCALE-encoded [`Generation`](crate::generation::Generation) (the
	/// token ids and their text), compared by
	/// [`ComparisonRule::Tokens`](crate::comparison::ComparisonRule::Tokens).
	#[codec(index = 3)]
	Generation,
}

impl OutputKind {
	/// Whether `architecture` produces this kind of output: a causal language model a
	/// `Generation`, every other architecture a vector of values.
	pub fn fits(&self, architecture: &Architecture) -> bool {
		matches!(architecture, Architecture::CausalLm { .. }) == matches!(self, Self::Generation)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn input_kinds_check_shape_utf8_and_length() {
		let vector = InputKind::F32Vector { len: 2 };
		assert_eq!(vector.check(&[0u8; 8]), Ok(()));
		assert_eq!(vector.check(&[0u8; 4]), Err(InputMismatch::WrongLength));
		assert_eq!(vector.check(&[0u8; 9]), Err(InputMismatch::WrongLength));
		let text = InputKind::Text { max_bytes: 5 };
		assert_eq!(text.check(b"hello"), Ok(()));
		assert_eq!(text.check("héllo".as_bytes()), Err(InputMismatch::TooLong));
		assert_eq!(text.check(&[0xff, 0xfe]), Err(InputMismatch::NotUtf8));
		assert!(!InputKind::F32Vector { len: 0 }.is_valid());
		assert!(!InputKind::Text { max_bytes: 0 }.is_valid());
		assert!(vector.is_valid() && text.is_valid());
		let chat = InputKind::Chat { max_bytes: 5 };
		assert_eq!(chat.check(b"[]"), Ok(()));
		assert_eq!(chat.check(b"[1234]"), Err(InputMismatch::TooLong));
		assert_eq!(chat.check(&[0xff]), Err(InputMismatch::NotUtf8));
		assert!(!InputKind::Chat { max_bytes: 0 }.is_valid());
	}

	#[test]
	fn kinds_fit_their_architectures() {
		use crate::generation::Decoding;
		let h = H256::repeat_byte(1);
		let mlp = Architecture::Mlp { config_hash: h };
		let bert = Architecture::BertEmbedding { config_hash: h, tokenizer_hash: h };
		let llm = Architecture::CausalLm {
			generation: GenerationParams {
				prompt: PromptFormat::Chat,
				max_prompt_tokens: 8,
				max_new_tokens: 8,
				stop_tokens: [None; 4],
				decoding: Decoding::Greedy,
			},
		};
		let (vector, text, chat) = (
			InputKind::F32Vector { len: 1 },
			InputKind::Text { max_bytes: 1 },
			InputKind::Chat { max_bytes: 1 },
		);
		assert!(vector.fits(&mlp) && !vector.fits(&bert) && !vector.fits(&llm));
		assert!(!text.fits(&mlp) && text.fits(&bert) && !text.fits(&llm));
		assert!(!chat.fits(&mlp) && !chat.fits(&bert) && chat.fits(&llm));
		let Architecture::CausalLm { generation } = llm else { unreachable!() };
		let raw = Architecture::CausalLm {
			generation: GenerationParams { prompt: PromptFormat::Raw, ..generation },
		};
		assert!(text.fits(&raw) && !chat.fits(&raw));
		for kind in [OutputKind::Logits, OutputKind::Embedding, OutputKind::Values] {
			assert!(kind.fits(&mlp) && kind.fits(&bert) && !kind.fits(&llm));
		}
		assert!(!OutputKind::Generation.fits(&mlp) && OutputKind::Generation.fits(&llm));
		assert!(chat.admits(Rejection::MalformedChat) && !text.admits(Rejection::MalformedChat));
	}
}
