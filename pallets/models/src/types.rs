//! The registry's stored types, their aliases and the benchmark helper.

use crate::Config;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	traits::{fungible, Get},
	BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::models::{
	ComparisonRule, InputKind, ModelDescriptor, ModelId, ModelParams, ModelVersion, OutputKind,
	TokenFees,
};
use scale_info::TypeInfo;
use sp_runtime::traits::StaticLookup;

/// Whether a model may take new tasks.
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
pub enum ModelStatus {
	/// Runnable: takes new tasks.
	#[codec(index = 0)]
	Active,
	/// Readable but takes no new tasks; the owner can reactivate it.
	#[codec(index = 1)]
	Deprecated,
}

/// A registered model, as stored by this pallet.
#[derive(
	CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(NameLimit, UriLimit))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct ModelInfo<AccountId, Balance, BlockNumber, NameLimit: Get<u32>, UriLimit: Get<u32>>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// Account that may update, version, transfer and remove the model; holds its deposit.
	pub owner: AccountId,
	/// Human-readable name (not unique).
	pub name: BoundedVec<u8, NameLimit>,
	/// Version number: 1, or the previous version's plus one.
	pub version: ModelVersion,
	/// The version this one was published from, if any (the id may since have been removed).
	pub previous_version: Option<ModelId>,
	/// The version published from this one, if any.
	pub next_version: Option<ModelId>,
	/// What executors run: the files by hash, the architecture and the engine profile.
	pub descriptor: ModelDescriptor,
	/// Size of the weights file in bytes.
	pub size_bytes: u64,
	/// What a request's input is.
	pub input: InputKind,
	/// What the output means.
	pub output: OutputKind,
	/// Fee paid to each executor of a task.
	pub fee_per_executor: Balance,
	/// Prices per prompt token and per generated token paid to each executor on top of
	/// `fee_per_executor`; causal language models only.
	pub token_fees: Option<TokenFees<Balance>>,
	/// Executors per task (`1 ≤ redundancy ≤ MaxRedundancy`).
	pub redundancy: u32,
	/// Matching results that settle a task (`1 ≤ quorum ≤ redundancy`).
	pub quorum: u32,
	/// How executors' results are compared.
	pub comparison: ComparisonRule,
	/// Whether the model takes new tasks.
	pub status: ModelStatus,
	/// Block of registration.
	pub registered_at: BlockNumber,
	/// Where the files may be downloaded from (a hint only: files are checked by hash).
	pub source_uri: Option<BoundedVec<u8, UriLimit>>,
	/// Deposit held on the owner's account for this entry.
	pub deposit: Balance,
}

impl<AccountId, Balance, BlockNumber, NameLimit: Get<u32>, UriLimit: Get<u32>>
	ModelInfo<AccountId, Balance, BlockNumber, NameLimit, UriLimit>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// Whether the model takes new tasks.
	pub fn is_runnable(&self) -> bool {
		self.status == ModelStatus::Active
	}

	/// The parameters other pallets need to run the model.
	pub fn params(&self) -> ModelParams<Balance> {
		ModelParams {
			version: self.version,
			descriptor: self.descriptor,
			size_bytes: self.size_bytes,
			input: self.input,
			output: self.output,
			fee_per_executor: self.fee_per_executor.clone(),
			token_fees: self.token_fees.clone(),
			redundancy: self.redundancy,
			quorum: self.quorum,
			comparison: self.comparison,
		}
	}
}

/// What an owner submits to register a model or publish a version. Lengths are checked by the
/// registry (so that an over-long name is a dispatch error, not an undecodable call).
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug)]
pub struct ModelSpec<Balance> {
	/// Human-readable name, non-empty, at most `MaxNameLen` bytes.
	pub name: Vec<u8>,
	/// What to run: the files, the architecture and the engine profile.
	pub descriptor: ModelDescriptor,
	/// Size of the weights file in bytes (non-zero).
	pub size_bytes: u64,
	/// What a request's input is.
	pub input: InputKind,
	/// What the output means.
	pub output: OutputKind,
	/// Fee paid to each executor of a task.
	pub fee_per_executor: Balance,
	/// Prices per prompt token and per generated token paid to each executor on top of
	/// `fee_per_executor`, for a causal language model (`None`: its tasks cost the same whatever
	/// their length). Other architectures take `None`.
	pub token_fees: Option<TokenFees<Balance>>,
	/// Executors per task (`1 ≤ redundancy ≤ MaxRedundancy`).
	pub redundancy: u32,
	/// Matching results that settle a task; `None` for the majority, [`majority`](opg_primitives::models::majority)`(redundancy)`.
	pub quorum: Option<u32>,
	/// How executors' results are compared.
	pub comparison: ComparisonRule,
	/// Optional download hint, non-empty, at most `MaxSourceUriLen` bytes.
	pub source_uri: Option<Vec<u8>>,
}

/// Amount of the deposit and fee token.
pub type BalanceOf<T> =
	<<T as Config>::Currency as fungible::Inspect<<T as frame_system::Config>::AccountId>>::Balance;

/// A registered model as stored by this pallet.
pub type ModelInfoOf<T> = ModelInfo<
	<T as frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxNameLen,
	<T as Config>::MaxSourceUriLen,
>;

/// What an owner submits to register a model or publish a version.
pub type ModelSpecOf<T> = ModelSpec<BalanceOf<T>>;

/// The servers of one model, sorted and unique.
pub type ServersOf<T> =
	BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxServersPerModel>;

/// An account as a call names it (an address, an index, ...).
pub type AccountIdLookupOf<T> = <<T as frame_system::Config>::Lookup as StaticLookup>::Source;

/// What benchmarks need from the runtime beyond this pallet's `Config`.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// Makes `who` a validator in the eyes of `Config::Staking` (e.g. registers it with a funded
	/// bond), so that it may serve models.
	fn make_validator(who: &AccountId);
}

#[cfg(feature = "runtime-benchmarks")]
impl<AccountId> BenchmarkHelper<AccountId> for () {
	fn make_validator(_who: &AccountId) {}
}
