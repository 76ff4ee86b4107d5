//! The engine behind the runtime's `opg_inference::run` host function: what a validator node
//! registers (as an [`InferenceExt`]) for its off-chain workers, with Prometheus metrics and
//! the test-only fault injection of `--dev-fault-output`.
//!
//! The glue between the chain's host interface (`opg_primitives::execution`) and the engine
//! (`opg_inference`, which has no chain code) lives here, with the node.

use opg_inference::{CancelToken, Engine, EngineError};
use opg_primitives::{
	execution::{BatchRequest, InferenceError, InferenceExt, InferenceHost, InferenceRequest},
	models::Architecture,
};
use std::{sync::Arc, time::Instant};
use substrate_prometheus_endpoint::{
	register, Counter, CounterVec, Histogram, HistogramOpts, Opts, PrometheusError, Registry, U64,
};

/// Log target of the node's inference host.
const LOG_TARGET: &str = "opg::inference";

/// Prometheus metrics of off-chain execution.
#[derive(Clone)]
pub struct Metrics {
	executed: Counter<U64>,
	failures: CounterVec<U64>,
	latency: Histogram,
}

impl Metrics {
	/// Registers the metrics with `registry`.
	pub fn register(registry: &Registry) -> Result<Self, PrometheusError> {
		Ok(Self {
			executed: register(
				Counter::new(
					"opg_inference_tasks_executed_total",
					"Inferences the off-chain worker ran successfully",
				)?,
				registry,
			)?,
			failures: register(
				CounterVec::new(
					Opts::new(
						"opg_inference_failures_total",
						"Inferences the off-chain worker could not run, by reason",
					),
					&["reason"],
				)?,
				registry,
			)?,
			latency: register(
				Histogram::with_opts(
					HistogramOpts::new(
						"opg_inference_execution_seconds",
						"Time of one inference (model loading included), successful or not",
					)
					.buckets(vec![
						0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
						2.5, 5.0, 10.0,
					]),
				)?,
				registry,
			)?,
		})
	}
}

/// An engine as the runtime's host function sees it.
pub struct EngineHost {
	engine: Arc<Engine>,
	metrics: Option<Metrics>,
	fault_output: bool,
}

impl EngineHost {
	/// A host running `engine`, reporting to `metrics`; `fault_output` is the test-only
	/// perturbation of `--dev-fault-output`.
	pub fn new(engine: Arc<Engine>, metrics: Option<Metrics>, fault_output: bool) -> Self {
		if fault_output {
			log::warn!(
				target: LOG_TARGET,
				"--dev-fault-output: this node reports WRONG inference results and will be slashed"
			);
		}
		Self { engine, metrics, fault_output }
	}

	/// The externalities extension the off-chain workers get.
	pub fn extension(self: &Arc<Self>) -> InferenceExt {
		InferenceExt::new(self.clone())
	}
}

impl InferenceHost for EngineHost {
	fn run(&self, request: &InferenceRequest) -> Result<Vec<u8>, InferenceError> {
		let start = Instant::now();
		let result = self.engine.run_output(
			&request.model,
			&request.input,
			request.seed,
			&CancelToken::new(),
		);
		let elapsed = start.elapsed();
		if let Some(metrics) = &self.metrics {
			metrics.latency.observe(elapsed.as_secs_f64());
		}
		self.report(request.model.weights_hash, request.input.len(), elapsed, result)
	}

	fn run_batch(&self, request: &BatchRequest) -> Vec<Result<Vec<u8>, InferenceError>> {
		let count = request.inputs.len();
		if matches!(request.model.architecture, Architecture::CausalLm { .. }) {
			// A generation's length depends on its input: no shared pass, one at a time.
			return (0..count)
				.map(|i| {
					request.single(i).map_or(Err(InferenceError::Failed), |one| self.run(&one))
				})
				.collect();
		}
		let start = Instant::now();
		let results =
			self.engine.run_batch(&request.model, request.inputs.clone(), &CancelToken::new());
		let elapsed = start.elapsed();
		// Each input's share of the pass.
		let share =
			elapsed.checked_div(u32::try_from(count).unwrap_or(u32::MAX)).unwrap_or(elapsed);
		if let Some(metrics) = &self.metrics {
			for _ in 0..count {
				metrics.latency.observe(share.as_secs_f64());
			}
		}
		log::debug!(
			target: LOG_TARGET,
			"ran model {:?} on a batch of {count} inputs in {elapsed:?}",
			request.model.weights_hash
		);
		match results {
			Ok(results) => results
				.into_iter()
				.zip(&request.inputs)
				.map(|(result, input)| {
					let bytes =
						result.map(|values| opg_primitives::inference::encode_output(&values));
					self.report(request.model.weights_hash, input.len(), share, bytes)
				})
				.collect(),
			Err(
				error @ (EngineError::Panicked(_)
				| EngineError::Tensor(_)
				| EngineError::Worker(_)
				| EngineError::InvalidInput(_)),
			) if count > 1 => {
				// Maybe one input's fault: each runs alone, so that a requester's poisoned input
				// fails its own task and not the others batched with it.
				log::warn!(
					target: LOG_TARGET,
					"model {:?} failed on a batch of {count} ({error}): running each input alone",
					request.model.weights_hash
				);
				(0..count)
					.map(|i| {
						request.single(i).map_or(Err(InferenceError::Failed), |one| self.run(&one))
					})
					.collect()
			},
			Err(error) => {
				let reason = classify(&error);
				log::warn!(
					target: LOG_TARGET,
					"model {:?} failed on a batch of {count}: {error} ({reason:?})",
					request.model.weights_hash
				);
				if let Some(metrics) = &self.metrics {
					metrics
						.failures
						.with_label_values(&[reason_label(reason)])
						.inc_by(u64::try_from(count).unwrap_or(u64::MAX));
				}
				vec![Err(reason); count]
			},
		}
	}
}

impl EngineHost {
	/// Counts and logs one input's `result`, and turns it into the host function's.
	fn report(
		&self,
		weights_hash: sp_core::H256,
		input_len: usize,
		elapsed: std::time::Duration,
		result: opg_inference::Result<Vec<u8>>,
	) -> Result<Vec<u8>, InferenceError> {
		match result {
			Ok(mut output) => {
				if let Some(metrics) = &self.metrics {
					metrics.executed.inc();
				}
				log::debug!(
					target: LOG_TARGET,
					"ran model {weights_hash:?} on {input_len} input bytes in {elapsed:?}: {} output bytes",
					output.len()
				);
				if self.fault_output {
					output = perturb(&output);
				}
				Ok(output)
			},
			Err(error) => {
				let reason = classify(&error);
				if let Some(metrics) = &self.metrics {
					metrics.failures.with_label_values(&[reason_label(reason)]).inc();
				}
				log::warn!(target: LOG_TARGET, "model {weights_hash:?} failed: {error} ({reason:?})");
				Err(reason)
			},
		}
	}
}

/// The runtime-facing error of an engine error.
fn classify(error: &EngineError) -> InferenceError {
	match error {
		EngineError::MissingFile(_) => InferenceError::MissingModel,
		EngineError::HashMismatch { .. } => InferenceError::CorruptModel,
		EngineError::UnsupportedFormat(_) | EngineError::UnsupportedProfile(_) => {
			InferenceError::Unsupported
		},
		EngineError::InvalidConfig(_)
		| EngineError::InvalidWeights(_)
		| EngineError::ModelTooLarge { .. } => InferenceError::InvalidModel,
		EngineError::Rejected { rejection, .. } => InferenceError::Rejected(*rejection),
		EngineError::InvalidInput(_) | EngineError::InputTooLarge { .. } => {
			InferenceError::InvalidInput
		},
		EngineError::Timeout => InferenceError::Timeout,
		EngineError::Io { .. }
		| EngineError::Cancelled
		| EngineError::Panicked(_)
		| EngineError::Tensor(_)
		| EngineError::Worker(_) => InferenceError::Failed,
	}
}

fn reason_label(reason: InferenceError) -> &'static str {
	match reason {
		InferenceError::Unavailable => "unavailable",
		InferenceError::MissingModel => "missing_model",
		InferenceError::CorruptModel => "corrupt_model",
		InferenceError::Unsupported => "unsupported",
		InferenceError::InvalidModel => "invalid_model",
		InferenceError::InvalidInput => "invalid_input",
		InferenceError::Rejected(_) => "rejected",
		InferenceError::Timeout => "timeout",
		InferenceError::Failed => "failed",
	}
}

/// `--dev-fault-output`: every value + 1.0, then rotated left by one, so the canonical form
/// differs under every comparison rule (unless all values are equal).
fn perturb(output: &[u8]) -> Vec<u8> {
	use codec::Encode;
	// A generation gets another last token (and the text of none); values are shifted.
	if let Some(mut generation) = opg_model::generation::Generation::decode_output(output) {
		match generation.tokens.last_mut() {
			Some(last) => *last = last.wrapping_add(1),
			None => generation.tokens.push(0),
		}
		generation.text.push('?');
		return generation.encode();
	}
	let mut values = opg_primitives::inference::decode_output(output).unwrap_or_default();
	for value in values.iter_mut() {
		*value += 1.0;
	}
	if !values.is_empty() {
		values.rotate_left(1);
	}
	opg_primitives::inference::encode_output(&values)
}

#[cfg(test)]
mod tests {
	use super::*;
	use opg_inference::EngineConfig;
	use opg_primitives::{
		inference::Rejection,
		models::{Architecture, ComparisonRule, EngineProfile, ModelDescriptor, ModelFormat},
	};
	use std::path::PathBuf;

	fn demo_dir() -> PathBuf {
		opg_inference::demo::model_dir()
	}

	fn host(fault: bool) -> (tempdir::Dir, EngineHost, InferenceRequest, Registry) {
		let dir = tempdir::Dir::new();
		let engine = Engine::new(EngineConfig::new(dir.path())).expect("engine");
		let weights_hash = engine.import(&demo_dir().join("model.safetensors")).expect("weights");
		let config_hash = engine.import(&demo_dir().join("config.json")).expect("config");
		let registry = Registry::new();
		let metrics = Metrics::register(&registry).expect("metrics");
		let request = InferenceRequest {
			model: ModelDescriptor {
				weights_hash,
				format: ModelFormat::Safetensors,
				architecture: Architecture::Mlp { config_hash },
				profile: EngineProfile::REPRODUCIBLE_F32,
			},
			input: opg_primitives::inference::encode_output(&[0.5f32; 64]),
			seed: [0; 32],
		};
		(dir, EngineHost::new(Arc::new(engine), Some(metrics), fault), request, registry)
	}

	fn metric(registry: &Registry, name: &str) -> f64 {
		registry
			.gather()
			.iter()
			.filter(|family| family.get_name() == name)
			.flat_map(|family| family.get_metric().to_vec())
			.map(|m| m.get_counter().get_value() + m.get_histogram().get_sample_count() as f64)
			.sum()
	}

	#[test]
	fn runs_the_model_counts_and_times_it() {
		let (_dir, host, request, registry) = host(false);
		let output = host.run(&request).expect("runs");
		let values = opg_primitives::inference::decode_output(&output).expect("f32 values");
		assert_eq!(values.len(), 10);
		assert_eq!(host.run(&request), Ok(output), "deterministic");
		assert_eq!(metric(&registry, "opg_inference_tasks_executed_total"), 2.0);
		assert_eq!(metric(&registry, "opg_inference_execution_seconds"), 2.0);
		assert_eq!(metric(&registry, "opg_inference_failures_total"), 0.0);
	}

	#[test]
	fn a_batch_matches_one_by_one_runs_and_counts_each_input() {
		let (_dir, host, request, registry) = host(false);
		let inputs = vec![
			request.input.clone(),
			vec![1, 2, 3],
			opg_primitives::inference::encode_output(&[0.25f32; 64]),
		];
		let batch =
			BatchRequest { model: request.model, inputs: inputs.clone(), seeds: Vec::new() };
		let results = host.run_batch(&batch);
		let alone: Vec<_> =
			(0..inputs.len()).map(|i| host.run(&batch.single(i).unwrap())).collect();
		assert_eq!(results, alone);
		assert_eq!(results[1], Err(InferenceError::Rejected(Rejection::InputShape)));
		assert!(results[0].is_ok() && results[2].is_ok());
		// 2 successes and a rejection in the batch, then the same one by one.
		assert_eq!(metric(&registry, "opg_inference_tasks_executed_total"), 4.0);
		assert_eq!(metric(&registry, "opg_inference_failures_total"), 2.0);
		// A batch whose model is missing fails every input alike.
		let model = ModelDescriptor { weights_hash: [7u8; 32].into(), ..batch.model };
		let missing = BatchRequest { model, ..batch };
		assert_eq!(host.run_batch(&missing), vec![Err(InferenceError::MissingModel); 3]);
	}

	#[test]
	fn errors_are_typed_and_counted() {
		let (_dir, host, request, registry) = host(false);
		let model = ModelDescriptor { weights_hash: [7u8; 32].into(), ..request.model };
		let missing = InferenceRequest { model, ..request.clone() };
		assert_eq!(host.run(&missing), Err(InferenceError::MissingModel));
		let short = InferenceRequest { input: vec![1, 2, 3], ..request.clone() };
		assert_eq!(host.run(&short), Err(InferenceError::Rejected(Rejection::InputShape)));
		let model = ModelDescriptor { format: ModelFormat::Onnx, ..request.model };
		let onnx = InferenceRequest { model, ..request };
		assert_eq!(host.run(&onnx), Err(InferenceError::Unsupported));
		assert_eq!(metric(&registry, "opg_inference_failures_total"), 3.0);
	}

	#[test]
	fn fault_output_disagrees_under_every_rule() {
		let (_dir, honest, request, _) = host(false);
		let (_dir2, faulty, _, _) = host(true);
		let good =
			opg_primitives::inference::decode_output(&honest.run(&request).unwrap()).unwrap();
		let bad = opg_primitives::inference::decode_output(&faulty.run(&request).unwrap()).unwrap();
		for rule in [
			ComparisonRule::Exact,
			ComparisonRule::Quantized { decimals: 2 },
			ComparisonRule::Argmax,
			ComparisonRule::TopK { k: 3 },
		] {
			assert_ne!(rule.digest(&good), rule.digest(&bad), "{rule:?}");
		}
	}

	/// A temporary directory removed on drop .
	mod tempdir {
		pub struct Dir(std::path::PathBuf);

		impl Dir {
			pub fn new() -> Self {
				static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
				let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
				let path = std::env::temp_dir()
					.join(format!("opg-inference-host-{}-{n}", std::process::id()));
				std::fs::create_dir_all(&path).expect("temp dir");
				Self(path)
			}

			pub fn path(&self) -> &std::path::Path {
				&self.0
			}
		}

		impl Drop for Dir {
			fn drop(&mut self) {
				let _ = std::fs::remove_dir_all(&self.0);
			}
		}
	}
}
