//! Model store: content addressing, tamper and truncation detection, size bound.

mod common;

use opg_inference::{hash_bytes, hash_hex, parse_hash, EngineError, ModelStore};
use opg_model::comparison::digest_canonical;

#[test]
fn hash_is_blake2_256_like_the_chain() {
	// The chain's BlakeTwo256 (used by opg-model for digests) is the same function.
	for bytes in [&b""[..], b"abc", &[7u8; 1000]] {
		assert_eq!(hash_bytes(bytes), digest_canonical(bytes));
	}
	let hash = hash_bytes(b"model");
	assert_eq!(parse_hash(&hash_hex(&hash)), Some(hash));
	assert_eq!(parse_hash(&format!("0x{}", hash_hex(&hash))), Some(hash));
	assert_eq!(parse_hash("zz"), None);
}

#[test]
fn import_names_file_by_hash_and_load_round_trips() {
	let dir = common::fresh_dir("store-roundtrip");
	let store = ModelStore::open(dir.join("models"), 1 << 20).unwrap();
	let source = dir.join("weights.bin");
	std::fs::write(&source, b"some weights").unwrap();
	let hash = store.import(&source).unwrap();
	assert_eq!(hash, hash_bytes(b"some weights"));
	assert!(store.path_of(&hash).ends_with(hash_hex(&hash)));
	assert_eq!(store.load(&hash).unwrap(), b"some weights");
	// Idempotent.
	assert_eq!(store.import(&source).unwrap(), hash);
	assert_eq!(store.list().unwrap(), vec![hash]);
}

#[test]
fn tampered_and_truncated_files_are_refused() {
	let dir = common::fresh_dir("store-tamper");
	let store = ModelStore::open(&dir, 1 << 20).unwrap();
	let hash = store.import_bytes(b"original weights").unwrap();

	std::fs::write(store.path_of(&hash), b"original weightz").unwrap();
	match store.load(&hash) {
		Err(EngineError::HashMismatch { expected, actual }) => {
			assert_eq!(expected, hash);
			assert_eq!(actual, hash_bytes(b"original weightz"));
		},
		other => panic!("tampered file loaded: {other:?}"),
	}

	std::fs::write(store.path_of(&hash), b"original").unwrap();
	assert!(matches!(store.load(&hash), Err(EngineError::HashMismatch { .. })));

	std::fs::remove_file(store.path_of(&hash)).unwrap();
	assert!(matches!(store.load(&hash), Err(EngineError::MissingFile(h)) if h == hash));

	// Re-importing the genuine content repairs the store.
	store.import_bytes(b"original weights").unwrap();
	assert_eq!(store.load(&hash).unwrap(), b"original weights");
}

#[test]
fn files_above_the_maximum_are_refused() {
	let dir = common::fresh_dir("store-max");
	let store = ModelStore::open(dir.join("models"), 8).unwrap();
	assert!(matches!(
		store.import_bytes(b"nine byte"),
		Err(EngineError::ModelTooLarge { size: 9, max: 8 })
	));
	let source = dir.join("big.bin");
	std::fs::write(&source, [0u8; 100]).unwrap();
	assert!(matches!(store.import(&source), Err(EngineError::ModelTooLarge { size: 100, max: 8 })));
	// A file that was placed by hand and is too large is not loaded either.
	let hash = hash_bytes(&[0u8; 100]);
	std::fs::copy(&source, store.path_of(&hash)).unwrap();
	assert!(matches!(store.load(&hash), Err(EngineError::ModelTooLarge { .. })));
}
