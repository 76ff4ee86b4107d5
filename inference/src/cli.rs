//! The `models` command of `opg-node`: import files into the node's model store, list it, and
//! run a model on one input, printing the output, its canonical digest under every comparison
//! rule and the time taken.
//!
//! The node flattens [`ModelsCmd`] into its command line and calls [`ModelsCmd::run`] with the
//! model directory (`--model-dir`, else `<base-path>/models`); all the logic is here so that it
//! is tested without building the node.

use crate::{
	engine::{CancelToken, Engine, EngineConfig},
	error::{EngineError, Result},
	store::{hash_hex, parse_hash, ModelStore},
	EngineProfile, ModelDescriptor,
};
use opg_model::{
	comparison::{ComparisonRule, OutputDigest, MAX_QUANTIZED_DECIMALS, MAX_TOP_K},
	descriptor::{Architecture, ModelFormat},
	generation::{Decoding, Generation, GenerationParams, PromptFormat, MAX_STOP_TOKENS},
	H256,
};
use std::{
	fmt::Write as _,
	path::{Path, PathBuf},
	time::{Duration, Instant},
};

/// `models` sub-commands.
#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum ModelsAction {
	/// Copy a file (weights, JSON config or `tokenizer.json`) into the model store and print its
	/// blake2-256 hash, the hash to register on chain.
	Import {
		/// The file to import.
		file: PathBuf,
	},
	/// List the files of the model store: hash and size.
	List,
	/// Run a model on one input and print the output, its canonical digest under each
	/// comparison rule, and the time taken.
	///
	/// The model is named by the hashes of its files, all in the store: HASH is the safetensors
	/// weights, --config the configuration, and --tokenizer (BERT sentence embedders only) the
	/// tokenizer.json. With --tokenizer the architecture is BertEmbedding and the input is UTF-8
	/// text; without it, Mlp and the input is f32 values.
	///
	/// With --generate, HASH is a GGUF language model (tokenizer and chat template inside) and
	/// the input a prompt, or with --chat JSON chat messages; the generation parameters are
	/// those of the model's registration, and the tokens are those executors reveal.
	///
	/// Examples:
	///   models run <weights> --config <config> --input 0,0.5,1,...
	///   models run <weights> --config <config> --input-file x.f32
	///   models run <weights> --config <config> --tokenizer <tokenizer> --input "A sentence."
	///   models run <gguf> --generate --chat --max-new-tokens 64 \
	///     --input '[{"role":"user","content":"What is 2 + 2?"}]'
	#[command(verbatim_doc_comment)]
	Run(Box<RunArgs>),
}

/// Arguments of `models run`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct RunArgs {
	/// blake2-256 (hex, with or without 0x) of the safetensors weights.
	#[arg(value_parser = parse_hash_arg)]
	pub hash: H256,
	/// Hash of the configuration file (MLP JSON config or Hugging Face config.json).
	#[arg(long, value_parser = parse_hash_arg, required_unless_present = "generate")]
	pub config: Option<H256>,
	/// The weights are a GGUF causal language model: generate text.
	#[arg(long, conflicts_with_all = ["config", "tokenizer"])]
	pub generate: bool,
	/// (--generate) The input is chat messages, a JSON array of {"role", "content"}, rendered
	/// with the model's chat template; without it, the input is the prompt as it is.
	#[arg(long, requires = "generate")]
	pub chat: bool,
	/// (--generate) Most prompt tokens (the registration's max_prompt_tokens).
	#[arg(long, default_value_t = 512, requires = "generate")]
	pub max_prompt_tokens: u32,
	/// (--generate) Most generated tokens (the registration's max_new_tokens).
	#[arg(long, default_value_t = 64, requires = "generate")]
	pub max_new_tokens: u32,
	/// (--generate) A stop token id besides the model's end of sequence (up to 4 times).
	#[arg(long = "stop", requires = "generate")]
	pub stop_tokens: Vec<u32>,
	/// (--generate) Sample at this temperature, in thousandths, instead of decoding greedily.
	#[arg(long, requires = "generate")]
	pub temperature_milli: Option<u16>,
	/// (--generate) Nucleus probability of sampling, in thousandths.
	#[arg(long, default_value_t = 1000, requires = "temperature_milli")]
	pub top_p_milli: u16,
	/// (--generate) The sampling seed, 32 bytes in hex (a task's seed, to reproduce it).
	#[arg(long, value_parser = parse_hash_arg, requires = "temperature_milli")]
	pub seed: Option<H256>,
	/// Hash of the tokenizer.json: runs the model as a BERT sentence embedder.
	#[arg(long, value_parser = parse_hash_arg)]
	pub tokenizer: Option<H256>,
	/// The input: for an MLP comma-separated f32 values (0.1,0.2,...), for a BERT embedder the
	/// text.
	#[arg(long, required_unless_present = "input_file", conflicts_with = "input_file")]
	pub input: Option<String>,
	/// Read the input from a file: little-endian f32 values for an MLP, UTF-8 text for a BERT
	/// embedder.
	#[arg(long)]
	pub input_file: Option<PathBuf>,
	/// Worker threads of the inference.
	#[arg(long, default_value_t = 1)]
	pub threads: usize,
	/// Decimal places of the Quantized digest.
	#[arg(
		long,
		default_value_t = 4,
		value_parser = clap::value_parser!(u8).range(0..=i64::from(MAX_QUANTIZED_DECIMALS))
	)]
	pub decimals: u8,
	/// k of the TopK digest.
	#[arg(
		long,
		default_value_t = 5,
		value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOP_K))
	)]
	pub top_k: u32,
	/// Print at most this many output values (0: all of them).
	#[arg(long, default_value_t = 16)]
	pub show: usize,
}

/// `opg-node models`: manage and run the models of the node's model store.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ModelsCmd {
	/// What to do.
	#[command(subcommand)]
	pub action: ModelsAction,
	/// Model store directory [default: <base-path>/models, the store the node's validator
	/// reads].
	#[arg(long, global = true, value_name = "DIR")]
	pub model_dir: Option<PathBuf>,
}

fn parse_hash_arg(text: &str) -> core::result::Result<H256, String> {
	parse_hash(text).ok_or_else(|| format!("{text:?} is not a 64-digit hex blake2-256 hash"))
}

impl ModelsCmd {
	/// The model directory: `--model-dir` if given, else `<base_path>/models`.
	pub fn model_dir(&self, base_path: &Path) -> PathBuf {
		self.model_dir.clone().unwrap_or_else(|| base_path.join("models"))
	}

	/// Runs the command against the store at `model_dir`; returns what to print.
	pub fn run(&self, model_dir: &Path) -> Result<String> {
		match &self.action {
			ModelsAction::Import { file } => {
				let max = EngineConfig::new(model_dir).max_model_bytes;
				let hash = ModelStore::open(model_dir, max)?.import(file)?;
				Ok(format!("0x{}  {}\n", hash_hex(&hash), file.display()))
			},
			ModelsAction::List => list(model_dir),
			ModelsAction::Run(args) => {
				let mut config = EngineConfig::new(model_dir);
				config.threads = args.threads;
				let engine = Engine::new(config)?;
				Ok(run(&engine, args)?.render(args.show))
			},
		}
	}
}

/// The model of `models run`'s arguments.
pub fn descriptor(args: &RunArgs) -> Result<ModelDescriptor> {
	if args.generate {
		let mut stop_tokens = [None; MAX_STOP_TOKENS];
		if args.stop_tokens.len() > MAX_STOP_TOKENS {
			return Err(EngineError::InvalidInput(format!("at most {MAX_STOP_TOKENS} --stop")));
		}
		for (slot, &token) in stop_tokens.iter_mut().zip(&args.stop_tokens) {
			*slot = Some(token);
		}
		let generation = GenerationParams {
			prompt: if args.chat { PromptFormat::Chat } else { PromptFormat::Raw },
			max_prompt_tokens: args.max_prompt_tokens,
			max_new_tokens: args.max_new_tokens,
			stop_tokens,
			decoding: match args.temperature_milli {
				None => Decoding::Greedy,
				Some(temperature_milli) => {
					Decoding::Sample { temperature_milli, top_p_milli: args.top_p_milli }
				},
			},
		};
		generation
			.validate()
			.map_err(|e| EngineError::InvalidInput(format!("generation parameters: {e:?}")))?;
		return Ok(ModelDescriptor {
			weights_hash: args.hash,
			format: ModelFormat::Gguf,
			architecture: Architecture::CausalLm { generation },
			profile: EngineProfile::REPRODUCIBLE_F32,
		});
	}
	let config_hash =
		args.config.ok_or_else(|| EngineError::InvalidInput("give --config".into()))?;
	let architecture = match args.tokenizer {
		Some(tokenizer_hash) => Architecture::BertEmbedding { config_hash, tokenizer_hash },
		None => Architecture::Mlp { config_hash },
	};
	Ok(ModelDescriptor {
		weights_hash: args.hash,
		format: ModelFormat::Safetensors,
		architecture,
		profile: EngineProfile::REPRODUCIBLE_F32,
	})
}

/// The engine's input bytes from `--input` / `--input-file`: comma-separated `f32` become
/// little-endian bytes for an MLP; text and files are passed as they are.
pub fn input_bytes(args: &RunArgs, architecture: &Architecture) -> Result<Vec<u8>> {
	match (&args.input, &args.input_file, architecture) {
		(Some(text), _, Architecture::Mlp { .. }) => parse_f32_list(text),
		(Some(text), _, Architecture::BertEmbedding { .. } | Architecture::CausalLm { .. }) => {
			Ok(text.as_bytes().to_vec())
		},
		(None, Some(path), _) => {
			std::fs::read(path).map_err(|source| EngineError::Io { path: path.clone(), source })
		},
		(None, None, _) => Err(EngineError::InvalidInput("give --input or --input-file".into())),
	}
}

/// Parses `0.5, 1e-3,-2` into little-endian `f32` bytes.
pub fn parse_f32_list(text: &str) -> Result<Vec<u8>> {
	let mut bytes = Vec::new();
	for (i, item) in text.split(',').map(str::trim).enumerate() {
		let value: f32 = item.parse().map_err(|e| {
			EngineError::InvalidInput(format!(
				"value {} ({item:?}) is not an f32: {e}",
				i.saturating_add(1)
			))
		})?;
		bytes.extend_from_slice(&value.to_le_bytes());
	}
	Ok(bytes)
}

/// The comparison rules `models run` prints digests for.
pub fn rules(decimals: u8, top_k: u32) -> [ComparisonRule; 4] {
	[
		ComparisonRule::Exact,
		ComparisonRule::Quantized { decimals },
		ComparisonRule::Argmax,
		ComparisonRule::TopK { k: top_k },
	]
}

/// What `models run` found.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
	/// The raw output (empty for a language model).
	pub output: Vec<f32>,
	/// A language model's generation.
	pub generation: Option<Generation>,
	/// Each rule with the digest of the output's canonical form under it.
	pub digests: Vec<(ComparisonRule, OutputDigest)>,
	/// Loading the model (hash checks and parsing) from the store.
	pub load_time: Duration,
	/// The inference itself.
	pub run_time: Duration,
	/// Worker threads.
	pub threads: usize,
}

/// Loads the model of `args` and runs it once on its input.
pub fn run(engine: &Engine, args: &RunArgs) -> Result<RunReport> {
	let descriptor = descriptor(args)?;
	let input = input_bytes(args, &descriptor.architecture)?;
	let start = Instant::now();
	engine.load(&descriptor)?;
	let load_time = start.elapsed();
	let start = Instant::now();
	if args.generate {
		let seed = args.seed.unwrap_or_default().0;
		let bytes = engine.run_output(&descriptor, &input, seed, &CancelToken::new())?;
		let run_time = start.elapsed();
		let rule = ComparisonRule::Tokens;
		let digest = rule
			.digest_output(&bytes)
			.ok_or_else(|| EngineError::Worker("the generation does not decode".into()))?;
		return Ok(RunReport {
			output: Vec::new(),
			generation: Generation::decode_output(&bytes),
			digests: vec![(rule, digest)],
			load_time,
			run_time,
			threads: engine.info().threads,
		});
	}
	let output = engine.run(&descriptor, &input)?;
	let run_time = start.elapsed();
	let digests = rules(args.decimals, args.top_k)
		.into_iter()
		.map(|rule| (rule, rule.digest(&output)))
		.collect();
	Ok(RunReport {
		output,
		generation: None,
		digests,
		load_time,
		run_time,
		threads: engine.info().threads,
	})
}

impl RunReport {
	/// Human-readable report; shows at most `show` values (all with 0).
	pub fn render(&self, show: usize) -> String {
		let mut out = String::new();
		if let Some(generation) = &self.generation {
			let ids: Vec<String> = generation.tokens.iter().map(u32::to_string).collect();
			let _ = writeln!(out, "prompt: {} tokens", generation.prompt_tokens);
			let _ = writeln!(out, "generated ({} tokens): [{}]", ids.len(), ids.join(", "));
			let _ = writeln!(out, "text: {}", generation.text);
			let tokens = generation.prompt_tokens as f64 + generation.tokens.len() as f64;
			let _ = writeln!(
				out,
				"speed: {:.1} tokens/s (prompt and generation)",
				tokens / self.run_time.as_secs_f64().max(1e-9)
			);
		} else {
			self.render_values(&mut out, show);
		}
		for (rule, digest) in &self.digests {
			let _ = writeln!(out, "digest {:<24} {digest:?}", format!("{rule:?}"));
		}
		let _ = writeln!(
			out,
			"time: inference {:.3} ms ({} thread(s)), loading {:.3} ms",
			self.run_time.as_secs_f64() * 1e3,
			self.threads,
			self.load_time.as_secs_f64() * 1e3,
		);
		out
	}

	fn render_values(&self, out: &mut String, show: usize) {
		let shown = if show == 0 { self.output.len() } else { show.min(self.output.len()) };
		let values: Vec<String> = self.output.iter().take(shown).map(|v| format!("{v}")).collect();
		let more = if shown < self.output.len() {
			format!(", … ({} more)", self.output.len().saturating_sub(shown))
		} else {
			String::new()
		};
		let _ =
			writeln!(out, "output ({} values): [{}{more}]", self.output.len(), values.join(", "));
	}
}

/// `models list`: every stored file's hash and size.
pub fn list(model_dir: &Path) -> Result<String> {
	let store = ModelStore::open(model_dir, u64::MAX)?;
	let mut out = String::new();
	let hashes = store.list()?;
	for hash in &hashes {
		let size = std::fs::metadata(store.path_of(hash)).map(|m| m.len()).unwrap_or(0);
		let _ = writeln!(out, "0x{}  {size:>12} bytes", hash_hex(hash));
	}
	let _ = writeln!(out, "{} file(s) in {}", hashes.len(), store.dir().display());
	Ok(out)
}

#[cfg(test)]
mod tests {
	use super::*;
	use clap::Parser;

	#[derive(Debug, clap::Parser)]
	struct Cli {
		#[command(flatten)]
		models: ModelsCmd,
	}

	fn parse(args: &[&str]) -> core::result::Result<ModelsCmd, clap::Error> {
		Cli::try_parse_from(core::iter::once("models").chain(args.iter().copied()))
			.map(|c| c.models)
	}

	fn temp_dir(name: &str) -> PathBuf {
		let dir =
			std::env::temp_dir().join(format!("opg-inference-cli-{name}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		dir
	}

	const H: &str = "0x0101010101010101010101010101010101010101010101010101010101010101";

	#[test]
	fn parses_run_with_defaults_and_infers_the_architecture() {
		let cmd = parse(&["run", H, "--config", &H[2..], "--input", "1,2"]).unwrap();
		let ModelsAction::Run(args) = &cmd.action else { panic!("run") };
		assert_eq!(args.hash, H256([1; 32]));
		assert_eq!((args.threads, args.decimals, args.top_k), (1, 4, 5));
		let mlp = descriptor(args).unwrap();
		assert_eq!(mlp.architecture, Architecture::Mlp { config_hash: H256([1; 32]) });
		let cmd = parse(&["run", H, "--config", H, "--tokenizer", H, "--input", "hi"]).unwrap();
		let ModelsAction::Run(args) = &cmd.action else { panic!("run") };
		let bert = descriptor(args).unwrap();
		assert!(matches!(bert.architecture, Architecture::BertEmbedding { .. }));
		assert_eq!(input_bytes(args, &bert.architecture).unwrap(), b"hi");
	}

	#[test]
	fn parses_a_generation_with_the_registrations_parameters() {
		let cmd = parse(&["run", H, "--generate", "--chat", "--input", "[]"]).unwrap();
		let ModelsAction::Run(args) = &cmd.action else { panic!("run") };
		let model = descriptor(args).unwrap();
		assert_eq!(model.format, ModelFormat::Gguf);
		let Architecture::CausalLm { generation } = model.architecture else { panic!("llm") };
		assert_eq!(generation.prompt, PromptFormat::Chat);
		assert_eq!((generation.max_prompt_tokens, generation.max_new_tokens), (512, 64));
		assert_eq!(generation.decoding, Decoding::Greedy);
		let cmd = parse(&[
			"run",
			H,
			"--generate",
			"--max-new-tokens",
			"8",
			"--stop",
			"7",
			"--stop",
			"9",
			"--temperature-milli",
			"700",
			"--top-p-milli",
			"900",
			"--seed",
			H,
			"--input",
			"Hi",
		])
		.unwrap();
		let ModelsAction::Run(args) = &cmd.action else { panic!("run") };
		let Architecture::CausalLm { generation } = descriptor(args).unwrap().architecture else {
			panic!("llm")
		};
		assert_eq!(generation.prompt, PromptFormat::Raw);
		assert_eq!(generation.stop_tokens, [Some(7), Some(9), None, None]);
		let sample = Decoding::Sample { temperature_milli: 700, top_p_milli: 900 };
		assert_eq!(generation.decoding, sample);
		// Bounds are the chain's.
		let cmd =
			parse(&["run", H, "--generate", "--max-new-tokens", "0", "--input", "x"]).unwrap();
		let ModelsAction::Run(args) = &cmd.action else { panic!("run") };
		assert!(descriptor(args).is_err());
		assert!(parse(&["run", H, "--generate", "--config", H, "--input", "x"]).is_err());
		assert!(parse(&["run", H, "--chat", "--input", "x"]).is_err(), "--chat needs --generate");
	}

	#[test]
	fn refuses_bad_arguments() {
		assert!(parse(&["run", "0x12", "--config", H, "--input", "1"]).is_err());
		assert!(parse(&["run", H, "--input", "1"]).is_err(), "--config is required");
		assert!(parse(&["run", H, "--config", H]).is_err(), "an input is required");
		assert!(parse(&["run", H, "--config", H, "--input", "1", "--input-file", "x"]).is_err());
		assert!(parse(&["run", H, "--config", H, "--input", "1", "--top-k", "0"]).is_err());
		assert!(parse(&["run", H, "--config", H, "--input", "1", "--decimals", "13"]).is_err());
		assert!(parse(&["import"]).is_err(), "import needs a file");
	}

	#[test]
	fn model_dir_defaults_to_base_path_models() {
		let cmd = parse(&["list"]).unwrap();
		assert_eq!(cmd.model_dir(Path::new("/base")), PathBuf::from("/base/models"));
		let cmd = parse(&["list", "--model-dir", "/elsewhere"]).unwrap();
		assert_eq!(cmd.model_dir(Path::new("/base")), PathBuf::from("/elsewhere"));
		let cmd = parse(&["--model-dir", "/before", "list"]).unwrap();
		assert_eq!(cmd.model_dir(Path::new("/base")), PathBuf::from("/before"));
	}

	#[test]
	fn parses_f32_lists() {
		let bytes = parse_f32_list(" 1, -0.5,2e-1").unwrap();
		let expected: Vec<u8> = [1.0f32, -0.5, 0.2].iter().flat_map(|v| v.to_le_bytes()).collect();
		assert_eq!(bytes, expected);
		assert!(matches!(parse_f32_list("1,,2"), Err(EngineError::InvalidInput(_))));
		assert!(matches!(parse_f32_list("1,x"), Err(EngineError::InvalidInput(_))));
	}

	#[test]
	fn import_list_and_run_the_demo_model() {
		let dir = temp_dir("demo");
		let model = crate::demo::model_dir();
		let mut hashes = Vec::new();
		for file in ["model.safetensors", "config.json"] {
			let path = model.join(file).display().to_string();
			let out = parse(&["import", &path]).unwrap().run(&dir).unwrap();
			let hash = out.split_whitespace().next().unwrap().to_owned();
			assert!(parse_hash(&hash).is_some(), "{out}");
			hashes.push(hash);
		}
		let listing = parse(&["list"]).unwrap().run(&dir).unwrap();
		assert!(listing.contains("2 file(s)"), "{listing}");
		for hash in &hashes {
			assert!(listing.contains(hash.as_str()), "{listing}");
		}

		let samples = crate::demo::parse_digits(&std::fs::read(crate::demo::data_path()).unwrap());
		let sample = samples.first().unwrap();
		let input: Vec<String> = sample.input.iter().map(|v| v.to_string()).collect();
		let cmd = parse(&["run", &hashes[0], "--config", &hashes[1], "--input", &input.join(",")])
			.unwrap();
		let ModelsAction::Run(args) = &cmd.action else { panic!("run") };
		let engine = Engine::new(EngineConfig::new(&dir)).unwrap();
		let report = run(&engine, args).unwrap();
		assert_eq!(report.output.len(), 10);
		assert_eq!(report.digests.len(), 4);
		let argmax = ComparisonRule::Argmax.digest(&report.output);
		assert!(report.digests.contains(&(ComparisonRule::Argmax, argmax)));
		let exact = ComparisonRule::Exact.digest(&report.output);
		assert!(report.digests.contains(&(ComparisonRule::Exact, exact)));
		// The same input from a file of little-endian f32 gives the same output.
		let file = dir.join("input.f32");
		std::fs::write(&file, crate::demo::encode_f32(&sample.input)).unwrap();
		let args = RunArgs { input: None, input_file: Some(file), ..(**args).clone() };
		assert_eq!(run(&engine, &args).unwrap().output, report.output);
		let text = cmd.run(&dir).unwrap();
		assert!(text.contains("digest Argmax"), "{text}");
		assert!(text.contains("output (10 values)"), "{text}");
		assert!(text.contains(&format!("{exact:?}")), "{text}");

		// A wrong input length is the model's rejection, not a panic.
		let cmd = parse(&["run", &hashes[0], "--config", &hashes[1], "--input", "1,2"]).unwrap();
		assert!(matches!(
			cmd.run(&dir),
			Err(EngineError::Rejected { rejection: opg_model::task::Rejection::InputShape, .. })
		));
		let _ = std::fs::remove_dir_all(&dir);
	}
}
