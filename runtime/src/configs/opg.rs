//! Configuration of the OPG pallets: the model registry and inference staking.

use crate::{
	configs::TreasuryAccount, currency::OPG, Balances, BlockNumber, InferenceStaking, Runtime,
	RuntimeHoldReason,
};
use frame_support::{
	parameter_types,
	traits::{tokens::imbalance::ResolveTo, ConstU32},
	PalletId,
};

parameter_types! {
	/// Held for every registered model: a base plus a price per byte of its stored entry.
	pub const ModelDepositBase: crate::Balance = OPG;
	pub const ModelDepositPerByte: crate::Balance = OPG / 100;
}

/// The model registry. Servers must be validators of `InferenceStaking`.
impl pallet_models::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Staking = InferenceStaking;
	/// No inference pallet yet: no model has pending tasks.
	type PendingTasks = ();
	type ModelDepositBase = ModelDepositBase;
	type ModelDepositPerByte = ModelDepositPerByte;
	type MaxNameLen = ConstU32<64>;
	type MaxSourceUriLen = ConstU32<256>;
	type MaxRedundancy = ConstU32<16>;
	type MaxServersPerModel = ConstU32<128>;
	type WeightInfo = pallet_models::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = ModelsBenchmarkHelper;
}

/// Makes an account a validator for the registry's benchmarks: funds it and registers it with
/// the minimum bond.
#[cfg(feature = "runtime-benchmarks")]
pub struct ModelsBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_models::BenchmarkHelper<crate::AccountId> for ModelsBenchmarkHelper {
	fn make_validator(who: &crate::AccountId) {
		use frame_support::traits::fungible::Mutate;
		let bond = MinValidatorBond::get();
		let _ = Balances::mint_into(who, bond.saturating_mul(2));
		let _ = InferenceStaking::register_validator(
			frame_system::RawOrigin::Signed(who.clone()).into(),
			bond,
			sp_runtime::Perbill::from_percent(10),
		);
	}
}

/// How long unbonding funds stay at stake: 7 days; 10 blocks (20 s) with `fast-runtime`, so the
/// test networks can unbond and withdraw within a test.
#[cfg(not(feature = "fast-runtime"))]
pub const UNBONDING_PERIOD: BlockNumber = 7 * crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const UNBONDING_PERIOD: BlockNumber = 10;

/// The window in which faults count towards jail, and how long jail lasts.
#[cfg(not(feature = "fast-runtime"))]
pub const FAULT_WINDOW: BlockNumber = crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const FAULT_WINDOW: BlockNumber = 10 * crate::time::MINUTES;
#[cfg(not(feature = "fast-runtime"))]
pub const JAIL_DURATION: BlockNumber = crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const JAIL_DURATION: BlockNumber = 5 * crate::time::MINUTES;

parameter_types! {
	pub const StakingPalletId: PalletId = PalletId(*b"opg/stak");
	pub const MinValidatorBond: crate::Balance = 1_000 * OPG;
	pub const MinDelegation: crate::Balance = 10 * OPG;
	pub const UnbondingPeriod: BlockNumber = UNBONDING_PERIOD;
	pub const FaultWindow: BlockNumber = FAULT_WINDOW;
	pub const JailDuration: BlockNumber = JAIL_DURATION;
}

/// Validators bond OPG, token holders delegate; slashed stake goes to the treasury.
impl pallet_inference_staking::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type PalletId = StakingPalletId;
	type MinValidatorBond = MinValidatorBond;
	type MinDelegation = MinDelegation;
	type MaxValidators = ConstU32<256>;
	type MaxDelegationsPerDelegator = ConstU32<16>;
	type MaxUnbondingChunks = ConstU32<16>;
	type UnbondingPeriod = UnbondingPeriod;
	type MaxFaultsBeforeJail = ConstU32<3>;
	type FaultWindow = FaultWindow;
	type JailDuration = JailDuration;
	type WeightInfo = pallet_inference_staking::weights::SubstrateWeight<Runtime>;
}
