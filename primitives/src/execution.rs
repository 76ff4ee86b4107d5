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

use crate::models::{Architecture, ModelFormat};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode};
use scale_info::TypeInfo;
use sp_core::{crypto::KeyTypeId, H256};
use sp_runtime_interface::pass_by::{AllocateAndReturnByCodec, PassFatPointerAndDecode};

/// Key type of executors' inference keys (`opg-node key insert --key-type opgi`).
pub const KEY_TYPE: KeyTypeId = KeyTypeId(*b"opgi");

/// The executors' application crypto: sr25519 keys of type [`KEY_TYPE`].
pub mod crypto {
	use super::KEY_TYPE;
	use sp_application_crypto::{app_crypto, sr25519};
	app_crypto!(sr25519, KEY_TYPE);
}

/// What the off-chain worker asks the node to run: the registered model's files (by hash) and
/// the task's input.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct InferenceRequest {
	/// blake2-256 of the weights file.
	pub weights_hash: H256,
	/// Format of the weights file.
	pub format: ModelFormat,
	/// Architecture, naming its configuration (and tokenizer) files by hash.
	pub architecture: Architecture,
	/// The task's input (little-endian `f32` values or UTF-8 text, per the model).
	pub input: Vec<u8>,
}

/// What the off-chain worker asks the node to run in one engine pass: several inputs of one
/// model (its tasks due in the same block).
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

impl BatchRequest {
	/// The request for the input at `index` alone.
	pub fn single(&self, index: usize) -> Option<InferenceRequest> {
		Some(InferenceRequest {
			weights_hash: self.weights_hash,
			format: self.format,
			architecture: self.architecture,
			input: self.inputs.get(index)?.clone(),
		})
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
	/// The model's format or architecture is not executed by this node.
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

/// The inference host functions (`ext_opg_inference_run_version_1` in wasm).
///
/// The generated wasm side calls the host through an `extern` import, hence the `unsafe` the
/// rest of the workspace denies.
#[allow(unsafe_code)]
#[sp_runtime_interface::runtime_interface]
pub trait OpgInference {
	/// Runs `request` on the node's inference engine; the output is little-endian `f32`
	/// values. [`InferenceError::Unavailable`] outside an off-chain worker of a node with an
	/// engine; a panic in the engine is contained and reported as [`InferenceError::Failed`].
	fn run(
		&mut self,
		request: PassFatPointerAndDecode<InferenceRequest>,
	) -> AllocateAndReturnByCodec<Result<Vec<u8>, InferenceError>> {
		use sp_externalities::ExternalitiesExt;
		let Some(host) = self.extension::<InferenceExt>().map(|ext| ext.0.clone()) else {
			return Err(InferenceError::Unavailable);
		};
		std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.run(&request)))
			.unwrap_or(Err(InferenceError::Failed))
	}

	/// Runs every input of `request` in one engine pass where the model allows it: one result
	/// per input, in order, each bit-identical to what [`run`](opg_inference::run) returns for
	/// that input alone. Errors as for `run`, per input; a contained panic fails every input.
	///
	/// (`ext_opg_inference_run_batch_version_1`: a runtime calling it needs a node that
	/// provides it, so nodes upgrade before such a runtime is enacted.)
	fn run_batch(
		&mut self,
		request: PassFatPointerAndDecode<BatchRequest>,
	) -> AllocateAndReturnByCodec<Vec<Result<Vec<u8>, InferenceError>>> {
		use sp_externalities::ExternalitiesExt;
		let count = request.inputs.len();
		let Some(host) = self.extension::<InferenceExt>().map(|ext| ext.0.clone()) else {
			return vec![Err(InferenceError::Unavailable); count];
		};
		let mut results =
			std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.run_batch(&request)))
				.unwrap_or_else(|_| vec![Err(InferenceError::Failed); count]);
		// Exactly one result per input, whatever the host returned.
		results.resize(count, Err(InferenceError::Failed));
		results
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_core::H256;
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

	fn request(input: &[u8]) -> InferenceRequest {
		InferenceRequest {
			weights_hash: H256::repeat_byte(1),
			format: ModelFormat::Safetensors,
			architecture: Architecture::Mlp { config_hash: H256::repeat_byte(2) },
			input: input.to_vec(),
		}
	}

	#[test]
	fn unavailable_without_the_extension() {
		sp_io::TestExternalities::default().execute_with(|| {
			assert_eq!(opg_inference::run(request(&[1])), Err(InferenceError::Unavailable));
		});
	}

	#[test]
	fn reaches_the_registered_host_and_returns_its_result_and_errors() {
		let host = Arc::new(Recorder(Mutex::new(Vec::new())));
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(host.clone()));
		ext.execute_with(|| {
			assert_eq!(opg_inference::run(request(&[1, 2, 3])), Ok(vec![3, 2, 1]));
			assert_eq!(opg_inference::run(request(&[])), Err(InferenceError::InvalidInput));
		});
		assert_eq!(host.0.lock().unwrap().as_slice(), &[request(&[1, 2, 3]), request(&[])]);
	}

	#[test]
	fn a_panicking_host_is_an_error_not_a_crash() {
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(Arc::new(Panicking)));
		ext.execute_with(|| {
			assert_eq!(opg_inference::run(request(&[1])), Err(InferenceError::Failed));
			assert_eq!(
				opg_inference::run_batch(batch(&[&[1], &[2]])),
				vec![Err(InferenceError::Failed); 2]
			);
		});
	}

	fn batch(inputs: &[&[u8]]) -> BatchRequest {
		let one = request(&[]);
		BatchRequest {
			weights_hash: one.weights_hash,
			format: one.format,
			architecture: one.architecture,
			inputs: inputs.iter().map(|i| i.to_vec()).collect(),
		}
	}

	#[test]
	fn a_batch_gets_one_result_per_input_in_order() {
		let host = Arc::new(Recorder(Mutex::new(Vec::new())));
		let mut ext = sp_io::TestExternalities::default();
		ext.register_extension(InferenceExt::new(host.clone()));
		ext.execute_with(|| {
			assert_eq!(
				opg_inference::run_batch(batch(&[&[1, 2], &[], &[3]])),
				vec![Ok(vec![2, 1]), Err(InferenceError::InvalidInput), Ok(vec![3])]
			);
			assert_eq!(opg_inference::run_batch(batch(&[])), vec![]);
		});
		// The default implementation ran each input alone, in order.
		assert_eq!(
			host.0.lock().unwrap().as_slice(),
			&[request(&[1, 2]), request(&[]), request(&[3])]
		);
		sp_io::TestExternalities::default().execute_with(|| {
			assert_eq!(
				opg_inference::run_batch(batch(&[&[1], &[2]])),
				vec![Err(InferenceError::Unavailable); 2]
			);
		});
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
				opg_inference::run_batch(batch(&[&[5], &[6], &[7]])),
				vec![Ok(vec![1]), Err(InferenceError::Failed), Err(InferenceError::Failed)]
			);
		});
	}
}
