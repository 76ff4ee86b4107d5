//! The engine's typed errors.

use opg_model::H256;

/// Why an engine operation failed. No variant is ever produced by a panic escaping the engine: a
/// panicking model is reported as [`EngineError::Panicked`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
	/// Reading or writing the model store failed.
	#[error("model store I/O error on {path}: {source}")]
	Io {
		/// The file or directory concerned.
		path: std::path::PathBuf,
		/// The underlying error.
		source: std::io::Error,
	},
	/// No file with this hash in the model store (import it first).
	#[error("model file {0:?} is not in the model store")]
	MissingFile(H256),
	/// The stored file's content does not hash to its name: tampered or truncated; never executed.
	#[error("model file {expected:?} is corrupt: its content hashes to {actual:?}")]
	HashMismatch {
		/// The hash the file is stored (and registered) under.
		expected: H256,
		/// The blake2-256 of its current content.
		actual: H256,
	},
	/// A model file is larger than the configured maximum.
	#[error("model file is {size} bytes, above the maximum of {max}")]
	ModelTooLarge {
		/// Size of the file.
		size: u64,
		/// Configured maximum (`EngineConfig::max_model_bytes`).
		max: u64,
	},
	/// The model's engine profile is not one this engine implements ([`crate::PROFILES`]).
	#[error("engine profile {0:?} is not implemented by this engine")]
	UnsupportedProfile(opg_model::descriptor::EngineProfile),
	/// The model's format is not executed by this engine (only `Safetensors` is).
	#[error("model format {0} is not supported")]
	UnsupportedFormat(&'static str),
	/// A configuration file (MLP config, BERT config, tokenizer) is invalid.
	#[error("invalid model configuration: {0}")]
	InvalidConfig(String),
	/// The weights do not fit the architecture (missing tensor, wrong shape, bad safetensors).
	#[error("invalid model weights: {0}")]
	InvalidWeights(String),
	/// The caller's input is unusable (a command-line argument that does not parse).
	#[error("invalid input: {0}")]
	InvalidInput(String),
	/// The model refuses the input for a reason its files and the input alone decide (wrong
	/// length for an MLP, text that is not UTF-8, untokenisable or over the token limit): every
	/// engine reaches the same rejection, which executors commit to as their result.
	#[error("input rejected ({rejection:?}): {detail}")]
	Rejected {
		/// The rejection executors commit to.
		rejection: opg_model::task::Rejection,
		/// What was wrong, for logs.
		detail: String,
	},
	/// The input exceeds a bound of this node's configuration (bytes).
	#[error("input too large: {size} above the maximum of {max} ({what})")]
	InputTooLarge {
		/// Which bound: "bytes", "tokens", ...
		what: &'static str,
		/// The input's size in that unit.
		size: usize,
		/// The bound.
		max: usize,
	},
	/// The inference did not finish within the configured timeout.
	#[error("inference exceeded its time limit")]
	Timeout,
	/// The caller cancelled the inference.
	#[error("inference cancelled")]
	Cancelled,
	/// The model panicked; the panic was contained.
	#[error("model panicked: {0}")]
	Panicked(String),
	/// A tensor operation failed.
	#[error("tensor error: {0}")]
	Tensor(String),
	/// The engine's worker pool could not be built or has gone away.
	#[error("engine worker error: {0}")]
	Worker(String),
}

impl From<candle_core::Error> for EngineError {
	fn from(error: candle_core::Error) -> Self {
		Self::Tensor(error.to_string())
	}
}

/// Result of engine operations.
pub type Result<T, E = EngineError> = core::result::Result<T, E>;
