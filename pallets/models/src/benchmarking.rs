//! Benchmarks of every call, in their worst case: longest names and URIs (as components),
//! version links on both sides, full server lists.

use super::*;
use crate::Pallet as Models;
use alloc::{vec, vec::Vec};
use codec::MaxEncodedLen;
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	Get,
};
use frame_system::RawOrigin;
use opg_primitives::models::{
	Architecture, ComparisonRule, EngineProfile, InputKind, ModelDescriptor, ModelFormat,
	OutputKind,
};
use sp_core::H256;
use sp_runtime::traits::{Saturating, StaticLookup};

/// Gives `who` enough to hold ten of the largest deposits, and the existential deposit.
fn fund<T: Config>(who: &T::AccountId) {
	let max_len = u32::try_from(ModelInfoOf::<T>::max_encoded_len()).unwrap_or(u32::MAX);
	let max_deposit = T::ModelDepositPerByte::get()
		.saturating_mul(max_len.into())
		.saturating_add(T::ModelDepositBase::get());
	let amount =
		max_deposit.saturating_mul(10u32.into()).saturating_add(T::Currency::minimum_balance());
	T::Currency::set_balance(who, amount);
}

/// A spec with a name of `n` bytes and a URI of `u` bytes (none for 0), and the largest
/// architecture and comparison rule encodings.
fn spec<T: Config>(n: u32, u: u32) -> ModelSpecOf<T> {
	ModelSpec {
		name: vec![b'n'; n as usize],
		descriptor: ModelDescriptor {
			weights_hash: H256::repeat_byte(1),
			format: ModelFormat::Safetensors,
			architecture: Architecture::BertEmbedding {
				config_hash: H256::repeat_byte(2),
				tokenizer_hash: H256::repeat_byte(3),
			},
			profile: EngineProfile::REPRODUCIBLE_F32,
		},
		size_bytes: 1 << 30,
		input: InputKind::Text { max_bytes: 16_384 },
		output: OutputKind::Embedding,
		fee_per_executor: T::MinFeePerExecutor::get(),
		token_fees: None,
		redundancy: T::MaxRedundancy::get(),
		quorum: None,
		comparison: ComparisonRule::TopK { k: 5 },
		source_uri: if u == 0 { None } else { Some(vec![b'u'; u as usize]) },
	}
}

/// The largest spec.
fn max_spec<T: Config>() -> ModelSpecOf<T> {
	spec::<T>(T::MaxNameLen::get(), T::MaxSourceUriLen::get())
}

/// Registers the largest model for a funded `owner` and returns its id.
fn registered<T: Config>(owner: &T::AccountId) -> Result<ModelId, BenchmarkError> {
	fund::<T>(owner);
	let model_id = NextModelId::<T>::get();
	Models::<T>::register_model(RawOrigin::Signed(owner.clone()).into(), max_spec::<T>())?;
	Ok(model_id)
}

/// Registers the largest model for `owner` as the next version of another one, so that it has
/// a previous version to unlink (the worst case of removal); returns its id.
fn registered_with_previous<T: Config>(owner: &T::AccountId) -> Result<ModelId, BenchmarkError> {
	let previous = registered::<T>(owner)?;
	let model_id = NextModelId::<T>::get();
	Models::<T>::publish_version(
		RawOrigin::Signed(owner.clone()).into(),
		previous,
		max_spec::<T>(),
	)?;
	Ok(model_id)
}

/// Fills the servers of `model_id` with `count` validators, all placed after the accounts
/// benchmarks act with (seeds from 1000), and returns them.
fn fill_servers<T: Config>(
	model_id: ModelId,
	count: u32,
) -> Result<Vec<T::AccountId>, BenchmarkError> {
	let mut servers = Vec::new();
	for i in 0..count {
		let validator: T::AccountId = account("server", 1000u32.saturating_add(i), 0);
		T::BenchmarkHelper::make_validator(&validator);
		Models::<T>::serve_model(RawOrigin::Signed(validator.clone()).into(), model_id)?;
		servers.push(validator);
	}
	Ok(servers)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_model(
		n: Linear<1, { T::MaxNameLen::get() }>,
		u: Linear<0, { T::MaxSourceUriLen::get() }>,
	) {
		let caller: T::AccountId = whitelisted_caller();
		fund::<T>(&caller);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), spec::<T>(n, u));

		let model = Models::<T>::model(0).expect("registered");
		assert_eq!(model.owner, caller);
		assert_eq!(Models::<T>::held_deposit(&caller), model.deposit);
	}

	#[benchmark]
	fn update_fee() -> Result<(), BenchmarkError> {
		let caller: T::AccountId = whitelisted_caller();
		let model_id = registered::<T>(&caller)?;
		let fee = T::MinFeePerExecutor::get().saturating_add(1u32.into());

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), model_id, fee);

		assert_eq!(Models::<T>::model(model_id).expect("registered").fee_per_executor, fee);
		Ok(())
	}

	#[benchmark]
	fn set_redundancy_and_quorum() -> Result<(), BenchmarkError> {
		let caller: T::AccountId = whitelisted_caller();
		let model_id = registered::<T>(&caller)?;
		let redundancy = T::MaxRedundancy::get();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), model_id, redundancy, None);

		let model = Models::<T>::model(model_id).expect("registered");
		assert_eq!(model.redundancy, redundancy);
		Ok(())
	}

	#[benchmark]
	fn deprecate() -> Result<(), BenchmarkError> {
		let caller: T::AccountId = whitelisted_caller();
		let model_id = registered::<T>(&caller)?;

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), model_id);

		assert!(!Models::<T>::model(model_id).expect("registered").is_runnable());
		Ok(())
	}

	#[benchmark]
	fn reactivate() -> Result<(), BenchmarkError> {
		let caller: T::AccountId = whitelisted_caller();
		let model_id = registered::<T>(&caller)?;
		Models::<T>::deprecate(RawOrigin::Signed(caller.clone()).into(), model_id)?;

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), model_id);

		assert!(Models::<T>::model(model_id).expect("registered").is_runnable());
		Ok(())
	}

	#[benchmark]
	fn publish_version(
		n: Linear<1, { T::MaxNameLen::get() }>,
		u: Linear<0, { T::MaxSourceUriLen::get() }>,
	) -> Result<(), BenchmarkError> {
		let caller: T::AccountId = whitelisted_caller();
		let previous = registered::<T>(&caller)?;
		let model_id = NextModelId::<T>::get();

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), previous, spec::<T>(n, u));

		let model = Models::<T>::model(model_id).expect("published");
		assert_eq!(model.previous_version, Some(previous));
		Ok(())
	}

	#[benchmark]
	fn transfer_ownership() -> Result<(), BenchmarkError> {
		let caller: T::AccountId = whitelisted_caller();
		let model_id = registered::<T>(&caller)?;
		let new_owner: T::AccountId = account("new_owner", 0, 0);
		fund::<T>(&new_owner);
		let new_owner_lookup = T::Lookup::unlookup(new_owner.clone());

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), model_id, new_owner_lookup);

		assert_eq!(Models::<T>::model(model_id).expect("registered").owner, new_owner);
		Ok(())
	}

	#[benchmark]
	fn remove_model() -> Result<(), BenchmarkError> {
		let caller: T::AccountId = whitelisted_caller();
		let model_id = registered_with_previous::<T>(&caller)?;
		fill_servers::<T>(model_id, T::MaxServersPerModel::get())?;
		let held_before = Models::<T>::held_deposit(&caller);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), model_id);

		assert!(Models::<T>::model(model_id).is_none());
		assert!(Models::<T>::model_servers(model_id).is_empty());
		assert!(Models::<T>::held_deposit(&caller) < held_before);
		Ok(())
	}

	#[benchmark]
	fn serve_model() -> Result<(), BenchmarkError> {
		let owner: T::AccountId = account("owner", 0, 0);
		let model_id = registered::<T>(&owner)?;
		let caller: T::AccountId = whitelisted_caller();
		T::BenchmarkHelper::make_validator(&caller);
		let existing = fill_servers::<T>(model_id, T::MaxServersPerModel::get().saturating_sub(1))?;

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), model_id);

		assert!(Models::<T>::model_servers(model_id).contains(&caller));
		assert_eq!(Models::<T>::model_servers(model_id).len(), existing.len().saturating_add(1));
		Ok(())
	}

	#[benchmark]
	fn stop_serving() -> Result<(), BenchmarkError> {
		let owner: T::AccountId = account("owner", 0, 0);
		let model_id = registered::<T>(&owner)?;
		let servers = fill_servers::<T>(model_id, T::MaxServersPerModel::get())?;
		let caller = servers.first().cloned().ok_or(BenchmarkError::Stop("no servers"))?;

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), model_id);

		assert!(!Models::<T>::model_servers(model_id).contains(&caller));
		Ok(())
	}

	#[benchmark]
	fn prune_server() -> Result<(), BenchmarkError> {
		let owner: T::AccountId = account("owner", 0, 0);
		let model_id = registered::<T>(&owner)?;
		// A former validator: it served, then left the validator set (put in the list directly,
		// since the staking side cannot be told to forget it here).
		let former: T::AccountId = account("former", 0, 0);
		let mut servers =
			fill_servers::<T>(model_id, T::MaxServersPerModel::get().saturating_sub(1))?;
		servers.push(former.clone());
		servers.sort();
		Servers::<T>::insert(
			model_id,
			ServersOf::<T>::try_from(servers)
				.map_err(|_| BenchmarkError::Stop("too many servers"))?,
		);
		let caller: T::AccountId = whitelisted_caller();
		let former_lookup = T::Lookup::unlookup(former.clone());

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), model_id, former_lookup);

		assert!(!Models::<T>::model_servers(model_id).contains(&former));
		Ok(())
	}

	// Each benchmark's test runs through the mock's builder, which checks `try_state` after it.
	impl_benchmark_test_suite!(
		Models,
		crate::mock::ExtBuilder::default(),
		crate::mock::Test,
		exec_name = build_and_execute
	);
}
