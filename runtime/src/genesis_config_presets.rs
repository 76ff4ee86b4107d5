//! Genesis presets: `development` (Alice alone) and `local_testnet` (Alice, Bob, Charlie, Dave).
//!
//! Four validators for the local network because GRANDPA finalizes with more than two thirds of
//! its voters: four is the smallest set that keeps finalizing with one validator down.

use crate::{
	configs::TreasuryAccount,
	currency::{EXISTENTIAL_DEPOSIT, OPG},
	AccountId, BabeConfig, Balance, BalancesConfig, GrandpaConfig, RuntimeGenesisConfig,
	SudoConfig, BABE_GENESIS_EPOCH_CONFIG,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use serde_json::Value;
use sp_consensus_babe::AuthorityId as BabeId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::{self, PresetId};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

/// What every endowed development account starts with: one million OPG.
pub const ENDOWMENT: Balance = 1_000_000 * OPG;

/// The keys of one genesis validator.
struct Authority {
	babe: BabeId,
	grandpa: GrandpaId,
}

fn authority(sr: Sr25519Keyring, ed: Ed25519Keyring) -> Authority {
	Authority { babe: sr.public().into(), grandpa: ed.public().into() }
}

fn genesis(authorities: Vec<Authority>, endowed: Vec<AccountId>, root: AccountId) -> Value {
	let mut balances: Vec<(AccountId, Balance)> =
		endowed.into_iter().map(|account| (account, ENDOWMENT)).collect();
	// The treasury exists from genesis so that fees smaller than the existential deposit are
	// credited to it rather than dropped.
	balances.push((TreasuryAccount::get(), EXISTENTIAL_DEPOSIT));

	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances },
		babe: BabeConfig {
			authorities: authorities.iter().map(|a| (a.babe.clone(), 1)).collect::<Vec<_>>(),
			epoch_config: BABE_GENESIS_EPOCH_CONFIG,
		},
		grandpa: GrandpaConfig {
			authorities: authorities.iter().map(|a| (a.grandpa.clone(), 1)).collect::<Vec<_>>(),
		},
		sudo: SudoConfig { key: Some(root) },
	})
}

/// `development`: Alice validates alone; the well-known development accounts are endowed.
pub fn development_config_genesis() -> Value {
	genesis(
		vec![authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice)],
		Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect(),
		Sr25519Keyring::Alice.to_account_id(),
	)
}

/// `local_testnet`: Alice, Bob, Charlie and Dave validate; the well-known accounts are endowed.
pub fn local_testnet_config_genesis() -> Value {
	genesis(
		vec![
			authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
			authority(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
			authority(Sr25519Keyring::Charlie, Ed25519Keyring::Charlie),
			authority(Sr25519Keyring::Dave, Ed25519Keyring::Dave),
		],
		Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect(),
		Sr25519Keyring::Alice.to_account_id(),
	)
}

/// The JSON patch of the preset `id`, if there is one.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_testnet_config_genesis(),
		_ => return None,
	};
	Some(
		serde_json::to_string(&patch)
			.expect("serialization to json is expected to work; qed")
			.into_bytes(),
	)
}

/// The names of the presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
	]
}
