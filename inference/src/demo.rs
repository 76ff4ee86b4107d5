//! The demo model: an MLP digit classifier (64 → 32 ReLU → 10, softmax) trained on
//! scikit-learn's bundled `load_digits` data set, committed under `models/demo-mlp/`.
//!
//! `data/digits.bin` (exported by `scripts/export-digits.py`) holds one 65-byte record per
//! sample: 64 pixel values in `0..=16` (an 8×8 image, row by row), then the label. The model's
//! input is the 64 pixels divided by 16, as little-endian `f32`. Samples whose index is a
//! multiple of 5 are held out (never trained on) for the accuracy test.
//! `cargo run -p opg-inference --example train_demo --release` retrains it.

use std::path::{Path, PathBuf};

/// Pixels per image.
pub const PIXELS: usize = 64;
/// Number of classes.
pub const CLASSES: usize = 10;

/// One sample: the model's input (pixels / 16) and its label.
#[derive(Clone, Debug)]
pub struct Sample {
	/// 64 values in `[0, 1]`.
	pub input: Vec<f32>,
	/// The digit, `0..=9`.
	pub label: u8,
}

/// Directory of the committed demo model (`config.json`, `model.safetensors`).
pub fn model_dir() -> PathBuf {
	Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join("demo-mlp")
}

/// Path of the committed data set.
pub fn data_path() -> PathBuf {
	Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("digits.bin")
}

/// Whether sample `index` belongs to the held-out test split.
pub fn is_held_out(index: usize) -> bool {
	index.is_multiple_of(5)
}

/// Parses `digits.bin`; records that are incomplete or hold out-of-range values are skipped.
pub fn parse_digits(bytes: &[u8]) -> Vec<Sample> {
	bytes
		.chunks_exact(PIXELS.saturating_add(1))
		.filter_map(|record| {
			let (pixels, label) = record.split_at(PIXELS);
			let label = *label.first()?;
			let valid = usize::from(label) < CLASSES && pixels.iter().all(|&p| p <= 16);
			valid.then(|| Sample {
				input: pixels.iter().map(|&p| f32::from(p) / 16.0).collect(),
				label,
			})
		})
		.collect()
}

/// Encodes an `f32` vector as the engine's little-endian input bytes.
pub fn encode_f32(values: &[f32]) -> Vec<u8> {
	values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
