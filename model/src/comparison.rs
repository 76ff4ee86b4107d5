//! How the results of a task's executors are compared: the [`ComparisonRule`] chosen at
//! registration maps a raw `f32` output to canonical bytes ([`ComparisonRule::canonicalise`]),
//! whose blake2-256 ([`ComparisonRule::digest`]) the executors commit to.
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
//! | [`Tokens`](ComparisonRule::Tokens) | a generation's SCALE encoding ([`Generation`]: prompt length, token ids, text), re-encoded |
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

use crate::{
	blake2_256, descriptor::OutputKind, generation::Generation, task::decode_output, H256,
};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use core::cmp::Ordering;
use scale_info::TypeInfo;

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
	/// Generated text, compared exactly: the revealed output is a SCALE-encoded
	/// [`Generation`] (prompt length, token ids and their text), whose canonical form is its
	/// strict re-encoding. The rule of every causal language model, and of no other
	/// ([`Self::applies_to`]).
	#[codec(index = 4)]
	Tokens,
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

	/// Whether this rule compares outputs of `kind`: [`Self::Tokens`] a
	/// [`OutputKind::Generation`], the others vectors of values.
	pub fn applies_to(&self, kind: OutputKind) -> bool {
		matches!(self, Self::Tokens) == matches!(kind, OutputKind::Generation)
	}

	/// The canonical bytes of a revealed output, `None` if it is malformed: a [`Generation`]'s
	/// re-encoding under [`Self::Tokens`], else [`Self::canonicalise`] of its little-endian `f32`
	/// values (whose length must be a multiple of 4).
	pub fn canonical_output(&self, bytes: &[u8]) -> Option<Vec<u8>> {
		match self {
			Self::Tokens => Generation::canonical(bytes),
			_ => decode_output(bytes).map(|values| self.canonicalise(&values)),
		}
	}

	/// The digest of a revealed output: blake2-256 of [`Self::canonical_output`].
	pub fn digest_output(&self, bytes: &[u8]) -> Option<OutputDigest> {
		self.canonical_output(bytes).map(|canonical| digest_canonical(&canonical))
	}

	/// Maps a raw output to its canonical bytes (see the module documentation).
	///
	/// Total and deterministic on every input. Parameters outside the validated range are
	/// clamped (`decimals` to [`MAX_QUANTIZED_DECIMALS`]) or follow the general rule (`TopK`
	/// keeps `min(k, len)` indices, so `k = 0` keeps none).
	pub fn canonicalise(&self, output: &[f32]) -> Vec<u8> {
		match *self {
			// `Tokens` compares generations; given values, it compares them exactly.
			Self::Exact | Self::Tokens => canonical_exact(output),
			Self::Quantized { decimals } => canonical_quantized(output, decimals),
			Self::Argmax => indices_to_bytes(&top_k_indices(output, 1)),
			Self::TopK { k } => indices_to_bytes(&top_k_indices(output, k)),
		}
	}

	/// The digest executors commit to: blake2-256 of [`Self::canonicalise`].
	pub fn digest(&self, output: &[f32]) -> OutputDigest {
		digest_canonical(&self.canonicalise(output))
	}
}

/// blake2-256 of canonical bytes (for a revealed output already in canonical form).
pub fn digest_canonical(canonical: &[u8]) -> OutputDigest {
	blake2_256(canonical)
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
	fn canonical_outputs_have_the_rules_shape() {
		let out = [0.5, -0.0, f32::from_bits(0xFFC0_0001), 3.0, f32::INFINITY];
		let words = |bytes: &[u8]| -> Vec<u32> {
			assert!(bytes.len().is_multiple_of(4));
			bytes
				.chunks_exact(4)
				.map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
				.collect()
		};
		// Exact: the bits, one NaN pattern, zero without sign; canonical again unchanged.
		let exact = ComparisonRule::Exact.canonicalise(&out);
		assert_eq!(
			words(&exact),
			[0.5f32.to_bits(), 0, CANONICAL_NAN_BITS, 3.0f32.to_bits(), f32::INFINITY.to_bits()]
		);
		let again: Vec<f32> = words(&exact).into_iter().map(f32::from_bits).collect();
		assert_eq!(ComparisonRule::Exact.canonicalise(&again), exact);
		// Quantized: one 8-byte integer per value.
		assert_eq!(ComparisonRule::Quantized { decimals: 3 }.canonicalise(&out).len(), 5 * 8);
		// Argmax: one index, none for no output.
		assert_eq!(words(&ComparisonRule::Argmax.canonicalise(&out)), [4]);
		assert!(ComparisonRule::Argmax.canonicalise(&[]).is_empty());
		// TopK: at most k distinct indices, never more than the output has.
		for k in [3, 10] {
			let indices = words(&ComparisonRule::TopK { k }.canonicalise(&out));
			assert_eq!(indices.len(), (k as usize).min(out.len()));
			let mut distinct = indices.clone();
			distinct.sort_unstable();
			distinct.dedup();
			assert_eq!(distinct.len(), indices.len(), "TopK {k}: {indices:?}");
		}
		assert!(ComparisonRule::TopK { k: 3 }.canonicalise(&[]).is_empty());
	}
}
