//! Runtime APIs that clients (polkadot.js `api.call.*`, subxt) use to read OPG state.
//!
//! The same reads exist as `#[pallet::view_functions]`; these APIs make them reachable from
//! clients that do not speak view functions yet (polkadot.js 16).

use crate::models::ModelId;
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
}
