//! Matrix products on quantised weights (GGUF `Q4_1` and `Q8_0` blocks), with the bits of the
//! `f32` product on the dequantised weights.
//!
//! A GGUF language model stores its weight matrices in blocks of 32 values along the input
//! dimension: `Q8_0` as an `f16` scale `d` and 32 `i8` (value `d · q`), `Q4_1` as an `f16` scale
//! `d`, an `f16` minimum `m` and 32 4-bit `q` (value `d · q + m`). Dequantised to `f32`, the
//! weights of a 135 M-parameter model take 540 MB, which a decoding step reads once per token:
//! memory bandwidth, not arithmetic, then bounds the speed. [`QuantWeights`] keeps the blocks
//! (4.5 to 8.5 bits a weight, plus the scales in `f32`) and [`qlinear`] dequantises them in
//! registers as it multiplies.
//!
//! # The same bits as `f32`
//!
//! Each weight is dequantised exactly as [`dequantize`] does for the whole matrix: `d · q`
//! (exact: an 11-bit significand times at most 8 bits), then `+ m` rounded once. Each output
//! element is then the chain [`crate::kernels::linear`] computes: `+0`, one fused multiply-add
//! per input in increasing order. So `qlinear(x, w)` is bit for bit `linear(x, dequantize(w))`
//! (a test checks it), whatever the CPU, the tile or the thread count: the quantised storage is
//! a way of reading the weights, not another computation, and the model's engine profile stays
//! `f32`.

// Index arithmetic stays within buffers whose sizes are checked at entry; float arithmetic is the
// computation itself.
// Indexing too: an index out of bounds would be a bug of this module, and the engine runs every
// model inside `catch_unwind` (a panic fails that inference, not the node).
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

#[cfg(not(target_arch = "aarch64"))]
use crate::kernels::{Emulated, HARDWARE_FMA};
use crate::kernels::{Fma, Instruction, KernelPath};
use rayon::prelude::*;

/// Values per quantisation block (GGUF's `QK4_1` and `QK8_0`).
pub const BLOCK: usize = 32;

/// Output columns computed together (one strip of [`QuantWeights`]).
const STRIP: usize = 32;

/// A quantisation of GGUF blocks the engine reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantKind {
	/// `f16 d`, `f16 m`, 16 bytes of 4-bit values (low nibbles the first 16): 20 bytes.
	Q4_1,
	/// `f16 d`, 32 `i8`: 34 bytes.
	Q8_0,
}

impl QuantKind {
	/// Bytes of one block in a GGUF file.
	pub fn block_bytes(self) -> usize {
		match self {
			Self::Q4_1 => 20,
			Self::Q8_0 => 34,
		}
	}

	/// Bytes of one block's values in [`QuantWeights`]'s layout, per column: 16 (two columns a
	/// byte) or 32.
	fn packed_bytes(self) -> usize {
		match self {
			Self::Q4_1 => 16,
			Self::Q8_0 => 32,
		}
	}
}

/// An IEEE half-precision value to `f32` (exact), in integer operations.
pub fn f16_to_f32(bits: u16) -> f32 {
	let sign = u32::from(bits >> 15) << 31;
	let exponent = u32::from((bits >> 10) & 0x1f);
	let mantissa = u32::from(bits & 0x3ff);
	let magnitude = match (exponent, mantissa) {
		(0, 0) => 0,
		(0, _) => {
			// Subnormal: normalise (the value is mantissa · 2^-24).
			let shift = mantissa.leading_zeros() - 21;
			let mantissa = (mantissa << shift) & 0x3ff;
			((113 - shift) << 23) | (mantissa << 13)
		},
		(0x1f, 0) => 0x7f80_0000,
		(0x1f, _) => 0x7fc0_0000 | (mantissa << 13),
		_ => ((exponent + 112) << 23) | (mantissa << 13),
	};
	f32::from_bits(sign | magnitude)
}

fn half(bytes: &[u8], at: usize) -> f32 {
	let lo = bytes.get(at).copied().unwrap_or(0);
	let hi = bytes.get(at + 1).copied().unwrap_or(0);
	f16_to_f32(u16::from_le_bytes([lo, hi]))
}

/// One block's 32 values as `f32`: `d · q (+ m)`.
fn dequantize_block(kind: QuantKind, block: &[u8], out: &mut [f32]) {
	let d = half(block, 0);
	match kind {
		QuantKind::Q4_1 => {
			let m = half(block, 2);
			for (j, out) in out.iter_mut().enumerate().take(BLOCK) {
				let byte = block.get(4 + j % 16).copied().unwrap_or(0);
				let q = if j < 16 { byte & 0xf } else { byte >> 4 };
				*out = d * f32::from(q) + m;
			}
		},
		QuantKind::Q8_0 => {
			for (j, out) in out.iter_mut().enumerate().take(BLOCK) {
				let q = block.get(2 + j).copied().unwrap_or(0) as i8;
				*out = d * f32::from(q);
			}
		},
	}
}

/// Dequantises GGUF blocks (`rows` rows of `depth` values, `depth` a multiple of [`BLOCK`]) to
/// `f32`, row-major; an error if the sizes do not match.
pub fn dequantize(
	kind: QuantKind,
	data: &[u8],
	rows: usize,
	depth: usize,
) -> Result<Vec<f32>, String> {
	let blocks = check_size(kind, data, rows, depth)?;
	let mut out = vec![0f32; rows * depth];
	for (block, values) in data.chunks_exact(kind.block_bytes()).zip(out.chunks_exact_mut(BLOCK)) {
		dequantize_block(kind, block, values);
	}
	debug_assert_eq!(blocks * BLOCK, out.len());
	Ok(out)
}

fn check_size(kind: QuantKind, data: &[u8], rows: usize, depth: usize) -> Result<usize, String> {
	if rows == 0 || depth == 0 || !depth.is_multiple_of(BLOCK) {
		return Err(format!("{kind:?} matrix of {rows} × {depth}"));
	}
	let blocks = rows.checked_mul(depth / BLOCK).ok_or("matrix too large")?;
	if blocks.checked_mul(kind.block_bytes()) != Some(data.len()) {
		return Err(format!("{kind:?} matrix of {rows} × {depth} in {} bytes", data.len()));
	}
	Ok(blocks)
}

/// A quantised weight matrix `[width outputs][depth inputs]` (GGUF's layout: each output's
/// weights contiguous in blocks of [`BLOCK`]), re-laid out once at load time for [`qlinear`]:
/// strips of [`STRIP`] outputs (the last one padded with zero weights), and in each strip, per
/// block of inputs, the 32 columns' scales and minimums as `f32` and their values column by
/// column for each input (`Q4_1`: byte `c` holds column `c` in its low nibble, column `c + 16`
/// in its high one). The values are those of the file.
#[derive(Clone, Debug)]
pub struct QuantWeights {
	kind: QuantKind,
	depth: usize,
	width: usize,
	/// Per strip, per block: `d[32]` then (`Q4_1`) `m[32]`.
	scales: Vec<f32>,
	/// Per strip, per block, per input: the columns' values.
	values: Vec<u8>,
}

impl QuantWeights {
	/// Re-lays out GGUF blocks of `width` rows (outputs) of `depth` values (inputs).
	pub fn new(kind: QuantKind, data: &[u8], width: usize, depth: usize) -> Result<Self, String> {
		check_size(kind, data, width, depth)?;
		let blocks = depth / BLOCK;
		let strips = width.div_ceil(STRIP);
		let scales_per_block = match kind {
			QuantKind::Q4_1 => 2 * STRIP,
			QuantKind::Q8_0 => STRIP,
		};
		let mut scales = vec![0f32; strips * blocks * scales_per_block];
		let mut values = vec![0u8; strips * blocks * BLOCK * kind.packed_bytes()];
		let row_bytes = blocks * kind.block_bytes();
		for column in 0..width {
			let (strip, c) = (column / STRIP, column % STRIP);
			let row = data.get(column * row_bytes..(column + 1) * row_bytes).unwrap_or_default();
			for (b, block) in row.chunks_exact(kind.block_bytes()).enumerate() {
				let at = (strip * blocks + b) * scales_per_block;
				scales[at + c] = half(block, 0);
				let base = (strip * blocks + b) * BLOCK * kind.packed_bytes();
				match kind {
					QuantKind::Q4_1 => {
						scales[at + STRIP + c] = half(block, 2);
						for k in 0..BLOCK {
							let byte = block[4 + k % 16];
							let q = if k < 16 { byte & 0xf } else { byte >> 4 };
							let slot = &mut values[base + k * 16 + c % 16];
							*slot |= if c < 16 { q } else { q << 4 };
						}
					},
					QuantKind::Q8_0 => {
						for k in 0..BLOCK {
							values[base + k * 32 + c] = block[2 + k];
						}
					},
				}
			}
		}
		Ok(Self { kind, depth, width, scales, values })
	}

	/// Inputs per output.
	pub fn depth(&self) -> usize {
		self.depth
	}

	/// Outputs.
	pub fn width(&self) -> usize {
		self.width
	}

	/// Bytes held.
	pub fn bytes(&self) -> usize {
		self.values.len() + 4 * self.scales.len()
	}

	/// Row `index` (one output's weights) dequantised: what an embedding lookup reads.
	pub fn row(&self, index: usize) -> Option<Vec<f32>> {
		if index >= self.width {
			return None;
		}
		let (strip, c) = (index / STRIP, index % STRIP);
		let blocks = self.depth / BLOCK;
		let mut out = vec![0f32; self.depth];
		for b in 0..blocks {
			let (scales, values) = self.block(strip, b);
			for (k, out) in out[b * BLOCK..(b + 1) * BLOCK].iter_mut().enumerate() {
				*out = self.weight(scales, values, k, c);
			}
		}
		Some(out)
	}

	/// Strip `strip`'s block `b`: its scales and its values.
	fn block(&self, strip: usize, b: usize) -> (&[f32], &[u8]) {
		let blocks = self.depth / BLOCK;
		let per_scales = match self.kind {
			QuantKind::Q4_1 => 2 * STRIP,
			QuantKind::Q8_0 => STRIP,
		};
		let per_values = BLOCK * self.kind.packed_bytes();
		let index = strip * blocks + b;
		(
			&self.scales[index * per_scales..(index + 1) * per_scales],
			&self.values[index * per_values..(index + 1) * per_values],
		)
	}

	/// The weight of input `k` (in the block) and column `c` (in the strip).
	#[inline(always)]
	fn weight(&self, scales: &[f32], values: &[u8], k: usize, c: usize) -> f32 {
		match self.kind {
			QuantKind::Q4_1 => {
				let byte = values[k * 16 + c % 16];
				let q = if c < 16 { byte & 0xf } else { byte >> 4 };
				scales[c] * f32::from(q) + scales[STRIP + c]
			},
			QuantKind::Q8_0 => scales[c] * f32::from(values[k * 32 + c] as i8),
		}
	}
}

/// `out[r][j] = Σ_k x[r][k] · w[j][k]` for `x: [rows, depth]`: the bits of
/// [`crate::kernels::linear`] on the dequantised weights (see the module documentation), on
/// the current rayon pool's threads.
pub fn qlinear(x: &[f32], weights: &QuantWeights) -> Result<Vec<f32>, String> {
	qlinear_on(KernelPath::detect(), x, weights)
}

/// [`qlinear`] on the given path (the same bits on every path).
pub fn qlinear_on(path: KernelPath, x: &[f32], weights: &QuantWeights) -> Result<Vec<f32>, String> {
	let (depth, width) = (weights.depth, weights.width);
	if !x.len().is_multiple_of(depth) {
		return Err(format!("qlinear: input of {} for depth {depth}", x.len()));
	}
	if !path.is_available() {
		return Err(format!("qlinear: this CPU cannot run the {path:?} path"));
	}
	let rows = x.len() / depth;
	if rows == 0 {
		return Ok(Vec::new());
	}
	let strips = width.div_ceil(STRIP);
	let mut computed = vec![0f32; strips * rows * STRIP];
	let per_task = strips.div_ceil(rayon::current_num_threads().max(1)).max(1);
	computed
		.par_chunks_exact_mut(rows * STRIP)
		.enumerate()
		.with_min_len(per_task)
		.for_each(|(strip, out)| strip_product(path, weights, strip, x, rows, out));
	let mut out = vec![0f32; rows * width];
	for (strip, block) in computed.chunks_exact(rows * STRIP).enumerate() {
		let first = strip * STRIP;
		let cols = STRIP.min(width - first);
		for (r, row) in block.chunks_exact(STRIP).enumerate() {
			out[r * width + first..r * width + first + cols].copy_from_slice(&row[..cols]);
		}
	}
	Ok(out)
}

/// Rows computed together: each block's weights are dequantised once for them.
const TILE_ROWS: usize = 4;

fn strip_product(
	path: KernelPath,
	weights: &QuantWeights,
	strip: usize,
	x: &[f32],
	rows: usize,
	out: &mut [f32],
) {
	match path {
		#[cfg(target_arch = "x86_64")]
		// SAFETY: `qlinear_on` checked that the CPU has the path's features.
		#[allow(unsafe_code)]
		KernelPath::Avx512 => unsafe { strip_avx512(weights, strip, x, rows, out) },
		#[cfg(target_arch = "x86_64")]
		// SAFETY: as above.
		#[allow(unsafe_code)]
		KernelPath::Avx2Fma => unsafe { strip_avx2(weights, strip, x, rows, out) },
		#[cfg(target_arch = "aarch64")]
		_ => strip_rows::<Instruction>(weights, strip, x, rows, out),
		#[cfg(not(target_arch = "aarch64"))]
		_ if HARDWARE_FMA => strip_rows::<Instruction>(weights, strip, x, rows, out),
		#[cfg(not(target_arch = "aarch64"))]
		_ => strip_rows::<Emulated>(weights, strip, x, rows, out),
	}
}

/// [`strip_rows`] in AVX-512 intrinsics: tiles of 8 rows, then single rows. The same
/// operations in the same order: each weight `d · q + m` (a multiply and an add, each rounded),
/// then one fused multiply-add per row and column, inputs in increasing order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn strip_avx512(weights: &QuantWeights, strip: usize, x: &[f32], rows: usize, out: &mut [f32]) {
	let mut first = 0;
	while first + 8 <= rows {
		tile_avx512::<8>(weights, strip, x, first, out);
		first += 8;
	}
	while first < rows {
		tile_avx512::<1>(weights, strip, x, first, out);
		first += 1;
	}
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(unsafe_code)]
fn tile_avx512<const R: usize>(
	weights: &QuantWeights,
	strip: usize,
	x: &[f32],
	first: usize,
	out: &mut [f32],
) {
	use core::arch::x86_64::*;
	let depth = weights.depth;
	assert!((first + R) * depth <= x.len() && (first + R) * STRIP <= out.len());
	let mut acc = [[_mm512_setzero_ps(); 2]; R];
	for b in 0..depth / BLOCK {
		let (scales, values) = weights.block(strip, b);
		let xs = |r: usize, k: usize| x[(first + r) * depth + b * BLOCK + k];
		// SAFETY: `block` returns a block's scales (32 or 64 `f32`) and values (16 or 32 bytes
		// per input), which the loads below stay within.
		unsafe {
			let d0 = _mm512_loadu_ps(scales.as_ptr());
			let d1 = _mm512_loadu_ps(scales.as_ptr().add(16));
			match weights.kind {
				QuantKind::Q4_1 => {
					assert!(scales.len() >= 64 && values.len() >= BLOCK * 16);
					let m0 = _mm512_loadu_ps(scales.as_ptr().add(32));
					let m1 = _mm512_loadu_ps(scales.as_ptr().add(48));
					let nibble = _mm512_set1_epi32(0xf);
					for k in 0..BLOCK {
						let bytes = _mm_loadu_si128(values.as_ptr().add(k * 16).cast());
						let q = _mm512_cvtepu8_epi32(bytes);
						let lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, nibble));
						let hi = _mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(q));
						let w0 = _mm512_add_ps(_mm512_mul_ps(d0, lo), m0);
						let w1 = _mm512_add_ps(_mm512_mul_ps(d1, hi), m1);
						for (r, acc) in acc.iter_mut().enumerate() {
							let xv = _mm512_set1_ps(xs(r, k));
							acc[0] = _mm512_fmadd_ps(xv, w0, acc[0]);
							acc[1] = _mm512_fmadd_ps(xv, w1, acc[1]);
						}
					}
				},
				QuantKind::Q8_0 => {
					assert!(scales.len() >= 32 && values.len() >= BLOCK * 32);
					for k in 0..BLOCK {
						let lo = _mm_loadu_si128(values.as_ptr().add(k * 32).cast());
						let hi = _mm_loadu_si128(values.as_ptr().add(k * 32 + 16).cast());
						let w0 = _mm512_mul_ps(d0, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)));
						let w1 = _mm512_mul_ps(d1, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)));
						for (r, acc) in acc.iter_mut().enumerate() {
							let xv = _mm512_set1_ps(xs(r, k));
							acc[0] = _mm512_fmadd_ps(xv, w0, acc[0]);
							acc[1] = _mm512_fmadd_ps(xv, w1, acc[1]);
						}
					}
				},
			}
		}
	}
	for (r, acc) in acc.iter().enumerate() {
		// SAFETY: row `first + r` of `out` has `STRIP` values (asserted above).
		unsafe {
			let at = out.as_mut_ptr().add((first + r) * STRIP);
			_mm512_storeu_ps(at, acc[0]);
			_mm512_storeu_ps(at.add(16), acc[1]);
		}
	}
}

/// [`strip_rows`] in AVX2 intrinsics: tiles of 2 rows, then single rows; the same operations
/// in the same order as [`strip_avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn strip_avx2(weights: &QuantWeights, strip: usize, x: &[f32], rows: usize, out: &mut [f32]) {
	let mut first = 0;
	while first + 2 <= rows {
		tile_avx2::<2>(weights, strip, x, first, out);
		first += 2;
	}
	while first < rows {
		tile_avx2::<1>(weights, strip, x, first, out);
		first += 1;
	}
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
fn tile_avx2<const R: usize>(
	weights: &QuantWeights,
	strip: usize,
	x: &[f32],
	first: usize,
	out: &mut [f32],
) {
	use core::arch::x86_64::*;
	let depth = weights.depth;
	assert!((first + R) * depth <= x.len() && (first + R) * STRIP <= out.len());
	let mut acc = [[_mm256_setzero_ps(); 4]; R];
	for b in 0..depth / BLOCK {
		let (scales, values) = weights.block(strip, b);
		let xs = |r: usize, k: usize| x[(first + r) * depth + b * BLOCK + k];
		// SAFETY: as in `tile_avx512`.
		unsafe {
			let d: [__m256; 4] =
				core::array::from_fn(|i| _mm256_loadu_ps(scales.as_ptr().add(8 * i)));
			match weights.kind {
				QuantKind::Q4_1 => {
					assert!(scales.len() >= 64 && values.len() >= BLOCK * 16);
					let m: [__m256; 4] =
						core::array::from_fn(|i| _mm256_loadu_ps(scales.as_ptr().add(32 + 8 * i)));
					let nibble = _mm256_set1_epi32(0xf);
					for k in 0..BLOCK {
						let row = values.as_ptr().add(k * 16);
						// Bytes 0..8: columns 0..8 (low) and 16..24 (high); 8..16: 8..16, 24..32.
						let a = _mm256_cvtepu8_epi32(_mm_loadl_epi64(row.cast()));
						let c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(row.add(8).cast()));
						let q = [
							_mm256_and_si256(a, nibble),
							_mm256_and_si256(c, nibble),
							_mm256_srli_epi32::<4>(a),
							_mm256_srli_epi32::<4>(c),
						];
						let w: [__m256; 4] = core::array::from_fn(|i| {
							_mm256_add_ps(_mm256_mul_ps(d[i], _mm256_cvtepi32_ps(q[i])), m[i])
						});
						for (r, acc) in acc.iter_mut().enumerate() {
							let xv = _mm256_set1_ps(xs(r, k));
							for i in 0..4 {
								acc[i] = _mm256_fmadd_ps(xv, w[i], acc[i]);
							}
						}
					}
				},
				QuantKind::Q8_0 => {
					assert!(scales.len() >= 32 && values.len() >= BLOCK * 32);
					for k in 0..BLOCK {
						let row = values.as_ptr().add(k * 32);
						let w: [__m256; 4] = core::array::from_fn(|i| {
							let q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(row.add(8 * i).cast()));
							_mm256_mul_ps(d[i], _mm256_cvtepi32_ps(q))
						});
						for (r, acc) in acc.iter_mut().enumerate() {
							let xv = _mm256_set1_ps(xs(r, k));
							for i in 0..4 {
								acc[i] = _mm256_fmadd_ps(xv, w[i], acc[i]);
							}
						}
					}
				},
			}
		}
	}
	for (r, acc) in acc.iter().enumerate() {
		for (i, &v) in acc.iter().enumerate() {
			// SAFETY: row `first + r` of `out` has `STRIP` values (asserted above).
			unsafe { _mm256_storeu_ps(out.as_mut_ptr().add((first + r) * STRIP + 8 * i), v) };
		}
	}
}

/// One strip's `[rows][STRIP]` outputs: tiles of [`TILE_ROWS`] rows, then one row at a time.
#[inline(always)]
fn strip_rows<F: Fma>(
	weights: &QuantWeights,
	strip: usize,
	x: &[f32],
	rows: usize,
	out: &mut [f32],
) {
	let mut first = 0;
	while first + TILE_ROWS <= rows {
		tile::<TILE_ROWS, F>(weights, strip, x, first, out);
		first += TILE_ROWS;
	}
	while first < rows {
		tile::<1, F>(weights, strip, x, first, out);
		first += 1;
	}
}

/// Rows `first..first + R` of one strip: per block, the 32 columns' weights of each input
/// dequantised into registers, then one fused multiply-add per row and column, inputs in
/// increasing order.
#[inline(always)]
fn tile<const R: usize, F: Fma>(
	weights: &QuantWeights,
	strip: usize,
	x: &[f32],
	first: usize,
	out: &mut [f32],
) {
	let depth = weights.depth;
	let mut acc = [[0f32; STRIP]; R];
	let mut w = [0f32; STRIP];
	for b in 0..depth / BLOCK {
		let (scales, values) = weights.block(strip, b);
		for k in 0..BLOCK {
			match weights.kind {
				QuantKind::Q4_1 => {
					let (d, m) = (&scales[..STRIP], &scales[STRIP..2 * STRIP]);
					let bytes = &values[k * 16..k * 16 + 16];
					for c in 0..16 {
						w[c] = d[c] * f32::from(bytes[c] & 0xf) + m[c];
						w[c + 16] = d[c + 16] * f32::from(bytes[c] >> 4) + m[c + 16];
					}
				},
				QuantKind::Q8_0 => {
					let bytes = &values[k * 32..k * 32 + 32];
					for c in 0..STRIP {
						w[c] = scales[c] * f32::from(bytes[c] as i8);
					}
				},
			}
			let at = b * BLOCK + k;
			for (r, acc) in acc.iter_mut().enumerate() {
				let xv = x[(first + r) * depth + at];
				for c in 0..STRIP {
					acc[c] = F::fma(xv, w[c], acc[c]);
				}
			}
		}
	}
	for (r, acc) in acc.iter().enumerate() {
		out[(first + r) * STRIP..(first + r + 1) * STRIP].copy_from_slice(acc);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// A deterministic generator of test data.
	struct Lcg(u64);
	impl Lcg {
		fn next(&mut self) -> u64 {
			self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
			self.0 >> 33
		}
		fn f32(&mut self) -> f32 {
			(self.next() % 20001) as f32 / 10000.0 - 1.0
		}
	}

	/// Random GGUF blocks, with normal `f16` scales (and a few subnormal and negative ones).
	fn blocks(kind: QuantKind, rows: usize, depth: usize, rng: &mut Lcg) -> Vec<u8> {
		let mut data = Vec::new();
		for i in 0..rows * depth / BLOCK {
			let scale: u16 =
				if i % 17 == 3 { 0x0123 } else { 0x2000 + (rng.next() % 0x1000) as u16 };
			let scale = scale | if i % 5 == 1 { 0x8000 } else { 0 };
			data.extend_from_slice(&scale.to_le_bytes());
			if kind == QuantKind::Q4_1 {
				let min = 0xa000u16 + (rng.next() % 0x1000) as u16;
				data.extend_from_slice(&min.to_le_bytes());
			}
			for _ in 0..kind.packed_bytes() {
				data.push(rng.next() as u8);
			}
		}
		data
	}

	#[test]
	fn half_precision_converts_exactly() {
		assert_eq!(f16_to_f32(0x3c00), 1.0);
		assert_eq!(f16_to_f32(0xc000), -2.0);
		assert_eq!(f16_to_f32(0x7bff), 65504.0);
		assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
		assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
		assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
		assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
		assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
		assert!(f16_to_f32(0x7e00).is_nan());
		// Every finite half round-trips through f64 arithmetic on its fields.
		for bits in 0u16..0x7c00 {
			let (e, m) = (i32::from(bits >> 10), f64::from(bits & 0x3ff));
			let expected =
				if e == 0 { m * 2f64.powi(-24) } else { (1024.0 + m) * 2f64.powi(e - 25) };
			assert_eq!(f64::from(f16_to_f32(bits)), expected, "{bits:#x}");
		}
	}

	#[test]
	fn qlinear_is_linear_on_the_dequantised_weights_on_every_path() {
		let mut rng = Lcg(7);
		for kind in [QuantKind::Q4_1, QuantKind::Q8_0] {
			// 40 outputs: one strip and a padded one; depth of 3 blocks.
			let (width, depth) = (40, 96);
			let data = blocks(kind, width, depth, &mut rng);
			let dense = dequantize(kind, &data, width, depth).unwrap();
			let packed = QuantWeights::new(kind, &data, width, depth).unwrap();
			for (i, row) in dense.chunks_exact(depth).enumerate() {
				assert_eq!(packed.row(i).unwrap(), row);
			}
			// `linear` takes `[in, out]`.
			let mut transposed = vec![0f32; depth * width];
			for j in 0..width {
				for k in 0..depth {
					transposed[k * width + j] = dense[j * depth + k];
				}
			}
			for rows in [1, 3, 4, 9] {
				let x: Vec<f32> = (0..rows * depth).map(|_| rng.f32()).collect();
				let expected = crate::kernels::linear(&x, &transposed, None, depth, width).unwrap();
				for path in [KernelPath::Avx512, KernelPath::Avx2Fma, KernelPath::Portable] {
					if !path.is_available() {
						continue;
					}
					let got = qlinear_on(path, &x, &packed).unwrap();
					let same = got.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
					assert!(same, "{kind:?} {rows} rows on {path:?}");
				}
			}
		}
	}

	#[test]
	fn sizes_are_checked() {
		assert!(QuantWeights::new(QuantKind::Q8_0, &[0; 34], 1, 32).is_ok());
		assert!(QuantWeights::new(QuantKind::Q8_0, &[0; 33], 1, 32).is_err());
		assert!(QuantWeights::new(QuantKind::Q4_1, &[0; 20], 1, 31).is_err());
		assert!(dequantize(QuantKind::Q4_1, &[0; 40], 1, 64).is_ok());
		assert!(dequantize(QuantKind::Q4_1, &[0; 40], 0, 64).is_err());
		let w = QuantWeights::new(QuantKind::Q8_0, &[0; 34], 1, 32).unwrap();
		assert_eq!(qlinear(&[0.0; 33], &w).unwrap_err(), "qlinear: input of 33 for depth 32");
		assert!(qlinear(&[], &w).unwrap().is_empty());
	}
}
