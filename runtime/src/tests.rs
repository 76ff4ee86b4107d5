//! Unit tests of the runtime's configuration: genesis presets, constants and fees.

// Test arithmetic on known constants cannot overflow.
#![allow(clippy::arithmetic_side_effects)]

use crate::{
	configs::{TreasuryAccount, TRANSACTION_BYTE_FEE, WEIGHT_FEE},
	currency::{EXISTENTIAL_DEPOSIT, MICRO_OPG, MILLI_OPG, OPG},
	genesis_config_presets::{self, ENDOWMENT},
	AllPalletsWithSystem, Babe, Balances, Grandpa, Runtime, RuntimeCall, RuntimeGenesisConfig,
	System, TransactionPayment,
};
use codec::Encode;
use frame_support::{
	dispatch::GetDispatchInfo,
	traits::{fungible::Inspect, Get, IntegrityTest},
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

#[test]
fn an_inference_key_is_linked_with_its_sr25519_proof_of_possession() {
	use crate::{Inference, InferenceStaking, RuntimeOrigin};
	use sp_core::{crypto::Pair as _, sr25519};
	use sp_runtime::MultiSignature;
	preset_ext(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		System::set_block_number(1);
		let (alice, bob) =
			(Sr25519Keyring::Alice.to_account_id(), Sr25519Keyring::Bob.to_account_id());
		for who in [&alice, &bob] {
			frame_support::assert_ok!(InferenceStaking::register_validator(
				RuntimeOrigin::signed(who.clone()),
				<Runtime as pallet_inference_staking::Config>::MinValidatorBond::get(),
				sp_runtime::Perbill::from_percent(10),
			));
		}
		// As polkadot.js builds it (tests/lib/setup.mjs): the context, the validator's 32-byte
		// account id, the genesis hash.
		let genesis = frame_system::BlockHash::<Runtime>::get(0);
		let payload = [b"opg/inference-key".as_slice(), alice.as_ref(), genesis.as_ref()].concat();
		assert_eq!(payload, Inference::key_proof_payload(&alice));
		let key = sr25519::Pair::from_string("//Alice//inference", None).expect("dev seed");
		let key_account: crate::AccountId = key.public().into();
		let proof = MultiSignature::Sr25519(key.sign(&payload));

		// Bob cannot link Alice's key with her proof, nor with a signature of his own key.
		let bob_key = sr25519::Pair::from_string("//Bob//inference", None).expect("dev seed");
		for (who, proof) in
			[(&bob, proof.clone()), (&alice, MultiSignature::Sr25519(bob_key.sign(&payload)))]
		{
			assert_eq!(
				Inference::set_inference_key(
					RuntimeOrigin::signed(who.clone()),
					key_account.clone(),
					proof
				),
				Err(pallet_inference::Error::<Runtime>::InvalidKeyProof.into())
			);
		}
		frame_support::assert_ok!(Inference::set_inference_key(
			RuntimeOrigin::signed(alice.clone()),
			key_account.clone(),
			proof
		));
		assert_eq!(pallet_inference::KeyOwners::<Runtime>::get(&key_account), Some(alice));
	});
}

/// `//Alice//inference`'s signature of Alice's key proof payload on a chain whose genesis hash
/// is `[69; 32]` (the test externalities'), made by polkadot.js as `tests/lib/setup.mjs` makes
/// it: `key.sign(u8aConcat(stringToU8a('opg/inference-key'), decodeAddress(alice), genesis))`.
const POLKADOT_JS_PROOF: [u8; 64] = [
	0x3a, 0xb1, 0x81, 0x6f, 0x57, 0x8b, 0xcb, 0xff, 0xbb, 0xb5, 0x03, 0xab, 0x0f, 0x6f, 0x8d, 0x44,
	0x3b, 0xa8, 0xc0, 0xc5, 0xa7, 0x54, 0x45, 0x46, 0x7e, 0x1f, 0x38, 0x1a, 0xff, 0x12, 0x3a, 0x66,
	0x0a, 0x9e, 0xe5, 0x41, 0x07, 0x40, 0x93, 0x68, 0xbe, 0x7b, 0x24, 0x36, 0xcf, 0x7c, 0x45, 0x1b,
	0xaf, 0xcc, 0xcf, 0x64, 0xce, 0x29, 0xa6, 0x13, 0x8d, 0xfd, 0xc9, 0x6e, 0x86, 0x82, 0x5d, 0x8d,
];

#[test]
fn a_proof_made_by_polkadot_js_links_the_key() {
	use crate::{Inference, InferenceStaking, RuntimeOrigin};
	use sp_core::{crypto::Pair as _, sr25519};
	use sp_runtime::MultiSignature;
	preset_ext(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		System::set_block_number(1);
		assert_eq!(frame_system::BlockHash::<Runtime>::get(0), sp_core::H256::repeat_byte(69));
		let alice = Sr25519Keyring::Alice.to_account_id();
		frame_support::assert_ok!(InferenceStaking::register_validator(
			RuntimeOrigin::signed(alice.clone()),
			<Runtime as pallet_inference_staking::Config>::MinValidatorBond::get(),
			sp_runtime::Perbill::from_percent(10),
		));
		let key = sr25519::Pair::from_string("//Alice//inference", None).expect("dev seed");
		let proof = MultiSignature::Sr25519(sr25519::Signature::from_raw(POLKADOT_JS_PROOF));
		frame_support::assert_ok!(Inference::set_inference_key(
			RuntimeOrigin::signed(alice),
			key.public().into(),
			proof
		));
	});
}

/// The minimum fee per executor pays, in transaction fees, for the chain work of one executor's
/// share of a task on the model with the most servers, at every redundancy `r`: its commit, its
/// reveal of the longest output (each a whole signed extrinsic: base weight, call weight and
/// length), and `1/r` of the task's agenda reservation (assignment, deadlines with the
/// settlement, expiry). The request's own weight, length and reservation are paid by the
/// requester's transaction fee on top.
#[test]
fn the_minimum_fee_per_executor_pays_for_an_executors_share_of_a_task() {
	use pallet_inference::WeightInfo as _;
	type InferenceWeights = <Runtime as pallet_inference::Config>::WeightInfo;
	preset_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		let min_fee: crate::Balance = <Runtime as pallet_models::Config>::MinFeePerExecutor::get();
		let max_servers: u32 = <Runtime as pallet_models::Config>::MaxServersPerModel::get();
		let max_redundancy: u32 = <Runtime as pallet_inference::Config>::MaxRedundancy::get();
		let max_output: u32 = <Runtime as pallet_inference::Config>::MaxOutputLen::get();
		let base = <Runtime as frame_system::Config>::BlockWeights::get()
			.get(frame_support::dispatch::DispatchClass::Normal)
			.base_extrinsic;
		let fee =
			|weight: frame_support::weights::Weight| TransactionPayment::weight_to_fee(weight);
		// A signed extrinsic's address, signature, extensions and length prefixes: under 128
		// bytes.
		let length_fee =
			|call: RuntimeCall| TransactionPayment::length_to_fee(call.encoded_size() as u32 + 128);
		let commit_length =
			length_fee(RuntimeCall::Inference(pallet_inference::Call::commit_result {
				task_id: 0,
				commitment: Default::default(),
			}));
		let reveal_length =
			length_fee(RuntimeCall::Inference(pallet_inference::Call::reveal_result {
				task_id: 0,
				outcome: opg_primitives::inference::TaskOutcome::Output(vec![
					0;
					max_output as usize
				]),
				salt: [0; 32],
			}));
		let mut dearest = (0, 0);
		for r in 1..=max_redundancy {
			// What the calls declare, signed by an inference key, but for the settlement (in the
			// reservation).
			let commit = fee(base
				.saturating_add(InferenceWeights::commit_result(r))
				.saturating_add(crate::Inference::signer_weight()))
				+ commit_length;
			let reveal = fee(base.saturating_add(crate::Inference::reveal_entry_weight(
				&opg_primitives::inference::TaskOutcome::Output(vec![0; max_output as usize]),
			))) + reveal_length;
			let reserve = fee(crate::Inference::task_reserve(r, max_servers)).div_ceil(r.into());
			let share = commit + reveal + reserve;
			println!(
				"r = {r:2}: commit {} + reveal {} + reserve share {} = {} µOPG",
				commit / MICRO_OPG,
				reveal / MICRO_OPG,
				reserve / MICRO_OPG,
				share / MICRO_OPG
			);
			if share > dearest.1 {
				dearest = (r, share);
			}
		}
		let (r, dearest) = dearest;
		println!(
			"dearest share (r = {r}): {} mOPG; minimum fee per executor {} mOPG",
			dearest / MILLI_OPG,
			min_fee / MILLI_OPG
		);
		assert!(min_fee >= dearest, "MinFeePerExecutor {min_fee} < {dearest}");
		// And not absurdly above it: a requester pays r times the minimum.
		assert!(min_fee <= 10 * dearest, "MinFeePerExecutor {min_fee} ≫ {dearest}");
	});
}

/// What the agenda admits per block, in steady state: requests at `n` a block, each task
/// settling before its deadlines (as on a healthy network). A task's reservations in block `X`
/// are its assignment (requests of `X − 1`), its expiry (requests `Reveal + Commit + ResultTtl`
/// blocks earlier) and what is left of deadlines whose tasks already settled (one stale read
/// each; a settled task gives the rest back). Its own commit and reveal deadlines are fully
/// reserved only while it runs, alone in their blocks among that block's requests. So `n`
/// requests a block are admitted forever when `n × (assign + expire + 2 stale)`, `n × commit
/// deadline` and `n × reveal deadline` each fit the agenda budget. The network's measured
/// target is 50 requests a block at redundancy 3 on the 4-validator test network
/// (`scripts/measure-execution.sh`).
#[test]
fn the_agenda_admits_fifty_tasks_a_block_of_the_measured_network() {
	preset_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		use frame_support::weights::Weight;
		let budget = crate::Inference::agenda_budget();
		let fit = |w: Weight| {
			(budget.ref_time() / w.ref_time().max(1))
				.min(budget.proof_size() / w.proof_size().max(1))
		};
		let ms = |w: Weight| w.ref_time() as f64 / 1e9;
		let per_block = |r: u32, servers: u32| {
			let stale = crate::Inference::stale_weight();
			let steady = crate::Inference::assign_reserve(r, servers)
				.saturating_add(crate::Inference::expire_reserve())
				.saturating_add(stale.saturating_mul(2));
			fit(steady)
				.min(fit(crate::Inference::commit_deadline_reserve(r)))
				.min(fit(crate::Inference::reveal_deadline_reserve(r)))
		};
		println!("agenda budget {:.1} ms, {} B of proof", ms(budget), budget.proof_size());
		for (r, servers) in [(1, 4), (3, 4), (4, 4), (3, 16), (16, 128)] {
			println!(
				"r = {r:2}, {servers:3} servers: assign {:.2} ms, commit deadline {:.2} ms, reveal \
				 deadline {:.2} ms, expiry {:.2} ms; all of a task {} a block, in steady state {}",
				ms(crate::Inference::assign_reserve(r, servers)),
				ms(crate::Inference::commit_deadline_reserve(r)),
				ms(crate::Inference::reveal_deadline_reserve(r)),
				ms(crate::Inference::expire_reserve()),
				fit(crate::Inference::task_reserve(r, servers)),
				per_block(r, servers),
			);
		}
		assert!(per_block(3, 4) >= 50, "{} tasks of r = 3 a block", per_block(3, 4));
		let draws = crate::Inference::assignment_draws();
		println!("executor draws: {draws} assignments a block");
		assert!(draws >= 50, "the draws admit {draws} tasks a block");
		assert!(u64::from(draws) <= per_block(3, 4), "weight, not draws, would bound the chain");
	});
}
