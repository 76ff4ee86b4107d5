//! Native candle inference engine of OPG chain validators.
//!
//! Pure native Rust, no chain code: it knows models through [`opg_model`] (FRAME-free, shared
//! with the runtime) and nothing of FRAME. The node puts it behind the runtime's inference host
//! function (with its metrics and fault injection, in the node's `inference_host` module).
//!
//! # Overview
//!
//! - [`ModelStore`]: files (weights, configurations, tokenizers) named by their blake2-256 hash,
//!   re-hashed on every load so that a tampered or truncated file is never executed, with a
//!   maximum file size.
//! - Architectures of [`opg_model::descriptor::Architecture`]: [`mlp`] (JSON config +
//!   safetensors, `f32` vector in and out) and [`bert`] (BERT encoder + `tokenizers`, mean pooling,
//!   L2 normalisation; UTF-8 text in, embedding out), both built from `candle-nn` /
//!   `candle-transformers`.
//! - [`Engine`]: a fixed pool of [`EngineConfig::threads`] worker threads, bounded input (bytes,
//!   vector length, tokens), a time limit and cancellation ([`CancelToken`]), panics contained as
//!   [`EngineError::Panicked`], and a cache of loaded models bounded by bytes (least recently
//!   used evicted first).
//!
//! The canonical form and digest of an output under a comparison rule are **not** here: they are
//! [`opg_model::comparison::ComparisonRule`]'s `canonicalise` and `digest`, shared with the
//! runtime.
//!
//! # Determinism
//!
//! A model runs on the [`EngineProfile`] its registration names, and the engine runs no profile
//! it does not implement ([`PROFILES`]; [`EngineError::UnsupportedProfile`] otherwise). The one
//! profile so far, [`EngineProfile::REPRODUCIBLE_F32`], fixes every bit: every matrix product is
//! the engine's own [`kernels::linear`], each output element one chain of fused multiply-adds in
//! a fixed order, so it depends on its input row alone (not on the batch, the thread count, the
//! SIMD width or the cache sizes), and the FMA instruction and the portable fallback give the
//! same bits; attention, softmax, layer norm and pooling reduce in orders fixed by the code; and
//! `exp`, `tanh`, `erf` and the activations are the engine's own ([`mathf`]), not the platform's
//! libm. [`Engine::run_batch`] therefore gives every input the bits [`Engine::run`] gives it
//! alone, and `tests/cross_cpu.rs` checks the bits across CPUs. Registrations compare such
//! models `Exact` (see the README).
//!
//! ```no_run
//! use opg_inference::{Engine, EngineConfig, EngineProfile, ModelDescriptor};
//! use opg_model::{
//!     comparison::ComparisonRule,
//!     descriptor::{Architecture, ModelFormat},
//! };
//! # fn main() -> Result<(), opg_inference::EngineError> {
//! let engine = Engine::new(EngineConfig::new("/var/lib/opg/models"))?;
//! let weights_hash = engine.import("model.safetensors".as_ref())?;
//! let config_hash = engine.import("config.json".as_ref())?;
//! let descriptor = ModelDescriptor {
//!     weights_hash,
//!     format: ModelFormat::Safetensors,
//!     architecture: Architecture::Mlp { config_hash },
//!     profile: EngineProfile::REPRODUCIBLE_F32,
//! };
//! let input: Vec<u8> = [0.0f32; 64].iter().flat_map(|v| v.to_le_bytes()).collect();
//! let output = engine.run(&descriptor, &input)?;
//! let digest = ComparisonRule::Argmax.digest(&output);
//! # let _ = digest; Ok(()) }
//! ```

pub mod bert;
pub mod cli;
pub mod demo;
mod encoder;
mod engine;
mod error;
pub mod kernels;
pub mod llm;
pub mod mathf;
pub mod mlp;
pub mod perf;
pub mod quant;
pub mod store;

pub use engine::{
	implements, CancelToken, Engine, EngineConfig, EngineInfo, LoadedModel, CANDLE_VERSION,
	NUMERICS, PROFILES,
};
pub use error::{EngineError, Result};
pub use opg_model::descriptor::{EngineProfile, ModelDescriptor};
pub use store::{hash_bytes, hash_hex, parse_hash, ModelStore};
