//! Test runtime: System, Balances and this pallet, with a staking side made of a configurable set
//! of validators and an inference side made of a configurable set of models with pending tasks.

use crate::{self as pallet_models, HoldReason, ModelSpec};
use core::cell::RefCell;
use frame_support::{
	derive_impl, parameter_types,
	traits::{fungible::InspectHold, ConstU32, ConstU64},
};
use opg_primitives::{
	models::{
		Architecture, ComparisonRule, Decoding, EngineProfile, GenerationParams, InputKind,
		ModelDescriptor, ModelFormat, ModelId, OutputKind, PendingTasksGuard, TokenFees,
	},
	staking::{InferenceStaking, SlashReason},
};
use sp_core::H256;
use sp_runtime::{BuildStorage, DispatchError, Perbill, Weight};
use std::collections::BTreeSet;

pub type AccountId = u64;
pub type Balance = u64;

/// Model owners, well funded.
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CHARLIE: AccountId = 3;
/// An account that can afford no deposit.
pub const POOR: AccountId = 4;
/// An account that does not exist (no balance).
pub const NOBODY: AccountId = 5;
/// Validators at genesis, funded.
pub const VALIDATOR_1: AccountId = 11;
pub const VALIDATOR_2: AccountId = 12;
pub const VALIDATOR_3: AccountId = 13;

pub const INITIAL_BALANCE: Balance = 1_000_000;
pub const POOR_BALANCE: Balance = 50;
pub const DEPOSIT_BASE: Balance = 100;
pub const DEPOSIT_PER_BYTE: Balance = 2;
pub const MAX_NAME_LEN: u32 = 32;
pub const MAX_URI_LEN: u32 = 64;
pub const MAX_REDUNDANCY: u32 = 5;
pub const MAX_SERVERS: u32 = 8;
/// The registry's lowest fee per executor.
pub const MIN_FEE: Balance = 5;
/// Longest revealed output the inference side accepts.
pub const MAX_OUTPUT_LEN: u32 = 16_384;

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
	pub type Models = pallet_models;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = frame_system::mocking::MockBlock<Test>;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
}

thread_local! {
	static VALIDATORS: RefCell<BTreeSet<AccountId>> = const { RefCell::new(BTreeSet::new()) };
	static PENDING: RefCell<BTreeSet<ModelId>> = const { RefCell::new(BTreeSet::new()) };
	static INELIGIBLE: RefCell<BTreeSet<AccountId>> = const { RefCell::new(BTreeSet::new()) };
}

/// Makes validator `who` ineligible for tasks (chilled, jailed or under-bonded), or eligible.
pub fn set_ineligible(who: AccountId, ineligible: bool) {
	INELIGIBLE.with(|v| {
		if ineligible {
			v.borrow_mut().insert(who);
		} else {
			v.borrow_mut().remove(&who);
		}
	});
}

/// Makes `who` a validator, or not.
pub fn set_validator(who: AccountId, validator: bool) {
	VALIDATORS.with(|v| {
		let mut v = v.borrow_mut();
		if validator {
			v.insert(who);
		} else {
			v.remove(&who);
		}
	});
}

/// Marks `model_id` as having pending tasks, or not.
pub fn set_pending_tasks(model_id: ModelId, pending: bool) {
	PENDING.with(|p| {
		let mut p = p.borrow_mut();
		if pending {
			p.insert(model_id);
		} else {
			p.remove(&model_id);
		}
	});
}

/// Staking side: validators are a configurable set; the rest is not used by this pallet.
pub struct MockStaking;
impl InferenceStaking<AccountId> for MockStaking {
	type Balance = Balance;
	type Credit = ();

	fn is_validator(who: &AccountId) -> bool {
		VALIDATORS.with(|v| v.borrow().contains(who))
	}
	fn is_eligible(who: &AccountId) -> bool {
		Self::is_validator(who) && !INELIGIBLE.with(|v| v.borrow().contains(who))
	}
	fn total_stake(_who: &AccountId) -> Balance {
		0
	}
	fn reward(_validator: &AccountId, _reward: ()) -> Result<(), ((), DispatchError)> {
		Ok(())
	}
	fn slash(_validator: &AccountId, _fraction: Perbill, _reason: SlashReason) -> Balance {
		0
	}
	fn note_fault(_validator: &AccountId) {}
	fn total_eligible_stake() -> Balance {
		0
	}
	fn eligible_validator_at(_point: Balance) -> Option<AccountId> {
		None
	}
	fn eligible_validators() -> Vec<(AccountId, Balance)> {
		VALIDATORS.with(|v| v.borrow().iter().map(|who| (*who, 0)).collect())
	}
	fn slash_weight() -> Weight {
		Weight::zero()
	}
	fn delegators_weight() -> Weight {
		Weight::zero()
	}
}

/// Inference side: the models with pending tasks are a configurable set.
pub struct MockPendingTasks;
impl PendingTasksGuard for MockPendingTasks {
	fn has_pending_tasks(model_id: ModelId) -> bool {
		PENDING.with(|p| p.borrow().contains(&model_id))
	}
}

#[cfg(feature = "runtime-benchmarks")]
pub struct MockBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<AccountId> for MockBenchmarkHelper {
	fn make_validator(who: &AccountId) {
		set_validator(*who, true);
	}
}

parameter_types! {
	pub const ModelDepositBase: Balance = DEPOSIT_BASE;
}

impl pallet_models::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Staking = MockStaking;
	type PendingTasks = MockPendingTasks;
	type ModelDepositBase = ModelDepositBase;
	type ModelDepositPerByte = ConstU64<DEPOSIT_PER_BYTE>;
	type MaxNameLen = ConstU32<MAX_NAME_LEN>;
	type MaxSourceUriLen = ConstU32<MAX_URI_LEN>;
	type MaxRedundancy = ConstU32<MAX_REDUNDANCY>;
	type MaxServersPerModel = ConstU32<MAX_SERVERS>;
	type MinFeePerExecutor = ConstU64<MIN_FEE>;
	type MaxOutputLen = ConstU32<MAX_OUTPUT_LEN>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockBenchmarkHelper;
}

/// Builds test externalities: funded owners and validators, one poor account.
pub struct ExtBuilder {
	validators: Vec<AccountId>,
}

impl Default for ExtBuilder {
	fn default() -> Self {
		Self { validators: vec![VALIDATOR_1, VALIDATOR_2, VALIDATOR_3] }
	}
}

impl ExtBuilder {
	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		let mut balances: Vec<(AccountId, Balance)> =
			[ALICE, BOB, CHARLIE].iter().map(|who| (*who, INITIAL_BALANCE)).collect();
		balances.push((POOR, POOR_BALANCE));
		balances.extend(self.validators.iter().map(|who| (*who, INITIAL_BALANCE)));
		pallet_balances::GenesisConfig::<Test> { balances, ..Default::default() }
			.assimilate_storage(&mut storage)
			.unwrap();

		VALIDATORS.with(|v| *v.borrow_mut() = self.validators.iter().copied().collect());
		PENDING.with(|p| p.borrow_mut().clear());

		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| System::set_block_number(1));
		ext
	}

	/// Runs `test`, then checks the pallet's invariants.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			test();
			Models::do_try_state().expect("try_state holds after the test");
		});
	}
}

/// A small classifier: 3 executors, majority quorum, quantized to 4 decimals.
pub fn mnist_spec() -> ModelSpec<Balance> {
	ModelSpec {
		name: b"mnist".to_vec(),
		descriptor: ModelDescriptor {
			weights_hash: H256::repeat_byte(0xAA),
			format: ModelFormat::Safetensors,
			architecture: Architecture::Mlp { config_hash: H256::repeat_byte(0xBB) },
			profile: EngineProfile::REPRODUCIBLE_F32,
		},
		size_bytes: 420_000,
		input: InputKind::F32Vector { len: 784 },
		output: OutputKind::Logits,
		fee_per_executor: 10,
		token_fees: None,
		redundancy: 3,
		quorum: None,
		comparison: ComparisonRule::Quantized { decimals: 4 },
		source_uri: None,
	}
}

/// A text embedding model with every optional field filled.
pub fn bert_spec() -> ModelSpec<Balance> {
	ModelSpec {
		name: b"minilm-l6".to_vec(),
		descriptor: ModelDescriptor {
			weights_hash: H256::repeat_byte(0x11),
			format: ModelFormat::Safetensors,
			architecture: Architecture::BertEmbedding {
				config_hash: H256::repeat_byte(0x22),
				tokenizer_hash: H256::repeat_byte(0x33),
			},
			profile: EngineProfile::REPRODUCIBLE_F32,
		},
		size_bytes: 90_000_000,
		input: InputKind::Text { max_bytes: 2_048 },
		output: OutputKind::Embedding,
		fee_per_executor: 25,
		token_fees: None,
		redundancy: 5,
		quorum: Some(4),
		comparison: ComparisonRule::Quantized { decimals: 3 },
		source_uri: Some(b"https://example.invalid/minilm".to_vec()),
	}
}

/// SmolLM2-like generation limits: 512 prompt tokens, 128 new ones, greedy.
pub fn generation() -> GenerationParams {
	GenerationParams {
		prompt: opg_primitives::models::PromptFormat::Chat,
		max_prompt_tokens: 512,
		max_new_tokens: 128,
		stop_tokens: [Some(2), None, None, None],
		decoding: Decoding::Greedy,
	}
}

/// A causal language model taking chat messages, with prices per token.
pub fn llm_spec() -> ModelSpec<Balance> {
	ModelSpec {
		name: b"smollm2-135m".to_vec(),
		descriptor: ModelDescriptor {
			weights_hash: H256::repeat_byte(0x44),
			format: ModelFormat::Gguf,
			architecture: Architecture::CausalLm { generation: generation() },
			profile: EngineProfile::REPRODUCIBLE_F32,
		},
		size_bytes: 93_000_000,
		input: InputKind::Chat { max_bytes: 4_096 },
		output: OutputKind::Generation,
		fee_per_executor: 20,
		token_fees: Some(TokenFees { per_prompt_token: 1, per_generated_token: 3 }),
		redundancy: 3,
		quorum: None,
		comparison: ComparisonRule::Tokens,
		source_uri: None,
	}
}

/// Events of this pallet, oldest first.
pub fn model_events() -> Vec<pallet_models::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|record| match record.event {
			RuntimeEvent::Models(event) => Some(event),
			_ => None,
		})
		.collect()
}

/// Deposit held on `who` for models.
pub fn held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::ModelDeposit.into(), &who)
}

/// Free balance of `who`.
pub fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

/// Registers `spec` for `owner` and returns the new model's id.
pub fn register(owner: AccountId, spec: ModelSpec<Balance>) -> ModelId {
	let model_id = pallet_models::NextModelId::<Test>::get();
	frame_support::assert_ok!(Models::register_model(RuntimeOrigin::signed(owner), spec));
	model_id
}

/// The deposit an entry of this model must have: base plus per byte of its encoding.
pub fn expected_deposit(model_id: ModelId) -> Balance {
	use codec::Encode;
	let info = pallet_models::Models::<Test>::get(model_id).unwrap();
	DEPOSIT_BASE + DEPOSIT_PER_BYTE * info.encoded_size() as Balance
}
