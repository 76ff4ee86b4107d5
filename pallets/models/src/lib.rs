//! The on-chain model registry of OPG chain: which models exist, exactly what each one executes,
//! what it costs, and which validators serve it.
//!
//! ## Overview
//!
//! A model (a [`ModelInfo`]) is identified by a sequential [`ModelId`] and describes what an
//! executor runs (its [`ModelDescriptor`](opg_primitives::models::ModelDescriptor): the
//! blake2-256 of the weights file, its format, the architecture with the hashes of its
//! configuration files, and the engine profile its results are defined on; input and output kinds),
//! what a task costs (`fee_per_executor`), how many executors run a task (`redundancy`), how many
//! matching results settle it (`quorum`, the majority by default) and how results are compared
//! (the [`ComparisonRule`](opg_primitives::models::ComparisonRule), whose canonicalisation lives
//! in `opg-primitives` so that the engine and the chain share it).
//!
//! Registering a model holds a deposit on the owner's account with a fungible hold
//! ([`HoldReason::ModelDeposit`]): `ModelDepositBase + ModelDepositPerByte × encoded size of the
//! stored entry`. When a change alters the size of an entry (publishing a version links the
//! previous one to it), the deposit is adjusted; removing the model releases it.
//!
//! A model is `Active` (runnable: [`ModelProvider::runnable_model`] returns it and it takes new
//! tasks) or `Deprecated` (readable, but takes no new tasks). Versions form a chain: a new
//! version is a new model id linked to the previous one, which stays runnable until deprecated.
//!
//! Validators (as the staking side sees them, through
//! [`InferenceStaking::is_validator`](opg_primitives::staking::InferenceStaking::is_validator))
//! declare which models they hold and run; each model has at most `MaxServersPerModel` servers,
//! kept sorted. The inference pallet reads models and servers through [`ModelProvider`], and the
//! registry asks it through [`PendingTasksGuard`] before a model is removed.
//!
//! Every model pays each executor of a task at least `MinFeePerExecutor`, the runtime's price of
//! the chain work that one executor's share of a task causes (its commit, its reveal, and its
//! share of the task's assignment, deadlines and expiry). Registration, version publication and
//! fee updates below it are refused ([`Error::FeeBelowMinimum`]); a model left below it by a
//! runtime upgrade that raised the minimum takes no new tasks until its owner raises its fee.
//! Without the floor, a zero-fee model lets anyone make the validators work for free.
//!
//! Tasks capture a model's parameters when they are requested: updating a fee or a quorum,
//! deprecating or transferring a model does not change tasks already in progress.
//!
//! ## Calls
//!
//! Model owners:
//! - [`register_model`](Pallet::register_model): register a model, holding its deposit;
//! - [`update_fee`](Pallet::update_fee): change the fee per executor;
//! - [`set_redundancy_and_quorum`](Pallet::set_redundancy_and_quorum): change how many executors
//!   run a task and how many must agree;
//! - [`deprecate`](Pallet::deprecate) / [`reactivate`](Pallet::reactivate): stop or resume new
//!   tasks;
//! - [`publish_version`](Pallet::publish_version): register a new version linked to the previous;
//! - [`transfer_ownership`](Pallet::transfer_ownership): hand the model, and its deposit, over;
//! - [`remove_model`](Pallet::remove_model): delete a model without pending tasks, releasing its
//!   deposit.
//!
//! Validators:
//! - [`serve_model`](Pallet::serve_model) / [`stop_serving`](Pallet::stop_serving): declare that
//!   they run a model, or no longer do.
//!
//! Anyone:
//! - [`prune_server`](Pallet::prune_server): remove from a server list an account that cannot
//!   take tasks (no longer a validator, or chilled, jailed or bonded under the minimum).
//!
//! Read-only: the view functions [`model`](Pallet::model) and
//! [`model_servers`](Pallet::model_servers), and the storage items [`Models`] and [`Servers`].
//!
//! ## Example
//!
//! From the tests (`tests/registration.rs`):
//! ```ignore
//! // Alice registers a classifier run by 3 executors, settled by 2 matching results.
//! assert_ok!(Models::register_model(RuntimeOrigin::signed(ALICE), mnist_spec()));
//! let model = Models::model(0).unwrap();
//! assert_eq!((model.redundancy, model.quorum), (3, 2));
//! // Its deposit is held on Alice's account.
//! assert_eq!(held(ALICE), model.deposit);
//! // A validator declares it serves the model.
//! assert_ok!(Models::serve_model(RuntimeOrigin::signed(VALIDATOR_1), 0));
//! assert_eq!(Models::model_servers(0), vec![VALIDATOR_1]);
//! ```

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

mod impls;
pub mod migrations;
mod types;
pub mod weights;

/// Log target of the pallet.
pub(crate) const LOG_TARGET: &str = "runtime::models";

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
// Overflow in a test is a failed test, not a halted chain (as `clippy.toml` allows `unwrap` and
// indexing in tests).
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod mock;
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests;

pub use opg_primitives::models::ModelId;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{self, InspectHold, MutateHold},
			tokens::{Fortitude, Precision, Restriction},
		},
	};
	use frame_system::pallet_prelude::*;
	use opg_primitives::{
		models::{ModelVersion, PendingTasksGuard},
		staking::InferenceStaking,
	};
	use sp_runtime::traits::{CheckedAdd, CheckedMul, StaticLookup, Zero};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The token in which deposits are held and fees are priced.
		type Currency: fungible::Inspect<Self::AccountId>
			+ fungible::Mutate<Self::AccountId>
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;

		/// The staking side: only its validators may serve models.
		type Staking: InferenceStaking<Self::AccountId>;

		/// The inference side: a model with pending tasks cannot be removed.
		type PendingTasks: PendingTasksGuard;

		/// Fixed part of a model's deposit.
		#[pallet::constant]
		type ModelDepositBase: Get<BalanceOf<Self>>;

		/// Part of a model's deposit per byte of its encoded entry.
		#[pallet::constant]
		type ModelDepositPerByte: Get<BalanceOf<Self>>;

		/// Longest model name, in bytes.
		#[pallet::constant]
		type MaxNameLen: Get<u32>;

		/// Longest source URI hint, in bytes.
		#[pallet::constant]
		type MaxSourceUriLen: Get<u32>;

		/// Largest redundancy (executors per task) a model may ask for.
		#[pallet::constant]
		type MaxRedundancy: Get<u32>;

		/// Most servers one model may have; at least `MaxRedundancy`.
		#[pallet::constant]
		type MaxServersPerModel: Get<u32>;

		/// Lowest fee a model may pay each executor of a task: at least what the chain work of
		/// one executor's share of a task costs in transaction fees, so that requests cannot make
		/// validators work for free. Must not be zero.
		#[pallet::constant]
		type MinFeePerExecutor: Get<BalanceOf<Self>>;

		/// Longest output the inference side accepts in a reveal (its `MaxOutputLen`): a causal
		/// language model whose longest generation
		/// ([`GenerationParams::max_output_bytes`](opg_primitives::models::GenerationParams::max_output_bytes))
		/// is longer is refused, since its executors could not reveal it.
		#[pallet::constant]
		type MaxOutputLen: Get<u32>;

		/// Weights of this pallet's calls.
		type WeightInfo: WeightInfo;

		/// Sets up what benchmarks need beyond this pallet (a validator).
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// Deposit for a registered model's storage.
		#[codec(index = 0)]
		ModelDeposit,
	}

	/// The id the next registered model (or published version) gets.
	#[pallet::storage]
	pub type NextModelId<T> = StorageValue<_, ModelId, ValueQuery>;

	/// Registered models by id.
	///
	/// `Twox64Concat`: ids are assigned sequentially by this pallet, so users cannot choose keys
	/// to unbalance the trie.
	#[pallet::storage]
	pub type Models<T: Config> = StorageMap<_, Twox64Concat, ModelId, ModelInfoOf<T>, OptionQuery>;

	/// The validators serving each model, sorted and unique; absent when there are none.
	///
	/// `Twox64Concat`: keys are model ids, assigned by this pallet (see [`Models`]).
	#[pallet::storage]
	pub type Servers<T: Config> = StorageMap<_, Twox64Concat, ModelId, ServersOf<T>, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A model was registered and its deposit held.
		ModelRegistered { model_id: ModelId, owner: T::AccountId, deposit: BalanceOf<T> },
		/// A new version of a model was registered and its deposit held.
		VersionPublished {
			model_id: ModelId,
			previous: ModelId,
			version: ModelVersion,
			owner: T::AccountId,
			deposit: BalanceOf<T>,
		},
		/// A model's fee per executor was changed.
		FeeUpdated { model_id: ModelId, fee_per_executor: BalanceOf<T> },
		/// A model's redundancy and quorum were set.
		RedundancyAndQuorumSet { model_id: ModelId, redundancy: u32, quorum: u32 },
		/// A model stopped taking new tasks.
		ModelDeprecated { model_id: ModelId },
		/// A deprecated model takes new tasks again.
		ModelReactivated { model_id: ModelId },
		/// A model, and its deposit, passed to a new owner.
		OwnershipTransferred { model_id: ModelId, from: T::AccountId, to: T::AccountId },
		/// A model's deposit was adjusted to the new size of its entry.
		DepositUpdated {
			model_id: ModelId,
			owner: T::AccountId,
			old_deposit: BalanceOf<T>,
			new_deposit: BalanceOf<T>,
		},
		/// A model was removed, with its server list, and its deposit released.
		ModelRemoved { model_id: ModelId, owner: T::AccountId, released: BalanceOf<T> },
		/// A validator declared it serves a model.
		ServingStarted { model_id: ModelId, validator: T::AccountId },
		/// A validator stopped serving a model.
		ServingStopped { model_id: ModelId, validator: T::AccountId },
		/// An account that is no longer a validator was removed from a model's servers.
		ServerPruned { model_id: ModelId, account: T::AccountId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No model has this id: use the id of a registered (and not removed) model.
		ModelNotFound,
		/// Only the model's owner may do this: sign with the owner's account.
		NotOwner,
		/// The name is empty: give the model a name.
		NameEmpty,
		/// The name is longer than `MaxNameLen` bytes: shorten it.
		NameTooLong,
		/// The source URI is empty: pass `None` for no URI.
		SourceUriEmpty,
		/// The source URI is longer than `MaxSourceUriLen` bytes: shorten it or pass `None`.
		SourceUriTooLong,
		/// The weights file size is zero: give the size in bytes of the weights file.
		ZeroModelSize,
		/// The redundancy is zero or above `MaxRedundancy`: pick one in `1..=MaxRedundancy`.
		InvalidRedundancy,
		/// The quorum is zero or above the redundancy: pick one in `1..=redundancy`, or `None`
		/// for the majority.
		InvalidQuorum,
		/// `TopK { k }` with `k` zero or above `MAX_TOP_K`: pick `k` in `1..=MAX_TOP_K`.
		InvalidTopK,
		/// `Quantized { decimals }` with `decimals` above `MAX_QUANTIZED_DECIMALS`: keep fewer.
		TooManyDecimals,
		/// The model is already deprecated: nothing to do.
		AlreadyDeprecated,
		/// The model is not deprecated: only a deprecated model can be reactivated.
		NotDeprecated,
		/// A version was already published from this model: publish from the latest version.
		AlreadySuperseded,
		/// The account already owns the model: transfer to another account.
		AlreadyOwner,
		/// The model has tasks in progress: wait until they settle or fail (deprecate it first so
		/// that it takes no new ones).
		HasPendingTasks,
		/// The caller is not a validator: register as a validator with the staking pallet first.
		NotValidator,
		/// The model is deprecated: only active models can be served.
		ModelNotActive,
		/// The caller already serves this model.
		AlreadyServing,
		/// The account does not serve this model.
		NotServing,
		/// The model has `MaxServersPerModel` servers already.
		TooManyServers,
		/// The account is an eligible validator: only servers that cannot take tasks (former,
		/// chilled, jailed or under-bonded validators) can be pruned.
		StillEligible,
		/// No model id is left (`ModelId::MAX` models were registered).
		ModelIdsExhausted,
		/// The previous version's number is the largest possible.
		VersionOverflow,
		/// The declared input shape is empty (`F32Vector { len: 0 }` or `Text { max_bytes: 0 }`):
		/// declare the number of `f32` values the model takes, or its longest text in bytes.
		InvalidInputShape,
		/// The input kind does not fit the architecture: an `Mlp` takes an `F32Vector`, a
		/// `BertEmbedding` `Text`, a `CausalLm` `Text` (a raw prompt) or `Chat`.
		InputKindMismatch,
		/// The caller is a validator that cannot take tasks (chilled, jailed, or with an own bond
		/// under the minimum): `activate` (or bond) first.
		NotEligible,
		/// The fee per executor is below `MinFeePerExecutor`, the chain's cost of one executor's
		/// share of a task: ask at least the minimum.
		FeeBelowMinimum,
		/// The output kind does not fit the architecture: a `CausalLm` outputs a `Generation`,
		/// every other architecture `Logits`, `Embedding` or `Values`.
		OutputKindMismatch,
		/// The comparison rule does not compare this output kind: a `Generation` is compared
		/// with `Tokens`, vectors of values with `Exact`, `Quantized`, `Argmax` or `TopK`.
		RuleMismatch,
		/// The weights format does not fit the architecture: a `CausalLm` is a `Gguf` file, and
		/// only a `CausalLm` is.
		FormatMismatch,
		/// `max_prompt_tokens` is zero or above `MAX_PROMPT_TOKENS`: pick one in
		/// `1..=MAX_PROMPT_TOKENS`.
		InvalidPromptLimit,
		/// `max_new_tokens` is zero or above `MAX_NEW_TOKENS`: pick one in
		/// `1..=MAX_NEW_TOKENS`.
		InvalidNewTokenLimit,
		/// `Sample` decoding with a temperature of zero or above `MAX_TEMPERATURE_MILLI`, or a
		/// `top_p_milli` of zero or above 1000: pick them in range, or `Greedy`.
		InvalidSampling,
		/// The longest generation of these parameters (`max_output_bytes`, about 100 bytes per
		/// new token) is longer than `MaxOutputLen`, so executors could not reveal it: lower
		/// `max_new_tokens`.
		GenerationTooLong,
		/// Token fees were given for a model that is not a causal language model: pass `None`.
		TokenFeesNotApplicable,
		/// The most a task can cost (the fee per executor plus the token fees of the longest
		/// prompt and generation, times `MaxRedundancy`) overflows the balance type: lower the
		/// fees.
		TokenFeesOverflow,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxNameLen::get() >= 1, "MaxNameLen must allow a non-empty name");
			assert!(T::MaxRedundancy::get() >= 1, "MaxRedundancy must allow one executor");
			assert!(
				T::MaxServersPerModel::get() >= T::MaxRedundancy::get(),
				"MaxServersPerModel must allow MaxRedundancy distinct executors of a task"
			);
			assert!(
				!T::ModelDepositBase::get().is_zero() || !T::ModelDepositPerByte::get().is_zero(),
				"a model's deposit must not be zero, or storage can be filled for free"
			);
			assert!(
				!T::MinFeePerExecutor::get().is_zero(),
				"MinFeePerExecutor must not be zero, or requests make validators work for free"
			);
			let max_len = u32::try_from(ModelInfoOf::<T>::max_encoded_len()).unwrap_or(u32::MAX);
			assert!(
				T::ModelDepositPerByte::get()
					.checked_mul(&BalanceOf::<T>::from(max_len))
					.and_then(|per_bytes| per_bytes.checked_add(&T::ModelDepositBase::get()))
					.is_some(),
				"the deposit of the largest model entry must not overflow"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers a model described by `spec`, owned by the caller, as `Active`, version 1.
		///
		/// Holds `ModelDepositBase + ModelDepositPerByte × encoded size` on the caller's account
		/// ([`HoldReason::ModelDeposit`]). `spec.quorum` defaults to the majority of
		/// `spec.redundancy`.
		///
		/// - Origin: signed; the caller becomes the owner.
		/// - Errors: [`Error::NameEmpty`], [`Error::NameTooLong`], [`Error::SourceUriEmpty`],
		///   [`Error::SourceUriTooLong`], [`Error::ZeroModelSize`], [`Error::InvalidRedundancy`],
		///   [`Error::InvalidQuorum`], [`Error::InvalidTopK`], [`Error::TooManyDecimals`],
		///   [`Error::InvalidInputShape`], [`Error::InputKindMismatch`],
		///   [`Error::OutputKindMismatch`], [`Error::RuleMismatch`], [`Error::FormatMismatch`],
		///   [`Error::InvalidPromptLimit`], [`Error::InvalidNewTokenLimit`],
		///   [`Error::InvalidSampling`], [`Error::GenerationTooLong`],
		///   [`Error::TokenFeesNotApplicable`], [`Error::TokenFeesOverflow`],
		///   [`Error::FeeBelowMinimum`], [`Error::ModelIdsExhausted`]; the currency's error
		///   (`TokenError::FundsUnavailable`) if the caller cannot afford the deposit.
		/// - Event: [`Event::ModelRegistered`].
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_model(
			Pallet::<T>::name_component(spec),
			Pallet::<T>::uri_component(spec),
		))]
		pub fn register_model(origin: OriginFor<T>, spec: ModelSpecOf<T>) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let model_id = NextModelId::<T>::get();
			let next_id = model_id.checked_add(1).ok_or(Error::<T>::ModelIdsExhausted)?;
			let info = Self::new_model_info(spec, owner.clone(), 1, None)?;
			let deposit = info.deposit;

			T::Currency::hold(&HoldReason::ModelDeposit.into(), &owner, deposit)?;
			Models::<T>::insert(model_id, info);
			NextModelId::<T>::put(next_id);

			Self::deposit_event(Event::ModelRegistered { model_id, owner, deposit });
			Ok(())
		}

		/// Sets the fee paid to each executor of the model's future tasks, at least
		/// `MinFeePerExecutor`.
		///
		/// - Origin: signed by the model's owner.
		/// - Errors: [`Error::ModelNotFound`], [`Error::NotOwner`], [`Error::FeeBelowMinimum`].
		/// - Event: [`Event::FeeUpdated`].
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::update_fee())]
		pub fn update_fee(
			origin: OriginFor<T>,
			model_id: ModelId,
			fee_per_executor: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut info = Self::owned_model(model_id, &who)?;
			ensure!(fee_per_executor >= T::MinFeePerExecutor::get(), Error::<T>::FeeBelowMinimum);

			info.fee_per_executor = fee_per_executor;
			Models::<T>::insert(model_id, info);

			Self::deposit_event(Event::FeeUpdated { model_id, fee_per_executor });
			Ok(())
		}

		/// Sets how many executors run each future task of the model (`redundancy`) and how many
		/// matching results settle it (`quorum`, the majority `redundancy / 2 + 1` if `None`).
		///
		/// - Origin: signed by the model's owner.
		/// - Errors: [`Error::ModelNotFound`], [`Error::NotOwner`], [`Error::InvalidRedundancy`]
		///   (zero or above `MaxRedundancy`), [`Error::InvalidQuorum`] (zero or above
		///   `redundancy`).
		/// - Event: [`Event::RedundancyAndQuorumSet`].
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_redundancy_and_quorum())]
		pub fn set_redundancy_and_quorum(
			origin: OriginFor<T>,
			model_id: ModelId,
			redundancy: u32,
			quorum: Option<u32>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut info = Self::owned_model(model_id, &who)?;
			let quorum = Self::check_redundancy_and_quorum(redundancy, quorum)?;

			info.redundancy = redundancy;
			info.quorum = quorum;
			Models::<T>::insert(model_id, info);

			Self::deposit_event(Event::RedundancyAndQuorumSet { model_id, redundancy, quorum });
			Ok(())
		}

		/// Deprecates the model: it stays readable (and its servers listed) but takes no new
		/// tasks, and no validator may start serving it.
		///
		/// - Origin: signed by the model's owner.
		/// - Errors: [`Error::ModelNotFound`], [`Error::NotOwner`], [`Error::AlreadyDeprecated`].
		/// - Event: [`Event::ModelDeprecated`].
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::deprecate())]
		pub fn deprecate(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut info = Self::owned_model(model_id, &who)?;
			ensure!(info.status == ModelStatus::Active, Error::<T>::AlreadyDeprecated);

			info.status = ModelStatus::Deprecated;
			Models::<T>::insert(model_id, info);

			Self::deposit_event(Event::ModelDeprecated { model_id });
			Ok(())
		}

		/// Reactivates a deprecated model: it takes new tasks again.
		///
		/// - Origin: signed by the model's owner.
		/// - Errors: [`Error::ModelNotFound`], [`Error::NotOwner`], [`Error::NotDeprecated`].
		/// - Event: [`Event::ModelReactivated`].
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::reactivate())]
		pub fn reactivate(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut info = Self::owned_model(model_id, &who)?;
			ensure!(info.status == ModelStatus::Deprecated, Error::<T>::NotDeprecated);

			info.status = ModelStatus::Active;
			Models::<T>::insert(model_id, info);

			Self::deposit_event(Event::ModelReactivated { model_id });
			Ok(())
		}

		/// Registers `spec` as the next version of `previous`: a new model id, `Active`, with
		/// version number `previous.version + 1` and `previous_version = Some(previous)`; the
		/// previous model gets `next_version` set and stays runnable until deprecated.
		///
		/// Holds the new model's deposit, and the growth of the previous entry's deposit, on the
		/// caller's account. Only the latest version of a chain can be published from.
		///
		/// - Origin: signed by the owner of `previous`, who owns the new version.
		/// - Errors: [`Error::ModelNotFound`], [`Error::NotOwner`], [`Error::AlreadySuperseded`],
		///   [`Error::VersionOverflow`], the validation errors of [`Pallet::register_model`], and
		///   the currency's error if the caller cannot afford the deposits.
		/// - Events: [`Event::DepositUpdated`] for `previous`, then [`Event::VersionPublished`].
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::publish_version(
			Pallet::<T>::name_component(spec),
			Pallet::<T>::uri_component(spec),
		))]
		pub fn publish_version(
			origin: OriginFor<T>,
			previous: ModelId,
			spec: ModelSpecOf<T>,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let mut previous_info = Self::owned_model(previous, &owner)?;
			ensure!(previous_info.next_version.is_none(), Error::<T>::AlreadySuperseded);
			let version =
				previous_info.version.checked_add(1).ok_or(Error::<T>::VersionOverflow)?;
			let model_id = NextModelId::<T>::get();
			let next_id = model_id.checked_add(1).ok_or(Error::<T>::ModelIdsExhausted)?;
			let info = Self::new_model_info(spec, owner.clone(), version, Some(previous))?;
			let deposit = info.deposit;

			T::Currency::hold(&HoldReason::ModelDeposit.into(), &owner, deposit)?;
			previous_info.next_version = Some(model_id);
			let (old_deposit, new_deposit) = Self::adjust_deposit(&mut previous_info)?;
			Models::<T>::insert(previous, previous_info);
			Models::<T>::insert(model_id, info);
			NextModelId::<T>::put(next_id);

			if old_deposit != new_deposit {
				Self::deposit_event(Event::DepositUpdated {
					model_id: previous,
					owner: owner.clone(),
					old_deposit,
					new_deposit,
				});
			}
			Self::deposit_event(Event::VersionPublished {
				model_id,
				previous,
				version,
				owner,
				deposit,
			});
			Ok(())
		}

		/// Transfers the model to `new_owner`; its deposit moves, still held, from the caller's
		/// account to the new owner's, who gets it back on removal.
		///
		/// - Origin: signed by the model's owner.
		/// - Errors: [`Error::ModelNotFound`], [`Error::NotOwner`], [`Error::AlreadyOwner`]; the
		///   currency's error if the deposit cannot be moved (`TokenError::CannotCreateHold` when
		///   `new_owner` does not exist: it must hold at least the existential deposit).
		/// - Event: [`Event::OwnershipTransferred`].
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::transfer_ownership())]
		pub fn transfer_ownership(
			origin: OriginFor<T>,
			model_id: ModelId,
			new_owner: AccountIdLookupOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let new_owner = T::Lookup::lookup(new_owner)?;
			let mut info = Self::owned_model(model_id, &who)?;
			ensure!(new_owner != who, Error::<T>::AlreadyOwner);

			T::Currency::transfer_on_hold(
				&HoldReason::ModelDeposit.into(),
				&who,
				&new_owner,
				info.deposit,
				Precision::Exact,
				Restriction::OnHold,
				Fortitude::Polite,
			)?;
			info.owner = new_owner.clone();
			Models::<T>::insert(model_id, info);

			Self::deposit_event(Event::OwnershipTransferred { model_id, from: who, to: new_owner });
			Ok(())
		}

		/// Removes the model and its server list and releases its deposit. The previous version,
		/// if still registered, is unlinked (its `next_version` cleared, its deposit adjusted);
		/// a next version keeps its `previous_version` as a historical link.
		///
		/// - Origin: signed by the model's owner.
		/// - Errors: [`Error::ModelNotFound`], [`Error::NotOwner`], [`Error::HasPendingTasks`]
		///   (the inference side still has tasks of this model in progress).
		/// - Events: [`Event::DepositUpdated`] for the previous version if it is unlinked, then
		///   [`Event::ModelRemoved`].
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::remove_model())]
		pub fn remove_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Self::owned_model(model_id, &who)?;
			ensure!(!T::PendingTasks::has_pending_tasks(model_id), Error::<T>::HasPendingTasks);

			if let Some(previous) = info.previous_version {
				Self::unlink_next_version(previous, model_id)?;
			}
			Models::<T>::remove(model_id);
			Servers::<T>::remove(model_id);
			// Best effort: nothing else touches this hold, and a removal must never be stuck.
			let released = T::Currency::release(
				&HoldReason::ModelDeposit.into(),
				&who,
				info.deposit,
				Precision::BestEffort,
			)?;

			Self::deposit_event(Event::ModelRemoved { model_id, owner: who, released });
			Ok(())
		}

		/// Declares that the caller, a validator, holds and runs the model: it may be assigned
		/// the model's tasks.
		///
		/// - Origin: signed by a validator that can take tasks (`Config::Staking::is_eligible`):
		///   one that [`Pallet::prune_server`] could remove at once takes no server place.
		/// - Errors: [`Error::NotValidator`], [`Error::NotEligible`], [`Error::ModelNotFound`],
		///   [`Error::ModelNotActive`], [`Error::AlreadyServing`], [`Error::TooManyServers`].
		/// - Event: [`Event::ServingStarted`].
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::serve_model())]
		pub fn serve_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(T::Staking::is_validator(&who), Error::<T>::NotValidator);
			ensure!(T::Staking::is_eligible(&who), Error::<T>::NotEligible);
			let info = Models::<T>::get(model_id).ok_or(Error::<T>::ModelNotFound)?;
			ensure!(info.is_runnable(), Error::<T>::ModelNotActive);
			let mut servers = Servers::<T>::get(model_id);
			let position = servers.binary_search(&who).err().ok_or(Error::<T>::AlreadyServing)?;
			servers.try_insert(position, who.clone()).map_err(|_| Error::<T>::TooManyServers)?;

			Servers::<T>::insert(model_id, servers);

			Self::deposit_event(Event::ServingStarted { model_id, validator: who });
			Ok(())
		}

		/// Declares that the caller no longer serves the model.
		///
		/// - Origin: signed by an account in the model's servers (validator or not any more).
		/// - Errors: [`Error::NotServing`].
		/// - Event: [`Event::ServingStopped`].
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::stop_serving())]
		pub fn stop_serving(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;

			Self::remove_server(model_id, &who)?;

			Self::deposit_event(Event::ServingStopped { model_id, validator: who });
			Ok(())
		}

		/// Removes `account` from the model's servers because it cannot take tasks: it is no
		/// longer a validator, or it is one that is not eligible (chilled, jailed, or with an own
		/// bond under the minimum). So nobody squats the `MaxServersPerModel` places of a model
		/// with bonds it withdrew. A pruned validator that is eligible again calls `serve_model`
		/// again for each model.
		///
		/// - Origin: signed, anyone.
		/// - Errors: [`Error::StillEligible`], [`Error::NotServing`].
		/// - Event: [`Event::ServerPruned`].
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::prune_server())]
		pub fn prune_server(
			origin: OriginFor<T>,
			model_id: ModelId,
			account: AccountIdLookupOf<T>,
		) -> DispatchResult {
			ensure_signed(origin)?;
			let account = T::Lookup::lookup(account)?;
			ensure!(!T::Staking::is_eligible(&account), Error::<T>::StillEligible);

			Self::remove_server(model_id, &account)?;

			Self::deposit_event(Event::ServerPruned { model_id, account });
			Ok(())
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// The model registered under `model_id`, if any.
		pub fn model(model_id: ModelId) -> Option<ModelInfoOf<T>> {
			Models::<T>::get(model_id)
		}

		/// The accounts serving `model_id`, sorted; empty for an unknown model.
		pub fn model_servers(model_id: ModelId) -> Vec<T::AccountId> {
			Servers::<T>::get(model_id).into_inner()
		}
	}

	impl<T: Config> Pallet<T> {
		/// Deposit currently held on `who` for models.
		pub fn held_deposit(who: &T::AccountId) -> BalanceOf<T> {
			T::Currency::balance_on_hold(&HoldReason::ModelDeposit.into(), who)
		}
	}
}
