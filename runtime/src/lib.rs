//! The OPG chain runtime: a FRAME runtime for verifiable decentralized AI inference.
//!
//! # Overview
//!
//! This crate assembles the pallets of OPG chain into one runtime:
//! - block production by BABE (whose per-block VRF output later seeds task assignment) and
//!   finality by GRANDPA, both with static authorities from genesis for now;
//! - the native token OPG (18 decimals) through `pallet-balances`, with transaction fees
//!   paid to the treasury account;
//! - `pallet-sudo` for governance of the young chain.
//!
//! The layout follows the solochain template: [`configs`] holds each pallet's configuration,
//! [`apis`] the runtime APIs used by the node and by polkadot.js, and
//! [`genesis_config_presets`] the `development` and `local_testnet` presets.

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` needs a large recursion limit.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

pub mod apis;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarks;
pub mod configs;
pub mod genesis_config_presets;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub use frame_support::{
	construct_runtime, derive_impl, parameter_types,
	traits::{ConstBool, ConstU128, ConstU32, ConstU64, ConstU8},
	weights::constants::ParityDbWeight,
};
pub use pallet_balances::Call as BalancesCall;
pub use pallet_timestamp::Call as TimestampCall;
#[cfg(any(feature = "std", test))]
pub use sp_runtime::BuildStorage;

/// Opaque types: what the node needs to know about blocks without knowing the runtime.
pub mod opaque {
	use super::*;
	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	/// Opaque block header type.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block type.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	/// Opaque block identifier type.
	pub type BlockId = generic::BlockId<Block>;
	/// Opaque block hash type.
	pub type Hash = <BlakeTwo256 as sp_runtime::traits::Hash>::Output;
}

impl_opaque_keys! {
	/// The keys a validator's node holds: BABE for authoring, GRANDPA for finality.
	pub struct SessionKeys {
		pub babe: Babe,
		pub grandpa: Grandpa,
	}
}

/// The runtime's version. polkadot.js reads `spec_name` and the versions to pick types.
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("opg"),
	impl_name: alloc::borrow::Cow::Borrowed("opg-node"),
	authoring_version: 1,
	// Bump on every change of runtime logic; `transaction_version` on every change of calls or
	// transaction extensions.
	spec_version: 112,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 7,
	system_version: 1,
};

/// Time and the BABE schedule.
pub mod time {
	use super::BlockNumber;

	/// Target block time in milliseconds. Slots are as long as blocks.
	///
	/// Production chains use 6 s. The `fast-runtime` feature, for test networks only, uses 2 s so
	/// that end-to-end tests and commit-reveal rounds move quickly.
	#[cfg(not(feature = "fast-runtime"))]
	pub const MILLI_SECS_PER_BLOCK: u64 = 6000;
	#[cfg(feature = "fast-runtime")]
	pub const MILLI_SECS_PER_BLOCK: u64 = 2000;

	/// Slot duration of BABE, in milliseconds.
	pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;

	// Time is measured by number of blocks.
	pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
	pub const HOURS: BlockNumber = MINUTES * 60;
	pub const DAYS: BlockNumber = HOURS * 24;

	/// Length of a BABE epoch in slots: one hour in production, one minute with `fast-runtime`.
	///
	/// Authorities are static (`SameAuthoritiesForever`), so the epoch only paces the refresh of
	/// the epoch randomness. It cannot be changed once the chain has started.
	#[cfg(not(feature = "fast-runtime"))]
	pub const EPOCH_DURATION_IN_SLOTS: BlockNumber = HOURS;
	#[cfg(feature = "fast-runtime")]
	pub const EPOCH_DURATION_IN_SLOTS: BlockNumber = MINUTES;

	/// 1 in 4 slots has a primary (VRF-elected) author; the others get secondary VRF authors so
	/// every slot still has a block and every block carries a VRF output.
	pub const PRIMARY_PROBABILITY: (u64, u64) = (1, 4);
}

/// The BABE epoch configuration set at genesis.
pub const BABE_GENESIS_EPOCH_CONFIG: sp_consensus_babe::BabeEpochConfiguration =
	sp_consensus_babe::BabeEpochConfiguration {
		c: time::PRIMARY_PROBABILITY,
		allowed_slots: sp_consensus_babe::AllowedSlots::PrimaryAndSecondaryVRFSlots,
	};

/// Amounts of the native token OPG (18 decimals).
pub mod currency {
	use super::Balance;

	/// One OPG.
	pub const OPG: Balance = 1_000_000_000_000_000_000;
	/// 10^-3 OPG.
	pub const MILLI_OPG: Balance = OPG / 1_000;
	/// 10^-6 OPG.
	pub const MICRO_OPG: Balance = MILLI_OPG / 1_000;
	/// Minimum balance of an account: 0.001 OPG.
	pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_OPG;
	/// Token symbol shown by wallets.
	pub const TOKEN_SYMBOL: &str = "OPG";
	/// Token decimals shown by wallets.
	pub const TOKEN_DECIMALS: u8 = 18;
	/// SS58 address format (42: generic Substrate).
	pub const SS58_FORMAT: u16 = 42;
}

/// Alias to 512-bit hash when used in the context of a transaction signature on the chain.
pub type Signature = MultiSignature;

/// Some way of identifying an account on the chain.
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;

/// Balance of an account.
pub type Balance = u128;

/// Index of a transaction in the chain.
pub type Nonce = u32;

/// A hash of some data used by the chain.
pub type Hash = sp_core::H256;

/// An index to a block.
pub type BlockNumber = u32;

/// The address format for describing accounts.
pub type Address = MultiAddress<AccountId, ()>;

/// Block header type as expected by this runtime.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;

/// Block type as expected by this runtime.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// A Block signed with a Justification.
pub type SignedBlock = generic::SignedBlock<Block>;

/// BlockId type as expected by this runtime.
pub type BlockId = generic::BlockId<Block>;

/// The transaction extensions, checked in this order for every extrinsic.
pub type TxExtension = (
	frame_system::AuthorizeCall<Runtime>,
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

/// Unchecked extrinsic type as expected by this runtime.
pub type UncheckedExtrinsic =
	generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;

/// The payload being signed in transactions.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// All migrations of the runtime, aside from the ones declared in the pallets.
#[allow(unused_parens)]
/// Storage migrations run at the next runtime upgrade (each is versioned: it runs once).
/// The registry's run in order: a chain at version 0 goes to 1, then to 2.
type Migrations = (
	pallet_inference::migrations::V0ToV1<Runtime>,
	pallet_inference::migrations::V1ToV2<Runtime>,
	pallet_models::migrations::V0ToV1<Runtime>,
	pallet_models::migrations::V1ToV2<Runtime>,
);

/// Executive: handles dispatch to the various modules.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	// BABE must come before Timestamp and anything that reads its randomness.
	#[runtime::pallet_index(1)]
	pub type Babe = pallet_babe;

	#[runtime::pallet_index(2)]
	pub type Timestamp = pallet_timestamp;

	#[runtime::pallet_index(3)]
	pub type Balances = pallet_balances;

	#[runtime::pallet_index(4)]
	pub type TransactionPayment = pallet_transaction_payment;

	#[runtime::pallet_index(5)]
	pub type Grandpa = pallet_grandpa;

	#[runtime::pallet_index(6)]
	pub type Sudo = pallet_sudo;

	// OPG pallets.
	#[runtime::pallet_index(10)]
	pub type Models = pallet_models;

	#[runtime::pallet_index(11)]
	pub type InferenceStaking = pallet_inference_staking;

	// After BABE: its `on_finalize` stores the block's VRF output before this pallet's
	// `on_finalize` draws executors from it.
	#[runtime::pallet_index(12)]
	pub type Inference = pallet_inference;
}
