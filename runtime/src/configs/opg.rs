//! Configuration of the OPG pallets: the model registry and inference staking.

use crate::{
	configs::{RuntimeBlockWeights, TreasuryAccount},
	currency::OPG,
	AccountId, Address, Balances, BlockNumber, Inference, InferenceStaking, Models, Nonce, Runtime,
	RuntimeCall, RuntimeHoldReason, Signature, SignedPayload, System, TxExtension,
	UncheckedExtrinsic,
};
use codec::Encode;
use frame_support::{
	parameter_types,
	traits::{tokens::imbalance::ResolveTo, ConstU32},
	weights::Weight,
	PalletId,
};
use sp_runtime::{generic::Era, traits::Verify, Perbill};

parameter_types! {
	/// Held for every registered model: a base plus a price per byte of its stored entry.
	pub const ModelDepositBase: crate::Balance = OPG;
	pub const ModelDepositPerByte: crate::Balance = OPG / 100;
	/// Every model pays each executor of a task at least 0.4 OPG: above the transaction-fee
	/// price (weight and length) of the chain work of one executor's share of a task (its
	/// commit, its reveal of the longest output and its share of the task's agenda reservation),
	/// whatever the redundancy (checked by the test
	/// `the_minimum_fee_per_executor_pays_for_an_executors_share_of_a_task`).
	pub const MinFeePerExecutor: crate::Balance = 400_000_000_000_000_000;
}

/// The model registry. Servers must be validators of `InferenceStaking`.
impl pallet_models::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Staking = InferenceStaking;
	/// A model with open inference tasks cannot be removed.
	type PendingTasks = Inference;
	type ModelDepositBase = ModelDepositBase;
	type ModelDepositPerByte = ModelDepositPerByte;
	type MaxNameLen = ConstU32<64>;
	type MaxSourceUriLen = ConstU32<256>;
	type MaxRedundancy = ConstU32<16>;
	type MaxServersPerModel = ConstU32<128>;
	type MinFeePerExecutor = MinFeePerExecutor;
	/// What a reveal may carry: a causal language model's longest generation must fit it.
	type MaxOutputLen = ConstU32<MAX_OUTPUT_LEN>;
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

/// How long unbonding funds stay at stake: 7 days; 40 blocks (80 s) with `fast-runtime`, so the
/// test networks can unbond and withdraw within a test. Never shorter than a task's life (checked
/// below), or a validator could unbond and withdraw before the slash of a task it holds lands.
#[cfg(not(feature = "fast-runtime"))]
pub const UNBONDING_PERIOD: BlockNumber = 7 * crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const UNBONDING_PERIOD: BlockNumber = 40;

/// The window in which faults count towards jail, and how long jail lasts.
#[cfg(not(feature = "fast-runtime"))]
pub const FAULT_WINDOW: BlockNumber = crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const FAULT_WINDOW: BlockNumber = 10 * crate::time::MINUTES;
#[cfg(not(feature = "fast-runtime"))]
pub const JAIL_DURATION: BlockNumber = crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const JAIL_DURATION: BlockNumber = 5 * crate::time::MINUTES;
/// How long a commission increase waits.
#[cfg(not(feature = "fast-runtime"))]
pub const COMMISSION_DELAY: BlockNumber = crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const COMMISSION_DELAY: BlockNumber = 2 * crate::time::MINUTES;

parameter_types! {
	pub const StakingPalletId: PalletId = PalletId(*b"opg/stak");
	pub const MinValidatorBond: crate::Balance = 1_000 * OPG;
	pub const MinDelegation: crate::Balance = 10 * OPG;
	pub const UnbondingPeriod: BlockNumber = UNBONDING_PERIOD;
	pub const FaultWindow: BlockNumber = FAULT_WINDOW;
	pub const JailDuration: BlockNumber = JAIL_DURATION;
	/// A commission increase applies a day after it is asked for (2 minutes with fast-runtime),
	/// by at most 10 percentage points at a time.
	pub const CommissionDelay: BlockNumber = COMMISSION_DELAY;
	pub const MaxCommissionIncrease: Perbill = Perbill::from_percent(10);
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
	type CommissionDelay = CommissionDelay;
	type MaxCommissionIncrease = MaxCommissionIncrease;
	/// A validator that leaves (or is evicted) loses its inference key link.
	type OnValidatorRemoved = Inference;
	type WeightInfo = pallet_inference_staking::weights::SubstrateWeight<Runtime>;
}

/// Blocks an executor has to commit after assignment, and committers to reveal: a minute in
/// production (6 s blocks); 10 blocks (20 s) with `fast-runtime`.
#[cfg(not(feature = "fast-runtime"))]
pub const COMMIT_PERIOD: BlockNumber = crate::time::MINUTES;
#[cfg(feature = "fast-runtime")]
pub const COMMIT_PERIOD: BlockNumber = 10;
#[cfg(not(feature = "fast-runtime"))]
pub const REVEAL_PERIOD: BlockNumber = crate::time::MINUTES;
#[cfg(feature = "fast-runtime")]
pub const REVEAL_PERIOD: BlockNumber = 10;
/// How long ended tasks and their results stay readable: a day; 10 minutes with `fast-runtime`.
#[cfg(not(feature = "fast-runtime"))]
pub const RESULT_TTL: BlockNumber = crate::time::DAYS;
#[cfg(feature = "fast-runtime")]
pub const RESULT_TTL: BlockNumber = 10 * crate::time::MINUTES;

/// Longest revealed output, in bytes: 16 KiB, 4,096 `f32` values (an all-MiniLM-L6-v2
/// embedding is 384), or a generation of up to 454 new tokens (`GenerationParams::
/// max_output_bytes` counts 36 bytes a token, its id and at most 32 bytes of text, plus 14). The registry
/// refuses a causal language model whose longest generation does not fit it.
pub const MAX_OUTPUT_LEN: u32 = 16_384;

/// Blocks a task may wait for randomness before it fails.
pub const MAX_ASSIGNMENT_DELAY: BlockNumber = 10;
/// Most blocks from a request to the last slash it can cause (slashes are applied at once, with
/// no deferral): the block after the request, the assignment delay, commit and reveal periods.
pub const MAX_TASK_LIFE: BlockNumber = 1 + MAX_ASSIGNMENT_DELAY + COMMIT_PERIOD + REVEAL_PERIOD;
/// An offence span: an hour (600 blocks); 2 minutes (60 blocks) with `fast-runtime`. At least a
/// task's life, so that one outage is one offence.
#[cfg(not(feature = "fast-runtime"))]
pub const OFFENCE_WINDOW: BlockNumber = crate::time::HOURS;
#[cfg(feature = "fast-runtime")]
pub const OFFENCE_WINDOW: BlockNumber = 2 * crate::time::MINUTES;

// No escape: in every runtime flavour, stake that starts unbonding while its validator holds a
// task is still held when the last slash of that task lands. (pallet-inference's
// `integrity_test` checks the offence window against the task life the same way.)
const _: () = assert!(UNBONDING_PERIOD >= MAX_TASK_LIFE, "unbonding must outlast a task");
const _: () = assert!(OFFENCE_WINDOW >= MAX_TASK_LIFE, "an offence span must cover a task");

parameter_types! {
	pub const ProtocolFee: Perbill = Perbill::from_percent(5);
	pub const MismatchSlash: Perbill = Perbill::from_percent(5);
	pub const NoShowSlash: Perbill = Perbill::from_percent(1);
	pub const CommitPeriod: BlockNumber = COMMIT_PERIOD;
	/// A replacement for an executor that declined is drawn only while 4 blocks remain before
	/// the commit deadline: one for its node to see the draw, one to execute, two for its
	/// commit to land.
	pub const ReplacementWindow: BlockNumber = 4;
	pub const RevealPeriod: BlockNumber = REVEAL_PERIOD;
	pub const ResultTtl: BlockNumber = RESULT_TTL;
	/// A quarter of a block's weight for deadlines, assignments and pruning when they are due.
	pub InferenceAgendaWeight: Weight = quarter(RuntimeBlockWeights::get().max_block);
}

/// A quarter of `weight`, rounded down in both dimensions.
fn quarter(weight: Weight) -> Weight {
	let part = Perbill::from_percent(25);
	Weight::from_parts(part.mul_floor(weight.ref_time()), part.mul_floor(weight.proof_size()))
}

/// Inference tasks: escrow, stake-weighted assignment from BABE's per-block VRF output,
/// commit-reveal, settlement. Protocol fees go to the treasury.
impl pallet_inference::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Models = Models;
	type Staking = InferenceStaking;
	/// `AuthorVrfRandomness`, which BABE's `on_finalize` sets to this block's VRF output before
	/// the inference pallet's `on_finalize` reads it (BABE is declared first). Every block has
	/// one: the chain uses primary and secondary *VRF* slots.
	type Randomness = pallet_babe::ParentBlockRandomness<Runtime>;
	type ProtocolFee = ProtocolFee;
	type ProtocolFeeDestination = ResolveTo<TreasuryAccount, Balances>;
	type MismatchSlash = MismatchSlash;
	type NoShowSlash = NoShowSlash;
	type OffenceWindow = ConstU32<OFFENCE_WINDOW>;
	/// 16 KiB: 4,096 `f32` features, or a few pages of text.
	type MaxInputLen = ConstU32<16_384>;
	type MaxOutputLen = ConstU32<MAX_OUTPUT_LEN>;
	type MaxRedundancy = ConstU32<16>;
	type CommitPeriod = CommitPeriod;
	type ReplacementWindow = ReplacementWindow;
	type RevealPeriod = RevealPeriod;
	type ResultTtl = ResultTtl;
	type MaxAssignmentDelay = ConstU32<MAX_ASSIGNMENT_DELAY>;
	type MaxAgendaItems = ConstU32<512>;
	/// 64 draws a block: 56 assignments (1,680 tasks a minute with 2 s blocks) and 8 kept for
	/// replacements. No validator is ever drawn for more than 64 tasks in one block, and its
	/// worker executes up to twice that per block to catch up (see `pallet_inference::agenda`
	/// and `pallet_inference::offchain`). Each node of the measured network (4 validators
	/// sharing 2 cores) keeps up with it on the demo MLP at redundancy 4.
	type MaxDrawsPerBlock = ConstU32<64>;
	type AgendaWeight = InferenceAgendaWeight;
	type MaxSamplingAttempts = ConstU32<8>;
	/// Up to 64 of a worker's commits (or reveals) in one transaction; a worker with more in a
	/// block sends several.
	type MaxBatch = ConstU32<64>;
	/// A validator's latest 16 slashes are kept for explorers (its record counts them all).
	type MaxSlashRecords = ConstU32<16>;
	type AuthorityId = InferenceAuthId;
	type WeightInfo = pallet_inference::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = InferenceBenchmarkHelper;
}

/// Registers models and validators through the real registry and staking pallets for the
/// inference benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub struct InferenceBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_inference::BenchmarkHelper<crate::AccountId, crate::Balance, Signature>
	for InferenceBenchmarkHelper
{
	fn create_model(
		owner: &crate::AccountId,
		redundancy: u32,
		fee_per_executor: crate::Balance,
		comparison: opg_primitives::models::ComparisonRule,
	) -> opg_primitives::models::ModelId {
		use frame_support::traits::fungible::Mutate;
		use opg_primitives::models::*;
		use pallet_models::ModelSpec;
		let _ = Balances::mint_into(owner, 1_000 * OPG);
		let model_id = pallet_models::NextModelId::<Runtime>::get();
		let spec = ModelSpec {
			name: b"benchmark".to_vec(),
			descriptor: ModelDescriptor {
				weights_hash: sp_core::H256::repeat_byte(1),
				format: ModelFormat::Safetensors,
				// Text, so that the request benchmark can send inputs of every length.
				architecture: Architecture::BertEmbedding {
					config_hash: sp_core::H256::repeat_byte(2),
					tokenizer_hash: sp_core::H256::repeat_byte(3),
				},
				profile: EngineProfile::REPRODUCIBLE_F32,
			},
			size_bytes: 1_000,
			input: InputKind::Text { max_bytes: u32::MAX },
			output: OutputKind::Logits,
			fee_per_executor,
			token_fees: None,
			redundancy,
			quorum: None,
			comparison,
			source_uri: None,
		};
		let _ = Models::register_model(frame_system::RawOrigin::Signed(owner.clone()).into(), spec);
		model_id
	}

	fn make_validator(
		who: &crate::AccountId,
		weight: u32,
		model_id: Option<opg_primitives::models::ModelId>,
	) {
		use frame_support::traits::fungible::Mutate;
		let bond = MinValidatorBond::get().saturating_mul(weight.into());
		let _ = Balances::mint_into(who, bond.saturating_mul(2));
		let origin = || frame_system::RawOrigin::Signed(who.clone()).into();
		let _ = InferenceStaking::register_validator(origin(), bond, Perbill::from_percent(10));
		if let Some(model_id) = model_id {
			let _ = Models::serve_model(origin(), model_id);
		}
	}

	fn make_ineligible(who: &crate::AccountId) {
		let _ = InferenceStaking::chill(frame_system::RawOrigin::Signed(who.clone()).into());
	}

	fn prime_for_jail(who: &crate::AccountId) {
		use frame_support::traits::Get as _;
		use opg_primitives::staking::InferenceStaking as _;
		let faults = <Runtime as pallet_inference_staking::Config>::MaxFaultsBeforeJail::get();
		for _ in 1..faults {
			InferenceStaking::note_fault(who);
		}
	}

	fn max_validators() -> u32 {
		use frame_support::traits::Get as _;
		<Runtime as pallet_inference_staking::Config>::MaxValidators::get()
	}

	/// A new `opgi` sr25519 key in the benchmark's keystore (the benchmark CLI provides one),
	/// which signs `payload`.
	fn inference_key(payload: &[u8]) -> (crate::AccountId, Signature) {
		use sp_runtime::{traits::IdentifyAccount, MultiSigner, RuntimeAppPublic};
		let key = opg_primitives::execution::crypto::Public::generate_pair(None);
		let signature =
			key.sign(&payload).expect("the key was just generated in the keystore; qed");
		let public = sp_core::sr25519::Public::from(key);
		(
			MultiSigner::from(public).into_account(),
			sp_core::sr25519::Signature::from(signature).into(),
		)
	}
}

/// Executors' inference keys (`opgi`, sr25519) as signers of the transactions the inference
/// pallet's off-chain worker submits.
pub struct InferenceAuthId;

impl frame_system::offchain::AppCrypto<<Signature as Verify>::Signer, Signature>
	for InferenceAuthId
{
	type RuntimeAppPublic = opg_primitives::execution::crypto::Public;
	type GenericPublic = sp_core::sr25519::Public;
	type GenericSignature = sp_core::sr25519::Signature;
}

impl frame_system::offchain::SigningTypes for Runtime {
	type Public = <Signature as Verify>::Signer;
	type Signature = Signature;
}

impl<LocalCall> frame_system::offchain::CreateTransactionBase<LocalCall> for Runtime
where
	RuntimeCall: From<LocalCall>,
{
	type Extrinsic = UncheckedExtrinsic;
	type RuntimeCall = RuntimeCall;
}

/// Blocks an off-chain worker's transaction stays valid (a power of two).
const OFFCHAIN_TX_MORTALITY: u64 = 32;

impl<LocalCall> frame_system::offchain::CreateSignedTransaction<LocalCall> for Runtime
where
	RuntimeCall: From<LocalCall>,
{
	/// A signed extrinsic with the runtime's transaction extensions, mortal for
	/// [`OFFCHAIN_TX_MORTALITY`] blocks from the parent of the block the worker runs on, no tip.
	fn create_signed_transaction<
		C: frame_system::offchain::AppCrypto<Self::Public, Self::Signature>,
	>(
		call: RuntimeCall,
		public: Self::Public,
		account: AccountId,
		nonce: Nonce,
	) -> Option<UncheckedExtrinsic> {
		let birth = u64::from(System::block_number()).saturating_sub(1);
		let extension: TxExtension = (
			frame_system::AuthorizeCall::<Runtime>::new(),
			frame_system::CheckNonZeroSender::<Runtime>::new(),
			frame_system::CheckSpecVersion::<Runtime>::new(),
			frame_system::CheckTxVersion::<Runtime>::new(),
			frame_system::CheckGenesis::<Runtime>::new(),
			frame_system::CheckEra::<Runtime>::from(Era::mortal(OFFCHAIN_TX_MORTALITY, birth)),
			frame_system::CheckNonce::<Runtime>::from(nonce),
			frame_system::CheckWeight::<Runtime>::new(),
			pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0),
			frame_system::WeightReclaim::<Runtime>::new(),
		);
		let payload = SignedPayload::new(call, extension).ok()?;
		let signature = payload.using_encoded(|bytes| C::sign(bytes, public))?;
		let (call, extension, _) = payload.deconstruct();
		Some(UncheckedExtrinsic::new_signed(call, Address::Id(account), signature, extension))
	}
}
