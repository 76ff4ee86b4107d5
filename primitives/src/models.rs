//! The model registry as other pallets see it: the [`ModelProvider`] trait (implemented by
//! `pallet-models`), the [`ModelParams`] it returns, and the [`PendingTasksGuard`] the registry
//! asks before removing a model (implemented by `pallet-inference`).
//!
//! What a model is and how its outputs are compared is FRAME-free and shared with the engine:
//! it lives in [`opg_model`] ([`descriptor`](opg_model::descriptor) and
//! [`comparison`](opg_model::comparison), where the canonical-form table is), and is re-exported
//! here.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::Get, BoundedVec};
use scale_info::TypeInfo;

pub use opg_model::{
	comparison::{
		canonical_exact, canonical_quantized, digest_canonical, quantize, rank_cmp, top_k_indices,
		ComparisonRule, InvalidRule, OutputDigest, CANONICAL_NAN_BITS, MAX_QUANTIZED_DECIMALS,
		MAX_TOP_K, QUANTIZED_NAN,
	},
	descriptor::{
		Architecture, ComputeType, EngineProfile, InputKind, InputMismatch, KernelSet,
		ModelDescriptor, ModelFormat, ModelId, ModelVersion, OutputKind,
	},
	generation::{
		Decoding, Generation, GenerationParams, InvalidGeneration, PromptFormat, MAX_NEW_TOKENS,
		MAX_PROMPT_TOKENS, MAX_STOP_TOKENS, MAX_TEMPERATURE_MILLI, MAX_TEXT_BYTES_PER_TOKEN,
	},
	task::majority,
};
use sp_runtime::traits::{CheckedAdd, CheckedMul};

/// What a causal language model charges per token, paid to each paid executor of a task on top
/// of its `fee_per_executor`: a task pays for the work its prompt and its generation cause.
///
/// A request holds the most it can cost: `max_prompt_tokens` prompt tokens and `max_new_tokens`
/// generated ones ([`TokenFees::charge`] of the limits); settlement charges the counts of the
/// settled [`Generation`] and refunds the rest (see `pallet-inference`'s settlement).
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
	Default,
)]
pub struct TokenFees<Balance> {
	/// Price of one token of the prompt (after the chat template), as the executors counted it
	/// ([`Generation::prompt_tokens`]).
	pub per_prompt_token: Balance,
	/// Price of one generated token ([`Generation::tokens`]).
	pub per_generated_token: Balance,
}

impl<Balance: CheckedAdd + CheckedMul + From<u32>> TokenFees<Balance> {
	/// `per_prompt_token × prompt_tokens + per_generated_token × generated_tokens`; `None` when
	/// it overflows the balance type.
	pub fn charge(&self, prompt_tokens: u32, generated_tokens: u32) -> Option<Balance> {
		let prompt = self.per_prompt_token.checked_mul(&Balance::from(prompt_tokens))?;
		let generated = self.per_generated_token.checked_mul(&Balance::from(generated_tokens))?;
		prompt.checked_add(&generated)
	}
}

/// The parameters of a runnable model, as other pallets and the off-chain worker see them.
#[derive(
	Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Debug,
)]
pub struct ModelParams<Balance> {
	/// Version number.
	pub version: ModelVersion,
	/// What to run: the files, the architecture and the engine profile.
	pub descriptor: ModelDescriptor,
	/// Size of the weights file in bytes.
	pub size_bytes: u64,
	/// What a request's input is.
	pub input: InputKind,
	/// What the output means.
	pub output: OutputKind,
	/// Fee paid to each executor of a task.
	pub fee_per_executor: Balance,
	/// Prices per token paid to each executor on top of `fee_per_executor` (causal language
	/// models only).
	pub token_fees: Option<TokenFees<Balance>>,
	/// Executors per task.
	pub redundancy: u32,
	/// Matching results that settle a task.
	pub quorum: u32,
	/// How executors' results are compared.
	pub comparison: ComparisonRule,
}

impl<Balance> ModelParams<Balance> {
	/// The generation parameters of a causal language model; `None` for other architectures.
	pub fn generation(&self) -> Option<GenerationParams> {
		match self.descriptor.architecture {
			Architecture::CausalLm { generation } => Some(generation),
			_ => None,
		}
	}
}

/// The model registry as other pallets see it (implemented by `pallet-models`).
pub trait ModelProvider<AccountId> {
	/// Amount of the fee token.
	type Balance;
	/// Bound on the servers of one model.
	type MaxServers: Get<u32>;

	/// The parameters of `model_id` if it exists, is active and pays each executor at least the
	/// registry's minimum fee; `None` otherwise.
	fn runnable_model(model_id: ModelId) -> Option<ModelParams<Self::Balance>>;

	/// The parameters of `model_id` whatever its status (a deprecated model still finishes the
	/// tasks it took); `None` when no such model exists.
	fn model_params(model_id: ModelId) -> Option<ModelParams<Self::Balance>>;

	/// The accounts that declared they serve `model_id`, sorted, whatever the model's status;
	/// empty for an unknown model. One bounded storage read.
	fn servers(model_id: ModelId) -> BoundedVec<AccountId, Self::MaxServers>;

	/// Whether `who` declared it serves `model_id`.
	fn is_served_by(model_id: ModelId, who: &AccountId) -> bool;
}

/// Asked by the registry before removing a model (implemented by `pallet-inference`).
pub trait PendingTasksGuard {
	/// Whether tasks of `model_id` are still in progress (not settled, failed or refunded).
	fn has_pending_tasks(model_id: ModelId) -> bool;
}

/// No inference side: no task is ever pending.
impl PendingTasksGuard for () {
	fn has_pending_tasks(_model_id: ModelId) -> bool {
		false
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn token_fees_charge_both_counts_and_refuse_overflow() {
		let fees = TokenFees { per_prompt_token: 2u64, per_generated_token: 5 };
		assert_eq!(fees.charge(10, 3), Some(35));
		assert_eq!(fees.charge(0, 0), Some(0));
		let dear = TokenFees { per_prompt_token: u64::MAX, per_generated_token: 1 };
		assert_eq!(dear.charge(2, 0), None);
		assert_eq!(dear.charge(1, 1), None);
	}

	#[test]
	fn pending_tasks_unit_impl_is_never_pending() {
		assert!(!<() as PendingTasksGuard>::has_pending_tasks(0));
	}
}
