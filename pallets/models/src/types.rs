//! Type aliases of the pallet and the benchmark helper.

use crate::Config;
use frame_support::{traits::fungible, BoundedVec};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::models::{ModelInfo, ModelSpec};
use sp_runtime::traits::StaticLookup;

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
