//! Inference task types shared by `pallet-inference`, its off-chain worker and clients.
//!
//! An executor commits to [`commitment`]`(digest, salt, executor)`, where `digest` is the
//! canonical digest of its raw output under the model's
//! [`ComparisonRule`](crate::models::ComparisonRule), and later reveals the raw output
//! (little-endian `f32` values, see [`decode_output`]) with the salt; the chain recomputes the
//! digest with the same rule and checks the commitment. Those FRAME-free pieces, which the engine
//! shares, are [`opg_model::task`]'s, re-exported here; [`PendingAction`] is the chain's own.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

pub use opg_model::task::{
	commitment, decode_output, encode_output, output_digest, Rejection, Salt, TaskId, TaskOutcome,
};

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
