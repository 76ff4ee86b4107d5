//! Test runtime: System, Balances, the real model registry and staking pallets, and this pallet,
//! with a switchable randomness source and accounts that receive protocol fees and slashes (so
//! no funds are created or destroyed and conservation can be checked).

use crate::{self as pallet_inference, HoldReason};
use core::cell::RefCell;
use frame_support::{
	assert_ok, derive_impl, parameter_types,
	traits::{
		fungible::InspectHold, tokens::imbalance::ResolveTo, ConstU32, ConstU64, OnFinalize,
		OnInitialize, Randomness,
	},
	weights::Weight,
	PalletId,
};
use opg_primitives::{
	inference::{commitment, encode_output, Rejection, Salt, TaskId, TaskOutcome},
	models::{
		Architecture, ComparisonRule, EngineProfile, InputKind, ModelDescriptor, ModelFormat,
		ModelId, OutputKind,
	},
};
use pallet_models::ModelSpec;
use sp_core::H256;
use sp_runtime::{
	testing::{TestSignature, UintAuthorityId},
	traits::{BlakeTwo256, Hash},
	BuildStorage, Perbill,
};

pub type AccountId = u64;
pub type Balance = u64;
pub type BlockNumber = u64;

/// Model owner.
pub const OWNER: AccountId = 1;
/// Requesters.
pub const ALICE: AccountId = 2;
pub const BOB: AccountId = 3;
/// Can pay no fee.
pub const POOR: AccountId = 4;
/// Delegates to `V1`.
pub const DELEGATOR: AccountId = 5;
/// Validators (all serve the default model).
pub const V1: AccountId = 11;
pub const V2: AccountId = 12;
pub const V3: AccountId = 13;
pub const V4: AccountId = 14;
/// Receives protocol fees.
pub const TREASURY: AccountId = 100;
/// Receives slashed stake.
pub const SLASH_SINK: AccountId = 101;

pub const INITIAL: Balance = 1_000_000;
pub const POOR_BALANCE: Balance = 50;
pub const BOND: Balance = 10_000;
pub const DELEGATION: Balance = 10_000;
pub const FEE_PER_EXECUTOR: Balance = 1_000;
/// Most tasks in one batch of commits or reveals.
pub const MAX_BATCH: u32 = 8;
/// Slashes kept per validator.
pub const MAX_SLASH_RECORDS: u32 = 16;
pub const COMMISSION: Perbill = Perbill::from_percent(10);
pub const PROTOCOL_FEE: Perbill = Perbill::from_percent(10);
pub const MISMATCH_SLASH: Perbill = Perbill::from_percent(10);
pub const NO_SHOW_SLASH: Perbill = Perbill::from_percent(5);
pub const MAX_REDUNDANCY: u32 = 5;
pub const MAX_SERVERS: u32 = 8;
pub const MAX_INPUT: u32 = 64;
pub const MAX_OUTPUT: u32 = 1_024;
pub const COMMIT_PERIOD: BlockNumber = 5;
/// Blocks a replacement needs before the commit deadline: drawn at the end of block `b`, its
/// commit is in block `b + 1` at the earliest.
pub const REPLACEMENT_WINDOW: BlockNumber = 2;
pub const REVEAL_PERIOD: BlockNumber = 4;
pub const RESULT_TTL: BlockNumber = 10;
pub const MAX_ASSIGNMENT_DELAY: BlockNumber = 3;
/// An offence span: longer than a task lives (1 + 3 + 5 + 4 = 13 blocks).
pub const OFFENCE_WINDOW: BlockNumber = 20;
pub const MAX_AGENDA_ITEMS: u32 = 8;
/// The default model (registered at genesis by `OWNER`).
pub const MODEL: ModelId = 0;

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
	#[runtime::pallet_index(3)]
	pub type Staking = pallet_inference_staking;
	#[runtime::pallet_index(4)]
	pub type Inference = pallet_inference;
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

/// Blocks before a commission increase applies.
pub const COMMISSION_DELAY: u64 = 10;

parameter_types! {
	pub const MaxCommissionIncrease: Perbill = Perbill::from_percent(10);
	pub const Treasury: AccountId = TREASURY;
	pub const SlashSink: AccountId = SLASH_SINK;
	pub const StakingPalletId: PalletId = PalletId(*b"opg/stak");
	pub const ModelDepositBase: Balance = 100;
	pub const ProtocolFee: Perbill = PROTOCOL_FEE;
	pub const MismatchSlash: Perbill = MISMATCH_SLASH;
	pub const NoShowSlash: Perbill = NO_SHOW_SLASH;
}

impl pallet_models::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Staking = Staking;
	type PendingTasks = Inference;
	type ModelDepositBase = ModelDepositBase;
	type ModelDepositPerByte = ConstU64<1>;
	type MaxNameLen = ConstU32<32>;
	type MaxSourceUriLen = ConstU32<64>;
	type MaxRedundancy = ConstU32<MAX_REDUNDANCY>;
	type MaxServersPerModel = ConstU32<MAX_SERVERS>;
	type MinFeePerExecutor = ConstU64<1>;
	type MaxOutputLen = ConstU32<MAX_OUTPUT>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = ();
}

impl pallet_inference_staking::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Slash = ResolveTo<SlashSink, Balances>;
	type PalletId = StakingPalletId;
	type MinValidatorBond = ConstU64<1_000>;
	type MinDelegation = ConstU64<10>;
	type MaxValidators = ConstU32<32>;
	type MaxDelegationsPerDelegator = ConstU32<4>;
	type MaxUnbondingChunks = ConstU32<4>;
	type UnbondingPeriod = ConstU64<10>;
	type MaxFaultsBeforeJail = ConstU32<100>;
	type FaultWindow = ConstU64<100>;
	type JailDuration = ConstU64<50>;
	type CommissionDelay = ConstU64<COMMISSION_DELAY>;
	type MaxCommissionIncrease = MaxCommissionIncrease;
	type OnValidatorRemoved = Inference;
	type WeightInfo = ();
}

thread_local! {
	static RANDOMNESS_ON: RefCell<bool> = const { RefCell::new(true) };
	static AGENDA_ITEMS_PER_BLOCK: RefCell<u64> = const { RefCell::new(16) };
	static COMMIT_PERIOD_NOW: RefCell<BlockNumber> = const { RefCell::new(COMMIT_PERIOD) };
	static DRAWS_PER_BLOCK: RefCell<u32> = const { RefCell::new(2 * MAX_AGENDA_ITEMS) };
}

/// Sets `MaxDrawsPerBlock` (twice `MAX_AGENDA_ITEMS` unless a test sets it, so that only the
/// tests of the draw limit reach it).
pub fn set_max_draws(draws: u32) {
	DRAWS_PER_BLOCK.with(|d| *d.borrow_mut() = draws);
}

/// `MaxDrawsPerBlock`: twice `MAX_AGENDA_ITEMS` unless a test sets it.
pub struct MaxDrawsPerBlock;
impl frame_support::traits::Get<u32> for MaxDrawsPerBlock {
	fn get() -> u32 {
		DRAWS_PER_BLOCK.with(|d| *d.borrow())
	}
}

/// Sets the commit period of tasks requested from now on (`COMMIT_PERIOD` unless a test sets
/// it).
pub fn set_commit_period(blocks: BlockNumber) {
	COMMIT_PERIOD_NOW.with(|p| *p.borrow_mut() = blocks);
}

/// The commit period: `COMMIT_PERIOD` unless a test sets it.
pub struct CommitPeriod;
impl frame_support::traits::Get<BlockNumber> for CommitPeriod {
	fn get() -> BlockNumber {
		COMMIT_PERIOD_NOW.with(|p| *p.borrow())
	}
}

/// Sets the agenda's budget to `items` worst-case items per block.
pub fn set_agenda_budget(items: u64) {
	AGENDA_ITEMS_PER_BLOCK.with(|b| *b.borrow_mut() = items);
}

/// The agenda's budget: a number of worst-case items (16 unless a test sets it).
pub struct AgendaWeight;
impl frame_support::traits::Get<Weight> for AgendaWeight {
	fn get() -> Weight {
		let items = AGENDA_ITEMS_PER_BLOCK.with(|b| *b.borrow());
		// Plus room for the agenda's own reads and writes.
		crate::Pallet::<Test>::max_item_weight()
			.saturating_mul(items)
			.saturating_add(Weight::from_parts(1_000_000_000, 0))
	}
}

/// Turns the randomness source on or off (off: assignment is postponed).
pub fn set_randomness(on: bool) {
	RANDOMNESS_ON.with(|r| *r.borrow_mut() = on);
}

/// Randomness that changes every block: `blake2(subject ‖ block number)`, or none when off.
pub struct TestRandomness;
impl Randomness<Option<H256>, BlockNumber> for TestRandomness {
	fn random(subject: &[u8]) -> (Option<H256>, BlockNumber) {
		let now = System::block_number();
		let on = RANDOMNESS_ON.with(|r| *r.borrow());
		(on.then(|| BlakeTwo256::hash_of(&(subject, now))), now)
	}
}

impl pallet_inference::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Models = Models;
	type Staking = Staking;
	type Randomness = TestRandomness;
	type ProtocolFee = ProtocolFee;
	type ProtocolFeeDestination = ResolveTo<Treasury, Balances>;
	type MismatchSlash = MismatchSlash;
	type NoShowSlash = NoShowSlash;
	type OffenceWindow = ConstU64<OFFENCE_WINDOW>;
	type MaxInputLen = ConstU32<MAX_INPUT>;
	type MaxOutputLen = ConstU32<MAX_OUTPUT>;
	type MaxRedundancy = ConstU32<MAX_REDUNDANCY>;
	type CommitPeriod = CommitPeriod;
	type ReplacementWindow = ConstU64<REPLACEMENT_WINDOW>;
	type RevealPeriod = ConstU64<REVEAL_PERIOD>;
	type ResultTtl = ConstU64<RESULT_TTL>;
	type MaxAssignmentDelay = ConstU64<MAX_ASSIGNMENT_DELAY>;
	type MaxAgendaItems = ConstU32<MAX_AGENDA_ITEMS>;
	type MaxDrawsPerBlock = MaxDrawsPerBlock;
	type AgendaWeight = AgendaWeight;
	type MaxSamplingAttempts = ConstU32<4>;
	type MaxBatch = ConstU32<MAX_BATCH>;
	type MaxSlashRecords = ConstU32<MAX_SLASH_RECORDS>;
	type AuthorityId = MockAuthorityId;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockBenchmarkHelper;
}

thread_local! {
	/// `(signer, nonce)` of every transaction the off-chain worker signed, in order.
	pub static SIGNED_NONCES: RefCell<Vec<(AccountId, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Test keys: `UintAuthorityId(n)` is the key of account `n` (`UintAuthorityId::set_all_keys`
/// sets the node's keystore).
pub struct MockAuthorityId;
impl frame_system::offchain::AppCrypto<UintAuthorityId, TestSignature> for MockAuthorityId {
	type RuntimeAppPublic = UintAuthorityId;
	type GenericPublic = UintAuthorityId;
	type GenericSignature = TestSignature;
}

impl frame_system::offchain::SigningTypes for Test {
	type Public = UintAuthorityId;
	type Signature = TestSignature;
}

/// Transactions the off-chain worker submits: the signer is the key's account, unchecked.
pub type Extrinsic = sp_runtime::testing::TestXt<RuntimeCall, ()>;

impl<LocalCall> frame_system::offchain::CreateTransactionBase<LocalCall> for Test
where
	RuntimeCall: From<LocalCall>,
{
	type Extrinsic = Extrinsic;
	type RuntimeCall = RuntimeCall;
}

impl<LocalCall> frame_system::offchain::CreateSignedTransaction<LocalCall> for Test
where
	RuntimeCall: From<LocalCall>,
{
	fn create_signed_transaction<
		C: frame_system::offchain::AppCrypto<Self::Public, Self::Signature>,
	>(
		call: RuntimeCall,
		public: UintAuthorityId,
		account: AccountId,
		nonce: u32,
	) -> Option<Extrinsic> {
		let _ = public;
		SIGNED_NONCES.with(|n| n.borrow_mut().push((account, nonce)));
		Some(Extrinsic::new_signed(call, account, (), ()))
	}
}

/// Benchmarks on the mock: models and validators through the real pallets.
#[cfg(feature = "runtime-benchmarks")]
pub struct MockBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<AccountId, Balance, TestSignature> for MockBenchmarkHelper {
	fn create_model(
		owner: &AccountId,
		redundancy: u32,
		fee_per_executor: Balance,
		comparison: ComparisonRule,
	) -> ModelId {
		use frame_support::traits::fungible::Mutate;
		let _ = Balances::mint_into(owner, 1_000_000);
		let id = pallet_models::NextModelId::<Test>::get();
		let mut spec = spec(redundancy, None, comparison);
		spec.fee_per_executor = fee_per_executor;
		assert_ok!(Models::register_model(RuntimeOrigin::signed(*owner), spec));
		id
	}
	fn make_validator(who: &AccountId, weight: u32, model_id: Option<ModelId>) {
		use frame_support::traits::fungible::Mutate;
		let stake = 1_000 * Balance::from(weight);
		let _ = Balances::mint_into(who, stake.saturating_mul(2));
		assert_ok!(Staking::register_validator(RuntimeOrigin::signed(*who), stake, COMMISSION));
		if let Some(model_id) = model_id {
			assert_ok!(Models::serve_model(RuntimeOrigin::signed(*who), model_id));
		}
	}
	fn make_ineligible(who: &AccountId) {
		assert_ok!(Staking::chill(RuntimeOrigin::signed(*who)));
	}
	fn prime_for_jail(who: &AccountId) {
		use frame_support::traits::Get;
		use opg_primitives::staking::InferenceStaking;
		let faults = <Test as pallet_inference_staking::Config>::MaxFaultsBeforeJail::get();
		for _ in 1..faults {
			<Staking as InferenceStaking<AccountId>>::note_fault(who);
		}
	}
	fn max_validators() -> u32 {
		32
	}
	fn inference_key(payload: &[u8]) -> (AccountId, TestSignature) {
		use core::sync::atomic::{AtomicU64, Ordering};
		static NEXT_KEY: AtomicU64 = AtomicU64::new(1_000);
		let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
		(key, TestSignature(key, payload.to_vec()))
	}
}

/// A model spec: MLP, `redundancy` executors, `quorum` (majority when `None`), `comparison`.
pub fn spec(
	redundancy: u32,
	quorum: Option<u32>,
	comparison: ComparisonRule,
) -> ModelSpec<Balance> {
	ModelSpec {
		name: b"classifier".to_vec(),
		descriptor: ModelDescriptor {
			weights_hash: H256::repeat_byte(0xAA),
			format: ModelFormat::Safetensors,
			architecture: Architecture::BertEmbedding {
				config_hash: H256::repeat_byte(0xBB),
				tokenizer_hash: H256::repeat_byte(0xBC),
			},
			profile: EngineProfile::REPRODUCIBLE_F32,
		},
		size_bytes: 10_000,
		input: InputKind::Text { max_bytes: MAX_INPUT },
		output: OutputKind::Logits,
		fee_per_executor: FEE_PER_EXECUTOR,
		token_fees: None,
		redundancy,
		quorum,
		comparison,
		source_uri: None,
	}
}

/// Builds the test externalities.
pub struct ExtBuilder {
	validators: Vec<(AccountId, Balance)>,
	servers: Vec<AccountId>,
	redundancy: u32,
	quorum: Option<u32>,
	comparison: ComparisonRule,
}

impl Default for ExtBuilder {
	fn default() -> Self {
		Self {
			validators: vec![(V1, BOND), (V2, BOND), (V3, BOND), (V4, BOND)],
			servers: vec![V1, V2, V3, V4],
			redundancy: 3,
			quorum: None,
			comparison: ComparisonRule::Argmax,
		}
	}
}

impl ExtBuilder {
	/// Validators `(account, own bond)`, registered at genesis.
	pub fn validators(mut self, validators: Vec<(AccountId, Balance)>) -> Self {
		self.validators = validators;
		self
	}

	/// Validators that serve the default model.
	pub fn servers(mut self, servers: Vec<AccountId>) -> Self {
		self.servers = servers;
		self
	}

	/// The default model's redundancy and quorum.
	pub fn redundancy(mut self, redundancy: u32, quorum: Option<u32>) -> Self {
		self.redundancy = redundancy;
		self.quorum = quorum;
		self
	}

	/// The default model's comparison rule.
	pub fn comparison(mut self, comparison: ComparisonRule) -> Self {
		self.comparison = comparison;
		self
	}

	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		let mut balances: Vec<(AccountId, Balance)> =
			[OWNER, ALICE, BOB, DELEGATOR].iter().map(|who| (*who, INITIAL)).collect();
		balances.push((POOR, POOR_BALANCE));
		balances.push((TREASURY, 1));
		balances.push((SLASH_SINK, 1));
		balances.extend(self.validators.iter().map(|(who, _)| (*who, INITIAL)));
		pallet_balances::GenesisConfig::<Test> { balances, ..Default::default() }
			.assimilate_storage(&mut storage)
			.unwrap();
		let delegations = if self.validators.iter().any(|(who, _)| *who == V1) {
			vec![(DELEGATOR, V1, DELEGATION)]
		} else {
			vec![]
		};
		pallet_inference_staking::GenesisConfig::<Test> {
			validators: self
				.validators
				.iter()
				.map(|(who, bond)| (*who, *bond, COMMISSION))
				.collect(),
			delegations,
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		set_randomness(true);
		set_agenda_budget(16);
		set_commit_period(COMMIT_PERIOD);
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| {
			System::set_block_number(1);
			assert_ok!(Models::register_model(
				RuntimeOrigin::signed(OWNER),
				spec(self.redundancy, self.quorum, self.comparison)
			));
			for who in &self.servers {
				assert_ok!(Models::serve_model(RuntimeOrigin::signed(*who), MODEL));
			}
			System::reset_events();
		});
		ext
	}

	/// Builds, runs `test`, then checks every pallet's invariants.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			test();
			check_invariants();
		});
	}
}

/// The invariants of this pallet and of the staking and model pallets.
pub fn check_invariants() {
	Inference::do_try_state().expect("inference invariants hold");
	Staking::do_try_state().expect("staking invariants hold");
	Models::do_try_state().expect("registry invariants hold");
}

/// Finalizes the current block and initializes the next one, running every pallet's hooks.
pub fn next_block() {
	let now = System::block_number();
	<AllPalletsWithSystem as OnFinalize<BlockNumber>>::on_finalize(now);
	System::set_block_number(now + 1);
	<AllPalletsWithSystem as OnInitialize<BlockNumber>>::on_initialize(now + 1);
}

/// Runs blocks until `n` is the current (initialized, not finalized) block.
pub fn run_to_block(n: BlockNumber) {
	while System::block_number() < n {
		next_block();
	}
}

/// Requests an inference of `MODEL` by `who` with the model's redundancy and returns its id.
pub fn request(who: AccountId) -> TaskId {
	request_with(who, None)
}

/// Requests an inference of `MODEL` by `who` with `redundancy` and returns its id.
pub fn request_with(who: AccountId, redundancy: Option<u8>) -> TaskId {
	let task_id = crate::NextTaskId::<Test>::get();
	assert_ok!(Inference::request_inference(
		RuntimeOrigin::signed(who),
		MODEL,
		vec![1, 2, 3, 4],
		Balance::MAX,
		redundancy
	));
	task_id
}

/// `who` requests an inference of `MODEL` on a one-byte input, paying at most `max_fee`.
pub fn try_request(
	who: AccountId,
	max_fee: Balance,
	redundancy: Option<u8>,
) -> frame_support::dispatch::DispatchResultWithPostInfo {
	Inference::request_inference(RuntimeOrigin::signed(who), MODEL, vec![1], max_fee, redundancy)
}

/// `who` reveals the raw `bytes` with `salt` for `task_id`.
pub fn try_reveal(
	task_id: TaskId,
	who: AccountId,
	bytes: Vec<u8>,
	salt: Salt,
) -> frame_support::dispatch::DispatchResultWithPostInfo {
	Inference::reveal_result(RuntimeOrigin::signed(who), task_id, TaskOutcome::Output(bytes), salt)
}

/// Requests and runs blocks until the task is assigned; returns its id and executors.
pub fn assigned_task(who: AccountId) -> (TaskId, Vec<AccountId>) {
	let task_id = request(who);
	next_block();
	next_block();
	(task_id, executors(task_id))
}

/// The executors of a task.
pub fn executors(task_id: TaskId) -> Vec<AccountId> {
	Inference::task(task_id).unwrap().executors.iter().map(|e| e.who).collect()
}

/// A deterministic salt of `who`.
pub fn salt_of(who: AccountId) -> Salt {
	[who as u8; 32]
}

/// The commitment of `who` to `output` under the task's rule.
pub fn commitment_for(task_id: TaskId, who: AccountId, output: &[f32]) -> H256 {
	let rule = Inference::task(task_id).unwrap().comparison;
	commitment(&rule.digest(output), &salt_of(who), &who)
}

/// `who` commits to `output`.
pub fn commit(task_id: TaskId, who: AccountId, output: &[f32]) {
	assert_ok!(Inference::commit_result(
		RuntimeOrigin::signed(who),
		task_id,
		commitment_for(task_id, who, output)
	));
}

/// `who` reveals `output`.
pub fn reveal(task_id: TaskId, who: AccountId, output: &[f32]) {
	assert_ok!(Inference::reveal_result(
		RuntimeOrigin::signed(who),
		task_id,
		TaskOutcome::Output(encode_output(output)),
		salt_of(who)
	));
}

/// The commitment of `who` to the rejection `rejection`.
pub fn rejection_commitment(who: AccountId, rejection: Rejection) -> H256 {
	commitment(&rejection.digest(), &salt_of(who), &who)
}

/// `who` commits to the rejection `rejection`.
pub fn commit_rejection(task_id: TaskId, who: AccountId, rejection: Rejection) {
	assert_ok!(Inference::commit_result(
		RuntimeOrigin::signed(who),
		task_id,
		rejection_commitment(who, rejection)
	));
}

/// `who` reveals the rejection `rejection`.
pub fn reveal_rejection(task_id: TaskId, who: AccountId, rejection: Rejection) {
	assert_ok!(Inference::reveal_result(
		RuntimeOrigin::signed(who),
		task_id,
		TaskOutcome::Rejected(rejection),
		salt_of(who)
	));
}

/// An output whose argmax is `class`.
pub fn logits(class: usize) -> Vec<f32> {
	let mut out = vec![0.1f32; 4];
	out[class] = 0.9;
	out
}

/// This pallet's events so far.
pub fn inference_events() -> Vec<crate::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Inference(e) => Some(e),
			_ => None,
		})
		.collect()
}

/// Free balance of `who`.
pub fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

/// Escrow held on `who`.
pub fn escrow(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::Escrow.into(), &who)
}

/// What `who`'s stake on `validator` is worth now (own bond for the validator itself), after
/// every slash so far.
pub fn stake_of(who: AccountId, validator: AccountId) -> Balance {
	Staking::position(who, validator).map_or(0, |position| position.active)
}

/// Rewards `who` can claim from `validator` now.
pub fn rewards_of(who: AccountId, validator: AccountId) -> Balance {
	Staking::position(who, validator).map_or(0, |position| position.rewards)
}

/// The proof that `key` holds the key it signs with, for `validator` on this chain: a test
/// signature of `key` over [`Inference::key_proof_payload`].
pub fn key_proof(validator: AccountId, key: AccountId) -> TestSignature {
	TestSignature(key, Inference::key_proof_payload(&validator))
}

/// Links `key` as `validator`'s inference key, with a valid proof.
pub fn link_key(validator: AccountId, key: AccountId) {
	assert_ok!(Inference::set_inference_key(
		RuntimeOrigin::signed(validator),
		key,
		key_proof(validator, key)
	));
}
