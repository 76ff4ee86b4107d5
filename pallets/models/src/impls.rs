//! Internal logic of the pallet (validation, deposits, server lists), the [`ModelProvider`]
//! implementation for other pallets, and the `try_state` checks.

use crate::{
	pallet::{Config, Error, Event, HoldReason, Models, Pallet, Servers},
	BalanceOf, ModelInfo, ModelInfoOf, ModelSpecOf, ModelStatus, ServersOf,
};
use codec::Encode;
use frame_support::{
	ensure,
	traits::{fungible::MutateHold, tokens::Precision, Get},
};
use opg_primitives::models::{
	majority, Architecture, GenerationParams, InvalidGeneration, InvalidRule, ModelFormat, ModelId,
	ModelParams, ModelProvider, ModelVersion, TokenFees,
};
use sp_runtime::{
	traits::{CheckedAdd, CheckedMul, Saturating, Zero},
	DispatchError,
};

impl<T: Config> Pallet<T> {
	/// Weight component of a spec's name: its length, capped at `MaxNameLen` (a longer name is
	/// rejected before any work that depends on it).
	pub(crate) fn name_component(spec: &ModelSpecOf<T>) -> u32 {
		len_component(spec.name.len(), T::MaxNameLen::get())
	}

	/// Weight component of a spec's source URI: its length (0 for none), capped at
	/// `MaxSourceUriLen`.
	pub(crate) fn uri_component(spec: &ModelSpecOf<T>) -> u32 {
		len_component(
			spec.source_uri.as_ref().map_or(0, |uri| uri.len()),
			T::MaxSourceUriLen::get(),
		)
	}

	/// The model `model_id` if `who` owns it.
	pub(crate) fn owned_model(
		model_id: ModelId,
		who: &T::AccountId,
	) -> Result<ModelInfoOf<T>, DispatchError> {
		let info = Models::<T>::get(model_id).ok_or(Error::<T>::ModelNotFound)?;
		ensure!(info.owner == *who, Error::<T>::NotOwner);
		Ok(info)
	}

	/// Checks `redundancy` against `MaxRedundancy` and returns the quorum (the majority when
	/// `None`), checked against `redundancy`.
	pub(crate) fn check_redundancy_and_quorum(
		redundancy: u32,
		quorum: Option<u32>,
	) -> Result<u32, DispatchError> {
		ensure!(
			redundancy >= 1 && redundancy <= T::MaxRedundancy::get(),
			Error::<T>::InvalidRedundancy
		);
		let quorum = quorum.unwrap_or_else(|| majority(redundancy));
		ensure!(quorum >= 1 && quorum <= redundancy, Error::<T>::InvalidQuorum);
		Ok(quorum)
	}

	/// Validates `spec` and builds the entry of a new `Active` model registered now, with its
	/// deposit computed (not yet held).
	pub(crate) fn new_model_info(
		spec: ModelSpecOf<T>,
		owner: T::AccountId,
		version: ModelVersion,
		previous_version: Option<ModelId>,
	) -> Result<ModelInfoOf<T>, DispatchError> {
		ensure!(!spec.name.is_empty(), Error::<T>::NameEmpty);
		let name = spec.name.try_into().map_err(|_| Error::<T>::NameTooLong)?;
		let source_uri = match spec.source_uri {
			None => None,
			Some(uri) => {
				ensure!(!uri.is_empty(), Error::<T>::SourceUriEmpty);
				Some(uri.try_into().map_err(|_| Error::<T>::SourceUriTooLong)?)
			},
		};
		ensure!(spec.size_bytes > 0, Error::<T>::ZeroModelSize);
		ensure!(spec.input.is_valid(), Error::<T>::InvalidInputShape);
		let architecture = &spec.descriptor.architecture;
		ensure!(spec.input.fits(architecture), Error::<T>::InputKindMismatch);
		ensure!(spec.output.fits(architecture), Error::<T>::OutputKindMismatch);
		ensure!(spec.comparison.applies_to(spec.output), Error::<T>::RuleMismatch);
		let generation = match *architecture {
			Architecture::CausalLm { generation } => Some(generation),
			_ => None,
		};
		ensure!(
			generation.is_some() == (spec.descriptor.format == ModelFormat::Gguf),
			Error::<T>::FormatMismatch
		);
		if let Some(generation) = generation {
			Self::check_generation(&generation)?;
		}
		ensure!(spec.fee_per_executor >= T::MinFeePerExecutor::get(), Error::<T>::FeeBelowMinimum);
		Self::check_token_fees(spec.fee_per_executor, spec.token_fees.as_ref(), generation)?;
		let quorum = Self::check_redundancy_and_quorum(spec.redundancy, spec.quorum)?;
		spec.comparison.validate().map_err(|e| match e {
			InvalidRule::TooManyDecimals => Error::<T>::TooManyDecimals,
			InvalidRule::InvalidTopK => Error::<T>::InvalidTopK,
		})?;

		let mut info = ModelInfo {
			owner,
			name,
			version,
			previous_version,
			next_version: None,
			descriptor: spec.descriptor,
			size_bytes: spec.size_bytes,
			input: spec.input,
			output: spec.output,
			fee_per_executor: spec.fee_per_executor,
			token_fees: spec.token_fees,
			redundancy: spec.redundancy,
			quorum,
			comparison: spec.comparison,
			status: ModelStatus::Active,
			registered_at: frame_system::Pallet::<T>::block_number(),
			source_uri,
			deposit: Zero::zero(),
		};
		info.deposit = Self::deposit_for(&info);
		Ok(info)
	}

	/// Checks a causal language model's generation parameters: their bounds, and that its
	/// longest generation fits a reveal (`MaxOutputLen`).
	pub(crate) fn check_generation(generation: &GenerationParams) -> Result<(), DispatchError> {
		generation.validate().map_err(|e| match e {
			InvalidGeneration::PromptLimit => Error::<T>::InvalidPromptLimit,
			InvalidGeneration::NewTokenLimit => Error::<T>::InvalidNewTokenLimit,
			InvalidGeneration::Sampling => Error::<T>::InvalidSampling,
		})?;
		ensure!(
			generation.max_output_bytes() <= T::MaxOutputLen::get(),
			Error::<T>::GenerationTooLong
		);
		Ok(())
	}

	/// Checks `token_fees`: only a causal language model (`generation`) has them, and the most
	/// a task of the largest redundancy pays its executors (`fee_per_executor` plus the token
	/// fees of the longest prompt and generation, each) does not overflow.
	pub(crate) fn check_token_fees(
		fee_per_executor: BalanceOf<T>,
		token_fees: Option<&TokenFees<BalanceOf<T>>>,
		generation: Option<GenerationParams>,
	) -> Result<(), DispatchError> {
		let Some(fees) = token_fees else { return Ok(()) };
		let generation = generation.ok_or(Error::<T>::TokenFeesNotApplicable)?;
		fees.charge(generation.max_prompt_tokens, generation.max_new_tokens)
			.and_then(|tokens| tokens.checked_add(&fee_per_executor))
			.and_then(|per_executor| {
				per_executor.checked_mul(&BalanceOf::<T>::from(T::MaxRedundancy::get()))
			})
			.ok_or(Error::<T>::TokenFeesOverflow)?;
		Ok(())
	}

	/// `ModelDepositBase + ModelDepositPerByte × encoded size of the entry`, saturating (the
	/// integrity test checks that the largest entry does not saturate).
	///
	/// The `deposit` field's value does not change the size: balances encode at a fixed width.
	pub fn deposit_for(info: &ModelInfoOf<T>) -> BalanceOf<T> {
		let size = u32::try_from(info.encoded_size()).unwrap_or(u32::MAX);
		T::ModelDepositPerByte::get()
			.saturating_mul(size.into())
			.saturating_add(T::ModelDepositBase::get())
	}

	/// Brings the deposit held for `info` (on its owner) to [`Self::deposit_for`] after a change
	/// of its size, holding more or releasing the excess; returns `(old, new)` deposits.
	pub(crate) fn adjust_deposit(
		info: &mut ModelInfoOf<T>,
	) -> Result<(BalanceOf<T>, BalanceOf<T>), DispatchError> {
		let old = info.deposit;
		let new = Self::deposit_for(info);
		let reason = HoldReason::ModelDeposit.into();
		if new > old {
			T::Currency::hold(&reason, &info.owner, new.saturating_sub(old))?;
		} else if new < old {
			// Best effort: nothing else touches this hold, and a release must never block.
			T::Currency::release(
				&reason,
				&info.owner,
				old.saturating_sub(new),
				Precision::BestEffort,
			)?;
		}
		info.deposit = new;
		Ok((old, new))
	}

	/// Clears `previous.next_version` if it points to `removed`, adjusting its deposit.
	pub(crate) fn unlink_next_version(
		previous: ModelId,
		removed: ModelId,
	) -> Result<(), DispatchError> {
		let Some(mut info) = Models::<T>::get(previous) else { return Ok(()) };
		if info.next_version != Some(removed) {
			return Ok(());
		}
		info.next_version = None;
		let (old_deposit, new_deposit) = Self::adjust_deposit(&mut info)?;
		let owner = info.owner.clone();
		Models::<T>::insert(previous, info);
		if old_deposit != new_deposit {
			Self::deposit_event(Event::DepositUpdated {
				model_id: previous,
				owner,
				old_deposit,
				new_deposit,
			});
		}
		Ok(())
	}

	/// Removes `who` from the servers of `model_id`, dropping the entry when it empties.
	pub(crate) fn remove_server(
		model_id: ModelId,
		who: &T::AccountId,
	) -> Result<(), DispatchError> {
		let mut servers = Servers::<T>::get(model_id);
		let position = servers.binary_search(who).map_err(|_| Error::<T>::NotServing)?;
		servers.remove(position);
		if servers.is_empty() {
			Servers::<T>::remove(model_id);
		} else {
			Servers::<T>::insert(model_id, servers);
		}
		Ok(())
	}

	/// Checks the pallet's invariants:
	/// - every model id is below `NextModelId`, has a non-empty name and
	///   `1 ≤ quorum ≤ redundancy`;
	/// - version links agree: `a.next_version == Some(b)` iff `b.previous_version == Some(a)`,
	///   for registered `a` and `b` (a removed previous version leaves a historical link);
	/// - for every owner, the balance held for [`HoldReason::ModelDeposit`] equals the sum of the
	///   recorded deposits of its models (so the deposits held equal the sum over models);
	/// - every server list belongs to a registered model, is non-empty, sorted and unique.
	#[cfg(any(feature = "try-runtime", test))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use frame_support::traits::fungible::InspectHold;

		let next_id = crate::NextModelId::<T>::get();
		let mut deposits = BTreeMap::<T::AccountId, BalanceOf<T>>::new();
		for (model_id, info) in Models::<T>::iter() {
			ensure!(model_id < next_id, "a model id is not below NextModelId");
			ensure!(!info.name.is_empty(), "a model has an empty name");
			ensure!(
				info.quorum >= 1 && info.quorum <= info.redundancy,
				"a model's quorum is not in 1..=redundancy"
			);
			if let Some(next) = info.next_version {
				let next_info = Models::<T>::get(next).ok_or("a next version is not registered")?;
				ensure!(
					next_info.previous_version == Some(model_id),
					"a next version does not link back"
				);
			}
			if let Some(previous) = info.previous_version {
				if let Some(previous_info) = Models::<T>::get(previous) {
					ensure!(
						previous_info.next_version == Some(model_id),
						"a registered previous version does not link forward"
					);
				}
			}
			let sum = deposits.entry(info.owner.clone()).or_insert_with(Zero::zero);
			*sum = sum.saturating_add(info.deposit);
		}
		for (owner, sum) in deposits {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::ModelDeposit.into(), &owner) == sum,
				"an owner's held deposit differs from the sum of its models' deposits"
			);
		}
		for (model_id, servers) in Servers::<T>::iter() {
			ensure!(Models::<T>::contains_key(model_id), "servers of an unregistered model");
			ensure!(!servers.is_empty(), "an empty server list is stored");
			ensure!(
				servers.iter().zip(servers.iter().skip(1)).all(|(a, b)| a < b),
				"a server list is not sorted and unique"
			);
		}
		Ok(())
	}
}

/// `len` as a `u32` weight component, capped at `max`.
fn len_component(len: usize, max: u32) -> u32 {
	u32::try_from(len).unwrap_or(u32::MAX).min(max)
}

impl<T: Config> ModelProvider<T::AccountId> for Pallet<T> {
	type Balance = BalanceOf<T>;
	type MaxServers = T::MaxServersPerModel;

	fn runnable_model(model_id: ModelId) -> Option<ModelParams<BalanceOf<T>>> {
		// A model priced under the minimum (by a runtime upgrade that raised it) takes no new
		// tasks until its owner raises its fee.
		Models::<T>::get(model_id)
			.filter(|info| {
				info.is_runnable() && info.fee_per_executor >= T::MinFeePerExecutor::get()
			})
			.map(|info| info.params())
	}

	fn model_params(model_id: ModelId) -> Option<ModelParams<BalanceOf<T>>> {
		Models::<T>::get(model_id).map(|info| info.params())
	}

	fn servers(model_id: ModelId) -> ServersOf<T> {
		Servers::<T>::get(model_id)
	}

	fn is_served_by(model_id: ModelId, who: &T::AccountId) -> bool {
		Servers::<T>::get(model_id).binary_search(who).is_ok()
	}
}
