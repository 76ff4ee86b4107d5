//! Inference task types shared by `pallet-inference`, its off-chain worker and clients.
//!
//! An executor commits to [`commitment`]`(digest, salt, executor)`, where `digest` is the
//! canonical digest of its raw output under the model's [`ComparisonRule`], and later reveals the
//! raw output (little-endian `f32` values, see [`decode_output`]) with the salt; the chain
//! recomputes the digest with the same rule and checks the commitment.

use crate::models::{ComparisonRule, OutputDigest};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_core::H256;
use sp_runtime::traits::{BlakeTwo256, Hash};

/// Identifier of an inference task; assigned sequentially, never reused.
pub type TaskId = u64;

/// The random salt an executor mixes into its commitment, so that the commitment reveals nothing
/// about the output (outputs of one model often come from a small set, e.g. class indices).
pub type Salt = [u8; 32];

/// What an assigned executor still has to do for a task.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
)]
pub enum PendingAction {
	/// Run the model and submit `commit_result` before the block given.
	#[codec(index = 0)]
	Commit {
		/// First block in which a commit is no longer accepted.
		deadline: u64,
	},
	/// The executor committed; the task waits for the other commits before reveals open.
	#[codec(index = 1)]
	AwaitReveal {
		/// First block in which a commit is no longer accepted (the reveal phase starts then at
		/// the latest).
		commit_deadline: u64,
	},
	/// Submit `reveal_result` before the block given.
	#[codec(index = 2)]
	Reveal {
		/// First block in which a reveal is no longer accepted.
		deadline: u64,
	},
}

/// The commitment of `executor` to an output with canonical digest `digest`:
/// `blake2_256(digest ‖ salt ‖ SCALE(executor))`.
///
/// Binding the executor's account into the hash stops a lazy executor from copying another's
/// commitment: it would have to reveal under the other's account to match it.
pub fn commitment<AccountId: Encode>(
	digest: &OutputDigest,
	salt: &Salt,
	executor: &AccountId,
) -> H256 {
	let mut preimage = Vec::with_capacity(32usize.saturating_add(32).saturating_add(32));
	preimage.extend_from_slice(digest.as_bytes());
	preimage.extend_from_slice(salt);
	executor.encode_to(&mut preimage);
	BlakeTwo256::hash(&preimage)
}

/// A revealed output as `f32` values: `None` unless its length is a multiple of 4.
pub fn decode_output(bytes: &[u8]) -> Option<Vec<f32>> {
	let chunks = bytes.chunks_exact(4);
	if !chunks.remainder().is_empty() {
		return None;
	}
	Some(
		chunks
			.map(|chunk| {
				let mut word = [0u8; 4];
				word.copy_from_slice(chunk);
				f32::from_le_bytes(word)
			})
			.collect(),
	)
}

/// `values` as little-endian `f32` bytes, the form in which executors reveal an output.
pub fn encode_output(values: &[f32]) -> Vec<u8> {
	values.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// The canonical digest of a revealed output under `rule`; `None` for a malformed output.
pub fn output_digest(rule: &ComparisonRule, bytes: &[u8]) -> Option<OutputDigest> {
	decode_output(bytes).map(|values| rule.digest(&values))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn output_round_trips() {
		let values = [1.5f32, -0.0, f32::INFINITY];
		assert_eq!(decode_output(&encode_output(&values)).unwrap()[0], 1.5);
		assert_eq!(decode_output(&encode_output(&values)).unwrap().len(), 3);
		assert_eq!(decode_output(&[0, 0, 0]), None);
		assert_eq!(decode_output(&[]), Some(Vec::new()));
	}

	#[test]
	fn commitment_binds_digest_salt_and_executor() {
		let digest = ComparisonRule::Argmax.digest(&[0.1, 0.9]);
		let salt = [7u8; 32];
		let base = commitment(&digest, &salt, &1u64);
		assert_ne!(base, commitment(&digest, &salt, &2u64));
		assert_ne!(base, commitment(&digest, &[8u8; 32], &1u64));
		assert_ne!(base, commitment(&ComparisonRule::Argmax.digest(&[0.9, 0.1]), &salt, &1u64));
		// Pinned: off-chain workers of different versions must agree with the chain.
		let mut preimage = digest.as_bytes().to_vec();
		preimage.extend_from_slice(&salt);
		preimage.extend_from_slice(&1u64.to_le_bytes());
		assert_eq!(base, BlakeTwo256::hash(&preimage));
	}

	#[test]
	fn digest_of_malformed_output_is_none() {
		assert_eq!(output_digest(&ComparisonRule::Exact, &[1, 2, 3, 4, 5]), None);
		assert_eq!(
			output_digest(&ComparisonRule::Argmax, &encode_output(&[0.1, 0.9])),
			Some(ComparisonRule::Argmax.digest(&[0.1, 0.9]))
		);
	}
}
