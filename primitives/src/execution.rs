//! Off-chain execution: the inference host function and the executors' key type.
//!
//! A validator's off-chain worker (in `pallet-inference`, compiled to wasm) cannot run a neural
//! network itself: it asks the node through the [`opg_inference`] runtime interface, whose native
//! side reaches the node's inference engine through an [`InferenceExt`] externalities extension.
//! The node registers that extension for off-chain workers only, so the host function is
//! reachable there and nowhere else: called during block import, in a runtime API call or in a
//! test without the extension, it returns [`InferenceError::Unavailable`] instead of running
//! anything (block execution must never depend on a node's local model files).
//!
//! Executors sign their commits and reveals with a dedicated inference key ([`crypto`], key type
//! [`KEY_TYPE`] = `opgi`) that the validator links to its account on-chain, so the validator's
//! stash key never has to be online.

use crate::models::{ModelDescriptor, ModelFormat};
use alloc::vec::Vec;
use codec::{Decode, DecodeAll, DecodeWithMemTracking, Encode};
use scale_info::TypeInfo;
use sp_core::{crypto::KeyTypeId, H256};
use sp_runtime_interface::pass_by::{
	AllocateAndReturnByCodec, PassFatPointerAndDecode, PassFatPointerAndRead,
};

/// Key type of executors' inference keys (`opg-node key insert --key-type opgi`).
pub const KEY_TYPE: KeyTypeId = KeyTypeId(*b"opgi");

/// The executors' application crypto: sr25519 keys of type [`KEY_TYPE`].
pub mod crypto {
	use super::KEY_TYPE;
	use sp_application_crypto::{app_crypto, sr25519};
	app_crypto!(sr25519, KEY_TYPE);
}

/// What the off-chain worker asks the node to run: the registered model (its files by hash, its
/// architecture and engine profile) and the task's input.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct InferenceRequest {
	/// What to run.
	pub model: ModelDescriptor,
	/// The task's input (little-endian `f32` values or UTF-8 text, per the model).
	pub input: Vec<u8>,
	/// The task's seed: what a sampling language model draws its tokens from (zero for a
	/// request of a runtime from before seeds, and unused by other models).
	pub seed: [u8; 32],
}

/// What the off-chain worker asks the node to run in one engine pass: several inputs of one
/// model (its tasks due in the same block).
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct BatchRequest {
	/// What to run.
	pub model: ModelDescriptor,
	/// The tasks' inputs, in order.
	pub inputs: Vec<Vec<u8>>,
	/// The tasks' seeds, in the same order (see [`InferenceRequest::seed`]); a missing one is
	/// zero.
	pub seeds: Vec<[u8; 32]>,
}

impl BatchRequest {
	/// The request for the input at `index` alone.
	pub fn single(&self, index: usize) -> Option<InferenceRequest> {
		Some(InferenceRequest {
			model: self.model,
			input: self.inputs.get(index)?.clone(),
			seed: self.seeds.get(index).copied().unwrap_or_default(),
		})
	}
}

/// The requests of runtimes from before engine profiles (`spec_version` ≤ 109), which the first
/// versions of the host functions take. Their models were registered for the engine's kernels of
/// that time, [`EngineProfile::REPRODUCIBLE_F32`](crate::models::EngineProfile::REPRODUCIBLE_F32).
pub mod v1 {
	use super::*;
	use crate::models::{Architecture, EngineProfile};

	/// `InferenceRequest` without a profile.
	#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
	pub struct InferenceRequest {
		/// blake2-256 of the weights file.
		pub weights_hash: H256,
		/// Format of the weights file.
		pub format: ModelFormat,
		/// Architecture, naming its configuration (and tokenizer) files by hash.
		pub architecture: Architecture,
		/// The task's input.
		pub input: Vec<u8>,
	}

	/// `BatchRequest` without a profile.
	#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
	pub struct BatchRequest {
		/// blake2-256 of the weights file.
		pub weights_hash: H256,
		/// Format of the weights file.
		pub format: ModelFormat,
		/// Architecture, naming its configuration (and tokenizer) files by hash.
		pub architecture: Architecture,
		/// The tasks' inputs, in order.
		pub inputs: Vec<Vec<u8>>,
	}

	fn model(
		weights_hash: H256,
		format: ModelFormat,
		architecture: Architecture,
	) -> ModelDescriptor {
		ModelDescriptor {
			weights_hash,
			format,
			architecture,
			profile: EngineProfile::REPRODUCIBLE_F32,
		}
	}

	impl From<InferenceRequest> for super::InferenceRequest {
		fn from(old: InferenceRequest) -> Self {
			Self {
				model: model(old.weights_hash, old.format, old.architecture),
				input: old.input,
				seed: [0; 32],
			}
		}
	}

	impl From<BatchRequest> for super::BatchRequest {
		fn from(old: BatchRequest) -> Self {
			Self {
				model: model(old.weights_hash, old.format, old.architecture),
				inputs: old.inputs,
				seeds: Vec::new(),
			}
		}
	}
}

/// Why the node did not produce an output.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub enum InferenceError {
	/// No inference engine here: the host function was called outside a validator's off-chain
	/// worker (block import, runtime API, a node without the engine).
	#[codec(index = 0)]
	Unavailable,
	/// A file of the model is not in the node's model store (`opg-node models import` it).
	#[codec(index = 1)]
	MissingModel,
	/// A file of the model no longer hashes to its name (tampered or truncated); not executed.
	#[codec(index = 2)]
	CorruptModel,
	/// The model's format, architecture or engine profile is not implemented by this node.
	#[codec(index = 3)]
	Unsupported,
	/// The model's files are invalid for its architecture (configuration, weights, tokenizer).
	#[codec(index = 4)]
	InvalidModel,
	/// The input exceeds a bound of this node (its input size limit); not a property of the
	/// model, so the executor does not commit to it. Deterministic refusals are
	/// [`InferenceError::Rejected`].
	#[codec(index = 5)]
	InvalidInput,
	/// The inference did not finish within the node's time limit.
	#[codec(index = 6)]
	Timeout,
	/// The engine failed otherwise (a contained panic, a worker error).
	#[codec(index = 7)]
	Failed,
	/// The model refuses the input, for a reason its files and the input alone decide: every
	/// honest executor reaches the same rejection, and commits to it as its result.
	#[codec(index = 8)]
	Rejected(crate::inference::Rejection),
}

/// What the node implements natively to run an inference for the off-chain worker.
#[cfg(feature = "std")]
pub trait InferenceHost: Send + Sync {
	/// Runs `request`; the output is the raw `f32` values, little-endian (what executors reveal).
	fn run(&self, request: &InferenceRequest) -> Result<Vec<u8>, InferenceError>;

	/// Runs every input of `request`, one result per input in order, each the result [`run`]
	/// gives for that input alone (bit for bit: an engine that batches must not change any
	/// output). The default runs them one by one.
	///
	/// [`run`]: InferenceHost::run
	fn run_batch(&self, request: &BatchRequest) -> Vec<Result<Vec<u8>, InferenceError>> {
		(0..request.inputs.len())
			.map(|i| {
				request.single(i).map_or(Err(InferenceError::Failed), |single| self.run(&single))
			})
			.collect()
	}
}

#[cfg(feature = "std")]
sp_externalities::decl_extension! {
	/// The node's inference engine, registered by the node for off-chain workers.
	pub struct InferenceExt(std::sync::Arc<dyn InferenceHost>);
}

#[cfg(feature = "std")]
impl InferenceExt {
	/// Wraps `host` for registration with the off-chain workers' externalities.
	pub fn new(host: std::sync::Arc<dyn InferenceHost>) -> Self {
		Self(host)
	}
}

/// The inference host functions (`ext_opg_inference_run_version_2` and
/// `ext_opg_inference_run_batch_version_2` in wasm; the first versions serve runtimes from
/// before engine profiles, see [`v1`]).
///
/// The generated wasm side calls the host through an `extern` import, hence the `unsafe` the
/// rest of the workspace denies.
#[allow(unsafe_code)]
#[sp_runtime_interface::runtime_interface]
pub trait OpgInference {
	/// [`run`](opg_inference::run) of a runtime from before engine profiles.
	fn run(
		&mut self,
		request: PassFatPointerAndDecode<v1::InferenceRequest>,
	) -> AllocateAndReturnByCodec<Result<Vec<u8>, InferenceError>> {
		run_on_host(engine!(self), &request.into())
	}

	/// Runs `input` on `model` (an encoded [`ModelDescriptor`]) on the node's inference
	/// engine; the output is little-endian `f32` values. [`InferenceError::Unavailable`] outside
	/// an off-chain worker of a node with an engine; [`InferenceError::Unsupported`] for a model
	/// whose engine profile (or architecture, or format) the node does not implement, including
	/// one it cannot even decode because a later runtime added it, so that the worker declines
	/// in time instead of failing; a panic in the engine is contained and reported as
	/// [`InferenceError::Failed`].
	///
	/// (Version 2 takes the model's engine profile: a runtime calling it needs a node that
	/// provides it, so nodes upgrade before such a runtime is enacted.)
	#[version(2)]
	fn run(
		&mut self,
		model: PassFatPointerAndRead<&[u8]>,
		input: PassFatPointerAndRead<&[u8]>,
	) -> AllocateAndReturnByCodec<Result<Vec<u8>, InferenceError>> {
		let Some(model) = decode_model(model) else {
			return Err(InferenceError::Unsupported);
		};
		run_on_host(
			engine!(self),
			&InferenceRequest { model, input: input.to_vec(), seed: [0; 32] },
		)
	}

	/// [`run_batch`](opg_inference::run_batch) of a runtime from before engine profiles.
	fn run_batch(
		&mut self,
		request: PassFatPointerAndDecode<v1::BatchRequest>,
	) -> AllocateAndReturnByCodec<Vec<Result<Vec<u8>, InferenceError>>> {
		run_batch_on_host(engine!(self), &request.into())
	}

	/// Runs every input of `inputs` on `model` (an encoded [`ModelDescriptor`]) in one engine
	/// pass where the model allows it: one result per input, in order, each bit-identical to
	/// what [`run`](opg_inference::run) returns for that input alone. Errors as for `run`, per
	/// input; a contained panic fails every input.
	#[version(2)]
	fn run_batch(
		&mut self,
		model: PassFatPointerAndRead<&[u8]>,
		inputs: PassFatPointerAndDecode<Vec<Vec<u8>>>,
	) -> AllocateAndReturnByCodec<Vec<Result<Vec<u8>, InferenceError>>> {
		let Some(model) = decode_model(model) else {
			return vec![Err(InferenceError::Unsupported); inputs.len()];
		};
		run_batch_on_host(engine!(self), &BatchRequest { model, inputs, seeds: Vec::new() })
	}

	/// [`run_batch`](opg_inference::run_batch) with each task's seed (one per input, in order),
	/// from which a sampling language model draws its tokens, so that every executor of a task
	/// draws the same ones. A missing seed is zero.
	///
	/// (Version 3 passes the seeds: a runtime calling it needs a node that provides it, so nodes
	/// upgrade before such a runtime is enacted.)
	#[version(3)]
	fn run_batch(
		&mut self,
		model: PassFatPointerAndRead<&[u8]>,
		inputs: PassFatPointerAndDecode<Vec<Vec<u8>>>,
		seeds: PassFatPointerAndDecode<Vec<[u8; 32]>>,
	) -> AllocateAndReturnByCodec<Vec<Result<Vec<u8>, InferenceError>>> {
		let Some(model) = decode_model(model) else {
			return vec![Err(InferenceError::Unsupported); inputs.len()];
		};
		run_batch_on_host(engine!(self), &BatchRequest { model, inputs, seeds })
	}
}

/// The model of a host call, if this node can decode it: one from a later runtime, with a
/// profile (or architecture, or format) this node does not know, is not.
#[cfg(feature = "std")]
fn decode_model(encoded: &[u8]) -> Option<ModelDescriptor> {
	ModelDescriptor::decode_all(&mut &encoded[..]).ok()
}

/// The node's engine, if these externalities have it (an off-chain worker of a node with one).
#[cfg(feature = "std")]
macro_rules! engine {
	($ext:expr) => {{
		use sp_externalities::ExternalitiesExt;
		$ext.extension::<InferenceExt>().map(|ext| ext.0.clone())
	}};
}
#[cfg(feature = "std")]
use engine;

/// The native side of `run`, whatever the version.
#[cfg(feature = "std")]
fn run_on_host(
	host: Option<std::sync::Arc<dyn InferenceHost>>,
	request: &InferenceRequest,
) -> Result<Vec<u8>, InferenceError> {
	let Some(host) = host else {
		return Err(InferenceError::Unavailable);
	};
	std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.run(request)))
		.unwrap_or(Err(InferenceError::Failed))
}

/// The native side of `run_batch`, whatever the version: exactly one result per input.
#[cfg(feature = "std")]
fn run_batch_on_host(
	host: Option<std::sync::Arc<dyn InferenceHost>>,
	request: &BatchRequest,
) -> Vec<Result<Vec<u8>, InferenceError>> {
	let count = request.inputs.len();
	let Some(host) = host else {
		return vec![Err(InferenceError::Unavailable); count];
	};
	let mut results =
		std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.run_batch(request)))
			.unwrap_or_else(|_| vec![Err(InferenceError::Failed); count]);
	// Exactly one result per input, whatever the host returned.
	results.resize(count, Err(InferenceError::Failed));
	results
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::models::{Architecture, EngineProfile};
	use std::sync::{Arc, Mutex};

	struct Recorder(Mutex<Vec<InferenceRequest>>);

	impl InferenceHost for Recorder {
		fn run(&self, request: &InferenceRequest) -> Result<Vec<u8>, InferenceError> {
			self.0.lock().unwrap().push(request.clone());
			if request.input.is_empty() {
				return Err(InferenceError::InvalidInput);
			}
			Ok(request.input.iter().rev().copied().collect())
		}
	}

	struct Panicking;

	impl InferenceHost for Panicking {
		fn run(&self, _request: &InferenceRequest) -> Result<Vec<u8>, InferenceError> {
			panic!("model blew up")
		}
	}

	/// What the runtime's worker calls: the model encoded, the inputs.
	fn call_run(request: InferenceRequest) -> Result<Vec<u8>, InferenceError> {
		opg_inference::run(&request.model.encode(), &request.input)
	}

	fn call_run_batch(batch: BatchRequest) -> Vec<Result<Vec<u8>, InferenceError>> {
		opg_inference::run_batch(&batch.model.encode(), batch.inputs, batch.seeds)
	}

	fn request(input: &[u8]) -> InferenceRequest {
		InferenceRequest {
			model: ModelDescriptor {
				weights_hash: H256::repeat_byte(1),
				format: ModelFormat::Safetensors,
				architecture: Architecture::Mlp { config_hash: H256::repeat_byte(2) },
				profile: EngineProfile::REPRODUCIBLE_F32,
			},
			input: input.to_vec(),
			seed: [0; 32],
		}
	}

	#[test]
	fn unavailable_without_the_extension() {
		sp_io::TestExternalities::default().execute_with(|| {
			assert_eq!(call_run(request(&[1])), Err(InferenceError::Unavailable));
		});
	}

	#[test]
	fn reaches_the_registered_host_and_returns_its_result_and_errors() {
		let host = Arc::new(Recorder(Mutex::new(Vec::new())));
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(host.clone()));
		ext.execute_with(|| {
			assert_eq!(call_run(request(&[1, 2, 3])), Ok(vec![3, 2, 1]));
			assert_eq!(call_run(request(&[])), Err(InferenceError::InvalidInput));
		});
		assert_eq!(host.0.lock().unwrap().as_slice(), &[request(&[1, 2, 3]), request(&[])]);
	}

	#[test]
	fn a_panicking_host_is_an_error_not_a_crash() {
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(Arc::new(Panicking)));
		ext.execute_with(|| {
			assert_eq!(call_run(request(&[1])), Err(InferenceError::Failed));
			assert_eq!(call_run_batch(batch(&[&[1], &[2]])), vec![Err(InferenceError::Failed); 2]);
		});
	}

	fn batch(inputs: &[&[u8]]) -> BatchRequest {
		let one = request(&[]);
		BatchRequest {
			model: one.model,
			inputs: inputs.iter().map(|i| i.to_vec()).collect(),
			seeds: Vec::new(),
		}
	}

	#[test]
	fn a_batch_gets_one_result_per_input_in_order() {
		let host = Arc::new(Recorder(Mutex::new(Vec::new())));
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(host.clone()));
		ext.execute_with(|| {
			assert_eq!(
				call_run_batch(batch(&[&[1, 2], &[], &[3]])),
				vec![Ok(vec![2, 1]), Err(InferenceError::InvalidInput), Ok(vec![3])]
			);
			assert_eq!(call_run_batch(batch(&[])), vec![]);
		});
		// The default implementation ran each input alone, in order.
		assert_eq!(
			host.0.lock().unwrap().as_slice(),
			&[request(&[1, 2]), request(&[]), request(&[3])]
		);
		sp_io::TestExternalities::default().execute_with(|| {
			assert_eq!(
				call_run_batch(batch(&[&[1], &[2]])),
				vec![Err(InferenceError::Unavailable); 2]
			);
		});
	}

	#[test]
	fn each_input_reaches_the_host_with_its_seed() {
		let host = Arc::new(Recorder(Mutex::new(Vec::new())));
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(host.clone()));
		let seeded = BatchRequest { seeds: vec![[7; 32], [9; 32]], ..batch(&[&[1], &[2], &[3]]) };
		ext.execute_with(|| {
			assert_eq!(call_run_batch(seeded).len(), 3);
		});
		let seeds: Vec<[u8; 32]> = host.0.lock().unwrap().iter().map(|r| r.seed).collect();
		// A missing seed is zero.
		assert_eq!(seeds, vec![[7; 32], [9; 32], [0; 32]]);
	}

	struct Short;

	impl InferenceHost for Short {
		fn run(&self, _request: &InferenceRequest) -> Result<Vec<u8>, InferenceError> {
			Ok(vec![1])
		}

		fn run_batch(&self, _request: &BatchRequest) -> Vec<Result<Vec<u8>, InferenceError>> {
			vec![Ok(vec![1])]
		}
	}

	#[test]
	fn a_host_returning_too_few_results_fails_the_missing_inputs() {
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(Arc::new(Short)));
		ext.execute_with(|| {
			assert_eq!(
				call_run_batch(batch(&[&[5], &[6], &[7]])),
				vec![Ok(vec![1]), Err(InferenceError::Failed), Err(InferenceError::Failed)]
			);
		});
	}

	#[test]
	fn a_model_the_node_cannot_decode_is_unsupported_and_never_reaches_the_engine() {
		let host = Arc::new(Recorder(Mutex::new(Vec::new())));
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(host.clone()));
		// A later runtime's profile: the kernel set's next variant.
		let mut later = request(&[1]).model.encode();
		let kernels = later.len() - 2;
		assert_eq!(later[kernels], 0, "the profile closes the descriptor");
		later[kernels] = 1;
		ext.execute_with(|| {
			assert_eq!(opg_inference::run(&later, &[1]), Err(InferenceError::Unsupported));
			assert_eq!(
				opg_inference::run_batch(&later, vec![vec![1], vec![2]], Vec::new()),
				vec![Err(InferenceError::Unsupported); 2]
			);
			// Trailing bytes are not a model either.
			let mut trailing = request(&[1]).model.encode();
			trailing.push(0);
			assert_eq!(opg_inference::run(&trailing, &[1]), Err(InferenceError::Unsupported));
		});
		assert!(host.0.lock().unwrap().is_empty());
	}

	#[test]
	fn requests_of_runtimes_before_profiles_keep_their_layout_and_get_the_profile_of_their_time() {
		let now = request(&[4, 5]);
		let old = v1::InferenceRequest {
			weights_hash: now.model.weights_hash,
			format: now.model.format,
			architecture: now.model.architecture,
			input: now.input.clone(),
		};
		// spec_version 109's layout: the fields in this order, nothing else.
		let layout =
			(now.model.weights_hash, now.model.format, now.model.architecture, now.input.clone());
		assert_eq!(old.encode(), layout.encode());
		assert_eq!(InferenceRequest::from(old), now);
		let old_batch = v1::BatchRequest {
			weights_hash: now.model.weights_hash,
			format: now.model.format,
			architecture: now.model.architecture,
			inputs: vec![vec![1], vec![]],
		};
		assert_eq!(
			BatchRequest::from(old_batch),
			BatchRequest { model: now.model, inputs: vec![vec![1], vec![]], seeds: Vec::new() }
		);
	}
}
