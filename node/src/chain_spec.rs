//! Chain specifications: built from the runtime's genesis presets, with the OPG token properties.

use opg_runtime::{
	currency::{SS58_FORMAT, TOKEN_DECIMALS, TOKEN_SYMBOL},
	WASM_BINARY,
};
use sc_service::ChainType;

/// A chain specification of OPG chain (no client extensions).
pub type ChainSpec = sc_service::GenericChainSpec;

/// The properties wallets read: `tokenSymbol: OPG`, `tokenDecimals: 18`, `ss58Format: 42`.
pub fn properties() -> sc_chain_spec::Properties {
	let mut properties = sc_chain_spec::Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_FORMAT.into());
	properties
}

fn wasm_binary() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| {
		"The runtime's wasm binary is not available: the node was built with SKIP_WASM_BUILD"
			.to_string()
	})
}

/// `dev`: Alice alone validates (preset `development`).
pub fn development_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("OPG Development")
		.with_id("opg_dev")
		.with_chain_type(ChainType::Development)
		.with_genesis_config_preset_name(sp_genesis_builder::DEV_RUNTIME_PRESET)
		.with_protocol_id("opg")
		.with_properties(properties())
		.build())
}

/// `local`: Alice, Bob, Charlie and Dave validate (preset `local_testnet`).
pub fn local_chain_spec() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name("OPG Local Testnet")
		.with_id("opg_local")
		.with_chain_type(ChainType::Local)
		.with_genesis_config_preset_name(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET)
		.with_protocol_id("opg")
		.with_properties(properties())
		.build())
}
