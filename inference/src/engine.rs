//! The engine: model store, bounded cache of loaded models and bounded execution.

use crate::{
	bert::BertEmbedder,
	error::{EngineError, Result},
	llm::CausalLm,
	mlp::{Mlp, MlpConfig},
	store::ModelStore,
};
use codec::Encode;
use opg_model::{
	descriptor::{Architecture, EngineProfile, ModelDescriptor, ModelFormat},
	H256,
};
use std::{
	collections::HashMap,
	panic::{catch_unwind, AssertUnwindSafe},
	path::{Path, PathBuf},
	sync::{
		atomic::{AtomicBool, Ordering},
		mpsc, Arc, Mutex,
	},
	time::{Duration, Instant},
};

/// Version of `candle-core` the engine is built with (kept equal to the workspace manifest's
/// `candle-core` version; a test checks it against `Cargo.lock`).
pub const CANDLE_VERSION: &str = "0.11.1";

/// Most tokens of a text input (further capped by the model's position embeddings): 256, the
/// sequence length all-MiniLM-L6-v2 was trained with. A constant, not a node setting, because a
/// text over it is a [`Rejection::TooManyTokens`](opg_model::task::Rejection) that
/// every executor must reach alike.
pub const MAX_TEXT_TOKENS: usize = 256;

/// Most multiples of the per-inference time limit a batch gets, however many inputs it holds
/// (the validator's worker sends at most 32).
pub const MAX_BATCH_TIMEOUTS: u32 = 32;

/// How often a waiting caller checks its cancellation token.
const CANCEL_POLL: Duration = Duration::from_millis(10);

/// The engine's settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
	/// Directory of the model store (the node uses `<base-path>/models`).
	pub model_dir: PathBuf,
	/// Worker threads every inference runs on (fixed, so that runs are reproducible).
	pub threads: usize,
	/// Largest file (weights, config, tokenizer) imported or loaded, in bytes.
	pub max_model_bytes: u64,
	/// Memory budget of the loaded-model cache, in bytes (sum of the models' file sizes).
	pub cache_bytes: u64,
	/// Time limit of one inference (loading excluded).
	pub timeout: Duration,
	/// Largest input, in bytes.
	pub max_input_bytes: usize,
}

impl EngineConfig {
	/// Defaults for a validator: 1 thread, 1 GiB models, 2 GiB cache, 10 s, 64 KiB inputs.
	pub fn new(model_dir: impl Into<PathBuf>) -> Self {
		Self {
			model_dir: model_dir.into(),
			threads: 1,
			max_model_bytes: 1 << 30,
			cache_bytes: 2 << 30,
			timeout: Duration::from_secs(10),
			max_input_bytes: 64 << 10,
		}
	}
}

/// The numerics of this engine's kernels: which operations, in which order. Engines with
/// different numerics may produce raw outputs that differ in their last bits (engines before
/// `fixed-order-fma-1` ran candle's `gemm`, whose order depends on the matrix shape and CPU;
/// those before `fixed-order-fma-2` took `exp` and `tanh` from the platform's libm, see
/// [`crate::mathf`]).
pub const NUMERICS: &str = "fixed-order-fma-2";

/// Identity of the engine, for the node to publish: executors whose `candle_version`, `dtype`
/// or `numerics` differ may legitimately produce raw outputs that differ in their last bits.
/// The thread count changes no bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
	/// `candle-core` version.
	pub candle_version: &'static str,
	/// Element type computations run in.
	pub dtype: &'static str,
	/// The kernels' numerics ([`NUMERICS`]).
	pub numerics: &'static str,
	/// Worker threads per inference.
	pub threads: usize,
}

/// The engine profiles this engine implements: it runs a model on no other, so that it never
/// computes bits other than the ones its profile defines.
pub const PROFILES: &[EngineProfile] = &[EngineProfile::REPRODUCIBLE_F32];

/// Whether this engine implements `profile`.
pub fn implements(profile: &EngineProfile) -> bool {
	PROFILES.contains(profile)
}

/// A flag with which a caller cancels an inference it is waiting for.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
	/// A token not yet cancelled.
	pub fn new() -> Self {
		Self::default()
	}

	/// Cancels: the waiting `run_with_cancel` returns [`EngineError::Cancelled`].
	pub fn cancel(&self) {
		self.0.store(true, Ordering::SeqCst);
	}

	/// Whether [`Self::cancel`] was called.
	pub fn is_cancelled(&self) -> bool {
		self.0.load(Ordering::SeqCst)
	}
}

/// A model ready to run.
pub enum LoadedModel {
	/// An MLP.
	Mlp(Mlp),
	/// A BERT sentence embedder.
	Bert(Box<BertEmbedder>),
	/// A causal language model.
	Llm(Box<CausalLm>),
}

impl LoadedModel {
	/// Runs one raw input of a model whose output is a vector of values.
	pub fn run(&self, input: &[u8]) -> Result<Vec<f32>> {
		match self {
			Self::Mlp(mlp) => mlp.run(&mlp.decode_input(input)?),
			Self::Bert(bert) => bert.embed(utf8(input)?),
			Self::Llm(_) => Err(EngineError::InvalidInput(
				"a language model generates text: run_output gives its generation".into(),
			)),
		}
	}

	/// Runs one raw input and returns what an executor reveals: the values as little-endian
	/// `f32`, or a language model's SCALE-encoded
	/// [`Generation`](opg_model::generation::Generation) (drawn with `seed` if it samples;
	/// stopped with [`EngineError::Timeout`] when `stop` is set).
	pub fn run_output(&self, input: &[u8], seed: &[u8; 32], stop: &AtomicBool) -> Result<Vec<u8>> {
		match self {
			Self::Llm(llm) => Ok(llm.generate(input, seed, stop)?.encode()),
			_ => Ok(opg_model::task::encode_output(&self.run(input)?)),
		}
	}

	/// Runs several raw inputs in one forward pass. An input the model rejects (or that does
	/// not decode) gets its own error without affecting the others; the outer error is one of
	/// the whole pass. Each output is bit-identical to [`Self::run`]'s for that input alone.
	pub fn run_batch(&self, inputs: &[Vec<u8>]) -> Result<Vec<Result<Vec<f32>>>> {
		match self {
			Self::Mlp(mlp) => {
				let decoded: Vec<_> = inputs.iter().map(|input| mlp.decode_input(input)).collect();
				let valid: Vec<Vec<f32>> =
					decoded.iter().filter_map(|d| d.as_ref().ok().cloned()).collect();
				let outputs = mlp.run_batch(&valid)?;
				Ok(merge(decoded, outputs))
			},
			Self::Bert(bert) => {
				let tokenized: Vec<_> = inputs
					.iter()
					.map(|input| utf8(input).and_then(|text| bert.tokenize(text)))
					.collect();
				let valid: Vec<Vec<u32>> =
					tokenized.iter().filter_map(|t| t.as_ref().ok().cloned()).collect();
				let outputs = bert.embed_ids_batch(&valid)?;
				Ok(merge(tokenized, outputs))
			},
			Self::Llm(_) => Ok(inputs.iter().map(|input| self.run(input)).collect()),
		}
	}
}

/// `input` as text, or the [`Rejection::NotUtf8`](opg_model::task::Rejection) every
/// engine reaches for it.
fn utf8(input: &[u8]) -> Result<&str> {
	std::str::from_utf8(input).map_err(|e| EngineError::Rejected {
		rejection: opg_model::task::Rejection::NotUtf8,
		detail: format!("text is not UTF-8: {e}"),
	})
}

/// The per-input results: each prepared input's error, else the next of `outputs` (computed for
/// the prepared inputs, in order).
fn merge<P>(prepared: Vec<Result<P>>, outputs: Vec<Vec<f32>>) -> Vec<Result<Vec<f32>>> {
	let mut outputs = outputs.into_iter();
	prepared
		.into_iter()
		.map(|p| {
			p.and_then(|_| {
				outputs
					.next()
					.ok_or_else(|| EngineError::Worker("a batch output is missing".into()))
			})
		})
		.collect()
}

/// The files a model is built from: the weights, then the architecture's other files.
fn files(descriptor: &ModelDescriptor) -> Vec<H256> {
	match descriptor.architecture {
		Architecture::Mlp { config_hash } => vec![descriptor.weights_hash, config_hash],
		Architecture::BertEmbedding { config_hash, tokenizer_hash } => {
			vec![descriptor.weights_hash, config_hash, tokenizer_hash]
		},
		// The GGUF file holds the configuration, the tokenizer and the chat template too.
		Architecture::CausalLm { .. } => vec![descriptor.weights_hash],
	}
}

struct CacheEntry {
	model: Arc<LoadedModel>,
	bytes: u64,
	last_used: u64,
}

/// Loaded models, least recently used evicted first, bounded by the sum of their sizes.
struct ModelCache {
	capacity: u64,
	used: u64,
	clock: u64,
	entries: HashMap<ModelDescriptor, CacheEntry>,
}

impl ModelCache {
	fn get(&mut self, key: &ModelDescriptor) -> Option<Arc<LoadedModel>> {
		self.clock = self.clock.saturating_add(1);
		let clock = self.clock;
		self.entries.get_mut(key).map(|entry| {
			entry.last_used = clock;
			entry.model.clone()
		})
	}

	fn insert(&mut self, key: ModelDescriptor, model: Arc<LoadedModel>, bytes: u64) {
		if bytes > self.capacity || self.entries.contains_key(&key) {
			// Larger than the whole cache: used once, not kept.
			return;
		}
		while self.used.saturating_add(bytes) > self.capacity {
			let Some(oldest) =
				self.entries.iter().min_by_key(|(_, entry)| entry.last_used).map(|(key, _)| *key)
			else {
				break;
			};
			if let Some(evicted) = self.entries.remove(&oldest) {
				self.used = self.used.saturating_sub(evicted.bytes);
			}
		}
		self.clock = self.clock.saturating_add(1);
		self.used = self.used.saturating_add(bytes);
		self.entries.insert(key, CacheEntry { model, bytes, last_used: self.clock });
	}
}

/// The inference engine a validator runs.
pub struct Engine {
	config: EngineConfig,
	store: ModelStore,
	pool: rayon::ThreadPool,
	cache: Mutex<ModelCache>,
}

impl Engine {
	/// Opens the store (creating its directory) and starts `config.threads` worker threads.
	pub fn new(config: EngineConfig) -> Result<Self> {
		let store = ModelStore::open(&config.model_dir, config.max_model_bytes)?;
		let threads = config.threads.max(1);
		let pool = rayon::ThreadPoolBuilder::new()
			.num_threads(threads)
			.thread_name(|i| format!("opg-inference-{i}"))
			.build()
			.map_err(|e| EngineError::Worker(e.to_string()))?;
		let cache = Mutex::new(ModelCache {
			capacity: config.cache_bytes,
			used: 0,
			clock: 0,
			entries: HashMap::new(),
		});
		Ok(Self { config: EngineConfig { threads, ..config }, store, pool, cache })
	}

	/// The engine's identity.
	pub fn info(&self) -> EngineInfo {
		EngineInfo {
			candle_version: CANDLE_VERSION,
			dtype: "f32",
			numerics: NUMERICS,
			threads: self.config.threads,
		}
	}

	/// [`crate::kernels::self_test`] on the engine's threads: whether this CPU computes the
	/// engine's known answer, and how fast.
	pub fn self_test(&self) -> crate::kernels::SelfTest {
		self.pool.install(crate::kernels::self_test)
	}

	/// The configuration in force.
	pub fn config(&self) -> &EngineConfig {
		&self.config
	}

	/// The model store.
	pub fn store(&self) -> &ModelStore {
		&self.store
	}

	/// Copies a file (weights, configuration or tokenizer) into the store; returns its hash.
	pub fn import(&self, path: &Path) -> Result<H256> {
		self.store.import(path)
	}

	/// Whether every file the descriptor names is in the store (contents are checked on load).
	pub fn has_files(&self, descriptor: &ModelDescriptor) -> bool {
		files(descriptor).iter().all(|hash| self.store.contains(hash))
	}

	/// The loaded model of `descriptor`, from the cache or loaded (hash-checked) from the store.
	pub fn load(&self, descriptor: &ModelDescriptor) -> Result<Arc<LoadedModel>> {
		// Before the cache (which is keyed by the whole descriptor, so it cannot mix them up
		// anyway): a profile or format this engine does not implement is never run.
		if !implements(&descriptor.profile) {
			return Err(EngineError::UnsupportedProfile(descriptor.profile));
		}
		let causal = matches!(descriptor.architecture, Architecture::CausalLm { .. });
		match descriptor.format {
			ModelFormat::Safetensors if !causal => {},
			ModelFormat::Gguf if causal => {},
			ModelFormat::Onnx => return Err(EngineError::UnsupportedFormat("Onnx")),
			ModelFormat::Safetensors => {
				return Err(EngineError::UnsupportedFormat("a language model in safetensors"))
			},
			ModelFormat::Gguf => {
				return Err(EngineError::UnsupportedFormat("Gguf other than a language model"))
			},
		}
		if let Some(model) = self.lock_cache().get(descriptor) {
			return Ok(model);
		}
		let weights = self.store.load(&descriptor.weights_hash)?;
		let mut bytes = u64::try_from(weights.len()).unwrap_or(u64::MAX);
		let mut load = |hash: H256| -> Result<Vec<u8>> {
			let file = self.store.load(&hash)?;
			bytes = bytes.saturating_add(u64::try_from(file.len()).unwrap_or(u64::MAX));
			Ok(file)
		};
		// One arm per architecture. Parsing untrusted files: a panic in a parser must not
		// escape either.
		let model = match descriptor.architecture {
			Architecture::Mlp { config_hash } => {
				let config = load(config_hash)?;
				contain_panic(move || {
					Ok(LoadedModel::Mlp(Mlp::load(MlpConfig::from_json(&config)?, weights)?))
				})?
			},
			Architecture::BertEmbedding { config_hash, tokenizer_hash } => {
				let (config, tokenizer) = (load(config_hash)?, load(tokenizer_hash)?);
				contain_panic(move || {
					Ok(LoadedModel::Bert(Box::new(BertEmbedder::load(
						&config,
						&tokenizer,
						weights,
						MAX_TEXT_TOKENS,
					)?)))
				})?
			},
			Architecture::CausalLm { generation } => contain_panic(move || {
				Ok(LoadedModel::Llm(Box::new(CausalLm::load(&weights, generation)?)))
			})?,
		};
		let model = Arc::new(model);
		self.lock_cache().insert(*descriptor, model.clone(), bytes);
		Ok(model)
	}

	/// Runs `descriptor` on `input` (little-endian `f32` for an MLP, UTF-8 text for a BERT
	/// embedder) on the engine's threads, within the configured bounds.
	pub fn run(&self, descriptor: &ModelDescriptor, input: &[u8]) -> Result<Vec<f32>> {
		self.run_with_cancel(descriptor, input, &CancelToken::new())
	}

	/// [`Self::run`], returning [`EngineError::Cancelled`] as soon as `cancel` is cancelled.
	pub fn run_with_cancel(
		&self,
		descriptor: &ModelDescriptor,
		input: &[u8],
		cancel: &CancelToken,
	) -> Result<Vec<f32>> {
		if input.len() > self.config.max_input_bytes {
			return Err(EngineError::InputTooLarge {
				what: "bytes",
				size: input.len(),
				max: self.config.max_input_bytes,
			});
		}
		let model = self.load(descriptor)?;
		let input = input.to_vec();
		self.execute(cancel, move || model.run(&input))
	}

	/// Runs `input` and returns what an executor reveals ([`LoadedModel::run_output`]): the
	/// values as little-endian `f32`, or a language model's encoded generation, drawn with
	/// `seed` if the model samples. A generation's time limit is the configured one per 32
	/// tokens it may generate and per 512 tokens of prompt it may take (at least one); when it
	/// runs out, or on cancellation, the generation stops at its next prompt chunk or token.
	pub fn run_output(
		&self,
		descriptor: &ModelDescriptor,
		input: &[u8],
		seed: [u8; 32],
		cancel: &CancelToken,
	) -> Result<Vec<u8>> {
		if input.len() > self.config.max_input_bytes {
			return Err(EngineError::InputTooLarge {
				what: "bytes",
				size: input.len(),
				max: self.config.max_input_bytes,
			});
		}
		let model = self.load(descriptor)?;
		let limit = match descriptor.architecture {
			Architecture::CausalLm { generation } => {
				let parts = generation
					.max_new_tokens
					.div_ceil(32)
					.saturating_add(generation.max_prompt_tokens.div_ceil(512));
				self.config.timeout.saturating_mul(parts.max(1))
			},
			_ => self.config.timeout,
		};
		let input = input.to_vec();
		let stop = Arc::new(AtomicBool::new(false));
		let flag = stop.clone();
		let result =
			self.execute_within(cancel, limit, move || model.run_output(&input, &seed, &flag));
		if matches!(result, Err(EngineError::Timeout | EngineError::Cancelled)) {
			stop.store(true, Ordering::Relaxed);
		}
		result
	}

	/// Runs `descriptor` on several inputs in one forward pass (tasks of one model due
	/// together), on the engine's threads, with the bounds of [`Self::run`] applied to each
	/// input and a time limit of `timeout` per input for the pass (at most
	/// [`MAX_BATCH_TIMEOUTS`] times `timeout`).
	///
	/// Returns one result per input, in order: an input over `max_input_bytes` or rejected by
	/// the model fails alone, and each output is bit-identical to [`Self::run`]'s for that
	/// input. The outer error (the model does not load, the pass times out, panics or is
	/// cancelled) is the whole batch's.
	pub fn run_batch(
		&self,
		descriptor: &ModelDescriptor,
		inputs: Vec<Vec<u8>>,
		cancel: &CancelToken,
	) -> Result<Vec<Result<Vec<f32>>>> {
		let max = self.config.max_input_bytes;
		let checked: Vec<Result<()>> = inputs
			.iter()
			.map(|input| {
				if input.len() > max {
					Err(EngineError::InputTooLarge { what: "bytes", size: input.len(), max })
				} else {
					Ok(())
				}
			})
			.collect();
		let accepted: Vec<Vec<u8>> = inputs
			.into_iter()
			.zip(&checked)
			.filter(|(_, check)| check.is_ok())
			.map(|(input, _)| input)
			.collect();
		if accepted.is_empty() {
			return Ok(checked.into_iter().map(|c| c.map(|()| Vec::new())).collect());
		}
		let model = self.load(descriptor)?;
		let count = u32::try_from(accepted.len()).unwrap_or(u32::MAX).min(MAX_BATCH_TIMEOUTS);
		let limit = self.config.timeout.saturating_mul(count);
		let mut outputs =
			self.execute_within(cancel, limit, move || model.run_batch(&accepted))?.into_iter();
		Ok(checked
			.into_iter()
			.map(|check| {
				check.and_then(|()| {
					outputs.next().unwrap_or_else(|| {
						Err(EngineError::Worker("a batch output is missing".into()))
					})
				})
			})
			.collect())
	}

	/// Runs `job` on the engine's worker threads with the time limit, cancellation and panic
	/// containment of [`Self::run`].
	///
	/// A job that overruns or is cancelled cannot be stopped (Rust threads cannot be killed): its
	/// caller gets the error at once, the job finishes in the background and its result is
	/// dropped; later jobs queue behind it on the fixed pool, their wait counting against their
	/// own time limit.
	pub fn execute<T, F>(&self, cancel: &CancelToken, job: F) -> Result<T>
	where
		T: Send + 'static,
		F: FnOnce() -> Result<T> + Send + 'static,
	{
		self.execute_within(cancel, self.config.timeout, job)
	}

	/// [`Self::execute`] with the time limit `limit`.
	fn execute_within<T, F>(&self, cancel: &CancelToken, limit: Duration, job: F) -> Result<T>
	where
		T: Send + 'static,
		F: FnOnce() -> Result<T> + Send + 'static,
	{
		let (sender, receiver) = mpsc::sync_channel(1);
		// Every operation inside `job` (the engine's kernels included) runs on this pool's
		// threads.
		self.pool.spawn(move || {
			// The caller may have given up: nobody to tell then.
			let _ = sender.send(contain_panic(job));
		});
		let start = Instant::now();
		loop {
			if cancel.is_cancelled() {
				return Err(EngineError::Cancelled);
			}
			let remaining = limit.saturating_sub(start.elapsed());
			if remaining.is_zero() {
				return Err(EngineError::Timeout);
			}
			match receiver.recv_timeout(remaining.min(CANCEL_POLL)) {
				Ok(result) => return result,
				Err(mpsc::RecvTimeoutError::Timeout) => continue,
				Err(mpsc::RecvTimeoutError::Disconnected) => {
					return Err(EngineError::Worker("worker dropped the job".into()))
				},
			}
		}
	}

	fn lock_cache(&self) -> std::sync::MutexGuard<'_, ModelCache> {
		// The cache holds no invariant a panicking holder could break half-way (every method
		// updates `used` together with `entries`), so a poisoned lock is still usable.
		self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
	}

	/// Whether the model of `descriptor` is in the loaded-model cache.
	pub fn is_cached(&self, descriptor: &ModelDescriptor) -> bool {
		self.lock_cache().entries.contains_key(descriptor)
	}

	/// Number of models in the cache and their total bytes.
	pub fn cache_usage(&self) -> (usize, u64) {
		let cache = self.lock_cache();
		(cache.entries.len(), cache.used)
	}
}

/// Runs `job`, turning a panic into [`EngineError::Panicked`].
fn contain_panic<T>(job: impl FnOnce() -> Result<T>) -> Result<T> {
	catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|payload| {
		let message = payload
			.downcast_ref::<&str>()
			.map(|s| (*s).to_owned())
			.or_else(|| payload.downcast_ref::<String>().cloned())
			.unwrap_or_else(|| "non-string panic payload".into());
		Err(EngineError::Panicked(message))
	})
}
