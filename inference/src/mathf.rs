//! The engine's own transcendental functions: `exp`, `tanh`, the logistic sigmoid and the tanh
//! approximation of GELU, in `+ − × ÷` only.
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

#[cfg(test)]
mod tests {
	use super::*;

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
}
