//! Test runtime: System, Balances and this pallet, with a slash handler that records and burns.

// Test code: an overflow here is a failed test, not a halted chain (as `clippy.toml` allows
// unwrap and indexing in tests).
#![allow(clippy::arithmetic_side_effects)]

use crate as pallet_inference_staking;
use crate::CreditOf;
use frame_support::{
	derive_impl, parameter_types,
	traits::{fungible::Balanced, ConstU32, ConstU64, Hooks, Imbalance, OnUnbalanced},
	PalletId,
};
use opg_primitives::staking::InferenceStaking;
use sp_runtime::{BuildStorage, DispatchError, Perbill};

pub type AccountId = u64;
pub type Balance = u64;
pub type BlockNumber = u64;

pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CHARLIE: AccountId = 3;
pub const DAVE: AccountId = 4;
pub const EVE: AccountId = 5;
pub const FERDIE: AccountId = 6;
/// Has no funds.
pub const NOBODY: AccountId = 99;

/// Free balance every funded account starts with.
pub const INITIAL: Balance = 10_000;
pub const MIN_VALIDATOR_BOND: Balance = 100;
pub const MIN_DELEGATION: Balance = 10;
pub const MAX_VALIDATORS: u32 = 10;
pub const MAX_DELEGATIONS: u32 = 4;
pub const MAX_CHUNKS: u32 = 4;
pub const UNBONDING_PERIOD: BlockNumber = 10;
pub const MAX_FAULTS: u32 = 3;
pub const FAULT_WINDOW: BlockNumber = 100;
pub const JAIL_DURATION: BlockNumber = 50;
pub const ED: Balance = 1;

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
	pub struct Test;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;
	#[runtime::pallet_index(1)]
	pub type Balances = pallet_balances;
	#[runtime::pallet_index(2)]
	pub type Staking = pallet_inference_staking;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = frame_system::mocking::MockBlock<Test>;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
	type RuntimeHoldReason = RuntimeHoldReason;
}

/// Storage key under which the mock's slash handler records what it received. In storage (not
/// a thread local) so that a call that fails after a slash was applied rolls it back too.
const SLASHED_KEY: &[u8] = b":test:slashed_total";

/// Total the slash handler received (and burnt) so far.
pub fn slashed_total() -> Balance {
	frame_support::storage::unhashed::get_or_default(SLASHED_KEY)
}

/// Slash handler of the mock: records the amount, then drops the credit, which burns it.
pub struct RecordAndBurn;
impl OnUnbalanced<CreditOf<Test>> for RecordAndBurn {
	fn on_nonzero_unbalanced(credit: CreditOf<Test>) {
		frame_support::storage::unhashed::put(SLASHED_KEY, &(slashed_total() + credit.peek()));
		drop(credit);
	}
}

/// Blocks before a commission increase applies.
pub const COMMISSION_DELAY: u64 = 10;

parameter_types! {
	pub const MaxCommissionIncrease: Perbill = Perbill::from_percent(10);
	pub const StakingPalletId: PalletId = PalletId(*b"opg/stak");
}

impl pallet_inference_staking::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Slash = RecordAndBurn;
	type PalletId = StakingPalletId;
	type MinValidatorBond = ConstU64<MIN_VALIDATOR_BOND>;
	type MinDelegation = ConstU64<MIN_DELEGATION>;
	type MaxValidators = ConstU32<MAX_VALIDATORS>;
	type MaxDelegationsPerDelegator = ConstU32<MAX_DELEGATIONS>;
	type MaxUnbondingChunks = ConstU32<MAX_CHUNKS>;
	type UnbondingPeriod = ConstU64<UNBONDING_PERIOD>;
	type MaxFaultsBeforeJail = ConstU32<MAX_FAULTS>;
	type FaultWindow = ConstU64<FAULT_WINDOW>;
	type JailDuration = ConstU64<JAIL_DURATION>;
	type CommissionDelay = ConstU64<COMMISSION_DELAY>;
	type MaxCommissionIncrease = MaxCommissionIncrease;
	type OnValidatorRemoved = ();
	type WeightInfo = ();
}

/// Builds the test externalities.
pub struct ExtBuilder {
	balances: Vec<(AccountId, Balance)>,
	validators: Vec<(AccountId, Balance, Perbill)>,
	delegations: Vec<(AccountId, AccountId, Balance)>,
}

impl Default for ExtBuilder {
	fn default() -> Self {
		Self {
			balances: [ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE]
				.into_iter()
				.map(|who| (who, INITIAL))
				.collect(),
			validators: Vec::new(),
			delegations: Vec::new(),
		}
	}
}

impl ExtBuilder {
	/// Funds `who` with `amount` (in addition to the default accounts).
	pub fn balance(mut self, who: AccountId, amount: Balance) -> Self {
		self.balances.retain(|(w, _)| *w != who);
		self.balances.push((who, amount));
		self
	}

	/// Registers a validator at genesis.
	pub fn validator(mut self, who: AccountId, bond: Balance, commission: Perbill) -> Self {
		self.validators.push((who, bond, commission));
		self
	}

	/// Delegates at genesis.
	pub fn delegation(mut self, who: AccountId, validator: AccountId, amount: Balance) -> Self {
		self.delegations.push((who, validator, amount));
		self
	}

	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> { balances: self.balances, ..Default::default() }
			.assimilate_storage(&mut storage)
			.unwrap();
		pallet_inference_staking::GenesisConfig::<Test> {
			validators: self.validators,
			delegations: self.delegations,
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| System::set_block_number(1));
		ext
	}

	/// Builds, runs `test`, then checks the pallet's invariants.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			test();
			Staking::do_try_state().expect("invariants hold after the test");
		});
	}
}

/// Default externalities (funded accounts, no validators).
pub fn new_test_ext() -> sp_io::TestExternalities {
	ExtBuilder::default().build()
}

/// Advances to block `n`, running the pallets' hooks.
pub fn run_to_block(n: BlockNumber) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		<Staking as Hooks<BlockNumber>>::on_initialize(next);
	}
}

/// Pays `amount` of newly issued funds as a reward to `validator`.
pub fn reward(validator: AccountId, amount: Balance) -> Result<(), DispatchError> {
	let credit = Balances::issue(amount);
	<Staking as InferenceStaking<AccountId>>::reward(&validator, credit).map_err(|(_, e)| e)
}

/// Slashes `percent` % of everything at stake on `validator`.
pub fn slash(validator: AccountId, percent: u32) -> Balance {
	<Staking as InferenceStaking<AccountId>>::slash(
		&validator,
		Perbill::from_percent(percent),
		opg_primitives::staking::SlashReason::Mismatch,
	)
}

/// Free balance of `who`.
pub fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

/// Balance of `who` held for staking.
pub fn held(who: AccountId) -> Balance {
	use frame_support::traits::fungible::InspectHold;
	Balances::balance_on_hold(&RuntimeHoldReason::Staking(crate::HoldReason::Staking), &who)
}

/// The pallet's events so far.
pub fn staking_events() -> Vec<crate::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Staking(e) => Some(e),
			_ => None,
		})
		.collect()
}
