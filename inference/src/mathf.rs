//! The engine's own transcendental functions: `exp`, `tanh`, the logistic sigmoid and the tanh
//! approximation of GELU, in `+ − × ÷` only (and, for a model's constants, `ln`, `pow`, `sin`
//! and `cos` in `f64`).
//!
//! `f32::exp` and `f32::tanh` call the platform's libm, whose last bit differs between C
//! libraries, their versions and instruction sets; executors comparing digests would then
//! disagree on honest results. These functions use IEEE-754 basic operations alone (no fused
//! multiply-add, no libm, no CPU-specific instruction), each correctly rounded on every
//! conforming CPU, in an order fixed by this code, so they return the same bits everywhere.
//!
//! Each is computed in `f64` and rounded once to `f32`: range reduction `x = k·ln 2 + r` with
//! `|r| ≤ ln 2 / 2`, a degree-11 Taylor polynomial for `exp(r)` (truncation below 1e-14
//! relative), and the exact scaling by `2^k`. The `f32` results are within one unit in the last
//! place of `f64` libm's rounded to `f32` (tested over both signs), and nearly always correctly
//! rounded.

// The arithmetic is the computation itself, on values whose ranges are checked first.
#![allow(clippy::arithmetic_side_effects)]

/// `1.5 · 2^52`: adding and subtracting it rounds an `f64` of magnitude below `2^51` to the
/// nearest integer (ties to even) with two basic operations.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// `ln 2` split in two (fdlibm's): `LN2_HI` has its low 21 bits clear, so `k · LN2_HI` is
/// exact for the `|k| ≤ 1075` used here.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
/// `1 / ln 2`.
const LOG2_E: f64 = core::f64::consts::LOG2_E;
/// Above this, `exp` returns `+∞` (`f64` overflows at 709.78; `f32` results overflow from 88.73).
const EXP64_MAX: f64 = 709.0;
/// Below this, `exp` returns `0` (`f64` underflows below −745.13; `f32` results from −103.97).
const EXP64_MIN: f64 = -745.0;

/// `x` rounded to the nearest integer, ties to even, for `|x| < 2^51`.
fn round_even(x: f64) -> f64 {
	(x + ROUND_MAGIC) - ROUND_MAGIC
}

/// `2^k` for `-1022 ≤ k ≤ 1023`, exactly.
fn pow2(k: i64) -> f64 {
	f64::from_bits(((k + 1023) as u64) << 52)
}

/// `exp(x)` in `f64`, for the engine's internal use: relative error below 1e-14 on
/// `[-708, 709]` (less precise where the result is an `f64` subnormal); `0` below −745, `+∞`
/// above 709, NaN for NaN.
pub fn exp64(x: f64) -> f64 {
	if x.is_nan() {
		return x;
	}
	if x > EXP64_MAX {
		return f64::INFINITY;
	}
	if x < EXP64_MIN {
		return 0.0;
	}
	let k = round_even(x * LOG2_E);
	let r = (x - k * LN2_HI) - k * LN2_LO;
	// Horner, degree 11: 1 + r + r²/2! + … + r¹¹/11!.
	let mut p = 1.0 / 39_916_800.0;
	for c in [
		1.0 / 3_628_800.0,
		1.0 / 362_880.0,
		1.0 / 40_320.0,
		1.0 / 5_040.0,
		1.0 / 720.0,
		1.0 / 120.0,
		1.0 / 24.0,
		1.0 / 6.0,
		0.5,
		1.0,
		1.0,
	] {
		p = p * r + c;
	}
	let k = k as i64;
	// Two exact steps keep every factor a normal `f64` down to `k = -1075`.
	if k < -1000 {
		p * pow2(k + 1000) * pow2(-1000)
	} else if k > 1000 {
		p * pow2(k - 1000) * pow2(1000)
	} else {
		p * pow2(k)
	}
}

/// `ln(x)` in `f64` for a positive finite `x`, for the engine's internal use (constants of a
/// model, not a kernel): the exponent of `x` exactly, then four Newton steps
/// `y ← y + 2 (m − e^y) / (m + e^y)` on the significand `m ∈ [1, 2)` from `y = (m − 1)`, each
/// tripling the correct digits (as far as [`exp64`] allows). Relative error below 1e-14; NaN for
/// other `x`.
pub fn ln64(x: f64) -> f64 {
	if x.is_nan() || x <= 0.0 || !x.is_finite() {
		return f64::NAN;
	}
	// A subnormal is scaled into the normal range first (exactly).
	let (x, bias) = if x < f64::MIN_POSITIVE { (x * pow2(54), -54.0) } else { (x, 0.0) };
	let bits = x.to_bits();
	let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
	let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
	let mut y = m - 1.0;
	for _ in 0..4 {
		let e = exp64(y);
		y += 2.0 * (m - e) / (m + e);
	}
	let k = exponent as f64 + bias;
	(k * LN2_HI + y) + k * LN2_LO
}

/// `base^e` in `f64` for a positive finite `base`: `exp(e · ln(base))`, for the engine's
/// internal use (a model's constants).
pub fn pow64(base: f64, e: f64) -> f64 {
	exp64(e * ln64(base))
}

/// `π / 2` in three parts (fdlibm's `pio2_1`, `pio2_2`, `pio2_2t`; the first two of 33
/// significant bits, so that `k · part` is exact for `|k| < 2^20`): Cody and Waite's reduction.
const HALF_PI_1: f64 = f64::from_bits(0x3FF9_21FB_5440_0000);
const HALF_PI_2: f64 = f64::from_bits(0x3DD0_B461_1A60_0000);
const HALF_PI_3: f64 = f64::from_bits(0x3BA3_198A_2E03_7073);

/// `(sin x, cos x)` in `f64` for `|x| < 2^20`, for the engine's internal use (rotary position
/// angles): `x = k·π/2 + r` with `|r| ≤ π/4` by a three-part reduction, Taylor polynomials of
/// degree 17 and 16 in `r` (truncation below 1e-16), and the quadrant's signs. Absolute error
/// below 1e-15 over that range; NaN beyond it.
pub fn sin_cos64(x: f64) -> (f64, f64) {
	if x.is_nan() || x.abs() >= 1_048_576.0 {
		return (f64::NAN, f64::NAN);
	}
	let k = round_even(x * core::f64::consts::FRAC_2_PI);
	let r = ((x - k * HALF_PI_1) - k * HALF_PI_2) - k * HALF_PI_3;
	let r2 = r * r;
	// sin r = r (1 − r²/3! + r⁴/5! − …), cos r = 1 − r²/2! + r⁴/4! − …, by Horner.
	let mut s = 0.0;
	let mut c = 0.0;
	for n in (1..=8).rev() {
		// Terms r^(2n)/(2n+1)! and r^(2n)/(2n)! with alternating signs, built from the end.
		let sn = 1.0 / ((2 * n) as f64 * (2 * n + 1) as f64);
		let cn = 1.0 / ((2 * n - 1) as f64 * (2 * n) as f64);
		s = 1.0 - r2 * sn * s;
		c = 1.0 - r2 * cn * c;
	}
	let sin = r * s;
	let cos = c;
	match (k as i64).rem_euclid(4) {
		0 => (sin, cos),
		1 => (cos, -sin),
		2 => (-sin, -cos),
		_ => (-cos, sin),
	}
}

/// `tanh(x)` in `f64`, for the engine's internal use (relative error below 1e-10).
pub fn tanh64(x: f64) -> f64 {
	if x.is_nan() {
		return x;
	}
	let a = if x < 0.0 { -x } else { x };
	let t = if a < 1e-3 {
		// x − x³/3 + 2x⁵/15: the next term is below 1e-13 relative here.
		a - a * a * a / 3.0 + 2.0 * a * a * a * a * a / 15.0
	} else if a > 20.0 {
		1.0
	} else {
		let e = exp64(2.0 * a);
		(e - 1.0) / (e + 1.0)
	};
	if x < 0.0 {
		-t
	} else if x == 0.0 {
		// Keeps the sign of zero.
		x
	} else {
		t
	}
}

/// `exp(x)` for `f32`, the same bits on every CPU.
pub fn exp(x: f32) -> f32 {
	exp64(f64::from(x)) as f32
}

/// `tanh(x)` for `f32`, the same bits on every CPU.
pub fn tanh(x: f32) -> f32 {
	tanh64(f64::from(x)) as f32
}

/// The logistic sigmoid `1 / (1 + exp(−x))` for `f32`, the same bits on every CPU.
pub fn sigmoid(x: f32) -> f32 {
	(1.0 / (1.0 + exp64(-f64::from(x)))) as f32
}

/// GELU's tanh approximation, `x · (1 + tanh(z)) / 2` with `z = √(2/π) · (x + 0.044715 x³)`
/// (what BERT configurations call `gelu_new`), for `f32`, the same bits on every CPU. Computed
/// as the equal `x / (1 + exp(−2z))`, which keeps its precision where `1 + tanh(z)` cancels
/// (large negative `x`).
pub fn gelu_tanh(x: f32) -> f32 {
	if x == f32::NEG_INFINITY {
		// The limit, −0, rather than `−∞ / ∞`: a NaN made by an operation has a sign and payload
		// that differ between instruction sets (x86-64 gives −NaN, aarch64 +NaN).
		return -0.0;
	}
	let x = f64::from(x);
	(x / (1.0 + exp64(-2.0 * gelu_z(x)))) as f32
}

/// `√(2/π) · (x + 0.044715 x³)`.
fn gelu_z(x: f64) -> f64 {
	const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
	SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)
}

/// `a · b + c` with one rounding (IEEE 754's `fusedMultiplyAdd` on `f32`), in `f64` basic
/// operations only: the same bits as a CPU's FMA instruction, for CPUs that have none (an
/// x86-64 before Haswell), without calling the C library's `fmaf`.
///
/// The product of two `f32`s is exact in `f64` (24 + 24 significant bits ≤ 53, and its
/// exponent stays within `f64`'s normal range). The sum `p + c` is rounded to `f64` *to odd*:
/// Knuth's TwoSum gives the rounding error `e` exactly, and an inexact sum whose last bit is even
/// moves one unit toward the exact value. A value rounded to odd with at least two more bits
/// than the target (53 ≥ 24 + 2) and then rounded to nearest is the exact value rounded to
/// nearest (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms
/// using rounding to odd", IEEE Trans. Computers 57(4), 2008). Zeros, infinities, NaNs and
/// overflow come out as the instruction's: `p + c` cannot overflow `f64`, so the sum is only
/// non-finite when an operand is.
///
/// A NaN result is a NaN, but its sign and payload may differ from a given CPU's instruction
/// (CPUs differ among themselves there too); digests canonicalise NaNs.
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
	fma_integer(a, b, c).unwrap_or_else(|| fma_odd(a, b, c))
}

/// [`fma`] in integer arithmetic, for normal operands whose exact result is a normal `f32`, when
/// the addend's scale is at most 2¹⁵ below the product's or at most 2³⁹ above it (nearly every
/// fused multiply-add of a matrix product but its first, whose accumulator is zero); `None`
/// otherwise. Integer operations are what CPU emulators (qemu, which the cross-CPU test runs the
/// engine under) translate to host instructions, where floating-point ones go through a software
/// library: this is several times faster there.
///
/// The product of the 24-bit significands is exact in 48 bits; the addend's significand is
/// shifted to the product's scale (or the product to the addend's), both held exactly in 64
/// bits, added, and the sum rounded once to 24 bits, to nearest with ties to even.
#[inline(always)]
fn fma_integer(a: f32, b: f32, c: f32) -> Option<f32> {
	let (ua, ub, uc) = (a.to_bits(), b.to_bits(), c.to_bits());
	let (ea, eb, ec) = ((ua >> 23) & 0xff, (ub >> 23) & 0xff, (uc >> 23) & 0xff);
	if ea == 0 || ea == 0xff || eb == 0 || eb == 0xff || ec == 0 || ec == 0xff {
		return None;
	}
	let significand = |u: u32| u64::from((u & 0x7f_ffff) | 0x80_0000);
	let product = significand(ua) * significand(ub);
	let addend = significand(uc);
	// The weights of the lowest bits: `a · b = product · 2^ep`, `c = addend · 2^ec`.
	let ep = ea as i32 + eb as i32 - 300;
	let ec = ec as i32 - 150;
	let shift = ec - ep;
	if shift > 50 {
		// `|a · b| < 2^(48 + ep) ≤ ulp(c) / 4`: `c` is the sum rounded to nearest.
		return Some(c);
	}
	if !(-15..=39).contains(&shift) {
		return None;
	}
	// 48 + 15 and 24 + 39 bits: both fit, and so does their sum.
	let (product, addend, base) =
		if shift >= 0 { (product, addend << shift, ep) } else { (product << -shift, addend, ec) };
	let negative_product = (ua ^ ub) >> 31 == 1;
	let negative_addend = uc >> 31 == 1;
	let (magnitude, negative) = if negative_product == negative_addend {
		(product + addend, negative_product)
	} else if product >= addend {
		(product - addend, negative_product)
	} else {
		(addend - product, negative_addend)
	};
	if magnitude == 0 {
		// An exact zero sum of opposite signs is +0 when rounding to nearest.
		return Some(0.0);
	}
	let top = 63 - magnitude.leading_zeros() as i32;
	let (mut mantissa, mut exponent) = if top > 23 {
		let drop = (top - 23) as u32;
		let kept = magnitude >> drop;
		let rest = magnitude & ((1u64 << drop) - 1);
		let half = 1u64 << (drop - 1);
		let up = rest > half || (rest == half && kept & 1 == 1);
		(kept + u64::from(up), top)
	} else {
		(magnitude << (23 - top) as u32, top)
	};
	if mantissa == 1 << 24 {
		mantissa >>= 1;
		exponent += 1;
	}
	let biased = exponent + base + 127;
	if !(1..=254).contains(&biased) {
		return None;
	}
	let bits =
		(u32::from(negative) << 31) | ((biased as u32) << 23) | (mantissa as u32 & 0x7f_ffff);
	Some(f32::from_bits(bits))
}

/// [`fma`] for every input: the sum rounded to odd in `f64`, then to nearest in `f32`.
#[inline(always)]
fn fma_odd(a: f32, b: f32, c: f32) -> f32 {
	let p = f64::from(a) * f64::from(b);
	let c = f64::from(c);
	let s = p + c;
	let t = s - p;
	let e = (p - (s - t)) + (c - t);
	let bits = s.to_bits();
	// A finite sum that rounded (so `s ≠ 0`) to an even last bit: one unit toward `p + c`, up in
	// magnitude when the error has the sum's sign.
	let odd = if s.is_finite() && e != 0.0 && bits & 1 == 0 {
		if (e > 0.0) == (s > 0.0) {
			bits + 1
		} else {
			bits - 1
		}
	} else {
		bits
	};
	f64::from_bits(odd) as f32
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn ln_pow_sin_cos_match_the_platform_closely() {
		for x in [1e-300, 5e-324, 0.1, 0.5, 1.0, 1.5, 2.0, 10.0, 1e5, 1e300] {
			let (ours, libm) = (ln64(x), x.ln());
			assert!((ours - libm).abs() <= 1e-14 * libm.abs().max(1.0), "ln {x}: {ours} {libm}");
		}
		assert!(ln64(0.0).is_nan() && ln64(-1.0).is_nan() && ln64(f64::INFINITY).is_nan());
		for i in 0..32 {
			let e = -f64::from(2 * i) / 64.0;
			let (ours, libm) = (pow64(100_000.0, e), 100_000f64.powf(e));
			assert!((ours - libm).abs() <= 1e-13 * libm, "pow {e}: {ours} {libm}");
		}
		let mut x = -5000.0;
		while x < 5000.0 {
			let (s, c) = sin_cos64(x);
			assert!((s - x.sin()).abs() < 2e-13 && (c - x.cos()).abs() < 2e-13, "{x}: {s} {c}");
			x += 0.377;
		}
		assert_eq!(sin_cos64(0.0), (0.0, 1.0));
		assert!(sin_cos64(f64::NAN).0.is_nan() && sin_cos64(2e6).1.is_nan());
	}

	/// Units in the last place between two finite `f32`s of the same sign.
	fn ulps(a: f32, b: f32) -> u32 {
		(a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
	}

	/// Every 97th `f32` bit pattern from `+0` to `limit` (positive), and the same magnitudes
	/// negated, plus `±limit`: about 2 · 10⁷ values.
	fn sweep(limit: f32) -> impl Iterator<Item = f32> {
		(0..=limit.to_bits()).step_by(97).map(f32::from_bits).chain([limit]).flat_map(|x| [x, -x])
	}

	#[test]
	fn exp_is_within_one_ulp_of_libm_in_f64() {
		let mut worst = 0;
		let mut positive = 0;
		for x in sweep(103.0).filter(|x| *x <= 88.7) {
			positive += usize::from(x > 0.0);
			let want = f64::from(x).exp() as f32;
			let got = exp(x);
			if want.is_finite() && want > f32::MIN_POSITIVE {
				worst = worst.max(ulps(got, want));
			} else {
				// Subnormal results: within one subnormal step.
				assert!((got - want).abs() <= f32::from_bits(1), "exp({x}) = {got}, want {want}");
			}
		}
		assert!(positive > 5_000_000, "the sweep covers positive inputs");
		assert!(worst <= 1, "exp is {worst} ulps off");
	}

	#[test]
	fn exp_handles_the_edges() {
		assert_eq!(exp(0.0), 1.0);
		assert_eq!(exp(-0.0), 1.0);
		assert_eq!(exp(f32::NEG_INFINITY), 0.0);
		assert_eq!(exp(f32::INFINITY), f32::INFINITY);
		assert_eq!(exp(89.0), f32::INFINITY);
		assert_eq!(exp(-104.0), 0.0);
		assert!(exp(f32::NAN).is_nan());
		assert_eq!(exp(1.0), core::f32::consts::E);
		assert_eq!(exp(core::f32::consts::LN_2), 2.0);
	}

	#[test]
	fn tanh_sigmoid_and_gelu_are_within_one_ulp_of_libm_in_f64() {
		let mut worst = (0, 0, 0);
		for x in sweep(12.0) {
			let d = f64::from(x);
			let t = d.tanh() as f32;
			if t != 0.0 {
				worst.0 = worst.0.max(ulps(tanh(x), t));
			} else {
				assert_eq!(tanh(x), t);
			}
			worst.1 = worst.1.max(ulps(sigmoid(x), (1.0 / (1.0 + (-d).exp())) as f32));
			let g = (d / (1.0 + (-2.0 * gelu_z(d)).exp())) as f32;
			if g.abs() > f32::MIN_POSITIVE {
				worst.2 = worst.2.max(ulps(gelu_tanh(x), g));
			}
		}
		assert!(
			worst.0 <= 1 && worst.1 <= 1 && worst.2 <= 1,
			"ulps off (tanh, sigmoid, gelu): {worst:?}"
		);
		assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
		assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
		assert_eq!(tanh(30.0), 1.0);
		assert_eq!(tanh(-30.0), -1.0);
		assert!(tanh(f32::NAN).is_nan());
		assert_eq!(gelu_tanh(f32::NEG_INFINITY).to_bits(), (-0.0f32).to_bits());
		assert_eq!(gelu_tanh(f32::INFINITY), f32::INFINITY);
		assert_eq!(sigmoid(0.0), 0.5);
		assert_eq!(sigmoid(200.0), 1.0);
		assert_eq!(sigmoid(-200.0), 0.0);
	}

	/// The bits these functions return are part of the chain's consensus on results: any
	/// change here changes digests, and must change `NUMERICS` too. Recorded once; every
	/// conforming CPU (x86-64 with or without FMA, aarch64) must reproduce them.
	#[test]
	fn the_bits_are_pinned() {
		let xs = [-87.5f32, -10.25, -1.0, -0.3, 1e-5, 0.125, 0.7, 2.5, 13.0, 80.0];
		let bits = |f: fn(f32) -> f32| xs.iter().map(|x| f(*x).to_bits()).collect::<Vec<u32>>();
		assert_eq!(bits(exp), PINNED_EXP, "exp");
		assert_eq!(bits(tanh), PINNED_TANH, "tanh");
		assert_eq!(bits(sigmoid), PINNED_SIGMOID, "sigmoid");
		assert_eq!(bits(gelu_tanh), PINNED_GELU, "gelu_tanh");
	}

	const PINNED_EXP: [u32; 10] = [
		7_123_644,
		940_854_484,
		1_052_531_378,
		1_061_004_867,
		1_065_353_300,
		1_066_470_146,
		1_073_799_507,
		1_094_904_703,
		1_222_116_781,
		2_032_843_726,
	];
	const PINNED_TANH: [u32; 10] = [
		3_212_836_864,
		3_212_836_864,
		3_208_837_078,
		3_197_445_870,
		925_353_388,
		1_040_100_553,
		1_058_715_609,
		1_065_128_641,
		1_065_353_216,
		1_065_353_216,
	];
	const PINNED_SIGMOID: [u32; 10] = [
		7_123_644,
		940_854_140,
		1_049_211_569,
		1_054_466_732,
		1_056_964_650,
		1_057_488_214,
		1_059_786_331,
		1_064_080_527,
		1_065_353_178,
		1_065_353_216,
	];
	const PINNED_GELU: [u32; 10] = [
		2_147_483_648,
		2_147_728_459,
		3_189_939_857,
		3_186_279_079,
		916_964_868,
		1_032_633_242,
		1_057_477_490,
		1_075_775_708,
		1_095_761_920,
		1_117_782_016,
	];

	/// `xs` of every magnitude and sign, subnormals, zeros, infinities and NaN included.
	fn wild(state: &mut u64) -> f32 {
		*state ^= *state << 13;
		*state ^= *state >> 7;
		*state ^= *state << 17;
		match *state % 16 {
			0 => {
				[0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX, f32::MIN_POSITIVE]
					[(*state >> 8) as usize % 7]
			},
			1 | 2 => f32::from_bits((*state >> 32) as u32),
			3 => f32::from_bits((*state >> 41) as u32) * if *state & 1 == 0 { 1.0 } else { -1.0 },
			_ => {
				((*state >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
					* [1.0, 1e-3, 64.0, 1e5][(*state >> 4) as usize % 4]
			},
		}
	}

	#[test]
	fn fma_is_the_fma_instruction_bit_for_bit() {
		// `f32::mul_add` is the CPU's instruction on the machines that run this test (and
		// otherwise glibc's correctly rounded `fmaf`): the reference.
		let integer = core::cell::Cell::new(0usize);
		let total = core::cell::Cell::new(0usize);
		let same = |a: f32, b: f32, c: f32| {
			let (want, got) = (a.mul_add(b, c), fma(a, b, c));
			// Both ways of computing it, each against the instruction.
			let odd = fma_odd(a, b, c);
			assert!(
				want.to_bits() == odd.to_bits() || (want.is_nan() && odd.is_nan()),
				"fma_odd({a:e}, {b:e}, {c:e}) = {odd:e}, want {want:e}"
			);
			total.set(total.get() + 1);
			integer.set(integer.get() + usize::from(fma_integer(a, b, c).is_some()));
			assert!(
				want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
				"fma({a:e}, {b:e}, {c:e}) = {got:e}, want {want:e}"
			);
		};
		let mut state = 0x9e37_79b9_7f4a_7c15u64;
		for _ in 0..4_000_000 {
			let (a, b, c) = (wild(&mut state), wild(&mut state), wild(&mut state));
			same(a, b, c);
			// The hard cases: `c` cancels the product to within a few units, or sits half a
			// unit of the result away from it.
			let p = f64::from(a) * f64::from(b);
			let near = -(p as f32);
			for step in [-2i32, -1, 0, 1, 2] {
				let c = f32::from_bits(near.to_bits().wrapping_add_signed(step));
				same(a, b, c);
			}
			let r = p as f32;
			let half_ulp = f32::from_bits(r.to_bits().wrapping_add(1)) - r;
			same(a, b, half_ulp / 2.0);
			same(a, b, -half_ulp / 2.0);
		}
		// Every distance between the scales of the product and the addend, both ways, around
		// the integer path's bounds; ties and the power-of-two boundary included.
		for k in 0..80 {
			let small = f32::from_bits((127 - k) << 23);
			let large = f32::from_bits((127 + k.min(60)) << 23);
			for (a, b, c) in [
				(1.5, small, 1.0),
				(1.000_000_1, -small, 1.0),
				(1.999_999_9, small, -1.0),
				(1.0, -small, 1.000_000_1),
				(1.0, small * 0.5, 1.0),
				(1.5, large, 1.0),
				(-1.000_000_1, large, 3.0),
			] {
				same(a, b, c);
			}
		}
		// The integer path computes most of them (the rest are special or far apart).
		assert!(integer.get() * 2 > total.get(), "{} of {}", integer.get(), total.get());
		// Signed zeros and the exact cases.
		for (a, b, c) in [(0.0, 1.0, -0.0), (-0.0, 1.0, -0.0), (1.0, -1.0, 1.0), (2.0, 3.0, -6.0)] {
			same(a, b, c);
		}
	}
}
