//! The engine's CPU kernels: the fixed-order matrix product, and the fused operations of the
//! BERT encoder as candle custom operations.
//!
//! candle runs a BERT layer as about thirty tensor operations, each allocating and filling a new
//! buffer: bias additions, residual additions, a five-operation softmax, a scalar `erf` per GELU
//! value. For the short sequences validators embed, those passes cost as much as the matrix
//! products. These kernels do each group in one pass over the data:
//!
//! - [`Linear`]: `activation(x · w + bias)` on weights packed at load time ([`PackedWeights`]),
//!   the activation ([`Activation`]: exact GELU, its tanh approximation, ReLU) applied in the
//!   product's last pass;
//! - [`BiasResidualLayerNorm`]: `layer_norm(x + bias + residual)`;
//! - [`Attention`]: scaled dot-product attention of all heads with the padding mask, reading Q,
//!   K and V from the fused QKV projection and writing the heads side by side.
//!
//! Every sum is taken in an order fixed by the code, never by the CPU, its SIMD width or the
//! thread count ([`linear`] says how for the products). The matrix product has a kernel per
//! [`KernelPath`]; the other loops are plain safe Rust that the compiler vectorises, compiled
//! for AVX2 as well where the path has it: Rust never fuses a multiply and an add nor reorders
//! a sum, so both builds give the same bits.

// Index arithmetic here stays within the lengths of buffers that exist (checked against the
// shapes at each kernel's entry), and float arithmetic is the computation itself: checked
// operations would only obscure the kernels.
#![allow(clippy::arithmetic_side_effects)]

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape};
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
pub(crate) fn reduce(acc: [f32; LANES]) -> f32 {
	let [a, b, c, d, e, f, g, h] = acc;
	((a + e) + (c + g)) + ((b + f) + (d + h))
}

/// `Σ x` with [`LANES`] partial sums.
#[inline]
pub(crate) fn sum(xs: &[f32]) -> f32 {
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

/// Whether the portable path's fused multiply-add is an instruction: every aarch64 CPU has one,
/// and so does an x86-64 build for a CPU with FMA3.
pub(crate) const HARDWARE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

/// One fused multiply-add `a · b + c`, rounded once: how a kernel path computes it.
pub(crate) trait Fma {
	fn fma(a: f32, b: f32, c: f32) -> f32;
}

/// The CPU's instruction (`f32::mul_add` where the code is compiled for a CPU that has one).
pub(crate) struct Instruction;

impl Fma for Instruction {
	#[inline(always)]
	fn fma(a: f32, b: f32, c: f32) -> f32 {
		a.mul_add(b, c)
	}
}

/// [`mathf::fma`]: the same bits in `f64` arithmetic, for CPUs without the instruction.
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub(crate) struct Emulated;

impl Fma for Emulated {
	#[inline(always)]
	fn fma(a: f32, b: f32, c: f32) -> f32 {
		crate::mathf::fma(a, b, c)
	}
}

/// [`KernelPath::force`]'s choice: 0 the fastest, 1 AVX2 and FMA3, 2 portable.
static FORCED_PATH: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// The code a CPU runs [`linear`] with. Every path performs the same operations in the same
/// order (one fused multiply-add chain per output element, see [`linear`]): they differ only in
/// how many elements they compute side by side, which changes no bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
	/// x86-64 with AVX-512F: tiles of 8 rows × 32 columns in 512-bit registers.
	Avx512,
	/// x86-64 with AVX2 and FMA3: tiles of 6 rows × 16 columns in 256-bit registers.
	Avx2Fma,
	/// Any other CPU: tiles of 4 rows × 16 columns in portable code, each fused multiply-add
	/// the FMA instruction on aarch64 and [`mathf::fma`] (`f64` arithmetic, the same bits) on
	/// an x86-64 without FMA3, hence slower there.
	Portable,
}

impl KernelPath {
	/// The fastest path this CPU can run.
	pub fn detect() -> Self {
		match FORCED_PATH.load(std::sync::atomic::Ordering::Relaxed) {
			1 => return Self::Avx2Fma,
			2 => return Self::Portable,
			_ => {},
		}
		#[cfg(target_arch = "x86_64")]
		{
			if Self::Avx512.is_available() {
				return Self::Avx512;
			}
			if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2") {
				return Self::Avx2Fma;
			}
		}
		Self::Portable
	}

	/// Makes [`Self::detect`] (so every [`linear`] of this process) return `path` instead of
	/// the fastest path, if the CPU can run it, or undoes it (`None`). For measuring the slower
	/// paths on a machine that has a faster one (`examples/bench.rs`); it changes no bit, only
	/// the speed. Returns whether `path` was taken.
	pub fn force(path: Option<Self>) -> bool {
		let code = match path {
			None | Some(Self::Avx512) => 0,
			Some(Self::Avx2Fma) => 1,
			Some(Self::Portable) => 2,
		};
		if path.is_some_and(|p| !p.is_available()) {
			return false;
		}
		FORCED_PATH.store(code, std::sync::atomic::Ordering::Relaxed);
		path.is_none_or(|p| Self::detect() == p)
	}

	/// Whether this CPU can run the path.
	pub fn is_available(self) -> bool {
		match self {
			#[cfg(target_arch = "x86_64")]
			// The AVX-512 code is compiled with AVX2 and FMA enabled too: a virtual machine may
			// report AVX-512F with either masked.
			Self::Avx512 => {
				std::is_x86_feature_detected!("avx512f")
					&& std::is_x86_feature_detected!("avx2")
					&& std::is_x86_feature_detected!("fma")
			},
			#[cfg(target_arch = "x86_64")]
			Self::Avx2Fma => std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2"),
			#[cfg(not(target_arch = "x86_64"))]
			Self::Avx512 | Self::Avx2Fma => false,
			Self::Portable => true,
		}
	}

	/// Whether every fused multiply-add of the path is one instruction of this CPU (else the
	/// portable path emulates it with [`mathf::fma`]).
	pub fn has_fma_instruction(self) -> bool {
		self != Self::Portable || HARDWARE_FMA
	}

	/// Whether the path runs only where the CPU has AVX2, so that the element-wise kernels can
	/// be compiled for it too.
	#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
	pub(crate) fn has_avx2(self) -> bool {
		matches!(self, Self::Avx512 | Self::Avx2Fma)
	}

	/// Rows and columns of one tile.
	fn tile(self) -> (usize, usize) {
		match self {
			Self::Avx512 => (8, 32),
			Self::Avx2Fma => (6, 16),
			Self::Portable => (4, 16),
		}
	}
}

/// Columns of one strip of [`PackedWeights`]: the widest tile of every path (AVX-512's 32
/// columns); the narrower paths compute a strip in two halves of 16.
const STRIP: usize = 32;

/// A weight matrix `w: [depth, width]` (stored transposed, `[in, out]`) laid out once, at
/// load time, the way [`linear`]'s tiles read it: strips of [`STRIP`] columns (the last one
/// narrower), each strip `[depth][columns]` contiguous, so that a tile reads one run of
/// consecutive values per `k` instead of one strided line of the whole matrix. The values are
/// the same, and so is the order in which [`linear`] combines them.
#[derive(Clone, Debug)]
pub struct PackedWeights {
	data: Vec<f32>,
	depth: usize,
	width: usize,
}

impl PackedWeights {
	/// Packs `w: [depth, width]` (row-major, contiguous); an error if the sizes do not match.
	pub fn new(w: &[f32], depth: usize, width: usize) -> core::result::Result<Self, String> {
		if depth == 0 || width == 0 || depth.checked_mul(width) != Some(w.len()) {
			return Err(format!("weights of {} values for {depth} × {width}", w.len()));
		}
		let mut data = Vec::with_capacity(w.len());
		for first in (0..width).step_by(STRIP) {
			let cols = STRIP.min(width - first);
			for row in w.chunks_exact(width) {
				data.extend_from_slice(row.get(first..first + cols).unwrap_or_default());
			}
		}
		Ok(Self { data, depth, width })
	}

	/// The reduction dimension (inputs per row).
	pub fn depth(&self) -> usize {
		self.depth
	}

	/// The output dimension.
	pub fn width(&self) -> usize {
		self.width
	}

	/// Strip `index`: its weights `[depth][columns]` and its columns (at most [`STRIP`]).
	fn strip(&self, index: usize) -> (&[f32], usize) {
		let first = index * STRIP;
		let cols = STRIP.min(self.width.saturating_sub(first));
		(self.data.get(first * self.depth..(first + cols) * self.depth).unwrap_or_default(), cols)
	}
}

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
/// aarch64 CPU) and otherwise [`mathf::fma`]'s emulation: `fma` is exactly rounded by IEEE 754,
/// so both give the same bits; the emulation is only slower ([`KernelPath`]).
///
/// This packs `w` on every call; a model multiplies by weights it packed once at load time
/// ([`PackedWeights`], [`linear_packed`]), with the same result.
pub fn linear(
	x: &[f32],
	w: &[f32],
	bias: Option<&[f32]>,
	depth: usize,
	width: usize,
) -> core::result::Result<Vec<f32>, String> {
	linear_on(KernelPath::detect(), x, w, bias, depth, width)
}

/// [`linear`] on the given path (which gives the same bits as every other): for measuring a
/// path, or checking that they agree. An error if this CPU cannot run it.
pub fn linear_on(
	path: KernelPath,
	x: &[f32],
	w: &[f32],
	bias: Option<&[f32]>,
	depth: usize,
	width: usize,
) -> core::result::Result<Vec<f32>, String> {
	let weights = PackedWeights::new(w, depth, width).map_err(|e| format!("linear: {e}"))?;
	linear_packed_on(path, x, &weights, bias)
}

/// [`linear`] with weights packed beforehand.
pub fn linear_packed(
	x: &[f32],
	weights: &PackedWeights,
	bias: Option<&[f32]>,
) -> core::result::Result<Vec<f32>, String> {
	linear_packed_on(KernelPath::detect(), x, weights, bias)
}

/// [`linear_packed`] on the given path.
pub fn linear_packed_on(
	path: KernelPath,
	x: &[f32],
	weights: &PackedWeights,
	bias: Option<&[f32]>,
) -> core::result::Result<Vec<f32>, String> {
	linear_activated(path, x, weights, bias, |v| v)
}

/// What [`Linear`] applies to each output element after its bias, in the same pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
	/// None: `x · w + bias` as it is.
	Identity,
	/// [`gelu`] (exact, `erf`-based).
	Gelu,
	/// [`crate::mathf::gelu_tanh`] (GELU's tanh approximation).
	GeluTanh,
	/// `x` if above zero, else `+0` (NaN included).
	Relu,
}

/// [`linear_packed_on`], then `activation` of each element (`+ bias` first): the operations of
/// the product, the bias and the activation in that order, fused in one pass over the output.
fn linear_activated<F: Fn(f32) -> f32 + Sync>(
	path: KernelPath,
	x: &[f32],
	weights: &PackedWeights,
	bias: Option<&[f32]>,
	activation: F,
) -> core::result::Result<Vec<f32>, String> {
	let (depth, width) = (weights.depth, weights.width);
	if !x.len().is_multiple_of(depth) {
		return Err(format!("linear: input of {} for depth {depth}", x.len()));
	}
	if bias.is_some_and(|b| b.len() != width) {
		return Err(format!("linear: bias of {:?} for width {width}", bias.map(<[f32]>::len)));
	}
	if !path.is_available() {
		return Err(format!("linear: this CPU cannot run the {path:?} path"));
	}
	let rows = x.len() / depth;
	if rows == 0 {
		return Ok(Vec::new());
	}
	let (tile_rows, _) = path.tile();
	// Fewer rows than a tile (one input of a small model): tiles of one row, no padding.
	let tile_rows = if rows >= tile_rows { tile_rows } else { 1 };
	let tiles = rows.div_ceil(tile_rows);
	let padded_rows = tiles * tile_rows;
	let strips = width.div_ceil(STRIP);
	with_scratch(|packed, computed| {
		// The rows of each tile interleaved, `[depth][tile_rows]`, the last tile padded with
		// zero rows (computed and dropped), so that the kernel reads one contiguous run per `k`.
		// Every value is written, so a buffer kept from an earlier call needs no clearing.
		let packed = grown(packed, tiles * depth * tile_rows);
		for (t, tile) in packed.chunks_exact_mut(depth * tile_rows).enumerate() {
			let rows_here = x.get(t * tile_rows * depth..).unwrap_or_default();
			for (k, run) in tile.chunks_exact_mut(tile_rows).enumerate() {
				for (i, target) in run.iter_mut().enumerate() {
					*target = rows_here.get(i * depth + k).copied().unwrap_or(0.0);
				}
			}
		}
		let packed = &*packed;
		// Strips of columns are the unit of parallel work: each reads its weights once for
		// all rows, and computes `[padded rows][its columns]` in its part of `computed` (every
		// value of that part is written). The result is independent of how the strips are
		// shared out.
		let computed = grown(computed, strips * padded_rows * STRIP);
		let per_task = strips.div_ceil(rayon::current_num_threads().max(1)).max(1);
		computed
			.par_chunks_exact_mut(padded_rows * STRIP)
			.enumerate()
			.with_min_len(per_task)
			.for_each(|(index, out)| {
				let (strip, cols) = weights.strip(index);
				// The strip in blocks of the path's tile width, then of 16, then what is left.
				let mut first = 0;
				while first < cols {
					let left = cols - first;
					let block = if path == KernelPath::Avx512 && left >= 32 {
						32
					} else if left >= 16 {
						16
					} else {
						left
					};
					let tile = Tile {
						packed,
						tile_rows,
						w: strip,
						depth,
						width: cols,
						first,
						cols: block,
					};
					column_block(path, &tile, out);
					first += block;
				}
			});
		gather(path, rows, width, padded_rows, computed, bias, &activation)
	})
}

/// The last pass of [`linear`]: each row gathered from the strips' results in `computed`
/// (`[strips][padded_rows][STRIP]`, of which a strip of `c` columns uses `[padded_rows][c]`), its
/// bias added and `activation` applied, in parallel.
fn gather<F: Fn(f32) -> f32 + Sync>(
	path: KernelPath,
	rows: usize,
	width: usize,
	padded_rows: usize,
	computed: &[f32],
	bias: Option<&[f32]>,
	activation: &F,
) -> core::result::Result<Vec<f32>, String> {
	#[cfg(not(target_arch = "x86_64"))]
	let _ = path;
	let mut out = vec![0f32; rows * width];
	let per_task = rows_per_task(rows);
	out.par_chunks_mut(width * per_task).enumerate().for_each(|(task, rows)| {
		let gather = Gather { computed, padded_rows, bias, width, first_row: task * per_task };
		#[cfg(target_arch = "x86_64")]
		if path.has_avx2() {
			// SAFETY: the CPU has AVX2 (`KernelPath::has_avx2`).
			#[allow(unsafe_code)]
			unsafe {
				gather_avx2(&gather, rows, &activation)
			};
			return;
		}
		gather.run(rows, &activation);
	});
	Ok(out)
}

/// Above this many values, [`with_scratch`]'s buffers are freed after use rather than kept.
const SCRATCH_KEEP: usize = 2 << 20;

thread_local! {
	/// [`linear`]'s working buffers on this thread (the packed input and the strips' results),
	/// kept between calls up to [`SCRATCH_KEEP`] values each, so that a call does not map and
	/// zero fresh pages for them.
	static SCRATCH: core::cell::RefCell<(Vec<f32>, Vec<f32>)> =
		const { core::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// The first `len` values of `buffer`, grown (with zeros) if it is shorter: what was there is
/// left for the caller to overwrite.
fn grown(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
	if buffer.len() < len {
		buffer.resize(len, 0.0);
	}
	buffer.get_mut(..len).unwrap_or_default()
}

/// `f` with this thread's scratch buffers, or fresh ones if they are in use (a thread waiting
/// inside [`linear`] can run another task of its pool that calls [`linear`] too).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>) -> R) -> R {
	SCRATCH.with(|cell| match cell.try_borrow_mut() {
		Ok(mut buffers) => {
			let (a, b) = &mut *buffers;
			let result = f(a, b);
			for buffer in [a, b] {
				if buffer.capacity() > SCRATCH_KEEP {
					*buffer = Vec::new();
				}
			}
			result
		},
		Err(_) => f(&mut Vec::new(), &mut Vec::new()),
	})
}

/// The last pass of [`linear`]: rows gathered from the strips' results, bias and activation.
struct Gather<'a> {
	/// Each strip's `[padded rows][columns]`, one strip every `padded_rows · STRIP` values.
	computed: &'a [f32],
	padded_rows: usize,
	bias: Option<&'a [f32]>,
	width: usize,
	/// The index of the first row of `rows`.
	first_row: usize,
}

impl Gather<'_> {
	/// `rows: [n, width]`, rows `first_row..first_row + n` of the output.
	#[inline(always)]
	fn run<F: Fn(f32) -> f32>(&self, rows: &mut [f32], activation: &F) {
		let width = self.width;
		// Strip by strip, so that each strip's results are read in order.
		for (index, strip) in self.computed.chunks_exact(self.padded_rows * STRIP).enumerate() {
			let first = index * STRIP;
			let cols = STRIP.min(width.saturating_sub(first));
			let bias = self.bias.and_then(|b| b.get(first..first + cols));
			let values = strip.chunks_exact(cols.max(1)).skip(self.first_row);
			for (row, values) in rows.chunks_exact_mut(width).zip(values) {
				let Some(target) = row.get_mut(first..first + cols) else { continue };
				match bias {
					Some(bias) => {
						for ((o, v), b) in target.iter_mut().zip(values).zip(bias) {
							*o = activation(v + b);
						}
					},
					None => {
						for (o, v) in target.iter_mut().zip(values) {
							*o = activation(*v);
						}
					},
				}
			}
		}
	}
}

/// [`Gather::run`] compiled for AVX2: the loops vectorise 8 lanes wide instead of 4. The
/// operations are the same (Rust never fuses a multiply and an add), so are the bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gather_avx2<F: Fn(f32) -> f32>(gather: &Gather, rows: &mut [f32], activation: &F) {
	gather.run(rows, activation)
}

/// What [`self_test`] found on this CPU.
#[derive(Clone, Debug)]
pub struct SelfTest {
	/// The kernel path [`linear`] takes here.
	pub path: KernelPath,
	/// Whether its fused multiply-add is an instruction ([`KernelPath::has_fma_instruction`]).
	pub fma_instruction: bool,
	/// The engine's known answer computed here (hex blake2-256), and whether it is
	/// [`KNOWN_ANSWER`].
	pub answer: String,
	pub reproducible: bool,
	/// [`linear_packed`]'s throughput on a MiniLM-sized product (64 × 384 × 1536), best of a few
	/// repeats, in GFLOP/s, on the calling thread pool.
	pub gflops: f64,
}

/// blake2-256 of the known-answer computation of [`self_test`], the same on every conforming
/// CPU (pinned by a unit test, and compared under qemu by the cross-CPU test).
pub const KNOWN_ANSWER: &str = "57bdf7426380eec7578ec005ddb330345d517622801748573aff87b3c7bc80ec";

/// The least [`SelfTest::gflops`] an executor needs: a MiniLM input of 256 tokens (the engine's
/// bound, about 5.6 GFLOP of matrix products) within the node's default 10-second inference
/// limit, with room to spare.
pub const MIN_EXECUTOR_GFLOPS: f64 = 1.0;

/// A known-answer test of the engine's numerics on this CPU, and the speed of its kernel path.
///
/// It computes, on [`KernelPath::detect`]'s path, a matrix product with remainders in every
/// tile dimension, and the transcendental functions over a sweep of inputs, and hashes the bits:
/// a CPU, C library or build that computes any of them differently gives another answer than
/// [`KNOWN_ANSWER`], and the node then refuses to execute rather than disagree with honest
/// executors. It then times [`linear_packed`] (under a tenth of a second on an AVX2 CPU).
pub fn self_test() -> SelfTest {
	let path = KernelPath::detect();
	let mut state = 0x243f_6a88_85a3_08d3u64;
	let mut random = |n: usize| -> Vec<f32> {
		(0..n)
			.map(|_| {
				state ^= state << 13;
				state ^= state >> 7;
				state ^= state << 17;
				((state >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * 3.0
			})
			.collect()
	};
	let (rows, depth, width) = (37, 300, 70);
	let (x, w, bias) = (random(rows * depth), random(depth * width), random(width));
	let mut values = linear(&x, &w, Some(&bias), depth, width).unwrap_or_default();
	// Fewer rows than a tile of every path, and a single row: the other layouts.
	for rows in [3, 20] {
		let x = random(rows * depth);
		values.extend(linear(&x, &w, None, depth, width).unwrap_or_default());
	}
	let inputs = random(4096);
	for f in [
		crate::mathf::exp as fn(f32) -> f32,
		crate::mathf::tanh,
		crate::mathf::sigmoid,
		crate::mathf::gelu_tanh,
		gelu,
	] {
		values.extend(inputs.iter().map(|v| f(v * 10.0)));
	}
	values.extend(inputs.chunks_exact(3).filter_map(|v| match v {
		[a, b, c] => Some(crate::mathf::fma(*a, b * 1e3, *c)),
		_ => None,
	}));
	// Subnormal operands and results (a process with flush-to-zero set would differ).
	let tiny = f32::from_bits(0x0000_0400);
	values.extend(inputs.chunks_exact(3).filter_map(|v| match v {
		[a, b, c] => Some(crate::mathf::fma(*a * tiny, *b, *c * tiny)),
		_ => None,
	}));
	let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect();
	let answer = crate::hash_hex(&crate::hash_bytes(&bytes));

	let (rows, depth, width) = (64, 384, 1536);
	let (x, w) = (random(rows * depth), random(depth * width));
	let weights = PackedWeights::new(&w, depth, width);
	let mut best = f64::INFINITY;
	for _ in 0..5 {
		let started = std::time::Instant::now();
		if let Ok(weights) = &weights {
			let _ = linear_packed(&x, weights, None);
		}
		best = best.min(started.elapsed().as_secs_f64());
	}
	let flops = 2.0 * (rows * depth * width) as f64;
	SelfTest {
		path,
		fma_instruction: path.has_fma_instruction(),
		reproducible: answer == KNOWN_ANSWER,
		answer,
		gflops: flops / best.max(1e-9) / 1e9,
	}
}

/// Columns `first..first + cols` of every row, computed from one strip of weights.
struct Tile<'a> {
	/// The input, packed by tiles of `tile_rows` rows.
	packed: &'a [f32],
	tile_rows: usize,
	/// The strip's weights, `[depth][width]`.
	w: &'a [f32],
	depth: usize,
	width: usize,
	first: usize,
	cols: usize,
}

/// Computes `tile` into its columns of `out: [padded rows, tile.width]` on `path` (which the
/// CPU can run).
fn column_block(path: KernelPath, tile: &Tile, out: &mut [f32]) {
	match path {
		#[cfg(target_arch = "x86_64")]
		// SAFETY: `linear_packed_on` checked that the CPU has the path's features.
		#[allow(unsafe_code)]
		KernelPath::Avx512 => unsafe { column_block_avx512(tile, out) },
		#[cfg(target_arch = "x86_64")]
		// SAFETY: as above.
		#[allow(unsafe_code)]
		KernelPath::Avx2Fma => unsafe { column_block_avx2(tile, out) },
		#[cfg(target_arch = "aarch64")]
		_ => column_block_neon(tile, out),
		#[cfg(not(target_arch = "aarch64"))]
		_ if HARDWARE_FMA => column_block_tiled::<4, 16, Instruction>(tile, out),
		#[cfg(not(target_arch = "aarch64"))]
		_ => column_block_tiled::<4, 16, Emulated>(tile, out),
	}
}

/// [`column_block_tiled`] for AVX-512F: full tiles of 8 rows × 32 columns by
/// [`full_tile_avx512`], the rest as the portable code compiled for the same CPU. The same
/// operations in the same order either way.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn column_block_avx512(tile: &Tile, out: &mut [f32]) {
	const R: usize = 8;
	const C: usize = 32;
	if tile.cols == C && tile.tile_rows == R {
		let run = tile.depth * R;
		for (xt, out_tile) in
			tile.packed.chunks_exact(run).zip(out.chunks_exact_mut(R * tile.width))
		{
			full_tile_avx512(xt, tile.w, tile.width, tile.first, out_tile);
		}
	} else if tile.cols == 16 {
		column_block_tiled::<R, 16, Instruction>(tile, out)
	} else {
		column_block_tiled::<R, C, Instruction>(tile, out)
	}
}

/// [`full_tile`]`::<8, 32>` in AVX-512 registers: 16 accumulators of 16 lanes, one
/// `vfmadd231ps` per row, per 16 columns and per `k`, in increasing `k`: for each element the
/// chain `acc = fma(x[r][k], w[k][j], acc)` from `+0`, as everywhere. `out` holds the tile's 8
/// rows of `width` values; it receives columns `first..first + 32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn full_tile_avx512(xt: &[f32], w: &[f32], width: usize, first: usize, out: &mut [f32]) {
	use core::arch::x86_64::{
		__m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
		_mm512_storeu_ps,
	};
	const R: usize = 8;
	let depth = xt.len() / R;
	// Every pointer below stays inside these bounds.
	let outside = depth == 0
		|| xt.len() != depth * R
		|| first + 32 > width
		|| out.len() < (R - 1) * width + first + 32
		|| w.len() < (depth - 1) * width + first + 32;
	// The callers only pass tiles that fit: with debug assertions, say so loudly rather than leave
	// the scratch buffer's old values in `out`.
	debug_assert!(!outside, "a tile outside its buffers");
	if outside {
		return;
	}
	let mut acc: [[__m512; 2]; R] = [[_mm512_setzero_ps(); 2]; R];
	// SAFETY: row `k` of the tile's weights is `w[k * width + first ..][..32]` and its inputs
	// `xt[k * R ..][..R]`, for `k < depth`: inside `w` and `xt` by the check above; row `r` of
	// the output is `out[r * width + first ..][..32]`, inside `out` likewise.
	#[allow(unsafe_code)]
	unsafe {
		let (mut wp, mut xp) = (w.as_ptr().add(first), xt.as_ptr());
		for _ in 0..depth {
			let (w0, w1) = (_mm512_loadu_ps(wp), _mm512_loadu_ps(wp.add(16)));
			for (r, acc_row) in acc.iter_mut().enumerate() {
				let xv = _mm512_set1_ps(*xp.add(r));
				acc_row[0] = _mm512_fmadd_ps(xv, w0, acc_row[0]);
				acc_row[1] = _mm512_fmadd_ps(xv, w1, acc_row[1]);
			}
			// Past the last `k` this points beyond the strip, never read: `wrapping_add`.
			wp = wp.wrapping_add(width);
			xp = xp.add(R);
		}
		let op = out.as_mut_ptr().add(first);
		for (r, acc_row) in acc.iter().enumerate() {
			_mm512_storeu_ps(op.add(r * width), acc_row[0]);
			_mm512_storeu_ps(op.add(r * width + 16), acc_row[1]);
		}
	}
}

/// [`column_block_tiled`] for AVX2 and FMA3: full tiles of 6 rows × 16 columns by
/// [`full_tile_avx2`], the rest as the portable code compiled for the same CPU (`mul_add`
/// lowered to `vfmadd`). The same operations in the same order either way.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn column_block_avx2(tile: &Tile, out: &mut [f32]) {
	const R: usize = 6;
	const C: usize = 16;
	if tile.cols == C && tile.tile_rows == R {
		let run = tile.depth * R;
		for (xt, out_tile) in
			tile.packed.chunks_exact(run).zip(out.chunks_exact_mut(R * tile.width))
		{
			full_tile_avx2(xt, tile.w, tile.width, tile.first, out_tile);
		}
	} else {
		column_block_tiled::<R, C, Instruction>(tile, out)
	}
}

/// [`full_tile`]`::<6, 16>` in AVX2 registers: 12 accumulators of 8 lanes, one `vfmadd231ps`
/// per row, per 8 columns and per `k`, in increasing `k`: for each element the chain
/// `acc = fma(x[r][k], w[k][j], acc)` from `+0`, as everywhere. `out` holds the tile's 6 rows
/// of `width` values; it receives columns `first..first + 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn full_tile_avx2(xt: &[f32], w: &[f32], width: usize, first: usize, out: &mut [f32]) {
	use core::arch::x86_64::{
		__m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps,
		_mm256_storeu_ps,
	};
	const R: usize = 6;
	let depth = xt.len() / R;
	// Every pointer below stays inside these bounds.
	let outside = depth == 0
		|| xt.len() != depth * R
		|| first + 16 > width
		|| out.len() < (R - 1) * width + first + 16
		|| w.len() < (depth - 1) * width + first + 16;
	// The callers only pass tiles that fit: with debug assertions, say so loudly rather than leave
	// the scratch buffer's old values in `out`.
	debug_assert!(!outside, "a tile outside its buffers");
	if outside {
		return;
	}
	let mut acc: [[__m256; 2]; R] = [[_mm256_setzero_ps(); 2]; R];
	// SAFETY: row `k` of the tile's weights is `w[k * width + first ..][..16]` and its inputs
	// `xt[k * R ..][..R]`, for `k < depth`: inside `w` and `xt` by the check above; row `r` of
	// the output is `out[r * width + first ..][..16]`, inside `out` likewise.
	#[allow(unsafe_code)]
	unsafe {
		let (mut wp, mut xp) = (w.as_ptr().add(first), xt.as_ptr());
		for _ in 0..depth {
			let (w0, w1) = (_mm256_loadu_ps(wp), _mm256_loadu_ps(wp.add(8)));
			for (r, acc_row) in acc.iter_mut().enumerate() {
				let xv = _mm256_set1_ps(*xp.add(r));
				acc_row[0] = _mm256_fmadd_ps(xv, w0, acc_row[0]);
				acc_row[1] = _mm256_fmadd_ps(xv, w1, acc_row[1]);
			}
			// Past the last `k` this points beyond the strip, never read: `wrapping_add`.
			wp = wp.wrapping_add(width);
			xp = xp.add(R);
		}
		let op = out.as_mut_ptr().add(first);
		for (r, acc_row) in acc.iter().enumerate() {
			_mm256_storeu_ps(op.add(r * width), acc_row[0]);
			_mm256_storeu_ps(op.add(r * width + 8), acc_row[1]);
		}
	}
}

/// [`column_block_tiled`] on aarch64: full tiles of 4 rows × 16 columns by [`full_tile_neon`],
/// the rest as the portable code (`mul_add` is `fmadd` there). The same operations in the same
/// order either way.
#[cfg(target_arch = "aarch64")]
fn column_block_neon(tile: &Tile, out: &mut [f32]) {
	const R: usize = 4;
	const C: usize = 16;
	if tile.cols == C && tile.tile_rows == R {
		let run = tile.depth * R;
		for (xt, out_tile) in
			tile.packed.chunks_exact(run).zip(out.chunks_exact_mut(R * tile.width))
		{
			full_tile_neon(xt, tile.w, tile.width, tile.first, out_tile);
		}
	} else {
		column_block_tiled::<R, C, Instruction>(tile, out)
	}
}

/// [`full_tile`]`::<4, 16>` in NEON registers: 16 accumulators of 4 lanes, one `fmla` per row,
/// per 4 columns and per `k`, in increasing `k`: for each element the chain
/// `acc = fma(x[r][k], w[k][j], acc)` from `+0`, as everywhere. `out` holds the tile's 4 rows of
/// `width` values; it receives columns `first..first + 16`.
#[cfg(target_arch = "aarch64")]
fn full_tile_neon(xt: &[f32], w: &[f32], width: usize, first: usize, out: &mut [f32]) {
	use core::arch::aarch64::{float32x4_t, vdupq_n_f32, vfmaq_f32, vld1q_f32, vst1q_f32};
	const R: usize = 4;
	let depth = xt.len() / R;
	// Every pointer below stays inside these bounds.
	let outside = depth == 0
		|| xt.len() != depth * R
		|| first + 16 > width
		|| out.len() < (R - 1) * width + first + 16
		|| w.len() < (depth - 1) * width + first + 16;
	// The callers only pass tiles that fit: with debug assertions, say so loudly rather than leave
	// the scratch buffer's old values in `out`.
	debug_assert!(!outside, "a tile outside its buffers");
	if outside {
		return;
	}
	// SAFETY: NEON is part of every aarch64 CPU. Row `k` of the tile's weights is
	// `w[k * width + first ..][..16]` and its inputs `xt[k * R ..][..R]`, for `k < depth`: inside
	// `w` and `xt` by the check above; row `r` of the output is `out[r * width + first ..][..16]`,
	// inside `out` likewise.
	#[allow(unsafe_code)]
	unsafe {
		let mut acc: [[float32x4_t; 4]; R] = [[vdupq_n_f32(0.0); 4]; R];
		let (mut wp, mut xp) = (w.as_ptr().add(first), xt.as_ptr());
		for _ in 0..depth {
			let wv =
				[vld1q_f32(wp), vld1q_f32(wp.add(4)), vld1q_f32(wp.add(8)), vld1q_f32(wp.add(12))];
			for (r, acc_row) in acc.iter_mut().enumerate() {
				let xv = vdupq_n_f32(*xp.add(r));
				for (a, w) in acc_row.iter_mut().zip(wv) {
					// `a + xv · w`, rounded once.
					*a = vfmaq_f32(*a, xv, w);
				}
			}
			// Past the last `k` this points beyond the strip, never read: `wrapping_add`.
			wp = wp.wrapping_add(width);
			xp = xp.add(R);
		}
		let op = out.as_mut_ptr().add(first);
		for (r, acc_row) in acc.iter().enumerate() {
			for (c, a) in acc_row.iter().enumerate() {
				vst1q_f32(op.add(r * width + 4 * c), *a);
			}
		}
	}
}

/// A column block in tiles of `R` rows × `C` columns (or of one row, for inputs of fewer rows
/// than `R`), and element by element where the block is narrower than `C`.
#[inline(always)]
fn column_block_tiled<const R: usize, const C: usize, F: Fma>(tile: &Tile, out: &mut [f32]) {
	let Tile { packed, tile_rows, w, depth, width, first, cols } = *tile;
	let run = depth * tile_rows;
	if cols == C && tile_rows == R {
		for (xt, out_tile) in packed.chunks_exact(run).zip(out.chunks_exact_mut(R * width)) {
			full_tile::<R, C, F>(xt, w, width, first, out_tile);
		}
	} else if cols == C && tile_rows == 1 {
		for (xt, out_tile) in packed.chunks_exact(run).zip(out.chunks_exact_mut(width)) {
			full_tile::<1, C, F>(xt, w, width, first, out_tile);
		}
	} else {
		for (t, xt) in packed.chunks_exact(run).enumerate() {
			for i in 0..tile_rows {
				let at = (t * tile_rows + i) * width + first;
				let Some(out_row) = out.get_mut(at..at + cols) else { return };
				for (c, o) in out_row.iter_mut().enumerate() {
					let mut acc = 0f32;
					for (xk, w_row) in xt.chunks_exact(tile_rows).zip(w.chunks_exact(width)) {
						let xv = xk.get(i).copied().unwrap_or(0.0);
						acc = F::fma(xv, w_row.get(first + c).copied().unwrap_or(0.0), acc);
					}
					*o = acc;
				}
			}
		}
	}
}

/// `R` rows × `C` columns, accumulated in registers over the whole depth: `xt` holds the rows
/// interleaved (`[depth][R]`), `out` the tile's `R` rows of `width` values, of which it
/// receives columns `first..first + C`.
#[inline(always)]
fn full_tile<const R: usize, const C: usize, F: Fma>(
	xt: &[f32],
	w: &[f32],
	width: usize,
	first: usize,
	out: &mut [f32],
) {
	let mut acc = [[0f32; C]; R];
	for (xk, w_row) in xt.chunks_exact(R).zip(w.chunks_exact(width)) {
		let Some(w_tile) = w_row.get(first..first + C) else { return };
		for (acc_row, xv) in acc.iter_mut().zip(xk) {
			for (a, wv) in acc_row.iter_mut().zip(w_tile) {
				*a = F::fma(*xv, *wv, *a);
			}
		}
	}
	for (acc_row, out_row) in acc.iter().zip(out.chunks_exact_mut(width)) {
		if let Some(target) = out_row.get_mut(first..first + C) {
			target.copy_from_slice(acc_row);
		}
	}
}

/// `activation(x · w + bias)` for `x: [.., depth]` and weights packed at load time, with
/// [`linear`]'s fixed order, as a candle operation.
pub struct Linear<'a> {
	/// `[depth, width]`.
	pub weights: &'a PackedWeights,
	/// `[width]`, added once after the products.
	pub bias: Option<&'a [f32]>,
	/// Applied after the bias.
	pub activation: Activation,
}

impl CustomOp1 for Linear<'_> {
	fn name(&self) -> &'static str {
		"opg-linear"
	}

	fn cpu_fwd(&self, x: &CpuStorage, x_layout: &Layout) -> Result<(CpuStorage, Shape)> {
		let xs = contiguous(x, x_layout, "linear input")?;
		let (depth, width) = (self.weights.depth(), self.weights.width());
		let mut dims = x_layout.shape().dims().to_vec();
		match dims.last_mut() {
			Some(last) if *last == depth => *last = width,
			_ => bail!("linear: input {:?} for weights {depth} × {width}", x_layout.shape()),
		}
		let (path, weights, bias) = (KernelPath::detect(), self.weights, self.bias);
		let out = match self.activation {
			Activation::Identity => linear_activated(path, xs, weights, bias, |v| v),
			Activation::Gelu => linear_activated(path, xs, weights, bias, gelu),
			Activation::GeluTanh => {
				linear_activated(path, xs, weights, bias, crate::mathf::gelu_tanh)
			},
			Activation::Relu => {
				linear_activated(path, xs, weights, bias, |v| if v > 0.0 { v } else { 0.0 })
			},
		}
		.map_err(candle_core::Error::Msg)?;
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
		let mut out = vec![0f32; batch * tokens * hidden];
		if tokens == 0 || batch == 0 {
			return Ok((CpuStorage::F32(out), Shape::from((batch, tokens, hidden))));
		}
		// One task per sequence, or per group of its query rows when there are fewer sequences
		// than threads. Each row's result is the same whichever task computes it.
		let threads = rayon::current_num_threads().max(1);
		let group = tokens.div_ceil(threads.div_ceil(batch).max(1)).max(1);
		#[cfg(target_arch = "x86_64")]
		let path = KernelPath::detect();
		out.par_chunks_exact_mut(tokens * hidden)
			.zip(qkv_data.par_chunks_exact(tokens * width))
			.zip(mask.par_chunks_exact(tokens))
			.for_each(|((out, sequence), mask)| {
				out.par_chunks_mut(group * hidden).enumerate().for_each(|(g, out)| {
					let shape = AttentionShape { tokens, hidden, heads, head, scale };
					#[cfg(target_arch = "x86_64")]
					if path.has_avx2() {
						// SAFETY: the CPU has AVX2 (`KernelPath::has_avx2`).
						#[allow(unsafe_code)]
						unsafe {
							attend_avx2(&shape, sequence, mask, g * group, out)
						};
						return;
					}
					attend(&shape, sequence, mask, g * group, out);
				})
			});
		Ok((CpuStorage::F32(out), Shape::from((batch, tokens, hidden))))
	}
}

/// [`attend`] compiled for AVX2 (see [`gather_avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn attend_avx2(
	shape: &AttentionShape,
	sequence: &[f32],
	mask: &[f32],
	first: usize,
	out: &mut [f32],
) {
	attend(shape, sequence, mask, first, out)
}

/// The sizes of one [`Attention`].
struct AttentionShape {
	tokens: usize,
	hidden: usize,
	heads: usize,
	head: usize,
	scale: f32,
}

/// Attention of the query rows `first..` of one sequence (as many as `out: [rows, hidden]`
/// holds), all heads. `sequence: [tokens, 3·hidden]`, `mask: [tokens]`.
///
/// Each score is [`dot`]`(q, k) · scale + mask` with `dot`'s exact order (8 lanes of partial
/// sums over the head's dimensions, a fixed tree, then the remainder), but computed for all the
/// keys side by side from the keys transposed (`[head dims][tokens]`), so that the loops
/// vectorise across keys. Then the softmax (maximum, `exp(score − max)` in order, their sum in
/// key order, one reciprocal), and the weighted sum of the values in key order.
#[inline(always)]
fn attend(shape: &AttentionShape, sequence: &[f32], mask: &[f32], first: usize, out: &mut [f32]) {
	let AttentionShape { tokens, hidden, heads, head, scale } = *shape;
	let width = 3 * hidden;
	let whole = head - head % LANES;
	// The keys transposed, `[head dims][padded]`, zero past `tokens` (scores computed and
	// dropped) so that every block of keys is whole.
	let padded = tokens.div_ceil(LANES) * LANES;
	let mut keys = vec![0f32; head * padded];
	let mut scores = vec![0f32; padded];
	for h in 0..heads {
		let (q_at, k_at, v_at) = (h * head, hidden + h * head, 2 * hidden + h * head);
		for (j, key_row) in sequence.chunks_exact(width).enumerate() {
			let key = key_row.get(k_at..k_at + head).unwrap_or_default();
			for (value, target) in key.iter().zip(keys.iter_mut().skip(j).step_by(padded)) {
				*target = *value;
			}
		}
		for (i, out_row) in out.chunks_exact_mut(hidden).enumerate() {
			let row = first + i;
			let q = sequence.get(row * width + q_at..row * width + q_at + head).unwrap_or_default();
			// `dot`'s lanes for 8 keys at a time, in registers: lane `l` of key `j` sums
			// `q[d] · k_j[d]` for `d ≡ l (mod 8)`, `d` increasing, from +0; then `dot`'s tree
			// over the lanes.
			for (block, block_scores) in scores.chunks_exact_mut(LANES).enumerate() {
				let mut acc = [[0f32; LANES]; LANES];
				for (q8, k8) in q.chunks_exact(LANES).zip(keys.chunks_exact(LANES * padded)) {
					for (l, (qd, acc_l)) in q8.iter().zip(acc.iter_mut()).enumerate() {
						let at = l * padded + block * LANES;
						let Some(k) = k8.get(at..at + LANES) else { continue };
						for (a, k) in acc_l.iter_mut().zip(k) {
							*a += qd * k;
						}
					}
				}
				let [a, b, c, d, e, f, g, h] = acc;
				for (j, score) in block_scores.iter_mut().enumerate() {
					let lane = |l: &[f32; LANES]| l.get(j).copied().unwrap_or(0.0);
					*score = reduce([
						lane(&a),
						lane(&b),
						lane(&c),
						lane(&d),
						lane(&e),
						lane(&f),
						lane(&g),
						lane(&h),
					]);
				}
			}
			let scores = scores.get_mut(..tokens).unwrap_or_default();
			// Then `dot`'s remainder (the sum of no product when the head is a multiple of 8:
			// the neutral element of `f32`'s `Sum`), key by key.
			if whole == head {
				let none: f32 = core::iter::empty::<f32>().sum();
				for score in scores.iter_mut() {
					*score += none;
				}
			} else {
				for (j, score) in scores.iter_mut().enumerate() {
					let tail: f32 = q
						.get(whole..)
						.unwrap_or_default()
						.iter()
						.zip(keys.get(whole * padded..).unwrap_or_default().chunks_exact(padded))
						.map(|(x, key_d)| x * key_d.get(j).copied().unwrap_or(0.0))
						.sum();
					*score += tail;
				}
			}
			for (score, m) in scores.iter_mut().zip(mask) {
				*score = *score * scale + m;
			}
			let max = scores.iter().fold(f32::NEG_INFINITY, |max, s| max.max(*s));
			for score in scores.iter_mut() {
				*score = crate::mathf::exp(*score - max);
			}
			let mut total = 0f32;
			for score in scores.iter() {
				total += *score;
			}
			let inv_total = 1.0 / total;
			let context = out_row.get_mut(q_at..q_at + head).unwrap_or_default();
			for (p, value_row) in scores.iter().zip(sequence.chunks_exact(width)) {
				let p = p * inv_total;
				let v = value_row.get(v_at..v_at + head).unwrap_or_default();
				for (c, v) in context.iter_mut().zip(v) {
					*c += p * v;
				}
			}
		}
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
	fn linear_reuses_its_buffers_without_leaking_values() {
		// A large product of NaNs leaves the thread's scratch buffers full of them; a smaller
		// product on the same thread must not see any (its last tile is padded, and its last
		// strip narrower).
		let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
		let (depth, width) = (40, 70);
		let w = values(depth * width, 41);
		pool.install(|| {
			let nans = vec![f32::NAN; 37 * depth];
			assert!(linear(&nans, &w, None, depth, width).unwrap().iter().all(|v| v.is_nan()));
			for rows in [5, 9, 1] {
				let x = values(rows * depth, 42 + rows as u64);
				let out = linear(&x, &w, None, depth, width).unwrap();
				for r in 0..rows {
					for j in 0..width {
						let mut acc = 0f32;
						for k in 0..depth {
							acc = x[r * depth + k].mul_add(w[k * width + j], acc);
						}
						assert_eq!(
							out[r * width + j].to_bits(),
							acc.to_bits(),
							"{rows} [{r}][{j}]"
						);
					}
				}
			}
		});
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

	#[test]
	fn every_kernel_path_gives_the_same_bits() {
		let paths = [KernelPath::Avx512, KernelPath::Avx2Fma, KernelPath::Portable];
		let available: Vec<KernelPath> = paths.into_iter().filter(|p| p.is_available()).collect();
		eprintln!("kernel paths of this CPU: {available:?}");
		assert!(available.contains(&KernelPath::detect()));
		// Rows and widths around every path's tile sizes, with remainders.
		for (rows, depth, width) in
			[(1, 200, 32), (7, 200, 48), (8, 64, 64), (20, 33, 70), (3, 5, 10)]
		{
			let x = values(rows * depth, 21 + rows as u64);
			let w = values(depth * width, 22 + width as u64);
			let bias = values(width, 23);
			let portable =
				linear_on(KernelPath::Portable, &x, &w, Some(&bias), depth, width).unwrap();
			for path in &available {
				let out = linear_on(*path, &x, &w, Some(&bias), depth, width).unwrap();
				assert_eq!(bits(&out), bits(&portable), "{path:?} {rows}×{depth}×{width}");
			}
		}
		for path in paths.into_iter().filter(|p| !p.is_available()) {
			assert!(linear_on(path, &[1.0], &[1.0], None, 1, 1).is_err(), "{path:?} refused");
		}
	}

	#[test]
	fn the_self_test_gives_the_known_answer_on_every_path() {
		for path in [KernelPath::Avx512, KernelPath::Avx2Fma, KernelPath::Portable] {
			if !path.is_available() {
				continue;
			}
			let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
			// `force` is process-wide: the other tests' results do not depend on it.
			assert!(KernelPath::force(Some(path)));
			let test = pool.install(self_test);
			KernelPath::force(None);
			eprintln!("{path:?}: {:.2} GFLOP/s on one thread", test.gflops);
			assert_eq!(test.path, path);
			assert_eq!(test.answer, KNOWN_ANSWER, "{path:?}");
			assert!(test.reproducible && test.gflops > 0.0);
		}
	}

	/// The attention of the previous engine, row by row with [`dot`] per key: the order of
	/// operations that [`Attention`] must keep.
	fn attention_one_key_at_a_time(
		qkv: &[f32],
		mask: &[f32],
		(batch, tokens, heads, head): (usize, usize, usize, usize),
	) -> Vec<f32> {
		let hidden = heads * head;
		let width = 3 * hidden;
		let scale = 1.0 / (head as f32).sqrt();
		let mut out = vec![0f32; batch * tokens * hidden];
		for (row, out_row) in out.chunks_exact_mut(hidden).enumerate() {
			let (b, i) = (row / tokens, row % tokens);
			let sequence = &qkv[b * tokens * width..(b + 1) * tokens * width];
			let mask = &mask[b * tokens..(b + 1) * tokens];
			let query_row = &sequence[i * width..(i + 1) * width];
			let mut scores = vec![0f32; tokens];
			for h in 0..heads {
				let (q_at, k_at, v_at) = (h * head, hidden + h * head, 2 * hidden + h * head);
				let q = &query_row[q_at..q_at + head];
				let mut max = f32::NEG_INFINITY;
				for ((score, m), key_row) in
					scores.iter_mut().zip(mask).zip(sequence.chunks_exact(width))
				{
					*score = dot(q, &key_row[k_at..k_at + head]) * scale + m;
					max = max.max(*score);
				}
				let mut total = 0f32;
				for score in scores.iter_mut() {
					*score = crate::mathf::exp(*score - max);
					total += *score;
				}
				let inv_total = 1.0 / total;
				for (p, value_row) in scores.iter().zip(sequence.chunks_exact(width)) {
					let p = p * inv_total;
					for (c, v) in out_row[q_at..q_at + head].iter_mut().zip(&value_row[v_at..]) {
						*c += p * v;
					}
				}
			}
		}
		out
	}

	#[test]
	fn attention_keeps_the_order_of_one_key_at_a_time() {
		// Heads of 32 (MiniLM), 12 and 5 (a remainder after 8 lanes), padding, one and three
		// sequences, on 1 and 3 threads (one sequence is then split by query rows).
		for (batch, tokens, heads, head) in
			[(1, 17, 12, 32), (3, 9, 2, 12), (2, 5, 3, 5), (1, 1, 1, 8)]
		{
			let hidden = heads * head;
			let qkv = values(batch * tokens * 3 * hidden, 31 + tokens as u64);
			let mut mask = vec![0f32; batch * tokens];
			if batch > 1 {
				mask[2 * tokens - 1] = f32::MIN;
				mask[2 * tokens - 2] = f32::MIN;
			}
			let expected = attention_one_key_at_a_time(&qkv, &mask, (batch, tokens, heads, head));
			let qkv = Tensor::from_vec(qkv, (batch, tokens, 3 * hidden), &Device::Cpu).unwrap();
			let mask = Tensor::from_vec(mask, (batch, tokens), &Device::Cpu).unwrap();
			for threads in [1, 3] {
				let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
				let out = pool.install(|| {
					qkv.apply_op2_no_bwd(&mask, &Attention { heads })
						.unwrap()
						.flatten_all()
						.unwrap()
						.to_vec1::<f32>()
						.unwrap()
				});
				assert_eq!(
					bits(&out),
					bits(&expected),
					"{batch}×{tokens}, {heads} heads of {head}"
				);
			}
		}
	}

	#[test]
	fn linear_refuses_shapes_that_do_not_fit() {
		assert!(linear(&[1.0; 5], &[1.0; 6], None, 2, 3).is_err());
		assert!(linear(&[1.0; 4], &[1.0; 5], None, 2, 3).is_err());
		assert!(linear(&[1.0; 4], &[1.0; 6], Some(&[0.0; 2]), 2, 3).is_err());
		assert!(linear(&[], &[], None, 0, 3).is_err());
		// No rows: nothing to compute, on every path.
		for path in [KernelPath::Avx512, KernelPath::Avx2Fma, KernelPath::Portable] {
			if path.is_available() {
				assert_eq!(linear_on(path, &[], &[1.0; 6], Some(&[0.0; 3]), 2, 3), Ok(vec![]));
			}
		}
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

		// The linear operation with each activation against candle's matrix product, bias and
		// activations (libm's erff and tanhf, `f32::max`).
		let w = Tensor::randn(0f32, 0.3, (24, 16), &dev).unwrap();
		let weights =
			PackedWeights::new(&w.flatten_all().unwrap().to_vec1().unwrap(), 24, 16).unwrap();
		let b16 = Tensor::randn(0f32, 1.0, 16, &dev).unwrap();
		let b16_values = b16.to_vec1::<f32>().unwrap();
		let product = x.matmul(&w).unwrap().broadcast_add(&b16).unwrap();
		let linear = |activation| {
			let op = Linear { weights: &weights, bias: Some(&b16_values), activation };
			x.apply_op1_no_bwd(&op).unwrap()
		};
		assert!(max_diff(&linear(Activation::Identity), &product) < 1e-5);
		assert!(max_diff(&linear(Activation::Gelu), &product.gelu_erf().unwrap()) < 1e-5);
		assert!(max_diff(&linear(Activation::GeluTanh), &product.gelu().unwrap()) < 1e-5);
		let relu = linear(Activation::Relu);
		assert!(max_diff(&relu, &product.relu().unwrap()) < 1e-5);
		let zeros = relu.flatten_all().unwrap().to_vec1::<f32>().unwrap();
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
