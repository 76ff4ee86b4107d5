//! Unit tests of the runtime's configuration: genesis presets, constants and fees.

// Test arithmetic on known constants cannot overflow.
#![allow(clippy::arithmetic_side_effects)]

use crate::{
	configs::{TreasuryAccount, TRANSACTION_BYTE_FEE, WEIGHT_FEE},
	currency::{EXISTENTIAL_DEPOSIT, MILLI_OPG, OPG},
	genesis_config_presets::{self, ENDOWMENT},
	AllPalletsWithSystem, Babe, Balances, Grandpa, Runtime, RuntimeCall, RuntimeGenesisConfig,
	System, TransactionPayment,
};
use frame_support::{
	dispatch::GetDispatchInfo,
	traits::{fungible::Inspect, IntegrityTest},
};
use sp_keyring::Sr25519Keyring;
use sp_runtime::BuildStorage;

/// Builds the genesis state of `preset` exactly as the node does (JSON patch onto the default).
fn preset_ext(preset: &str) -> sp_io::TestExternalities {
	let patch = genesis_config_presets::get_preset(&preset.into()).expect("preset exists");
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("serializes");
	let patch: serde_json::Value = serde_json::from_slice(&patch).expect("preset is JSON");
	json_merge(&mut config, patch);
	let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("patched config");
	config.build_storage().expect("genesis builds").into()
}

fn json_merge(a: &mut serde_json::Value, b: serde_json::Value) {
	match (a, b) {
		(serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
			for (k, v) in b {
				json_merge(a.entry(k).or_insert(serde_json::Value::Null), v);
			}
		},
		(a, b) => *a = b,
	}
}

#[test]
fn integrity_tests_pass() {
	sp_io::TestExternalities::default().execute_with(AllPalletsWithSystem::integrity_test);
}

#[test]
fn presets_are_listed_and_unknown_presets_are_refused() {
	let names: Vec<String> = genesis_config_presets::preset_names()
		.into_iter()
		.map(|p| String::from_utf8(p.into()).expect("utf8"))
		.collect();
	assert_eq!(names, vec!["development".to_string(), "local_testnet".to_string()]);
	assert!(genesis_config_presets::get_preset(&"mainnet".into()).is_none());
}

#[test]
fn local_testnet_has_four_authorities_and_endowed_accounts() {
	preset_ext(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(pallet_babe::Authorities::<Runtime>::get().len(), 4);
		assert_eq!(Grandpa::grandpa_authorities().len(), 4);
		assert_eq!(Babe::epoch_config(), Some(crate::BABE_GENESIS_EPOCH_CONFIG));
		let well_known = Sr25519Keyring::well_known().count() as u128;
		for key in Sr25519Keyring::well_known() {
			assert_eq!(Balances::balance(&key.to_account_id()), ENDOWMENT);
		}
		assert_eq!(Balances::balance(&TreasuryAccount::get()), EXISTENTIAL_DEPOSIT);
		// The staking pallet's reward pot is created with the existential deposit at genesis.
		let pot = crate::InferenceStaking::pot_account();
		assert_eq!(Balances::balance(&pot), EXISTENTIAL_DEPOSIT);
		assert_eq!(Balances::total_issuance(), ENDOWMENT * well_known + 2 * EXISTENTIAL_DEPOSIT);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(Sr25519Keyring::Alice.to_account_id()));
	});
}

#[test]
fn development_has_alice_alone_as_authority() {
	preset_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		let babe = pallet_babe::Authorities::<Runtime>::get();
		assert_eq!(babe.len(), 1);
		assert_eq!(babe.first().map(|a| a.0.clone()), Some(Sr25519Keyring::Alice.public().into()));
		assert_eq!(Grandpa::grandpa_authorities().len(), 1);
	});
}

#[test]
fn token_constants_are_opg_18_decimals() {
	assert_eq!(OPG, 10u128.pow(18));
	assert_eq!(EXISTENTIAL_DEPOSIT, OPG / 1_000);
	assert_eq!(<Runtime as frame_system::Config>::SS58Prefix::get(), 42);
}

#[test]
fn a_transfer_costs_a_few_milli_opg() {
	preset_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		System::set_block_number(1);
		let call = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
			dest: Sr25519Keyring::Bob.to_account_id().into(),
			value: OPG,
		});
		// A signed transfer is about 150 bytes.
		let fee = TransactionPayment::compute_fee(150, &call.get_dispatch_info(), 0);
		assert!(fee > MILLI_OPG && fee < 10 * MILLI_OPG, "fee {fee}");
		assert_eq!(TransactionPayment::length_to_fee(1), TRANSACTION_BYTE_FEE);
		assert_eq!(
			TransactionPayment::weight_to_fee(frame_support::weights::Weight::from_parts(1, 0)),
			WEIGHT_FEE
		);
	});
}
