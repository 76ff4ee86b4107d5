//! Model registry types and traits (pallet-models).
//!
//! Everything here is shared by the chain (`pallet-models`, `pallet-inference`) and the native
//! inference engine, so that both describe a model, and canonicalise its output, identically:
//!
//! - [`ModelDescriptor`]: what is executed: the weights file by hash, its [`ModelFormat`], the
//!   [`Architecture`] (naming its other files by hash) and the [`EngineProfile`], defined once
//!   for the registry, the execution requests and the engine's model cache;
//! - [`InputKind`], [`OutputKind`] and [`ComparisonRule`]: what a request's input and output are
//!   and how executors' results are compared;
//! - [`ModelSpec`]: what an owner submits to register a model or publish a version;
//! - [`ModelParams`]: the parameters of a runnable model as other pallets see them;
//! - [`ComparisonRule::canonicalise`] and [`ComparisonRule::digest`]: raw `f32` output →
//!   canonical bytes → blake2-256 digest, to which executors commit;
//! - [`ModelProvider`] (implemented by `pallet-models`) and [`PendingTasksGuard`] (implemented
//!   by `pallet-inference`).
//!
//! # Canonical forms
//!
//! Executors of one task must produce the same bytes from outputs that may differ in their last
//! bits (different CPUs, SIMD paths, thread counts). The rule chosen at registration maps the raw
//! output to a canonical form that absorbs those differences, and the rules are total and
//! deterministic on every input, including NaN, infinities, negative zero and ties:
//!
//! | rule | canonical bytes |
//! |---|---|
//! | [`Exact`](ComparisonRule::Exact) | each value as its IEEE-754 little-endian bits (4 bytes); every NaN becomes the quiet NaN `0x7FC0_0000`, `-0.0` becomes `+0.0` |
//! | [`Quantized`](ComparisonRule::Quantized) | each value `v` as `round(v × 10^decimals)`, an `i64` little-endian (8 bytes), rounding half away from zero; values beyond the `i64` range saturate to `i64::MAX` / `i64::MIN + 1` (so do `+inf` / `-inf`); NaN becomes `i64::MIN`; `-0.0` becomes `0` |
//! | [`Argmax`](ComparisonRule::Argmax) | the index of the largest value as `u32` little-endian (4 bytes); nothing for an empty output |
//! | [`TopK`](ComparisonRule::TopK) | the indices of the `min(k, len)` largest values, largest first, each `u32` little-endian |
//!
//! Ranking (for `Argmax` and `TopK`) compares values numerically, with `-0.0 == +0.0`, every NaN
//! below every number (including `-inf`) and all NaNs equal; equal values are ranked by
//! ascending index. `Argmax` is exactly `TopK { k: 1 }`.
//!
//! `Quantized` scales in `f64`: an `f32` has a 24-bit significand and `5^12` fits in 28 bits, so
//! for `decimals ≤ 12` ([`MAX_QUANTIZED_DECIMALS`]) the product `v × 10^decimals` is exact and
//! the only rounding is the final, explicit one. Two executors whose raw values round to
//! different integers (a value straddling a rounding boundary) still disagree: quantization makes
//! such disagreements rare, it cannot make them impossible.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use core::cmp::Ordering;
use frame_support::{traits::Get, BoundedVec};
use scale_info::TypeInfo;
use sp_core::H256;
use sp_runtime::traits::{BlakeTwo256, Hash};

/// Identifier of a registered model; assigned sequentially by the registry, never reused.
pub type ModelId = u32;

/// Version number of a model: 1 at registration, the previous version's plus one when published
/// as a new version.
pub type ModelVersion = u32;

/// blake2-256 digest of a canonical output, to which executors commit.
pub type OutputDigest = H256;

/// Largest `decimals` of [`ComparisonRule::Quantized`]: up to this value, scaling an `f32` by
/// `10^decimals` in `f64` is exact (see the module documentation).
pub const MAX_QUANTIZED_DECIMALS: u8 = 12;

/// Largest `k` of [`ComparisonRule::TopK`].
pub const MAX_TOP_K: u32 = 1024;

/// Canonical quiet NaN bit pattern of [`ComparisonRule::Exact`].
pub const CANONICAL_NAN_BITS: u32 = 0x7FC0_0000;

/// Canonical value of a NaN in [`ComparisonRule::Quantized`]; no number maps to it.
pub const QUANTIZED_NAN: i64 = i64::MIN;

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
	/// A GGUF file (reserved: not executed by the engine yet).
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
	/// UTF-8 text of at most `max_bytes` bytes, tokenised with the architecture's tokenizer.
	#[codec(index = 1)]
	Text {
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
	/// text.
	pub fn fits(&self, architecture: &Architecture) -> bool {
		matches!(
			(self, architecture),
			(Self::F32Vector { .. }, Architecture::Mlp { .. })
				| (Self::Text { .. }, Architecture::BertEmbedding { .. })
		)
	}

	/// Whether an honest executor can reach `rejection` on an input the chain accepted for
	/// this kind: a vector only `InputShape` (its length is checked, its fit to the files is
	/// not); a text only `Untokenizable` or `TooManyTokens` (UTF-8 and length are checked).
	pub fn admits(&self, rejection: crate::inference::Rejection) -> bool {
		use crate::inference::Rejection::*;
		match self {
			Self::F32Vector { .. } => matches!(rejection, InputShape),
			Self::Text { .. } => matches!(rejection, Untokenizable | TooManyTokens),
		}
	}

	/// Whether the declared shape is usable: `len ≥ 1`, `max_bytes ≥ 1`.
	pub fn is_valid(&self) -> bool {
		match *self {
			Self::F32Vector { len } => len >= 1,
			Self::Text { max_bytes } => max_bytes >= 1,
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
			Self::Text { max_bytes } => {
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

/// What a model's output means (its values are always a vector of `f32`).
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
}

/// How the results of a task's executors are compared: each executor maps its raw output to the
/// rule's canonical form (see the module documentation) and commits to its digest.
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
pub enum ComparisonRule {
	/// Bit-exact values: only for models known to be bit-exact across machines.
	#[codec(index = 0)]
	Exact,
	/// Values rounded to `decimals` decimal places (at most [`MAX_QUANTIZED_DECIMALS`]).
	#[codec(index = 1)]
	Quantized {
		/// Decimal places kept.
		decimals: u8,
	},
	/// The index of the largest value.
	#[codec(index = 2)]
	Argmax,
	/// The indices of the `k` largest values, largest first (`1 ≤ k ≤` [`MAX_TOP_K`]).
	#[codec(index = 3)]
	TopK {
		/// How many indices are kept.
		k: u32,
	},
}

/// Why a [`ComparisonRule`] is not acceptable for registration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InvalidRule {
	/// `Quantized { decimals }` with `decimals` above [`MAX_QUANTIZED_DECIMALS`].
	TooManyDecimals,
	/// `TopK { k }` with `k` zero or above [`MAX_TOP_K`].
	InvalidTopK,
}

impl ComparisonRule {
	/// Checks the rule's parameters: `decimals ≤` [`MAX_QUANTIZED_DECIMALS`],
	/// `1 ≤ k ≤` [`MAX_TOP_K`].
	pub fn validate(&self) -> Result<(), InvalidRule> {
		match *self {
			Self::Quantized { decimals } if decimals > MAX_QUANTIZED_DECIMALS => {
				Err(InvalidRule::TooManyDecimals)
			},
			Self::TopK { k } if k == 0 || k > MAX_TOP_K => Err(InvalidRule::InvalidTopK),
			_ => Ok(()),
		}
	}

	/// Maps a raw output to its canonical bytes (see the module documentation).
	///
	/// Total and deterministic on every input. Parameters outside the validated range are
	/// clamped (`decimals` to [`MAX_QUANTIZED_DECIMALS`]) or follow the general rule (`TopK`
	/// keeps `min(k, len)` indices, so `k = 0` keeps none).
	pub fn canonicalise(&self, output: &[f32]) -> Vec<u8> {
		match *self {
			Self::Exact => canonical_exact(output),
			Self::Quantized { decimals } => canonical_quantized(output, decimals),
			Self::Argmax => indices_to_bytes(&top_k_indices(output, 1)),
			Self::TopK { k } => indices_to_bytes(&top_k_indices(output, k)),
		}
	}

	/// The digest executors commit to: blake2-256 of [`Self::canonicalise`].
	pub fn digest(&self, output: &[f32]) -> OutputDigest {
		digest_canonical(&self.canonicalise(output))
	}

	/// Whether `bytes` has the shape of a canonical output of this rule: whole values, at most
	/// one index for `Argmax`, at most `k` distinct indices for `TopK`, canonical NaN and zero
	/// bit patterns for `Exact`. It cannot tell whether the output has the model's length.
	pub fn is_canonical(&self, bytes: &[u8]) -> bool {
		match *self {
			Self::Exact => {
				let mut chunks = bytes.chunks_exact(4);
				let values_ok = chunks.by_ref().all(|chunk| {
					let bits = u32::from_le_bytes(array4(chunk));
					let value = f32::from_bits(bits);
					let nan_ok = !value.is_nan() || bits == CANONICAL_NAN_BITS;
					let zero_ok = value != 0.0 || bits == 0;
					nan_ok && zero_ok
				});
				values_ok && chunks.remainder().is_empty()
			},
			Self::Quantized { .. } => bytes.len().is_multiple_of(8),
			Self::Argmax => bytes.is_empty() || bytes.len() == 4,
			Self::TopK { k } => {
				let mut chunks = bytes.chunks_exact(4);
				let mut indices: Vec<u32> =
					chunks.by_ref().map(|chunk| u32::from_le_bytes(array4(chunk))).collect();
				if !chunks.remainder().is_empty()
					|| u32::try_from(indices.len()).map_or(true, |count| count > k)
				{
					return false;
				}
				let count = indices.len();
				indices.sort_unstable();
				indices.dedup();
				indices.len() == count
			},
		}
	}
}

/// blake2-256 of canonical bytes (for a revealed output already in canonical form).
pub fn digest_canonical(canonical: &[u8]) -> OutputDigest {
	BlakeTwo256::hash(canonical)
}

/// `Exact`: IEEE-754 little-endian bits, with NaN and `-0.0` normalised.
pub fn canonical_exact(output: &[f32]) -> Vec<u8> {
	let mut bytes = Vec::with_capacity(output.len().saturating_mul(4));
	for &value in output {
		let bits = if value.is_nan() {
			CANONICAL_NAN_BITS
		} else if value == 0.0 {
			// Both `+0.0` and `-0.0`.
			0
		} else {
			value.to_bits()
		};
		bytes.extend_from_slice(&bits.to_le_bytes());
	}
	bytes
}

/// `Quantized { decimals }`: every value as [`quantize`] little-endian.
pub fn canonical_quantized(output: &[f32], decimals: u8) -> Vec<u8> {
	let mut bytes = Vec::with_capacity(output.len().saturating_mul(8));
	for &value in output {
		bytes.extend_from_slice(&quantize(value, decimals).to_le_bytes());
	}
	bytes
}

/// Powers of ten up to `10^MAX_QUANTIZED_DECIMALS`, all exact in `f64` (no `powi`, whose result
/// is not specified to the last bit).
const POWERS_OF_TEN: [f64; MAX_QUANTIZED_DECIMALS as usize + 1] =
	[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];

/// `2^63` as `f64`: the first value above the `i64` range.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// `round(value × 10^decimals)` as an `i64`, rounding half away from zero; `decimals` is clamped
/// to [`MAX_QUANTIZED_DECIMALS`]. NaN maps to [`QUANTIZED_NAN`] (`i64::MIN`), values at or above
/// `2^63` (and `+inf`) to `i64::MAX`, values at or below `-2^63` (and `-inf`) to `i64::MIN + 1`.
pub fn quantize(value: f32, decimals: u8) -> i64 {
	if value.is_nan() {
		return QUANTIZED_NAN;
	}
	// The fallback is unreachable: the clamped index is within the table.
	let scale = POWERS_OF_TEN
		.get(usize::from(decimals.min(MAX_QUANTIZED_DECIMALS)))
		.copied()
		.unwrap_or(1e12);
	// Exact for `decimals ≤ 12` (24-bit significand × a power of five below 2^28); rounding is
	// the only inexact step and is done by `libm`, bit for bit the same on every platform.
	let scaled = libm::round(f64::from(value) * scale);
	if scaled >= TWO_POW_63 {
		i64::MAX
	} else if scaled <= -TWO_POW_63 {
		QUANTIZED_NAN.saturating_add(1)
	} else {
		// In range and integral, so the conversion is exact; `-0.0` becomes `0`.
		scaled as i64
	}
}

/// Ranking order of `Argmax`/`TopK`: numeric, `-0.0 == +0.0`, NaN below every number, NaNs
/// equal to each other.
pub fn rank_cmp(a: f32, b: f32) -> Ordering {
	match (a.is_nan(), b.is_nan()) {
		(true, true) => Ordering::Equal,
		(true, false) => Ordering::Less,
		(false, true) => Ordering::Greater,
		// Neither is NaN, so `partial_cmp` is always `Some`.
		(false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
	}
}

/// Indices of the `min(k, len)` largest values, largest first, ties by ascending index.
///
/// The order is total (value, then index), so the result does not depend on the sorting
/// algorithm. Outputs longer than `u32::MAX` values are not supported: indices beyond are cut.
pub fn top_k_indices(output: &[f32], k: u32) -> Vec<u32> {
	let len = u32::try_from(output.len()).unwrap_or(u32::MAX);
	let mut indices: Vec<u32> = (0..len).collect();
	let value = |i: u32| output.get(i as usize).copied().unwrap_or(f32::NAN);
	indices.sort_unstable_by(|&a, &b| rank_cmp(value(b), value(a)).then(a.cmp(&b)));
	indices.truncate(k.min(len) as usize);
	indices
}

fn indices_to_bytes(indices: &[u32]) -> Vec<u8> {
	indices.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// A 4-byte chunk (from `chunks_exact(4)`) as an array.
fn array4(chunk: &[u8]) -> [u8; 4] {
	let mut out = [0u8; 4];
	for (o, c) in out.iter_mut().zip(chunk) {
		*o = *c;
	}
	out
}

/// Majority of `redundancy` executors: `redundancy / 2 + 1`, the default quorum.
pub fn majority(redundancy: u32) -> u32 {
	(redundancy / 2).saturating_add(1)
}

/// What an owner submits to register a model or publish a version. Lengths are checked by the
/// registry (so that an over-long name is a dispatch error, not an undecodable call).
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct ModelSpec<Balance> {
	/// Human-readable name, non-empty, at most `MaxNameLen` bytes.
	pub name: Vec<u8>,
	/// What to run: the files, the architecture and the engine profile.
	pub descriptor: ModelDescriptor,
	/// Size of the weights file in bytes (non-zero).
	pub size_bytes: u64,
	/// What a request's input is.
	pub input: InputKind,
	/// What the output means.
	pub output: OutputKind,
	/// Fee paid to each executor of a task.
	pub fee_per_executor: Balance,
	/// Executors per task (`1 ≤ redundancy ≤ MaxRedundancy`).
	pub redundancy: u32,
	/// Matching results that settle a task; `None` for the majority, [`majority`]`(redundancy)`.
	pub quorum: Option<u32>,
	/// How executors' results are compared.
	pub comparison: ComparisonRule,
	/// Optional download hint, non-empty, at most `MaxSourceUriLen` bytes.
	pub source_uri: Option<Vec<u8>>,
}

/// The parameters of a runnable model, as other pallets and the off-chain worker see them.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct ModelParams<Balance> {
	/// Version number.
	pub version: ModelVersion,
	/// What to run: the files, the architecture and the engine profile.
	pub descriptor: ModelDescriptor,
	/// Size of the weights file in bytes.
	pub size_bytes: u64,
	/// What a request's input is.
	pub input: InputKind,
	/// What the output means.
	pub output: OutputKind,
	/// Fee paid to each executor of a task.
	pub fee_per_executor: Balance,
	/// Executors per task.
	pub redundancy: u32,
	/// Matching results that settle a task.
	pub quorum: u32,
	/// How executors' results are compared.
	pub comparison: ComparisonRule,
}

/// The model registry as other pallets see it (implemented by `pallet-models`).
pub trait ModelProvider<AccountId> {
	/// Amount of the fee token.
	type Balance;
	/// Bound on the servers of one model.
	type MaxServers: Get<u32>;

	/// The parameters of `model_id` if it exists, is active and pays each executor at least the
	/// registry's minimum fee; `None` otherwise.
	fn runnable_model(model_id: ModelId) -> Option<ModelParams<Self::Balance>>;

	/// The parameters of `model_id` whatever its status (a deprecated model still finishes the
	/// tasks it took); `None` when no such model exists.
	fn model_params(model_id: ModelId) -> Option<ModelParams<Self::Balance>>;

	/// The accounts that declared they serve `model_id`, sorted, whatever the model's status;
	/// empty for an unknown model. One bounded storage read.
	fn servers(model_id: ModelId) -> BoundedVec<AccountId, Self::MaxServers>;

	/// Whether `who` declared it serves `model_id`.
	fn is_served_by(model_id: ModelId, who: &AccountId) -> bool;
}

/// Asked by the registry before removing a model (implemented by `pallet-inference`).
pub trait PendingTasksGuard {
	/// Whether tasks of `model_id` are still in progress (not settled, failed or refunded).
	fn has_pending_tasks(model_id: ModelId) -> bool;
}

/// No inference side: no task is ever pending.
impl PendingTasksGuard for () {
	fn has_pending_tasks(_model_id: ModelId) -> bool {
		false
	}
}

// Overflow in a test is a failed test, not a halted chain (as `clippy.toml` allows `unwrap` and
// indexing in tests).
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
	use super::*;

	fn le_u32s(bytes: &[u8]) -> Vec<u32> {
		bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
	}

	fn hex_literal(hex: &str) -> [u8; 32] {
		let mut out = [0u8; 32];
		for (i, byte) in out.iter_mut().enumerate() {
			*byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
		}
		out
	}

	fn le_i64s(bytes: &[u8]) -> Vec<i64> {
		bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
	}

	#[test]
	fn exact_is_little_endian_bits() {
		let out = ComparisonRule::Exact.canonicalise(&[1.0, -2.5]);
		assert_eq!(out, [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat());
	}

	#[test]
	fn exact_normalises_nan_payloads_and_negative_zero() {
		let quiet = f32::from_bits(0x7FC0_0001);
		let negative_nan = f32::from_bits(0xFFC0_0000);
		let signalling = f32::from_bits(0x7F80_0001);
		let out = ComparisonRule::Exact.canonicalise(&[quiet, negative_nan, signalling, -0.0, 0.0]);
		assert_eq!(
			le_u32s(&out),
			vec![CANONICAL_NAN_BITS, CANONICAL_NAN_BITS, CANONICAL_NAN_BITS, 0, 0]
		);
	}

	#[test]
	fn exact_keeps_infinities_and_subnormals() {
		let sub = f32::from_bits(1);
		let out = ComparisonRule::Exact.canonicalise(&[f32::INFINITY, f32::NEG_INFINITY, sub]);
		assert_eq!(le_u32s(&out), vec![0x7F80_0000, 0xFF80_0000, 1]);
	}

	#[test]
	fn quantized_rounds_half_away_from_zero() {
		// 0.5, 1.5, 2.5, -0.5, -2.5 are exact in binary: true ties.
		let out =
			ComparisonRule::Quantized { decimals: 0 }.canonicalise(&[0.5, 1.5, 2.5, -0.5, -2.5]);
		assert_eq!(le_i64s(&out), vec![1, 2, 3, -1, -3]);
		// 0.125 × 100 = 12.5 exactly.
		assert_eq!(quantize(0.125, 2), 13);
		assert_eq!(quantize(-0.125, 2), -13);
	}

	#[test]
	fn quantized_scales_exactly() {
		assert_eq!(quantize(1.2345, 4), 12345);
		assert_eq!(quantize(-1.2345, 4), -12345);
		assert_eq!(quantize(0.1, 1), 1);
		// 0.1f32 is 0.100000001490116..., exact in f64 after scaling by 1e12.
		assert_eq!(quantize(0.1, 12), 100_000_001_490);
		assert_eq!(quantize(3.0, 12), 3_000_000_000_000);
	}

	#[test]
	fn quantized_absorbs_last_bit_differences() {
		let a = 0.731_234_5f32;
		let b = f32::from_bits(a.to_bits() + 1);
		let c = f32::from_bits(a.to_bits() - 1);
		let rule = ComparisonRule::Quantized { decimals: 4 };
		assert_ne!(ComparisonRule::Exact.digest(&[a]), ComparisonRule::Exact.digest(&[b]));
		assert_eq!(rule.digest(&[a]), rule.digest(&[b]));
		assert_eq!(rule.digest(&[a]), rule.digest(&[c]));
	}

	#[test]
	fn quantized_special_values() {
		assert_eq!(quantize(f32::NAN, 3), i64::MIN);
		assert_eq!(quantize(-f32::NAN, 3), i64::MIN);
		assert_eq!(quantize(f32::INFINITY, 3), i64::MAX);
		assert_eq!(quantize(f32::NEG_INFINITY, 3), i64::MIN + 1);
		assert_eq!(quantize(f32::MAX, 0), i64::MAX);
		assert_eq!(quantize(f32::MIN, 0), i64::MIN + 1);
		assert_eq!(quantize(-0.0, 5), 0);
		assert_eq!(quantize(-0.000_001, 3), 0);
		// 2^63 exactly saturates; the largest f32 below it does not.
		assert_eq!(quantize(9_223_372_036_854_775_808.0, 0), i64::MAX);
		let below = f32::from_bits(9_223_372_036_854_775_808.0f32.to_bits() - 1);
		assert_eq!(quantize(below, 0), below as i64);
		assert!(quantize(below, 0) < i64::MAX);
	}

	#[test]
	fn quantized_clamps_decimals() {
		assert_eq!(quantize(1.0, 200), quantize(1.0, MAX_QUANTIZED_DECIMALS));
	}

	#[test]
	fn argmax_picks_lowest_index_on_ties() {
		let rule = ComparisonRule::Argmax;
		assert_eq!(le_u32s(&rule.canonicalise(&[0.1, 0.9, 0.3])), vec![1]);
		assert_eq!(le_u32s(&rule.canonicalise(&[0.9, 0.1, 0.9])), vec![0]);
		assert_eq!(le_u32s(&rule.canonicalise(&[-0.0, 0.0])), vec![0]);
		assert_eq!(le_u32s(&rule.canonicalise(&[0.0, -0.0])), vec![0]);
		assert!(rule.canonicalise(&[]).is_empty());
	}

	#[test]
	fn argmax_ranks_nan_lowest() {
		let rule = ComparisonRule::Argmax;
		assert_eq!(le_u32s(&rule.canonicalise(&[f32::NAN, f32::NEG_INFINITY])), vec![1]);
		assert_eq!(le_u32s(&rule.canonicalise(&[f32::NAN, f32::NAN])), vec![0]);
		assert_eq!(le_u32s(&rule.canonicalise(&[1.0, f32::INFINITY, f32::NAN])), vec![1]);
	}

	#[test]
	fn argmax_is_top_1() {
		let out = [0.3, f32::NAN, 0.7, 0.7, -1.0];
		assert_eq!(
			ComparisonRule::Argmax.canonicalise(&out),
			ComparisonRule::TopK { k: 1 }.canonicalise(&out)
		);
	}

	#[test]
	fn top_k_orders_by_value_then_index() {
		let out = [0.2, 0.9, f32::NAN, 0.5, 0.9, -0.0, 0.0];
		assert_eq!(top_k_indices(&out, 3), vec![1, 4, 3]);
		assert_eq!(top_k_indices(&out, 7), vec![1, 4, 3, 0, 5, 6, 2]);
		assert_eq!(le_u32s(&ComparisonRule::TopK { k: 2 }.canonicalise(&out)), vec![1, 4]);
	}

	#[test]
	fn top_k_larger_than_output_keeps_all() {
		assert_eq!(top_k_indices(&[1.0, 2.0], 10), vec![1, 0]);
		assert_eq!(top_k_indices(&[], 10), Vec::<u32>::new());
		assert_eq!(top_k_indices(&[1.0], 0), Vec::<u32>::new());
	}

	#[test]
	fn digest_is_blake2_256_of_canonical_bytes() {
		let rule = ComparisonRule::Quantized { decimals: 2 };
		let out = [1.0, 2.0];
		let canonical = rule.canonicalise(&out);
		assert_eq!(rule.digest(&out), digest_canonical(&canonical));
		// blake2-256 of the empty input.
		assert_eq!(
			digest_canonical(&[]),
			H256(hex_literal("0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"))
		);
	}

	#[test]
	fn digest_is_stable() {
		// Pinned so that a change of the canonical form cannot go unnoticed: executors on old and
		// new binaries would disagree.
		assert_eq!(ComparisonRule::Argmax.canonicalise(&[0.1, 0.9]), vec![1, 0, 0, 0]);
		assert_eq!(
			ComparisonRule::Quantized { decimals: 1 }.canonicalise(&[-0.25]),
			(-3i64).to_le_bytes().to_vec()
		);
	}

	#[test]
	fn validate_rules() {
		assert_eq!(ComparisonRule::Exact.validate(), Ok(()));
		assert_eq!(ComparisonRule::Argmax.validate(), Ok(()));
		assert_eq!(ComparisonRule::Quantized { decimals: 0 }.validate(), Ok(()));
		assert_eq!(
			ComparisonRule::Quantized { decimals: MAX_QUANTIZED_DECIMALS }.validate(),
			Ok(())
		);
		assert_eq!(
			ComparisonRule::Quantized { decimals: MAX_QUANTIZED_DECIMALS + 1 }.validate(),
			Err(InvalidRule::TooManyDecimals)
		);
		assert_eq!(ComparisonRule::TopK { k: 1 }.validate(), Ok(()));
		assert_eq!(ComparisonRule::TopK { k: MAX_TOP_K }.validate(), Ok(()));
		assert_eq!(ComparisonRule::TopK { k: 0 }.validate(), Err(InvalidRule::InvalidTopK));
		assert_eq!(
			ComparisonRule::TopK { k: MAX_TOP_K + 1 }.validate(),
			Err(InvalidRule::InvalidTopK)
		);
	}

	#[test]
	fn canonical_outputs_are_canonical() {
		let out = [0.5, -0.0, f32::from_bits(0xFFC0_0001), 3.0, f32::INFINITY];
		for rule in [
			ComparisonRule::Exact,
			ComparisonRule::Quantized { decimals: 3 },
			ComparisonRule::Argmax,
			ComparisonRule::TopK { k: 3 },
			ComparisonRule::TopK { k: 10 },
		] {
			assert!(rule.is_canonical(&rule.canonicalise(&out)), "{rule:?}");
			assert!(rule.is_canonical(&rule.canonicalise(&[])), "{rule:?}");
		}
	}

	#[test]
	fn non_canonical_shapes_are_rejected() {
		assert!(!ComparisonRule::Exact.is_canonical(&[0, 0, 0]));
		assert!(!ComparisonRule::Exact.is_canonical(&0x8000_0000u32.to_le_bytes()));
		assert!(!ComparisonRule::Exact.is_canonical(&0x7FC0_0001u32.to_le_bytes()));
		assert!(!ComparisonRule::Quantized { decimals: 1 }.is_canonical(&[0; 7]));
		assert!(!ComparisonRule::Argmax.is_canonical(&[0; 8]));
		assert!(!ComparisonRule::TopK { k: 1 }.is_canonical(&[0; 8]));
		assert!(!ComparisonRule::TopK { k: 2 }.is_canonical(&[1, 0, 0, 0, 1, 0, 0, 0]));
		assert!(!ComparisonRule::TopK { k: 2 }.is_canonical(&[1, 0, 0]));
	}

	#[test]
	fn majority_quorum() {
		assert_eq!(majority(1), 1);
		assert_eq!(majority(2), 2);
		assert_eq!(majority(3), 2);
		assert_eq!(majority(4), 3);
		assert_eq!(majority(5), 3);
		assert_eq!(majority(u32::MAX), u32::MAX / 2 + 1);
	}

	#[test]
	fn pending_tasks_unit_impl_is_never_pending() {
		assert!(!<() as PendingTasksGuard>::has_pending_tasks(0));
	}

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
	}
}
