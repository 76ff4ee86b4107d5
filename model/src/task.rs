//! An inference task as executors see it: the [`commitment`] an executor submits first, the
//! [`TaskOutcome`] it reveals later (a raw output as little-endian `f32` values, see
//! [`encode_output`], or the model's [`Rejection`] of the input), and the quorum of matching
//! results that settles the task ([`majority`] by default).
//!
//! An executor commits to [`commitment`]`(digest, salt, executor)`, where `digest` is the
//! canonical digest of its raw output under the model's [`ComparisonRule`], and later reveals the
//! raw output with the salt; the chain recomputes the digest with the same rule and checks the
//! commitment.

use crate::{
	blake2_256,
	comparison::{ComparisonRule, OutputDigest},
	H256,
};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Identifier of an inference task; assigned sequentially, never reused.
pub type TaskId = u64;

/// The random salt an executor mixes into its commitment, so that the commitment reveals nothing
/// about the output (outputs of one model often come from a small set, e.g. class indices).
pub type Salt = [u8; 32];

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
	blake2_256(&preimage)
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

/// The canonical digest of a revealed output under `rule`; `None` for a malformed output
/// ([`ComparisonRule::digest_output`]).
pub fn output_digest(rule: &ComparisonRule, bytes: &[u8]) -> Option<OutputDigest> {
	rule.digest_output(bytes)
}

/// Why a model refuses an input, decided by the input and the model's files alone, so that every
/// honest executor reaches the same rejection (see [`TaskOutcome::Rejected`]).
///
/// Checks run in a fixed order per architecture, and the first failing one names the rejection:
/// an MLP checks the input's length against its configured input size ([`Self::InputShape`]); a
/// text model checks UTF-8 ([`Self::NotUtf8`]), then tokenises ([`Self::Untokenizable`]), then
/// counts tokens against `min(256, the model's max_position_embeddings)`
/// ([`Self::TooManyTokens`]). A causal language model checks UTF-8, then (chat input) parses
/// the messages and renders its chat template ([`Self::MalformedChat`]), then tokenises
/// ([`Self::Untokenizable`]), then counts the prompt's tokens against its `max_prompt_tokens`
/// ([`Self::TooManyTokens`]). Limits a node operator can change (input bytes, time) are never
/// rejections: an executor that hits one does not commit.
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
pub enum Rejection {
	/// The input does not have the shape the model's files expect (an MLP input that is not
	/// `input_size` little-endian `f32`).
	#[codec(index = 0)]
	InputShape,
	/// Text input that is not UTF-8.
	#[codec(index = 1)]
	NotUtf8,
	/// Text the model's tokenizer refuses.
	#[codec(index = 2)]
	Untokenizable,
	/// Text with more tokens than the model takes (for a causal language model: a prompt,
	/// after its chat template, over `max_prompt_tokens`).
	#[codec(index = 3)]
	TooManyTokens,
	/// Chat messages that are not a JSON array of `{"role", "content"}` string pairs with roles
	/// `system`, `user` or `assistant`, or that the model's chat template refuses.
	#[codec(index = 4)]
	MalformedChat,
}

impl Rejection {
	/// The digest executors commit to for this rejection:
	/// `blake2_256("opg/rejection" ‖ SCALE(self))`. The preimage is 14 bytes long, and every
	/// canonical output is a whole number of 4-byte values, so no output has this digest.
	pub fn digest(&self) -> OutputDigest {
		let mut preimage = Vec::with_capacity(REJECTION_DOMAIN.len().saturating_add(1));
		preimage.extend_from_slice(REJECTION_DOMAIN);
		self.encode_to(&mut preimage);
		blake2_256(&preimage)
	}
}

/// Domain separator of [`Rejection::digest`].
const REJECTION_DOMAIN: &[u8] = b"opg/rejection";

/// What an executor reveals: the model's raw output (little-endian `f32` values), or the
/// model's deterministic refusal of the input.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub enum TaskOutcome<Output> {
	/// The raw output.
	#[codec(index = 0)]
	Output(Output),
	/// The model refused the input.
	#[codec(index = 1)]
	Rejected(Rejection),
}

impl<Output: AsRef<[u8]>> TaskOutcome<Output> {
	/// The digest executors commit to: the output's canonical digest under `rule` (`None` for a
	/// malformed output), or the rejection's digest.
	pub fn digest(&self, rule: &ComparisonRule) -> Option<OutputDigest> {
		match self {
			Self::Output(bytes) => output_digest(rule, bytes.as_ref()),
			Self::Rejected(rejection) => Some(rejection.digest()),
		}
	}

	/// Length of the output in bytes; zero for a rejection.
	pub fn output_len(&self) -> usize {
		match self {
			Self::Output(bytes) => bytes.as_ref().len(),
			Self::Rejected(_) => 0,
		}
	}

	/// The rejection, if this is one.
	pub fn rejection(&self) -> Option<Rejection> {
		match self {
			Self::Output(_) => None,
			Self::Rejected(rejection) => Some(*rejection),
		}
	}

	/// The same outcome with its output mapped by `f` (e.g. into a bounded vector).
	pub fn try_map<O, E>(
		self,
		f: impl FnOnce(Output) -> Result<O, E>,
	) -> Result<TaskOutcome<O>, E> {
		Ok(match self {
			Self::Output(output) => TaskOutcome::Output(f(output)?),
			Self::Rejected(rejection) => TaskOutcome::Rejected(rejection),
		})
	}
}

/// Majority of `redundancy` executors: `redundancy / 2 + 1`, the default quorum.
pub fn majority(redundancy: u32) -> u32 {
	(redundancy / 2).saturating_add(1)
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
		assert_eq!(base, blake2_256(&preimage));
	}

	#[test]
	fn rejection_digests_are_distinct_and_never_an_outputs() {
		use Rejection::*;
		let all = [InputShape, NotUtf8, Untokenizable, TooManyTokens, MalformedChat];
		for (i, a) in all.iter().enumerate() {
			for b in &all[i + 1..] {
				assert_ne!(a.digest(), b.digest());
			}
			assert_eq!(
				TaskOutcome::<Vec<u8>>::Rejected(*a).digest(&ComparisonRule::Exact),
				Some(a.digest())
			);
		}
		// Pinned: executors of different versions must agree with the chain.
		assert_eq!(InputShape.digest(), blake2_256(b"opg/rejection\0"));
		// A canonical form is a whole number of 4-byte values; the preimage is 14 bytes.
		assert_eq!((REJECTION_DOMAIN.len() + 1) % 4, 2);
	}

	#[test]
	fn outcome_digest_of_output_is_the_canonical_one() {
		let output = TaskOutcome::Output(encode_output(&[0.1, 0.9]));
		assert_eq!(
			output.digest(&ComparisonRule::Argmax),
			Some(ComparisonRule::Argmax.digest(&[0.1, 0.9]))
		);
		assert_eq!(TaskOutcome::Output(vec![1u8, 2, 3]).digest(&ComparisonRule::Exact), None);
		assert_eq!(output.rejection(), None);
	}

	#[test]
	fn digest_of_malformed_output_is_none() {
		assert_eq!(output_digest(&ComparisonRule::Exact, &[1, 2, 3, 4, 5]), None);
		assert_eq!(
			output_digest(&ComparisonRule::Argmax, &encode_output(&[0.1, 0.9])),
			Some(ComparisonRule::Argmax.digest(&[0.1, 0.9]))
		);
	}

	#[test]
	fn majority_quorum() {
		assert_eq!(majority(1), 1);
		assert_eq!(majority(2), 2);
		assert_eq!(majority(3), 2);
		assert_eq!(majority(4), 3);
		assert_eq!(majority(5), 3);
		assert_eq!(majority(u32::MAX), u32::MAX / 2 + 1);
	}
}
