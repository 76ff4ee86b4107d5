//! The executors' off-chain worker against the mock: a fake inference host stands for the node's
//! engine, a test pool collects what the worker submits, and the test dispatches it.

use crate::{mock::*, offchain, DeclineReason, Error, Event, TaskStatus};
use codec::{Decode, Encode};
use frame_support::{assert_noop, assert_ok, dispatch::Pays, traits::Hooks};
use opg_primitives::{
	execution::{BatchRequest, InferenceError, InferenceExt, InferenceHost, InferenceRequest},
	inference::{encode_output, Rejection, TaskId, TaskOutcome},
};
use sp_core::offchain::{
	testing::{PoolState, TestOffchainExt, TestTransactionPoolExt},
	OffchainDbExt, OffchainWorkerExt, TransactionPoolExt,
};
use sp_runtime::testing::UintAuthorityId;
use std::sync::{Arc, Mutex};

/// Inference key accounts of V1..V4 (`KEY_BASE + n` for `Vn`).
const KEY_BASE: AccountId = 20;

fn key_of(validator: AccountId) -> AccountId {
	KEY_BASE + (validator - V1) + 1
}

/// A hook run at every execution of the fake node, on its off-chain state.
type OnRun = Box<dyn FnMut(&mut sp_core::offchain::testing::OffchainState) + Send>;

/// What the fake node answers, and the requests it got; each run takes `run_ms` of the
/// off-chain worker's clock.
struct FakeHost {
	answer: Mutex<Result<Vec<f32>, InferenceError>>,
	requests: Mutex<Vec<InferenceRequest>>,
	clock: Arc<parking_lot::RwLock<sp_core::offchain::testing::OffchainState>>,
	run_ms: Mutex<u64>,
	/// The size of every engine batch the worker asked for, in order.
	batches: Mutex<Vec<usize>>,
	/// Run at every execution, on the node's off-chain state (another worker's writes).
	on_run: Mutex<Option<OnRun>>,
	/// Raw bytes answered instead of `answer`'s values (a generation), if set.
	raw: Mutex<Option<Vec<u8>>>,
}

impl InferenceHost for FakeHost {
	fn run_batch(&self, request: &BatchRequest) -> Vec<Result<Vec<u8>, InferenceError>> {
		self.batches.lock().unwrap().push(request.inputs.len());
		(0..request.inputs.len()).map(|i| self.run(&request.single(i).unwrap())).collect()
	}

	fn run(&self, request: &InferenceRequest) -> Result<Vec<u8>, InferenceError> {
		self.requests.lock().unwrap().push(request.clone());
		let run_ms = *self.run_ms.lock().unwrap();
		let mut clock = self.clock.write();
		if let Some(hook) = self.on_run.lock().unwrap().as_mut() {
			hook(&mut clock);
		}
		clock.timestamp = clock.timestamp.add(sp_core::offchain::Duration::from_millis(run_ms));
		if let Some(raw) = self.raw.lock().unwrap().clone() {
			return Ok(raw);
		}
		self.answer.lock().unwrap().clone().map(|values| encode_output(&values))
	}
}

impl FakeHost {
	fn answer(&self, answer: Result<Vec<f32>, InferenceError>) {
		*self.answer.lock().unwrap() = answer;
	}
}

struct Node {
	host: Arc<FakeHost>,
	pool: Arc<parking_lot::RwLock<PoolState>>,
}

/// Externalities with an off-chain worker's extensions: local storage, randomness, a pool and
/// the fake host; every validator's key linked and in the keystore.
fn offchain_ext() -> (sp_io::TestExternalities, Node) {
	let mut ext = ExtBuilder::default().build();
	let (offchain, offchain_state) = TestOffchainExt::new();
	offchain_state.write().seed = [9; 32];
	let (pool, pool_state) = TestTransactionPoolExt::new();
	let host = Arc::new(FakeHost {
		answer: Mutex::new(Ok(logits(2))),
		requests: Mutex::new(Vec::new()),
		clock: offchain_state.clone(),
		run_ms: Mutex::new(0),
		batches: Mutex::new(Vec::new()),
		on_run: Mutex::new(None),
		raw: Mutex::new(None),
	});
	ext.register_extension(OffchainDbExt::new(offchain.clone()));
	ext.register_extension(OffchainWorkerExt::new(offchain));
	ext.register_extension(TransactionPoolExt::new(pool));
	ext.register_extension(InferenceExt::new(host.clone()));
	UintAuthorityId::set_all_keys([V1, V2, V3, V4].map(key_of));
	ext.execute_with(|| {
		for v in [V1, V2, V3, V4] {
			link_key(v, key_of(v));
		}
		SIGNED_NONCES.with(|n| n.borrow_mut().clear());
	});
	(ext, Node { host, pool: pool_state })
}

/// Runs the worker on the current block.
fn run_worker() {
	<Inference as Hooks<BlockNumber>>::offchain_worker(System::block_number());
}

/// Takes the transactions the worker submitted: `(signer, call)`.
fn drain(node: &Node) -> Vec<(AccountId, crate::Call<Test>)> {
	let txs = std::mem::take(&mut node.pool.write().transactions);
	txs.into_iter()
		.map(|bytes| {
			let xt = Extrinsic::decode(&mut &bytes[..]).expect("the worker submits extrinsics");
			let sp_runtime::generic::Preamble::Signed(signer, (), ()) = xt.preamble else {
				panic!("the worker submits signed transactions")
			};
			let RuntimeCall::Inference(call) = xt.function else {
				panic!("the worker submits calls of this pallet")
			};
			(signer, call)
		})
		.collect()
}

/// The nonces of the transactions `key` signed, in order.
fn nonces_of(key: AccountId) -> Vec<u32> {
	SIGNED_NONCES
		.with(|n| n.borrow().iter().filter(|(who, _)| *who == key).map(|(_, n)| *n).collect())
}

/// Dispatches `txs` as their signers would.
fn dispatch(txs: Vec<(AccountId, crate::Call<Test>)>) {
	for (signer, call) in txs {
		let result = match call {
			crate::Call::commit_results { commits } => {
				let info = Inference::commit_results(RuntimeOrigin::signed(signer), commits);
				assert_eq!(info.unwrap().pays_fee, Pays::No, "an honest batch of commits is free");
				info
			},
			crate::Call::reveal_results { reveals } => {
				let info = Inference::reveal_results(RuntimeOrigin::signed(signer), reveals);
				assert_eq!(info.unwrap().pays_fee, Pays::No, "an honest batch of reveals is free");
				info
			},
			crate::Call::decline { task_id, reason } => {
				Inference::decline(RuntimeOrigin::signed(signer), task_id, reason)
			},
			other => panic!("unexpected call {other:?}"),
		};
		assert_ok!(result);
	}
}

fn commits(txs: &[(AccountId, crate::Call<Test>)]) -> Vec<(AccountId, TaskId)> {
	txs.iter()
		.filter_map(|(who, call)| match call {
			crate::Call::commit_results { commits } => {
				Some(commits.iter().map(|(task_id, _)| (*who, *task_id)).collect::<Vec<_>>())
			},
			_ => None,
		})
		.flatten()
		.collect()
}

#[test]
fn links_keys_only_for_validators_and_never_steals_another_key() {
	ExtBuilder::default().build_and_execute(|| {
		assert_noop!(
			Inference::set_inference_key(RuntimeOrigin::signed(ALICE), 50, key_proof(ALICE, 50)),
			Error::<Test>::NotValidator
		);
		assert_ok!(Inference::set_inference_key(RuntimeOrigin::signed(V1), 50, key_proof(V1, 50)));
		System::assert_last_event(Event::InferenceKeySet { validator: V1, key: 50 }.into());
		assert_noop!(
			Inference::set_inference_key(RuntimeOrigin::signed(V2), 50, key_proof(V2, 50)),
			Error::<Test>::KeyInUse
		);
		// Replacing the key unlinks the old one.
		assert_ok!(Inference::set_inference_key(RuntimeOrigin::signed(V1), 51, key_proof(V1, 51)));
		assert_eq!(crate::KeyOwners::<Test>::get(50), None);
		assert_eq!(crate::KeyOwners::<Test>::get(51), Some(V1));
		assert_eq!(crate::InferenceKeys::<Test>::get(V1), Some(51));
		assert_ok!(Inference::set_inference_key(RuntimeOrigin::signed(V2), 50, key_proof(V2, 50)));
	});
}

#[test]
fn a_key_acts_only_for_its_validator() {
	ExtBuilder::default().build_and_execute(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let outsider = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		link_key(drawn[0], 60);
		link_key(outsider, 61);
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(61), task_id, Default::default()),
			Error::<Test>::NotAssigned
		);
		assert_ok!(Inference::commit_result(
			RuntimeOrigin::signed(60),
			task_id,
			commitment_for(task_id, drawn[0], &logits(1))
		));
		// Recorded (and evented) as the validator's commit.
		System::assert_last_event(Event::ResultCommitted { task_id, executor: drawn[0] }.into());
		assert_noop!(
			Inference::commit_result(RuntimeOrigin::signed(drawn[0]), task_id, Default::default()),
			Error::<Test>::AlreadyCommitted
		);
	});
}

#[test]
fn workers_execute_commit_reveal_and_settle_on_their_own() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let task_id = request(ALICE);
		run_worker();
		assert!(drain(&node).is_empty(), "nothing assigned yet");
		next_block();
		next_block();
		let drawn = executors(task_id);

		run_worker();
		let txs = drain(&node);
		let mut committed = commits(&txs);
		committed.sort();
		let mut expected: Vec<_> = drawn.iter().map(|v| (key_of(*v), task_id)).collect();
		expected.sort();
		assert_eq!(committed, expected, "one commit per executor, signed by its key");
		// The model of the task ran on the task's input, once per executor.
		let requests = node.host.requests.lock().unwrap().clone();
		assert_eq!(requests.len(), 3);
		assert!(requests.iter().all(|r| r.input == vec![1, 2, 3, 4]
			&& r.model.weights_hash == sp_core::H256::repeat_byte(0xAA)));
		// Each with the task's sampling seed: the same for every executor, from the task and the
		// block that included the request, so another task gets another.
		let task = Inference::task(task_id).unwrap();
		let seed = offchain::sampling_seed::<Test>(task_id, &task);
		assert!(requests.iter().all(|r| r.seed == seed));
		assert_ne!(seed, [0; 32]);
		assert_ne!(seed, offchain::sampling_seed::<Test>(task_id + 1, &task));
		// A second run in the same block submits nothing again.
		run_worker();
		assert!(drain(&node).is_empty());

		next_block();
		dispatch(txs);
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Revealing { .. }));
		// The node's answer changes after the commit: the reveal still uses what was stored.
		node.host.answer(Ok(logits(0)));
		run_worker();
		let reveals = drain(&node);
		assert_eq!(reveals.len(), 3);
		next_block();
		dispatch(reveals);

		let task = Inference::task(task_id).unwrap();
		assert!(matches!(task.status, TaskStatus::Settled { .. }));
		assert_eq!(
			Inference::task_result(task_id),
			Some(encode_output(&logits(2))),
			"the committed output"
		);
		assert_eq!(node.host.requests.lock().unwrap().len(), 3, "executed once per executor");
		// Records are kept until RECORD_GRACE blocks after the task ended (see
		// `records_live_as_long_as_their_task_and_are_deleted_after_it_ended`).
		assert_eq!(offchain::task_records::<Test>(&drawn[0]).len(), 1);
		check_invariants();
	});
}

/// Commits and dispatches the executors' commits of a freshly assigned task, then dispatches
/// nothing else: the task waits in its reveal phase. Returns the task, its executors, and the
/// last block in which the worker saw it open.
fn task_in_reveal_phase(node: &Node) -> (TaskId, Vec<AccountId>, BlockNumber) {
	let (task_id, drawn) = assigned_task(ALICE);
	run_worker();
	let commits = drain(node);
	next_block();
	dispatch(commits);
	assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Revealing { .. }));
	(task_id, drawn, System::block_number())
}

fn reveals(txs: &[(AccountId, crate::Call<Test>)]) -> Vec<(AccountId, TaskId)> {
	txs.iter()
		.filter_map(|(who, call)| match call {
			crate::Call::reveal_results { reveals } => {
				Some(reveals.iter().map(|(task_id, _, _)| (*who, *task_id)).collect::<Vec<_>>())
			},
			_ => None,
		})
		.flatten()
		.collect()
}

#[test]
fn records_live_as_long_as_their_task_and_are_deleted_after_it_ended() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, drawn, _) = task_in_reveal_phase(&node);
		let fingerprint = fingerprint_of(task_id);
		// The chain runs the reveal phase far later than planned (an agenda that lagged behind
		// after a runtime upgrade, say): ten times longer than a task is planned to live.
		let late = System::block_number() + 10 * Inference::max_task_life();
		crate::Tasks::<Test>::mutate(task_id, |task| {
			task.as_mut().unwrap().status = TaskStatus::Revealing { reveal_deadline: late + 10 }
		});
		// Every worker run until then keeps the record (and resubmits the reveal, which the pool
		// keeps dropping).
		while System::block_number() < late {
			System::set_block_number(System::block_number() + 5);
			run_worker();
			assert_eq!(offchain::task_records::<Test>(&drawn[0]).len(), 1);
			drain(&node);
		}
		System::set_block_number(late + offchain::RESUBMIT_AFTER);
		run_worker();
		let txs = drain(&node);
		assert_eq!(reveals(&txs).len(), 3, "the committed outputs are still there");
		dispatch(txs);
		let TaskStatus::Settled { at, .. } = Inference::task(task_id).unwrap().status else {
			panic!("settled")
		};
		// Ended: the record stays RECORD_GRACE blocks (a reorg could revive the task), then goes.
		// (The hooks do not run here, so the ended task is still stored, as in a runtime whose
		// ResultTtl is longer than RECORD_GRACE.)
		System::set_block_number(at + offchain::RECORD_GRACE - 1);
		run_worker();
		assert_eq!(offchain::task_records::<Test>(&drawn[0]).len(), 1);
		System::set_block_number(at + offchain::RECORD_GRACE);
		run_worker();
		for v in &drawn {
			assert_eq!(offchain::task_records::<Test>(v), vec![]);
			let key = offchain::storage_key(b"task/", &(v, task_id, fingerprint));
			assert_eq!(
				sp_runtime::offchain::storage::StorageValueRef::persistent(&key)
					.get::<offchain::TaskRecord>(),
				Ok(None),
				"the record itself is deleted"
			);
		}
	});
}

fn fingerprint_of(task_id: TaskId) -> offchain::Fingerprint {
	let task = Inference::task(task_id).unwrap();
	let input = crate::TaskInputs::<Test>::get(task_id).unwrap();
	offchain::fingerprint::<Test>(task_id, &task, &input)
}

#[test]
fn a_record_survives_a_fork_without_its_task_and_goes_once_the_task_is_long_gone() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, drawn, seen_open) = task_in_reveal_phase(&node);
		run_worker(); // sees it open, reveals (dropped)
		drain(&node);
		let seen_open = seen_open.max(System::block_number());
		// A fork on which the task does not exist (or expired) for as long as a task's result is
		// kept and RECORD_GRACE more: the record stays.
		let task = crate::Tasks::<Test>::take(task_id).unwrap();
		let ttl: BlockNumber =
			<<Test as crate::Config>::ResultTtl as frame_support::traits::Get<_>>::get();
		let gone_until = seen_open + ttl + offchain::RECORD_GRACE;
		for block in [seen_open + 1, gone_until - 1] {
			System::set_block_number(block);
			run_worker();
			assert!(drain(&node).is_empty());
			assert_eq!(offchain::task_records::<Test>(&drawn[0]).len(), 1);
		}
		// Back on the fork where it is open: revealed from the record.
		crate::Tasks::<Test>::insert(task_id, task);
		crate::Tasks::<Test>::mutate(task_id, |task| {
			task.as_mut().unwrap().status =
				TaskStatus::Revealing { reveal_deadline: gone_until + 10 }
		});
		run_worker();
		let txs = drain(&node);
		assert_eq!(reveals(&txs).len(), 3);
		// Gone again, and long enough after it was last seen open: deleted.
		let seen_open = System::block_number();
		crate::Tasks::<Test>::remove(task_id);
		System::set_block_number(seen_open + ttl + offchain::RECORD_GRACE - 1);
		run_worker();
		assert_eq!(offchain::task_records::<Test>(&drawn[0]).len(), 1);
		System::set_block_number(seen_open + ttl + offchain::RECORD_GRACE);
		run_worker();
		assert_eq!(offchain::task_records::<Test>(&drawn[0]), vec![]);
	});
}

#[test]
fn a_record_listed_by_an_earlier_worker_version_is_kept_and_cleaned_up() {
	use sp_runtime::offchain::storage::StorageValueRef;
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, drawn, _) = task_in_reveal_phase(&node);
		let fingerprint = fingerprint_of(task_id);
		// What a node upgraded mid-task has: its record, listed in the old list only.
		let legacy = |v: &AccountId| {
			StorageValueRef::persistent(&offchain::storage_key(b"records/", v)).clear();
			StorageValueRef::persistent(&offchain::storage_key(b"tracked/", v)).set(&vec![(
				task_id,
				fingerprint,
				1u64,
			)]);
		};
		drawn.iter().for_each(legacy);
		assert_eq!(offchain::task_records::<Test>(&drawn[0]), vec![]);
		next_block();
		run_worker();
		let txs = drain(&node);
		assert_eq!(reveals(&txs).len(), 3, "the old records are revealed from");
		next_block();
		dispatch(txs);
		let TaskStatus::Settled { at, .. } = Inference::task(task_id).unwrap().status else {
			panic!("settled")
		};
		// Upgraded again after the task ended: nothing claims the task any more, so only the
		// conversion can list the record, and then it is cleaned up like any other.
		drawn.iter().for_each(legacy);
		run_worker();
		for v in &drawn {
			assert_eq!(offchain::task_records::<Test>(v).len(), 1, "converted and listed");
			let key = offchain::storage_key(b"tracked/", v);
			assert_eq!(
				StorageValueRef::persistent(&key)
					.get::<Vec<(TaskId, offchain::Fingerprint, u64)>>(),
				Ok(None),
				"the old list is gone"
			);
		}
		System::set_block_number(at + offchain::RECORD_GRACE);
		run_worker();
		for v in &drawn {
			assert_eq!(offchain::task_records::<Test>(v), vec![]);
		}
	});
}

fn declines(txs: &[(AccountId, crate::Call<Test>)]) -> Vec<(AccountId, TaskId, DeclineReason)> {
	txs.iter()
		.filter_map(|(who, call)| match call {
			crate::Call::decline { task_id, reason } => Some((*who, *task_id, *reason)),
			_ => None,
		})
		.collect()
}

#[test]
fn a_node_lacking_the_files_declines_once_and_a_replacement_settles() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let spare = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		// This node holds only the first executor's key, and lacks the model's files.
		UintAuthorityId::set_all_keys([key_of(drawn[0])]);
		node.host.answer(Err(InferenceError::MissingModel));
		run_worker();
		let txs = drain(&node);
		assert_eq!(declines(&txs), vec![(key_of(drawn[0]), task_id, DeclineReason::MissingFiles)]);
		assert!(commits(&txs).is_empty(), "nothing committed without an output");
		let (_, record) = offchain::task_records::<Test>(&drawn[0]).pop().unwrap();
		assert!(matches!(record.failed, Some((_, InferenceError::MissingModel))));
		assert!(matches!(record.declined_at, Some((_, DeclineReason::MissingFiles))));
		// Not submitted twice, and not executed again even if the files arrive.
		node.host.answer(Ok(logits(1)));
		run_worker();
		assert!(drain(&node).is_empty());
		assert_eq!(node.host.requests.lock().unwrap().len(), 1);

		// (The mock's commit period is short: the decline lands in the block it was made in.)
		dispatch(txs);
		// Drawn at the end of the next block.
		next_block();
		next_block();
		assert_eq!(executors(task_id), vec![drawn[1], drawn[2], spare]);
		// The replacement's node (and the others') execute as usual.
		UintAuthorityId::set_all_keys([V1, V2, V3, V4].map(key_of));
		run_worker();
		let txs = drain(&node);
		let mut committed: Vec<AccountId> = commits(&txs).into_iter().map(|(k, _)| k).collect();
		committed.sort();
		let mut expected = vec![key_of(drawn[1]), key_of(drawn[2]), key_of(spare)];
		expected.sort();
		assert_eq!(committed, expected, "the decliner's key no longer has the task");
		next_block();
		dispatch(txs);
		run_worker();
		let reveals = drain(&node);
		next_block();
		dispatch(reveals);
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
		check_invariants();
	});
}

#[test]
fn a_node_without_the_models_engine_profile_declines_and_is_replaced_without_a_slash() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let spare = [V1, V2, V3, V4].into_iter().find(|v| !drawn.contains(v)).unwrap();
		UintAuthorityId::set_all_keys([key_of(drawn[0])]);
		// What the host function answers for a profile the node's engine does not implement
		// (or cannot decode: see opg-primitives' tests).
		node.host.answer(Err(InferenceError::Unsupported));
		run_worker();
		let txs = drain(&node);
		assert_eq!(declines(&txs), vec![(key_of(drawn[0]), task_id, DeclineReason::Unsupported)]);
		assert!(commits(&txs).is_empty(), "no other bits are ever committed");
		dispatch(txs);
		next_block();
		next_block();
		assert_eq!(executors(task_id), vec![drawn[1], drawn[2], spare]);
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
		check_invariants();
	});
}

#[test]
fn an_overloaded_node_declines_what_it_cannot_reach_before_the_deadline() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		// A worker that spent its whole budget is that many blocks late when it declines.
		let late = offchain::EXECUTION_BUDGET_MS / offchain::MIN_BLOCK_MS;
		// Long enough for a block of margin before the last replaceable decline.
		set_commit_period(REPLACEMENT_WINDOW + offchain::OVERLOAD_DECLINE_EXTRA + late + 3);
		// Three tasks for all four validators; this node runs V1 only.
		let tasks: Vec<TaskId> = (0..3).map(|_| request_with(ALICE, Some(4))).collect();
		next_block();
		next_block();
		UintAuthorityId::set_all_keys([key_of(V1)]);
		let TaskStatus::Committing { commit_deadline } = Inference::task(tasks[0]).unwrap().status
		else {
			panic!("assigned")
		};
		// Every execution uses up a block's budget.
		*node.host.run_ms.lock().unwrap() = offchain::EXECUTION_BUDGET_MS;
		let margin = REPLACEMENT_WINDOW + offchain::OVERLOAD_DECLINE_EXTRA + late;
		assert!(commit_deadline > System::block_number() + margin);
		run_worker();
		let txs = drain(&node);
		assert_eq!(commits(&txs), vec![(key_of(V1), tasks[0])], "one execution per budget");
		assert!(declines(&txs).is_empty(), "the others can still wait for the next block");
		dispatch(txs);

		// The last block from which a decline sent after a whole budget of executions can
		// still be replaced.
		run_to_block(commit_deadline - margin);
		run_worker();
		let txs = drain(&node);
		assert_eq!(commits(&txs), vec![(key_of(V1), tasks[1])]);
		assert_eq!(declines(&txs), vec![(key_of(V1), tasks[2], DeclineReason::Overloaded)]);
		// The chain moved on while the node executed: the decline lands `late` blocks on, and
		// is still in time for a replacement.
		run_to_block(commit_deadline - margin + late);
		dispatch(txs);
		assert!(Inference::task(tasks[2]).unwrap().declined.contains(&V1));
		System::assert_has_event(
			Event::TaskDeclined {
				task_id: tasks[2],
				executor: V1,
				reason: DeclineReason::Overloaded,
				replaced: true,
			}
			.into(),
		);
	});
}

#[test]
fn tasks_of_one_model_due_together_run_as_engine_batches_within_the_budget() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		// Seven tasks for all four validators; this node runs V1 only.
		let tasks: Vec<TaskId> = (0..7).map(|_| request_with(ALICE, Some(4))).collect();
		next_block();
		next_block();
		UintAuthorityId::set_all_keys([key_of(V1)]);
		run_worker();
		// A first batch of one input measures the model, then the rest goes as one batch.
		assert_eq!(*node.host.batches.lock().unwrap(), vec![1, 6]);
		let txs = drain(&node);
		assert_eq!(txs.len(), 1, "one commit_results for the block");
		let committed: Vec<TaskId> = commits(&txs).into_iter().map(|(_, id)| id).collect();
		assert_eq!(committed, tasks, "every task committed, oldest first");
		// Each commitment is the one of that task's own output (the node answers the same
		// logits for each input here) under the stored salt.
		let crate::Call::commit_results { commits: entries } = &txs[0].1 else { panic!() };
		for (task_id, commitment) in entries.iter() {
			let record = offchain::task_records::<Test>(&V1)
				.into_iter()
				.find(|(id, _)| id == task_id)
				.unwrap()
				.1;
			let (outcome, salt) = record.executed.unwrap();
			let digest = outcome.digest(&Inference::task(*task_id).unwrap().comparison).unwrap();
			assert_eq!(*commitment, opg_primitives::inference::commitment(&digest, &salt, &V1));
		}
		dispatch(txs);

		// When one input takes a quarter of the budget, a batch holds what the rest fits.
		next_block();
		node.host.batches.lock().unwrap().clear();
		// Deadlines far enough that what the budget leaves waits for the next block.
		let late = offchain::EXECUTION_BUDGET_MS / offchain::MIN_BLOCK_MS;
		set_commit_period(REPLACEMENT_WINDOW + offchain::OVERLOAD_DECLINE_EXTRA + late + 3);
		let more: Vec<TaskId> = (0..5).map(|_| request_with(ALICE, Some(4))).collect();
		next_block();
		next_block();
		*node.host.run_ms.lock().unwrap() = offchain::EXECUTION_BUDGET_MS / 4;
		run_worker();
		// 1 input (1/4 of the budget), then the 3 the remaining 3/4 fit; the last one waits
		// for the next block (its deadline is far).
		assert_eq!(*node.host.batches.lock().unwrap(), vec![1, 3]);
		let txs = drain(&node);
		let committed: Vec<TaskId> = commits(&txs).into_iter().map(|(_, id)| id).collect();
		assert_eq!(committed, more[..4].to_vec());
		assert!(declines(&txs).is_empty());
		dispatch(txs);
		next_block();
		node.host.batches.lock().unwrap().clear();
		run_worker();
		assert_eq!(*node.host.batches.lock().unwrap(), vec![1]);
		let committed: Vec<TaskId> = commits(&drain(&node)).into_iter().map(|(_, id)| id).collect();
		assert_eq!(committed, vec![more[4]]);
	});
}

#[test]
fn batches_follow_the_oldest_task_across_models() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		// A second model with its own weights, served by all four validators.
		let other = pallet_models::NextModelId::<Test>::get();
		assert_ok!(Models::register_model(RuntimeOrigin::signed(OWNER), {
			let spec = spec(4, None, opg_primitives::models::ComparisonRule::Argmax);
			let weights_hash = sp_core::H256::repeat_byte(0xBB);
			pallet_models::ModelSpec {
				descriptor: opg_primitives::models::ModelDescriptor {
					weights_hash,
					..spec.descriptor
				},
				..spec
			}
		}));
		for v in [V1, V2, V3, V4] {
			assert_ok!(Models::serve_model(RuntimeOrigin::signed(v), other));
		}
		let request_of = |model| {
			assert_ok!(Inference::request_inference(
				RuntimeOrigin::signed(ALICE),
				model,
				vec![1],
				u64::MAX,
				Some(4)
			));
			crate::NextTaskId::<Test>::get() - 1
		};
		// Oldest first: MODEL, other, MODEL, MODEL, other.
		let tasks = [
			request_of(MODEL),
			request_of(other),
			request_of(MODEL),
			request_of(MODEL),
			request_of(other),
		];
		next_block();
		next_block();
		UintAuthorityId::set_all_keys([key_of(V1)]);
		run_worker();
		// Each model's first batch is its oldest task, in the order of age; then the rest of
		// MODEL (older than the rest of `other`) in one batch, then the rest of `other`.
		let order: Vec<u8> =
			node.host.requests.lock().unwrap().iter().map(|r| r.model.weights_hash.0[0]).collect();
		assert_eq!(order, vec![0xAA, 0xBB, 0xAA, 0xAA, 0xBB]);
		assert_eq!(*node.host.batches.lock().unwrap(), vec![1, 1, 2, 1]);
		let mut committed: Vec<TaskId> =
			commits(&drain(&node)).into_iter().map(|(_, id)| id).collect();
		committed.sort();
		assert_eq!(committed, tasks.to_vec());
	});
}

#[test]
fn an_outcome_another_worker_stored_meanwhile_is_committed_not_overwritten() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		let validator = drawn[0];
		UintAuthorityId::set_all_keys([key_of(validator)]);
		let task = Inference::task(task_id).unwrap();
		let input = crate::TaskInputs::<Test>::get(task_id).unwrap();
		let fingerprint = offchain::fingerprint::<Test>(task_id, &task, &input);
		let key = offchain::storage_key(b"task/", &(&validator, task_id, fingerprint));
		// While this worker's engine runs, another worker (of an overlapping block) stores its
		// own outcome and salt for the task, and may already have committed to them.
		let theirs = (TaskOutcome::Output(encode_output(&logits(3))), [7u8; 32]);
		let stored = theirs.clone();
		*node.host.on_run.lock().unwrap() = Some(Box::new(move |state| {
			let record = offchain::TaskRecord {
				executed: Some(stored.clone()),
				commit_at: Some(1),
				..Default::default()
			};
			let value = codec::Encode::encode(&record);
			sp_core::offchain::OffchainStorage::set(
				&mut state.persistent_storage,
				b"",
				&key,
				&value,
			);
		}));
		run_worker();
		let txs = drain(&node);
		let crate::Call::commit_results { commits: entries } = &txs[0].1 else { panic!() };
		// The commit is to the stored outcome and salt, which the reveal will send.
		let digest = theirs.0.digest(&task.comparison).unwrap();
		assert_eq!(
			entries[0],
			(task_id, opg_primitives::inference::commitment(&digest, &theirs.1, &validator))
		);
		let record = offchain::task_records::<Test>(&validator)
			.into_iter()
			.find(|(id, _)| *id == task_id)
			.unwrap()
			.1;
		assert_eq!(record.executed, Some(theirs));
	});
}

#[test]
fn a_dropped_commit_is_resubmitted_with_the_same_commitment_and_nonce() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, drawn) = assigned_task(ALICE);
		run_worker();
		let first = drain(&node);
		assert_eq!(first.len(), 3);
		// The pool dropped them: nothing lands. Retried after RESUBMIT_AFTER blocks, not before.
		for _ in 1..offchain::RESUBMIT_AFTER {
			next_block();
			run_worker();
			assert!(drain(&node).is_empty());
		}
		next_block();
		run_worker();
		let second = drain(&node);
		assert_eq!(second.len(), 3);
		let key = key_of(drawn[0]);
		let nonces = nonces_of(key);
		// Nothing landed: the dropped transaction's nonce is used again, so no gap blocks the key.
		assert_eq!(nonces, vec![0, 0]);
		let commitment_of = |txs: &[(AccountId, crate::Call<Test>)]| {
			txs.iter()
				.find_map(|(who, call)| match call {
					crate::Call::commit_results { commits } if *who == key => Some(commits[0].1),
					_ => None,
				})
				.unwrap()
		};
		assert_eq!(commitment_of(&first), commitment_of(&second));
		next_block();
		dispatch(second);
		assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Revealing { .. }));
	});
}

#[test]
fn unlinked_keys_and_late_tasks_submit_nothing() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, _) = assigned_task(ALICE);
		// Keys in the keystore that no validator linked do nothing.
		UintAuthorityId::set_all_keys(vec![99u64]);
		run_worker();
		assert!(drain(&node).is_empty());
		UintAuthorityId::set_all_keys([V1, V2, V3, V4].map(key_of));
		// One block before the deadline a commit cannot land in time: not submitted.
		let TaskStatus::Committing { commit_deadline } = Inference::task(task_id).unwrap().status
		else {
			panic!("committing")
		};
		run_to_block(commit_deadline - 1);
		run_worker();
		assert!(drain(&node).is_empty());
		assert!(node.host.requests.lock().unwrap().is_empty());
	});
	// Without the node's engine (outside an off-chain worker) the host function is unavailable.
	sp_io::TestExternalities::default().execute_with(|| {
		assert_eq!(
			opg_primitives::execution::opg_inference::run(
				&spec(1, None, opg_primitives::models::ComparisonRule::Argmax).descriptor.encode(),
				&[1],
			),
			Err(InferenceError::Unavailable)
		);
	});
}

#[test]
fn a_blocks_commits_go_in_one_transaction_and_several_transactions_get_consecutive_nonces() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let first = request(ALICE);
		let second = request(BOB);
		next_block();
		next_block();
		run_worker();
		let txs = drain(&node);
		assert_eq!(commits(&txs).len(), 6);
		// One transaction per key, carrying both tasks for a validator that executes both.
		let both = executors(first).into_iter().find(|v| executors(second).contains(v)).unwrap();
		let key = key_of(both);
		let of_key: Vec<_> = txs.iter().filter(|(who, _)| *who == key).collect();
		assert_eq!(of_key.len(), 1);
		assert!(
			matches!(&of_key[0].1, crate::Call::commit_results { commits } if commits.len() == 2)
		);
		assert_eq!(nonces_of(key), vec![0]);
		// The next block: the first task's reveals and a third task's commits, two transactions
		// of consecutive nonces (reveals first).
		next_block();
		dispatch(txs);
		let third = request(BOB);
		next_block();
		next_block();
		run_worker();
		let txs = drain(&node);
		let key =
			key_of(executors(third).into_iter().find(|v| executors(first).contains(v)).unwrap());
		let of_key: Vec<_> =
			txs.iter().filter(|(who, _)| *who == key).map(|(_, call)| call).collect();
		assert!(matches!(
			of_key[..],
			[crate::Call::reveal_results { .. }, crate::Call::commit_results { .. }]
		));
		// (The test dispatched the earlier batch directly, so the on-chain nonce did not move and
		// the worker started again from it.)
		let nonces = nonces_of(key);
		assert_eq!(nonces[nonces.len() - 2..], [0, 1]);
	});
}

#[test]
fn more_commits_than_a_batch_holds_go_in_several_batches() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		// Every validator executes every task.
		let tasks: Vec<TaskId> = (0..MAX_BATCH + 1)
			.map(|i| {
				let task_id = request_with(ALICE, Some(4));
				if i % 4 == 3 {
					next_block();
				}
				task_id
			})
			.collect();
		let last = *tasks.last().unwrap();
		while !matches!(Inference::task(last).unwrap().status, TaskStatus::Committing { .. }) {
			next_block();
		}
		run_worker();
		let txs = drain(&node);
		let key = key_of(V1);
		let sizes: Vec<usize> = txs
			.iter()
			.filter(|(who, _)| *who == key)
			.map(|(_, call)| match call {
				crate::Call::commit_results { commits } => commits.len(),
				other => panic!("unexpected {other:?}"),
			})
			.collect();
		assert_eq!(sizes, vec![MAX_BATCH as usize, 1]);
		next_block();
		dispatch(txs);
		for task_id in tasks {
			assert!(matches!(
				Inference::task(task_id).unwrap().status,
				TaskStatus::Revealing { .. }
			));
		}
	});
}

#[test]
fn the_same_task_id_with_another_input_is_executed_again() {
	// Off-chain storage is shared by forks: task 0 of one fork must not reuse the output of
	// task 0 of another.
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (task_id, _) = assigned_task(ALICE);
		run_worker();
		assert_eq!(commits(&drain(&node)).len(), 3);
		assert_eq!(node.host.requests.lock().unwrap().len(), 3);
		// The other fork: same id, another input.
		crate::TaskInputs::<Test>::insert(
			task_id,
			frame_support::BoundedVec::truncate_from(vec![9u8; 8]),
		);
		node.host.answer(Ok(logits(3)));
		next_block();
		run_worker();
		assert_eq!(commits(&drain(&node)).len(), 3, "fresh records: no claim to wait for");
		let requests = node.host.requests.lock().unwrap().clone();
		assert_eq!(requests.len(), 6);
		assert!(requests[3..].iter().all(|r| r.input == vec![9u8; 8]));
	});
}

#[test]
fn workers_commit_and_reveal_a_rejection_and_the_task_ends_rejected() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		node.host.answer(Err(InferenceError::Rejected(Rejection::TooManyTokens)));
		let task_id = request(ALICE);
		next_block();
		next_block();
		let drawn = executors(task_id);
		run_worker();
		let txs = drain(&node);
		assert_eq!(commits(&txs).len(), 3, "a rejection is committed like an output");
		next_block();
		dispatch(txs);
		run_worker();
		let reveals = drain(&node);
		assert!(reveals.iter().all(|(_, call)| match call {
			crate::Call::reveal_results { reveals } => reveals.iter().all(|(_, outcome, _)| {
				*outcome == TaskOutcome::Rejected(Rejection::TooManyTokens)
			}),
			_ => false,
		}));
		next_block();
		dispatch(reveals);
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Rejected { rejection: Rejection::TooManyTokens, .. }
		));
		for v in drawn {
			assert!(inference_events().contains(&Event::ExecutorRewarded {
				task_id,
				executor: v,
				amount: FEE_PER_EXECUTOR
			}));
		}
		check_invariants();
	});
}

#[test]
fn a_node_limit_is_not_a_rejection_and_commits_nothing() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		node.host.answer(Err(InferenceError::InvalidInput));
		let task_id = request(ALICE);
		next_block();
		next_block();
		run_worker();
		assert!(commits(&drain(&node)).is_empty());
		// Nobody could commit: the task fails at its deadline and nobody is slashed.
		run_to_block(9);
		assert!(matches!(
			Inference::task(task_id).unwrap().status,
			TaskStatus::Failed { reason: crate::FailReason::NoCommits, .. }
		));
		assert!(!inference_events().iter().any(|e| matches!(e, Event::ExecutorSlashed { .. })));
	});
}

#[test]
fn batches_keep_order_and_respect_the_count_and_the_weight_limit() {
	// `fits` stands for the weight limit: entries' sum at most 30.
	let entries: Vec<u32> = (1..=20).collect();
	let batches = offchain::batches::<Test, u32>(entries.clone(), |b| b.iter().sum::<u32>() <= 30);
	assert_eq!(batches.concat(), entries, "every entry once, in order");
	for batch in &batches {
		assert!(batch.len() <= MAX_BATCH as usize);
		assert!(batch.len() == 1 || batch.iter().sum::<u32>() <= 30, "{batch:?}");
	}
	// Greedy: no batch could have taken the next batch's first entry.
	for pair in batches.windows(2) {
		let mut grown = pair[0].clone();
		grown.push(pair[1][0]);
		assert!(grown.len() > MAX_BATCH as usize || grown.iter().sum::<u32>() > 30);
	}
	// The count alone splits small entries.
	let small = offchain::batches::<Test, u32>(vec![0; 20], |_| true);
	assert_eq!(small.iter().map(Vec::len).collect::<Vec<_>>(), vec![8, 8, 4]);
	// An entry too heavy even alone still goes, on its own.
	assert_eq!(
		offchain::batches::<Test, u32>(vec![1, 99, 1], |b| b.iter().sum::<u32>() <= 30),
		vec![vec![1], vec![99], vec![1]]
	);
}

#[test]
fn a_worker_executes_at_most_twice_the_draws_of_a_block() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		set_max_draws(1);
		assert_eq!(offchain::max_executions::<Test>(), 2);
		// Deadlines far enough that what waits is not declined.
		set_commit_period(REPLACEMENT_WINDOW + offchain::OVERLOAD_DECLINE_EXTRA + 6);
		// One draw a block: the three tasks are assigned in blocks 2, 3 and 4.
		let tasks: Vec<TaskId> = (0..3).map(|_| request_with(ALICE, Some(4))).collect();
		run_to_block(5);
		UintAuthorityId::set_all_keys([key_of(V1)]);
		// The node missed blocks 2 to 4: it catches up two tasks a block, oldest first.
		run_worker();
		let txs = drain(&node);
		assert_eq!(commits(&txs), vec![(key_of(V1), tasks[0]), (key_of(V1), tasks[1])]);
		assert!(declines(&txs).is_empty(), "the third can wait");
		dispatch(txs);
		next_block();
		run_worker();
		assert_eq!(commits(&drain(&node)), vec![(key_of(V1), tasks[2])]);
	});
}

/// Registers a chat model generating at most 8 tokens, served by all four validators; returns
/// its id and generation parameters.
fn language_model() -> (opg_primitives::models::ModelId, opg_primitives::models::GenerationParams) {
	use opg_primitives::models::*;
	let model_id = pallets_models_next_id();
	let generation = GenerationParams {
		prompt: opg_primitives::models::PromptFormat::Chat,
		max_prompt_tokens: 16,
		max_new_tokens: 8,
		stop_tokens: [None; 4],
		decoding: Decoding::Greedy,
	};
	let base = spec(4, None, ComparisonRule::Tokens);
	assert_ok!(Models::register_model(
		RuntimeOrigin::signed(OWNER),
		pallet_models::ModelSpec {
			descriptor: ModelDescriptor {
				format: ModelFormat::Gguf,
				architecture: Architecture::CausalLm { generation },
				..base.descriptor
			},
			input: InputKind::Chat { max_bytes: 32 },
			output: OutputKind::Generation,
			..base
		}
	));
	for v in [V1, V2, V3, V4] {
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(v), model_id));
	}
	(model_id, generation)
}

fn pallets_models_next_id() -> opg_primitives::models::ModelId {
	pallet_models::NextModelId::<Test>::get()
}

fn request_model(model_id: opg_primitives::models::ModelId) -> TaskId {
	let task_id = crate::NextTaskId::<Test>::get();
	assert_ok!(Inference::request_inference(
		RuntimeOrigin::signed(ALICE),
		model_id,
		b"[]".to_vec(),
		u64::MAX,
		Some(4)
	));
	task_id
}

#[test]
fn generations_run_one_at_a_time_and_commit_their_generation() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (model, generation) = language_model();
		let answer = opg_primitives::models::Generation {
			prompt_tokens: 3,
			tokens: vec![5, 6, 7],
			text: "hi!".into(),
		}
		.encode();
		*node.host.raw.lock().unwrap() = Some(answer.clone());
		// 300 ms a generation of 3 tokens: 100 ms a token.
		*node.host.run_ms.lock().unwrap() = 300;
		let tasks: Vec<TaskId> = (0..4).map(|_| request_model(model)).collect();
		next_block();
		next_block();
		UintAuthorityId::set_all_keys([key_of(V1)]);
		run_worker();
		// One engine call per task, never a batch.
		assert_eq!(*node.host.batches.lock().unwrap(), vec![1, 1, 1, 1]);
		let txs = drain(&node);
		let committed: Vec<TaskId> = commits(&txs).into_iter().map(|(_, id)| id).collect();
		assert_eq!(committed, tasks);
		// The node now knows its speed on the model: 100 ms a token, 8 tokens at most.
		assert_eq!(offchain::generation_ms::<Test>(model, &generation, false), Some(800));
		dispatch(txs);
		// Every executor commits and reveals: the generation settles.
		UintAuthorityId::set_all_keys([V1, V2, V3, V4].map(key_of));
		run_worker();
		next_block();
		dispatch(drain(&node));
		run_worker();
		next_block();
		dispatch(drain(&node));
		for task_id in tasks {
			assert!(matches!(Inference::task(task_id).unwrap().status, TaskStatus::Settled { .. }));
			assert_eq!(Inference::task_result(task_id), Some(answer.clone()));
		}
		check_invariants();
	});
}

#[test]
fn a_generation_too_slow_for_its_deadline_is_declined_at_once() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (model, generation) = language_model();
		// This node measured 2 s a token: 16 s for 8 tokens, beyond the commit period (5 blocks
		// of at least 2 s, less two for the commit to land).
		sp_runtime::offchain::storage::StorageValueRef::persistent(&offchain::storage_key(
			b"speed/", &model,
		))
		.set(&2_000u64);
		assert_eq!(offchain::generation_ms::<Test>(model, &generation, false), Some(16_000));
		let task_id = request_model(model);
		next_block();
		next_block();
		UintAuthorityId::set_all_keys([key_of(V1)]);
		run_worker();
		assert!(node.host.batches.lock().unwrap().is_empty(), "not started");
		let txs = drain(&node);
		assert_eq!(declines(&txs), vec![(key_of(V1), task_id, DeclineReason::Overloaded)]);
		assert!(commits(&txs).is_empty());
		// A node fast enough runs it.
		sp_runtime::offchain::storage::StorageValueRef::persistent(&offchain::storage_key(
			b"speed/", &model,
		))
		.set(&100u64);
		UintAuthorityId::set_all_keys([key_of(V2)]);
		*node.host.raw.lock().unwrap() = Some(
			opg_primitives::models::Generation {
				prompt_tokens: 1,
				tokens: vec![1],
				text: "a".into(),
			}
			.encode(),
		);
		run_worker();
		assert_eq!(*node.host.batches.lock().unwrap(), vec![1]);
		assert_eq!(commits(&drain(&node)), vec![(key_of(V2), task_id)]);
	});
}

#[test]
fn an_output_that_is_not_a_generation_is_never_committed() {
	let (mut ext, node) = offchain_ext();
	ext.execute_with(|| {
		let (model, _) = language_model();
		// The node answers `f32` values for a language model: the chain would refuse them.
		let task_id = request_model(model);
		next_block();
		next_block();
		UintAuthorityId::set_all_keys([key_of(V1)]);
		run_worker();
		let txs = drain(&node);
		assert!(commits(&txs).is_empty());
		assert_eq!(declines(&txs), vec![(key_of(V1), task_id, DeclineReason::Unsupported)]);
	});
}
