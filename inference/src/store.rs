//! Content-addressed model store: every file is named by the lowercase hex of its blake2-256.
//!
//! Files enter only through [`ModelStore::import`] / [`ModelStore::import_bytes`], which hash the
//! content and write it under its hash (through a temporary file and a rename, so a crash never
//! leaves a partial file under a valid name). [`ModelStore::load`] re-hashes the content on every
//! load and refuses a file whose content no longer matches its name, so a tampered or truncated
//! file is never executed.

use crate::error::{EngineError, Result};
use opg_model::H256;
use sp_crypto_hashing::blake2_256;
use std::{
	fs,
	io::{Read, Write},
	path::{Path, PathBuf},
};

/// blake2-256 of `bytes` as an [`H256`] (`sp_crypto_hashing::blake2_256`, the chain's
/// `BlakeTwo256`, which it uses for the registered hashes).
pub fn hash_bytes(bytes: &[u8]) -> H256 {
	H256(blake2_256(bytes))
}

/// Lowercase hex of a hash without `0x`: the file name of that hash in the store.
pub fn hash_hex(hash: &H256) -> String {
	hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a 64-digit hex hash, with or without `0x`.
pub fn parse_hash(text: &str) -> Option<H256> {
	let text = text.strip_prefix("0x").unwrap_or(text);
	if text.len() != 64 || !text.is_ascii() {
		return None;
	}
	let mut out = [0u8; 32];
	for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
		let pair = std::str::from_utf8(pair).ok()?;
		*byte = u8::from_str_radix(pair, 16).ok()?;
	}
	Some(H256(out))
}

/// A directory of files named by their blake2-256 hash.
#[derive(Clone, Debug)]
pub struct ModelStore {
	dir: PathBuf,
	max_file_bytes: u64,
}

impl ModelStore {
	/// Opens (creating it if needed) the store at `dir`; files above `max_file_bytes` are
	/// neither imported nor loaded.
	pub fn open(dir: impl Into<PathBuf>, max_file_bytes: u64) -> Result<Self> {
		let dir = dir.into();
		fs::create_dir_all(&dir).map_err(|source| EngineError::Io { path: dir.clone(), source })?;
		Ok(Self { dir, max_file_bytes })
	}

	/// The store's directory.
	pub fn dir(&self) -> &Path {
		&self.dir
	}

	/// Path of the file stored under `hash` (whether or not it exists).
	pub fn path_of(&self, hash: &H256) -> PathBuf {
		self.dir.join(hash_hex(hash))
	}

	/// Whether a file is stored under `hash` (its content is not checked).
	pub fn contains(&self, hash: &H256) -> bool {
		self.path_of(hash).is_file()
	}

	/// Copies the file at `path` into the store; returns its hash.
	pub fn import(&self, path: &Path) -> Result<H256> {
		let bytes = read_bounded(path, self.max_file_bytes)?;
		self.import_bytes(&bytes)
	}

	/// Stores `bytes` under their hash; returns the hash. Idempotent.
	pub fn import_bytes(&self, bytes: &[u8]) -> Result<H256> {
		let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
		if size > self.max_file_bytes {
			return Err(EngineError::ModelTooLarge { size, max: self.max_file_bytes });
		}
		let hash = hash_bytes(bytes);
		let target = self.path_of(&hash);
		if self.load(&hash).is_ok() {
			return Ok(hash);
		}
		let tmp = self.dir.join(format!(".{}.tmp-{}", hash_hex(&hash), std::process::id()));
		let io = |path: &Path| {
			let path = path.to_path_buf();
			move |source| EngineError::Io { path, source }
		};
		let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
		file.write_all(bytes).map_err(io(&tmp))?;
		file.sync_all().map_err(io(&tmp))?;
		drop(file);
		fs::rename(&tmp, &target).map_err(io(&target))?;
		Ok(hash)
	}

	/// Reads the file stored under `hash`, checking its size bound and that its content still
	/// hashes to `hash`.
	pub fn load(&self, hash: &H256) -> Result<Vec<u8>> {
		let path = self.path_of(hash);
		if !path.is_file() {
			return Err(EngineError::MissingFile(*hash));
		}
		let bytes = read_bounded(&path, self.max_file_bytes)?;
		let actual = hash_bytes(&bytes);
		if actual != *hash {
			return Err(EngineError::HashMismatch { expected: *hash, actual });
		}
		Ok(bytes)
	}

	/// Hashes of the files in the store (by name; contents are checked on load), sorted.
	pub fn list(&self) -> Result<Vec<H256>> {
		let entries = fs::read_dir(&self.dir)
			.map_err(|source| EngineError::Io { path: self.dir.clone(), source })?;
		let mut hashes: Vec<H256> = entries
			.filter_map(|entry| entry.ok())
			.filter_map(|entry| entry.file_name().to_str().and_then(parse_hash))
			.collect();
		hashes.sort();
		Ok(hashes)
	}
}

/// Reads a file, refusing one above `max` bytes without reading more than `max + 1` bytes.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
	let io = |source| EngineError::Io { path: path.to_path_buf(), source };
	let file = fs::File::open(path).map_err(io)?;
	let size = file.metadata().map_err(io)?.len();
	if size > max {
		return Err(EngineError::ModelTooLarge { size, max });
	}
	let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
	// The file may grow after the metadata check: read at most one byte beyond the bound.
	file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
	let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
	if read > max {
		return Err(EngineError::ModelTooLarge { size: read, max });
	}
	Ok(bytes)
}
