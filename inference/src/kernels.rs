//! Fused CPU kernels of the BERT encoder, as candle custom operations.
//!
//! candle runs a BERT layer as about thirty tensor operations, each allocating and filling a new
//! buffer: bias additions, residual additions, a five-operation softmax, a scalar `erf` per GELU
//! value. For the short sequences validators embed, those passes cost as much as the matrix
//! products. These kernels do each group in one pass over the data:
//!
//! - [`BiasGelu`]: `gelu(x + bias)` (exact, `erf`-based GELU), and [`BiasGeluTanh`] with GELU's
//!   tanh approximation, and [`BiasRelu`];
//! - [`BiasResidualLayerNorm`]: `layer_norm(x + bias + residual)`;
//! - [`Attention`]: scaled dot-product attention of all heads with the padding mask, reading Q,
//!   K and V from the fused QKV projection and writing the heads side by side.
//!
//! They are plain safe Rust written so that the compiler vectorises them for the baseline CPU
//! (fixed-width lane arrays, no `target-cpu`): the binary stays portable and every sum is taken
//! in an order fixed by the code, never by the CPU or the thread count.

// Index arithmetic here stays within the lengths of buffers that exist (checked against the
// shapes at each kernel's entry), and float arithmetic is the computation itself: checked
// operations would only obscure the kernels.
#![allow(clippy::arithmetic_side_effects)]

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape};
use rayon::prelude::*;

/// Lanes of the vectorised reductions.
const LANES: usize = 8;

/// Rows per rayon task: the rows split evenly between the current pool's threads (the
/// engine's), so that a one-thread engine runs one task. Each row is computed by the same code
/// whatever the split, so the split never changes a result.
fn rows_per_task(rows: usize) -> usize {
	rows.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
	let CpuStorage::F32(data) = storage else { bail!("{what}: f32 expected") };
	let Some((start, end)) = layout.contiguous_offsets() else {
		bail!("{what}: contiguous tensor expected")
	};
	match data.get(start..end) {
		Some(slice) => Ok(slice),
		None => bail!("{what}: layout outside its storage"),
	}
}

/// `Σ a·b` with [`LANES`] partial sums combined in a fixed order.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
	let mut acc = [0f32; LANES];
	let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
	let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
	for (ca, cb) in a_chunks.zip(b_chunks) {
		for ((s, x), y) in acc.iter_mut().zip(ca).zip(cb) {
			*s += x * y;
		}
	}
	reduce(acc) + tail
}

/// Sum of the lanes, pairwise (fixed order).
#[inline]
fn reduce(acc: [f32; LANES]) -> f32 {
	let [a, b, c, d, e, f, g, h] = acc;
	((a + e) + (c + g)) + ((b + f) + (d + h))
}

/// `Σ x` with [`LANES`] partial sums.
#[inline]
fn sum(xs: &[f32]) -> f32 {
	let mut acc = [0f32; LANES];
	let chunks = xs.chunks_exact(LANES);
	let tail: f32 = chunks.remainder().iter().sum();
	for chunk in chunks {
		for (s, x) in acc.iter_mut().zip(chunk) {
			*s += x;
		}
	}
	reduce(acc) + tail
}

/// Output columns one tile of [`linear`] accumulates at once (two 8-lane registers).
const TILE_COLS: usize = 16;
/// Input rows one tile of [`linear`] accumulates at once.
const TILE_ROWS: usize = 4;

/// `out[r][j] = Σ_k x[r][k] · w[k][j]` (+ `bias[j]`), for `x: [rows, depth]` and `w: [depth,
/// width]` (a weight matrix stored transposed, `[in, out]`), both row-major and contiguous.
///
/// The order of every floating-point operation is fixed by this code: each output element
/// starts at `+0`, takes one fused multiply-add per `k` in increasing order
/// (`acc = fma(x[r][k], w[k][j], acc)`), then adds its bias once. The loops vectorise across
/// output elements only, never across one element's sum, and tiles and threads only choose
/// which elements are computed together. So a row's result depends on nothing but that row:
/// not on the other rows of the batch, the thread count, the SIMD width or the cache sizes.
///
/// The fused multiply-add is the CPU's instruction where it has one (x86-64 with FMA3, every
/// aarch64 CPU) and otherwise `f32::mul_add`'s fallback: `fma` is exactly rounded by IEEE 754,
/// so both give the same bits; the fallback is only slower.
pub fn linear(
	x: &[f32],
	w: &[f32],
	bias: Option<&[f32]>,
	depth: usize,
	width: usize,
) -> core::result::Result<Vec<f32>, String> {
	if depth == 0 || width == 0 || !x.len().is_multiple_of(depth) || w.len() != depth * width {
		return Err(format!(
			"linear: input of {} for depth {depth}, weights of {} for {depth} × {width}",
			x.len(),
			w.len()
		));
	}
	if bias.is_some_and(|b| b.len() != width) {
		return Err(format!("linear: bias of {:?} for width {width}", bias.map(<[f32]>::len)));
	}
	let rows = x.len() / depth;
	// Column blocks are the unit of parallel work: each reads its slice of the weights once
	// for all rows. The result is independent of how the blocks are shared out.
	let blocks = width.div_ceil(TILE_COLS);
	let per_task = blocks.div_ceil(rayon::current_num_threads().max(1)).max(1);
	let computed: Vec<Vec<f32>> = (0..blocks)
		.into_par_iter()
		.with_min_len(per_task)
		.map(|block| {
			let first = block * TILE_COLS;
			let cols = TILE_COLS.min(width - first);
			let mut out = vec![0f32; rows * cols];
			column_block(x, w, depth, width, first, cols, &mut out);
			out
		})
		.collect();
	let mut out = vec![0f32; rows * width];
	for (block, values) in computed.iter().enumerate() {
		let first = block * TILE_COLS;
		let cols = TILE_COLS.min(width - first);
		for (row, chunk) in out.chunks_exact_mut(width).zip(values.chunks_exact(cols)) {
			if let Some(target) = row.get_mut(first..first + cols) {
				target.copy_from_slice(chunk);
			}
		}
	}
	if let Some(bias) = bias {
		for row in out.chunks_exact_mut(width) {
			for (o, b) in row.iter_mut().zip(bias) {
				*o += b;
			}
		}
	}
	Ok(out)
}

/// Columns `first..first + cols` of every row into `out: [rows, cols]`, with the CPU's FMA
/// instruction when it has one.
fn column_block(
	x: &[f32],
	w: &[f32],
	depth: usize,
	width: usize,
	first: usize,
	cols: usize,
	out: &mut [f32],
) {
	#[cfg(target_arch = "x86_64")]
	if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2") {
		// SAFETY: the CPU has the features the function is compiled for (checked just above).
		#[allow(unsafe_code)]
		unsafe {
			column_block_fma(x, w, depth, width, first, cols, out)
		};
		return;
	}
	column_block_portable(x, w, depth, width, first, cols, out);
}

/// [`column_block_portable`] compiled for x86-64 CPUs with AVX2 and FMA3: the same operations
/// in the same order, `mul_add` lowered to the `vfmadd` instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn column_block_fma(
	x: &[f32],
	w: &[f32],
	depth: usize,
	width: usize,
	first: usize,
	cols: usize,
	out: &mut [f32],
) {
	column_block_portable(x, w, depth, width, first, cols, out)
}

#[inline(always)]
fn column_block_portable(
	x: &[f32],
	w: &[f32],
	depth: usize,
	width: usize,
	first: usize,
	cols: usize,
	out: &mut [f32],
) {
	let mut rows = x.chunks_exact(depth).zip(out.chunks_exact_mut(cols));
	if cols == TILE_COLS {
		loop {
			// TILE_ROWS rows at a time, then the rest one by one (same sums either way).
			let mut tile: [(&[f32], &mut [f32]); TILE_ROWS] = Default::default();
			let mut filled = 0;
			for slot in tile.iter_mut() {
				match rows.next() {
					Some(row) => {
						*slot = row;
						filled += 1;
					},
					None => break,
				}
			}
			if filled == TILE_ROWS {
				full_tile(tile, w, width, first);
			} else {
				for (x_row, out_row) in tile.into_iter().take(filled) {
					full_tile([(x_row, out_row)], w, width, first);
				}
				return;
			}
		}
	}
	for (x_row, out_row) in rows {
		for (c, o) in out_row.iter_mut().enumerate() {
			let mut acc = 0f32;
			for (xv, w_row) in x_row.iter().zip(w.chunks_exact(width)) {
				acc = xv.mul_add(w_row.get(first + c).copied().unwrap_or(0.0), acc);
			}
			*o = acc;
		}
	}
}

/// `R` rows × [`TILE_COLS`] columns, accumulated in registers over the whole depth.
#[inline(always)]
fn full_tile<const R: usize>(
	rows: [(&[f32], &mut [f32]); R],
	w: &[f32],
	width: usize,
	first: usize,
) {
	let mut acc = [[0f32; TILE_COLS]; R];
	for (k, w_row) in w.chunks_exact(width).enumerate() {
		let Some(w_tile) = w_row.get(first..first + TILE_COLS) else { return };
		for (acc_row, (x_row, _)) in acc.iter_mut().zip(rows.iter()) {
			let xv = x_row.get(k).copied().unwrap_or(0.0);
			for (a, wv) in acc_row.iter_mut().zip(w_tile) {
				*a = xv.mul_add(*wv, *a);
			}
		}
	}
	for (acc_row, (_, out_row)) in acc.iter().zip(rows) {
		out_row.copy_from_slice(acc_row);
	}
}

/// `x · w` for `x: [.., depth]` and `w: [depth, width]` with [`linear`]'s fixed order, as a
/// candle operation.
pub struct MatMul;

impl CustomOp2 for MatMul {
	fn name(&self) -> &'static str {
		"opg-matmul"
	}

	fn cpu_fwd(
		&self,
		x: &CpuStorage,
		x_layout: &Layout,
		w: &CpuStorage,
		w_layout: &Layout,
	) -> Result<(CpuStorage, Shape)> {
		let xs = contiguous(x, x_layout, "matmul input")?;
		let ws = contiguous(w, w_layout, "matmul weights")?;
		let (depth, width) = w_layout.shape().dims2()?;
		let mut dims = x_layout.shape().dims().to_vec();
		match dims.last_mut() {
			Some(last) if *last == depth => *last = width,
			_ => bail!("matmul: input {:?} for weights {depth} × {width}", x_layout.shape()),
		}
		let out = linear(xs, ws, None, depth, width).map_err(candle_core::Error::Msg)?;
		Ok((CpuStorage::F32(out), Shape::from(dims)))
	}
}

/// Softmax of one row, in place: the maximum, `exp(x − max)` of each value in order (the
/// engine's own [`crate::mathf::exp`]), their sum (8 lanes, fixed tree), then one division per
/// value.
pub fn softmax(row: &mut [f32]) {
	let max = row.iter().copied().fold(f32::NEG_INFINITY, |m, x| if x > m { x } else { m });
	for v in row.iter_mut() {
		*v = crate::mathf::exp(*v - max);
	}
	let total = sum(row);
	for v in row.iter_mut() {
		*v /= total;
	}
}

/// `erf(x)` for `f32`: a rational approximation (odd degree-13 numerator, even degree-8
/// denominator, input clamped to ±4 where `erf` is ±1 in `f32`), maximum absolute error
/// 4.2e-7 (the coefficients of Eigen's and XLA's vectorised `erf`). Only `+ − × ÷`, so it
/// vectorises and rounds the same on every IEEE-754 CPU.
#[inline]
pub fn erf(x: f32) -> f32 {
	let x = x.clamp(-4.0, 4.0);
	let x2 = x * x;
	let mut p = -2.726_142_3e-10_f32;
	p = p * x2 + 2.770_681_4e-8;
	p = p * x2 + -2.101_024e-6;
	p = p * x2 + -5.692_506_4e-5;
	p = p * x2 + -7.349_906_3e-4;
	p = p * x2 + -2.954_6e-3;
	p = p * x2 + -1.609_603_3e-2;
	let mut q = -1.456_607_2e-5_f32;
	q = q * x2 + -2.133_740_6e-4;
	q = q * x2 + -1.682_827e-3;
	q = q * x2 + -7.373_329e-3;
	q = q * x2 + -1.426_474e-2;
	x * p / q
}

/// Exact GELU, `x · (1 + erf(x / √2)) / 2`.
#[inline]
pub fn gelu(x: f32) -> f32 {
	0.5 * x * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// `gelu(x + bias)`, `x: [rows, n]`, `bias: [n]`.
pub struct BiasGelu;

impl CustomOp2 for BiasGelu {
	fn name(&self) -> &'static str {
		"opg-bias-gelu"
	}

	fn cpu_fwd(
		&self,
		x: &CpuStorage,
		x_layout: &Layout,
		bias: &CpuStorage,
		bias_layout: &Layout,
	) -> Result<(CpuStorage, Shape)> {
		bias_map(x, x_layout, bias, bias_layout, gelu)
	}
}

/// `gelu_tanh(x + bias)` (GELU's tanh approximation, [`crate::mathf::gelu_tanh`]), `x: [rows,
/// n]`, `bias: [n]`.
pub struct BiasGeluTanh;

impl CustomOp2 for BiasGeluTanh {
	fn name(&self) -> &'static str {
		"opg-bias-gelu-tanh"
	}

	fn cpu_fwd(
		&self,
		x: &CpuStorage,
		x_layout: &Layout,
		bias: &CpuStorage,
		bias_layout: &Layout,
	) -> Result<(CpuStorage, Shape)> {
		bias_map(x, x_layout, bias, bias_layout, crate::mathf::gelu_tanh)
	}
}

/// `relu(x + bias)`, `x: [rows, n]`, `bias: [n]`; `+0` for every input not above zero (whose
/// zero `f32::max` leaves to the CPU), NaN included (candle and PyTorch would keep a NaN).
pub struct BiasRelu;

impl CustomOp2 for BiasRelu {
	fn name(&self) -> &'static str {
		"opg-bias-relu"
	}

	fn cpu_fwd(
		&self,
		x: &CpuStorage,
		x_layout: &Layout,
		bias: &CpuStorage,
		bias_layout: &Layout,
	) -> Result<(CpuStorage, Shape)> {
		bias_map(x, x_layout, bias, bias_layout, |x| if x > 0.0 { x } else { 0.0 })
	}
}

/// `f(x + bias)` element by element, `x: [rows, n]`, `bias: [n]`.
fn bias_map(
	x: &CpuStorage,
	x_layout: &Layout,
	bias: &CpuStorage,
	bias_layout: &Layout,
	f: fn(f32) -> f32,
) -> Result<(CpuStorage, Shape)> {
	let xs = contiguous(x, x_layout, "bias-gelu input")?;
	let bias = contiguous(bias, bias_layout, "bias-gelu bias")?;
	if bias.is_empty() || !xs.len().is_multiple_of(bias.len()) {
		bail!("bias-gelu: bias of {} for input of {}", bias.len(), xs.len());
	}
	let mut out = vec![0f32; xs.len()];
	let n = bias.len();
	out.par_chunks_exact_mut(n)
		.zip(xs.par_chunks_exact(n))
		.with_min_len(rows_per_task(xs.len() / n))
		.for_each(|(out_row, x_row)| {
			for ((o, x), b) in out_row.iter_mut().zip(x_row).zip(bias) {
				*o = f(x + b);
			}
		});
	Ok((CpuStorage::F32(out), x_layout.shape().clone()))
}

/// `layer_norm(x + bias + residual)` over the last dimension, `x, residual: [rows, n]`,
/// `params: [3, n]` = bias, gain, shift. Two passes (mean, then variance of the centred values),
/// like PyTorch.
pub struct BiasResidualLayerNorm {
	/// The layer norm's epsilon.
	pub eps: f32,
}

impl CustomOp3 for BiasResidualLayerNorm {
	fn name(&self) -> &'static str {
		"opg-bias-residual-layer-norm"
	}

	fn cpu_fwd(
		&self,
		x: &CpuStorage,
		x_layout: &Layout,
		residual: &CpuStorage,
		residual_layout: &Layout,
		params: &CpuStorage,
		params_layout: &Layout,
	) -> Result<(CpuStorage, Shape)> {
		let xs = contiguous(x, x_layout, "layer-norm input")?;
		let residual = contiguous(residual, residual_layout, "layer-norm residual")?;
		let params = contiguous(params, params_layout, "layer-norm parameters")?;
		let n = params.len() / 3;
		if n == 0
			|| params.len() != n * 3
			|| !xs.len().is_multiple_of(n)
			|| residual.len() != xs.len()
		{
			bail!("layer-norm: shapes do not match");
		}
		let (bias, rest) = params.split_at(n);
		let (gain, shift) = rest.split_at(n);
		let inv_n = 1.0 / n as f32;
		let eps = self.eps;
		let mut out = vec![0f32; xs.len()];
		out.par_chunks_exact_mut(n)
			.zip(xs.par_chunks_exact(n).zip(residual.par_chunks_exact(n)))
			.with_min_len(rows_per_task(xs.len() / n))
			.for_each(|(o, (x, r))| {
				for (((o, x), r), b) in o.iter_mut().zip(x).zip(r).zip(bias) {
					*o = x + b + r;
				}
				let mean = sum(o) * inv_n;
				for v in o.iter_mut() {
					*v -= mean;
				}
				let variance = dot(o, o) * inv_n;
				let scale = 1.0 / (variance + eps).sqrt();
				for ((v, g), s) in o.iter_mut().zip(gain).zip(shift) {
					*v = *v * scale * g + s;
				}
			});
		Ok((CpuStorage::F32(out), x_layout.shape().clone()))
	}
}

/// Multi-head scaled dot-product attention: `qkv: [batch, tokens, 3·hidden]` (the fused Q, K, V
/// projections, biases added), `mask: [batch, tokens]` added to every score of that key (0 for a
/// real token, a large negative number for padding); returns `[batch, tokens, hidden]` with
/// the heads side by side (the layout the output projection expects).
pub struct Attention {
	/// Number of heads; `hidden` is a multiple of it.
	pub heads: usize,
}

impl CustomOp2 for Attention {
	fn name(&self) -> &'static str {
		"opg-attention"
	}

	fn cpu_fwd(
		&self,
		qkv: &CpuStorage,
		qkv_layout: &Layout,
		mask: &CpuStorage,
		mask_layout: &Layout,
	) -> Result<(CpuStorage, Shape)> {
		let qkv_data = contiguous(qkv, qkv_layout, "attention QKV")?;
		let mask = contiguous(mask, mask_layout, "attention mask")?;
		let (batch, tokens, width) = qkv_layout.shape().dims3()?;
		let hidden = width / 3;
		if self.heads == 0 || hidden * 3 != width || !hidden.is_multiple_of(self.heads) {
			bail!("attention: width {width} is not 3 × a multiple of {} heads", self.heads);
		}
		if mask.len() != batch * tokens {
			bail!("attention: mask of {} for {batch} × {tokens} tokens", mask.len());
		}
		let (heads, head) = (self.heads, hidden / self.heads);
		let scale = 1.0 / (head as f32).sqrt();
		let rows = batch * tokens;
		let mut out = vec![0f32; rows * hidden];
		// One task per group of query rows; each row computes all its heads.
		out.par_chunks_exact_mut(hidden).enumerate().with_min_len(rows_per_task(rows)).for_each(
			|(row, out_row)| {
				let (b, i) = (row / tokens, row % tokens);
				let sequence = qkv_data.get(b * tokens * width..(b + 1) * tokens * width);
				let mask = mask.get(b * tokens..(b + 1) * tokens);
				let (Some(sequence), Some(mask)) = (sequence, mask) else { return };
				let query_row = sequence.get(i * width..(i + 1) * width).unwrap_or(&[]);
				let mut scores = vec![0f32; tokens];
				for h in 0..heads {
					let (q_at, k_at, v_at) = (h * head, hidden + h * head, 2 * hidden + h * head);
					let q = query_row.get(q_at..q_at + head).unwrap_or(&[]);
					let mut max = f32::NEG_INFINITY;
					for ((score, m), key_row) in
						scores.iter_mut().zip(mask).zip(sequence.chunks_exact(width))
					{
						*score = dot(q, key_row.get(k_at..k_at + head).unwrap_or(&[])) * scale + m;
						max = max.max(*score);
					}
					let mut total = 0f32;
					for score in scores.iter_mut() {
						*score = crate::mathf::exp(*score - max);
						total += *score;
					}
					let inv_total = 1.0 / total;
					let context = out_row.get_mut(q_at..q_at + head).unwrap_or(&mut []);
					for (p, value_row) in scores.iter().zip(sequence.chunks_exact(width)) {
						let p = p * inv_total;
						let v = value_row.get(v_at..v_at + head).unwrap_or(&[]);
						for (c, v) in context.iter_mut().zip(v) {
							*c += p * v;
						}
					}
				}
			},
		);
		Ok((CpuStorage::F32(out), Shape::from((batch, tokens, hidden))))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use candle_core::{Device, Tensor};

	#[test]
	fn erf_is_within_its_bound_of_libm() {
		let mut worst = 0f32;
		for i in -80_000..=80_000 {
			let x = i as f32 * 1e-4;
			worst = worst.max((erf(x) - libm_erf(x)).abs());
		}
		assert!(worst < 5e-7, "max |erf - libm erff| = {worst}");
		assert_eq!(erf(0.0), 0.0);
		assert_eq!(erf(10.0), erf(4.0));
		assert!((erf(10.0) - 1.0).abs() < 1e-6);
	}

	fn libm_erf(x: f32) -> f32 {
		// candle's own GELU uses libm's erff: compare through it.
		let t = Tensor::new(&[x * core::f32::consts::SQRT_2], &Device::Cpu).unwrap();
		let gelu = t.gelu_erf().unwrap().to_vec1::<f32>().unwrap()[0];
		// gelu(y) = y (1 + erf(y / √2)) / 2  ⇒  erf(x) = 2 gelu(y) / y − 1 (y ≠ 0).
		if x == 0.0 {
			0.0
		} else {
			2.0 * gelu / (x * core::f32::consts::SQRT_2) - 1.0
		}
	}

	/// Deterministic pseudo-random values in `[-1, 1)` (xorshift), varied in magnitude.
	fn values(n: usize, seed: u64) -> Vec<f32> {
		let mut state = seed | 1;
		(0..n)
			.map(|i| {
				state ^= state << 13;
				state ^= state >> 7;
				state ^= state << 17;
				let unit = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
				unit * if i % 7 == 0 { 100.0 } else { 1.0 }
			})
			.collect()
	}

	fn bits(xs: &[f32]) -> Vec<u32> {
		xs.iter().map(|x| x.to_bits()).collect()
	}

	#[test]
	fn linear_is_the_fixed_order_fma_chain() {
		// Widths with and without a partial column block, rows with and without a partial tile.
		for (rows, depth, width) in [(1, 1, 1), (3, 7, 10), (9, 64, 32), (6, 384, 40), (5, 33, 16)]
		{
			let x = values(rows * depth, 1 + rows as u64);
			let w = values(depth * width, 2 + width as u64);
			let bias = values(width, 3);
			let out = linear(&x, &w, Some(&bias), depth, width).unwrap();
			for r in 0..rows {
				for j in 0..width {
					// The documented order, written out: +0, one fma per k, then the bias.
					let mut acc = 0f32;
					for k in 0..depth {
						acc = x[r * depth + k].mul_add(w[k * width + j], acc);
					}
					let expected = acc + bias[j];
					assert_eq!(
						out[r * width + j].to_bits(),
						expected.to_bits(),
						"{rows}×{depth}×{width} [{r}][{j}]"
					);
				}
			}
		}
	}

	#[test]
	fn linear_rows_do_not_depend_on_the_batch_or_the_threads() {
		let (rows, depth, width) = (13, 96, 48);
		let x = values(rows * depth, 11);
		let w = values(depth * width, 12);
		let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
		let batched = pool(1).install(|| linear(&x, &w, None, depth, width).unwrap());
		let threaded = pool(3).install(|| linear(&x, &w, None, depth, width).unwrap());
		assert_eq!(bits(&batched), bits(&threaded));
		for (r, expected) in batched.chunks_exact(width).enumerate() {
			let alone = linear(&x[r * depth..(r + 1) * depth], &w, None, depth, width).unwrap();
			assert_eq!(bits(&alone), bits(expected), "row {r}");
		}
	}

	#[cfg(target_arch = "x86_64")]
	#[test]
	fn the_fma_instruction_and_the_portable_fallback_agree_bit_for_bit() {
		if !(std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2")) {
			eprintln!("this CPU has no FMA3: only the fallback runs here");
			return;
		}
		let (rows, depth, width) = (7, 200, 32);
		let x = values(rows * depth, 21);
		let w = values(depth * width, 22);
		for first in [0, TILE_COLS] {
			let (mut fast, mut portable) =
				(vec![0f32; rows * TILE_COLS], vec![0f32; rows * TILE_COLS]);
			// SAFETY: the CPU has AVX2 and FMA3 (checked above).
			#[allow(unsafe_code)]
			unsafe {
				column_block_fma(&x, &w, depth, width, first, TILE_COLS, &mut fast)
			};
			column_block_portable(&x, &w, depth, width, first, TILE_COLS, &mut portable);
			assert_eq!(bits(&fast), bits(&portable));
		}
	}

	#[test]
	fn linear_refuses_shapes_that_do_not_fit() {
		assert!(linear(&[1.0; 5], &[1.0; 6], None, 2, 3).is_err());
		assert!(linear(&[1.0; 4], &[1.0; 5], None, 2, 3).is_err());
		assert!(linear(&[1.0; 4], &[1.0; 6], Some(&[0.0; 2]), 2, 3).is_err());
		assert!(linear(&[], &[], None, 0, 3).is_err());
	}

	#[test]
	fn fused_kernels_match_candle_ops() {
		let dev = Device::Cpu;
		let x = Tensor::randn(0f32, 2.0, (5, 24), &dev).unwrap();
		let r = Tensor::randn(0f32, 1.0, (5, 24), &dev).unwrap();
		let bias = Tensor::randn(0f32, 1.0, 24, &dev).unwrap();
		let max_diff = |a: &Tensor, b: &Tensor| -> f32 {
			(a - b)
				.unwrap()
				.abs()
				.unwrap()
				.flatten_all()
				.unwrap()
				.max(0)
				.unwrap()
				.to_scalar()
				.unwrap()
		};

		let fused = x.apply_op2_no_bwd(&bias, &BiasGelu).unwrap();
		let plain = x.broadcast_add(&bias).unwrap().gelu_erf().unwrap();
		assert!(max_diff(&fused, &plain) < 2e-6);

		// candle's tanh-approximate GELU and ReLU, from libm and `f32::max`.
		let fused = x.apply_op2_no_bwd(&bias, &BiasGeluTanh).unwrap();
		let plain = x.broadcast_add(&bias).unwrap().gelu().unwrap();
		assert!(max_diff(&fused, &plain) < 2e-6);
		let fused = x.apply_op2_no_bwd(&bias, &BiasRelu).unwrap();
		let plain = x.broadcast_add(&bias).unwrap().relu().unwrap();
		assert_eq!(max_diff(&fused, &plain), 0.0);
		let zeros = fused.flatten_all().unwrap().to_vec1::<f32>().unwrap();
		assert!(zeros.iter().all(|v| *v > 0.0 || v.to_bits() == 0), "ReLU gives +0");

		let gain = Tensor::randn(1f32, 0.1, 24, &dev).unwrap();
		let shift = Tensor::randn(0f32, 0.1, 24, &dev).unwrap();
		let params = Tensor::stack(&[&bias, &gain, &shift], 0).unwrap();
		let fused = x.apply_op3_no_bwd(&r, &params, &BiasResidualLayerNorm { eps: 1e-12 }).unwrap();
		let sum = x.broadcast_add(&bias).unwrap().add(&r).unwrap();
		let plain = candle_nn::ops::layer_norm(&sum, &gain, &shift, 1e-12).unwrap();
		assert!(max_diff(&fused, &plain) < 1e-5);

		// Attention of 2 sequences × 3 tokens, 2 heads of 4, the second sequence's last token
		// padded: against the textbook formula with candle's ops.
		let (batch, tokens, heads, head) = (2, 3, 2, 4);
		let hidden = heads * head;
		let qkv = Tensor::randn(0f32, 1.0, (batch, tokens, 3 * hidden), &dev).unwrap();
		let mask = Tensor::new(&[[0f32, 0.0, 0.0], [0.0, 0.0, f32::MIN]], &dev).unwrap();
		let fused = qkv.apply_op2_no_bwd(&mask, &Attention { heads }).unwrap();
		let split = |i: usize| {
			qkv.narrow(2, i * hidden, hidden)
				.unwrap()
				.reshape((batch, tokens, heads, head))
				.unwrap()
				.transpose(1, 2)
				.unwrap()
				.contiguous()
				.unwrap()
		};
		let (q, k, v) = (split(0), split(1), split(2));
		let scores = (q.matmul(&k.t().unwrap()).unwrap() / (head as f64).sqrt()).unwrap();
		let scores = scores.broadcast_add(&mask.reshape((batch, 1, 1, tokens)).unwrap()).unwrap();
		let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
		let plain = probs
			.matmul(&v)
			.unwrap()
			.transpose(1, 2)
			.unwrap()
			.reshape((batch, tokens, hidden))
			.unwrap();
		assert!(max_diff(&fused, &plain) < 1e-5);
	}
}
