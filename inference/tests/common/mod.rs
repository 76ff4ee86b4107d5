//! Helpers shared by the integration tests.
#![allow(dead_code)]

use opg_inference::{Engine, EngineConfig};
use std::path::PathBuf;

/// A fresh, empty directory under cargo's per-test temporary directory.
pub fn fresh_dir(name: &str) -> PathBuf {
	let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
		.join("opg-inference")
		.join(format!("{name}-{}", std::process::id()));
	let _ = std::fs::remove_dir_all(&dir);
	std::fs::create_dir_all(&dir).expect("create the test directory");
	dir
}

/// An engine with `threads` threads over a fresh store.
pub fn engine(name: &str, threads: usize) -> Engine {
	let mut config = EngineConfig::new(fresh_dir(name));
	config.threads = threads;
	Engine::new(config).expect("engine starts")
}

/// Where the all-MiniLM-L6-v2 files are: `$OPG_MINILM_DIR`, else the directory
/// `scripts/fetch-test-models.sh` unpacks to. Fails the test with instructions when missing.
pub fn minilm_dir() -> PathBuf {
	let dir = std::env::var_os("OPG_MINILM_DIR").map(PathBuf::from).unwrap_or_else(|| {
		PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
			.join(".cache/opg-chain/models/all-minilm-l6-v2")
	});
	for file in ["config.json", "tokenizer.json", "model.safetensors"] {
		assert!(
			dir.join(file).is_file(),
			"all-MiniLM-L6-v2 is missing: {} not found. Fetch it (about 84 MB, once) with\n\n    \
			 export OPG_MINILM_DIR=\"$(scripts/fetch-test-models.sh)\"\n\nfrom the repository \
			 root, then rerun the tests.",
			dir.join(file).display()
		);
	}
	dir
}

/// Where SmolLM2-135M-Instruct's GGUF file is: `$OPG_SMOLLM2_GGUF`, else where
/// `scripts/fetch-test-models.sh smollm2` unpacks it. Fails the test with instructions when
/// missing.
pub fn smollm2_gguf() -> PathBuf {
	let path = std::env::var_os("OPG_SMOLLM2_GGUF").map(PathBuf::from).unwrap_or_else(|| {
		PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
			.join(".cache/opg-chain/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
	});
	assert!(
		path.is_file(),
		"SmolLM2-135M-Instruct is missing: {} not found. Fetch it (about 93 MB, once) with\n\n    \
		 export OPG_SMOLLM2_GGUF=\"$(scripts/fetch-test-models.sh smollm2)\"\n\nfrom the \
		 repository root, then rerun the tests.",
		path.display()
	);
	path
}
