//! Runtime APIs that clients (polkadot.js `api.call.*`, subxt) use to read OPG state.
//!
//! The same reads exist as `#[pallet::view_functions]`; these APIs make them reachable from
//! clients that do not speak view functions yet (polkadot.js 16).

use crate::{
	inference::{PendingAction, TaskId},
	models::ModelId,
};
use alloc::vec::Vec;
use codec::Codec;

sp_api::decl_runtime_apis! {
	/// The model registry.
	pub trait ModelsApi<AccountId, Model> where AccountId: Codec, Model: Codec {
		/// The model registered under `model_id`, whatever its status.
		fn model(model_id: ModelId) -> Option<Model>;
		/// The validators serving `model_id`, sorted; empty for an unknown model.
		fn model_servers(model_id: ModelId) -> Vec<AccountId>;
	}

	/// Inference tasks: what dApps poll for results and what executors' off-chain workers poll for
	/// work.
	pub trait InferenceApi<AccountId, Task> where AccountId: Codec, Task: Codec {
		/// The task `task_id` (status, executors, commitments, fees) while it is kept: open, or
		/// ended less than `ResultTtl` blocks ago.
		fn task(task_id: TaskId) -> Option<Task>;
		/// The input of an open task (inputs are dropped when a task ends).
		fn task_input(task_id: TaskId) -> Option<Vec<u8>>;
		/// The settled output of a task (raw little-endian `f32` values of the first executor of
		/// the quorum), while it is kept.
		fn task_result(task_id: TaskId) -> Option<Vec<u8>>;
		/// The open tasks assigned to `executor` that still need its commit or reveal, oldest
		/// first, at most `limit` of them.
		fn pending_tasks(executor: AccountId, limit: u32) -> Vec<(TaskId, PendingAction)>;
	}
}
