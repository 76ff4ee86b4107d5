//! Command-line interface of `opg-node`.

/// Sub-commands besides running the node.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management: generate, inspect and insert keys (`key insert --key-type babe` etc.).
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Export the chain specification of a chain (`--chain dev|local|<file>`), plain or `--raw`.
	ExportChainSpec(sc_cli::ExportChainSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Remove the whole chain.
	PurgeChain(sc_cli::PurgeChainCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Benchmark runtime pallets (`benchmark pallet`) and the machine. Only in builds with the
	/// `runtime-benchmarks` feature.
	#[cfg(feature = "runtime-benchmarks")]
	#[command(subcommand)]
	Benchmark(frame_benchmarking_cli::BenchmarkCmd),

	/// Database meta columns information.
	ChainInfo(sc_cli::ChainInfoCmd),

	/// The model store validators run inference from: `models import FILE`, `models list`,
	/// `models run HASH --config HASH [--tokenizer HASH] --input ...` (see `models run --help`).
	/// The store is `<base-path>/models` unless `--model-dir` is given.
	Models(ModelsCmd),
}

/// `opg-node models [--base-path DIR | --model-dir DIR] import|list|run`.
#[derive(Debug, clap::Parser)]
pub struct ModelsCmd {
	#[command(flatten)]
	pub models: opg_inference::cli::ModelsCmd,

	/// `--base-path` (whose `models` folder is the default store) and the chain options.
	#[command(flatten)]
	pub shared_params: sc_cli::SharedParams,
}

/// `opg-node [SUBCOMMAND] [OPTIONS]`.
#[derive(Debug, clap::Parser)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[clap(flatten)]
	pub run: sc_cli::RunCmd,

	#[clap(flatten)]
	pub inference: InferenceParams,
}

/// Inference settings of `opg-node`.
#[derive(Debug, Clone, clap::Args)]
pub struct InferenceParams {
	/// Directory of the model store the off-chain worker runs models from (files named by their
	/// blake2-256 hash, as `opg-node models import` writes them). Default: `<base-path>/models`.
	#[arg(long, value_name = "DIR")]
	pub model_dir: Option<std::path::PathBuf>,

	/// Threads every inference runs on. Outputs do not depend on it (see the engine's
	/// determinism notes); latency does.
	#[arg(long, value_name = "N", default_value_t = 1)]
	pub inference_threads: usize,

	/// Time limit of one inference, in milliseconds.
	#[arg(long, value_name = "MS", default_value_t = 10_000)]
	pub inference_timeout_ms: u64,

	/// TEST ONLY: report a perturbed output (every value + 1.0, rotated by one position), so
	/// that this validator disagrees with honest ones and is slashed. For slashing tests.
	#[arg(long, hide = true)]
	pub dev_fault_output: bool,
}

impl InferenceParams {
	/// The engine configuration for a node whose base path is `base_path`.
	pub fn engine_config(&self, base_path: &std::path::Path) -> opg_inference::EngineConfig {
		let mut config = opg_inference::EngineConfig::new(
			self.model_dir.clone().unwrap_or_else(|| base_path.join("models")),
		);
		config.threads = self.inference_threads.max(1);
		config.timeout = std::time::Duration::from_millis(self.inference_timeout_ms.max(1));
		config
	}
}
