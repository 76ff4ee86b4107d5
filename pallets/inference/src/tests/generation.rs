//! Text generation by causal language models: escrow at the longest prompt and generation,
//! settlement charging the settled generation's tokens and refunding the rest, reveals of
//! generations under the `Tokens` rule, and what a requester or an executor can and cannot do
//! to the others with them.

use crate::{mock::*, Error, Event, FailReason, TaskResults, TaskStatus, TaskTokenCharges};
use codec::Encode;
use frame_support::{assert_noop, assert_ok};
use opg_primitives::{
	inference::{commitment, Rejection, TaskId, TaskOutcome},
	models::{
		Architecture, ComparisonRule, Decoding, Generation, GenerationParams, InputKind,
		ModelDescriptor, ModelFormat, ModelId, OutputKind, TokenFees,
	},
	staking::SlashReason,
};
use pallet_models::ModelSpec;

const PER_PROMPT_TOKEN: Balance = 10;
const PER_GENERATED_TOKEN: Balance = 50;
const MAX_PROMPT_TOKENS: u32 = 16;
const MAX_NEW_TOKENS: u32 = 8;
/// What each executor's share holds: the base fee and the longest prompt and generation.
const HELD_PER_EXECUTOR: Balance = FEE_PER_EXECUTOR
	+ PER_PROMPT_TOKEN * MAX_PROMPT_TOKENS as Balance
	+ PER_GENERATED_TOKEN * MAX_NEW_TOKENS as Balance;

/// Registers a chat model (3 executors, quorum 2) with `token_fees`, served by all four
/// validators.
fn llm(token_fees: Option<TokenFees<Balance>>, input: InputKind) -> ModelId {
	let model_id = pallet_models::NextModelId::<Test>::get();
	let base = spec(3, None, ComparisonRule::Tokens);
	// Chat messages, or a raw prompt for `Text` input.
	let prompt = match input {
		InputKind::Chat { .. } => opg_primitives::models::PromptFormat::Chat,
		_ => opg_primitives::models::PromptFormat::Raw,
	};
	let generation = GenerationParams {
		prompt,
		max_prompt_tokens: MAX_PROMPT_TOKENS,
		max_new_tokens: MAX_NEW_TOKENS,
		stop_tokens: [Some(2), None, None, None],
		decoding: Decoding::Greedy,
	};
	assert!(generation.max_output_bytes() <= MAX_OUTPUT);
	assert_ok!(Models::register_model(
		RuntimeOrigin::signed(OWNER),
		ModelSpec {
			descriptor: ModelDescriptor {
				format: ModelFormat::Gguf,
				architecture: Architecture::CausalLm { generation },
				..base.descriptor
			},
			input,
			output: OutputKind::Generation,
			token_fees,
			..base
		}
	));
	for v in [V1, V2, V3, V4] {
		assert_ok!(Models::serve_model(RuntimeOrigin::signed(v), model_id));
	}
	model_id
}

fn priced() -> Option<TokenFees<Balance>> {
	Some(TokenFees { per_prompt_token: PER_PROMPT_TOKEN, per_generated_token: PER_GENERATED_TOKEN })
}

fn chat() -> InputKind {
	InputKind::Chat { max_bytes: 48 }
}

/// ALICE asks `model_id` about `input`; the task is assigned two blocks later.
fn assigned(model_id: ModelId, input: &[u8]) -> (TaskId, Vec<AccountId>) {
	let task_id = crate::NextTaskId::<Test>::get();
	assert_ok!(Inference::request_inference(
		RuntimeOrigin::signed(ALICE),
		model_id,
		input.to_vec(),
		Balance::MAX,
		None
	));
	next_block();
	next_block();
	(task_id, executors(task_id))
}

fn answer(prompt_tokens: u32, tokens: &[u32], text: &str) -> Vec<u8> {
	Generation { prompt_tokens, tokens: tokens.to_vec(), text: text.into() }.encode()
}

/// `who` commits to the raw `bytes` under the task's rule.
fn commit_bytes(task_id: TaskId, who: AccountId, bytes: &[u8]) {
	let rule = Inference::task(task_id).unwrap().comparison;
	let digest = rule.digest_output(bytes).expect("a well-formed output");
	assert_ok!(Inference::commit_result(
		RuntimeOrigin::signed(who),
		task_id,
		commitment(&digest, &salt_of(who), &who)
	));
}

/// The escrow of `task_id` is exactly what was paid, taken by the protocol and refunded.
fn assert_conserved(task_id: TaskId, paid: Balance, protocol_fee: Balance, refunded: Balance) {
	let task = Inference::task(task_id).unwrap();
	assert_eq!(task.escrow, paid + protocol_fee + refunded, "escrow = paid + fee + refund");
	assert_eq!(escrow(ALICE), 0);
}

fn slashes() -> usize {
	inference_events().iter().filter(|e| matches!(e, Event::ExecutorSlashed { .. })).count()
}

#[test]
fn a_request_holds_the_longest_prompt_and_generation() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let before = free(ALICE);
		let (task_id, _) = assigned(model, br#"[{"role":"user","content":"hi"}]"#);
		let executor_fees = 3 * HELD_PER_EXECUTOR;
		let protocol_fee = PROTOCOL_FEE.mul_ceil(executor_fees);
		let task = Inference::task(task_id).unwrap();
		assert_eq!((task.fee_per_executor, task.protocol_fee), (FEE_PER_EXECUTOR, protocol_fee));
		assert_eq!(task.escrow, executor_fees + protocol_fee);
		assert_eq!(escrow(ALICE), task.escrow);
		assert_eq!(before - free(ALICE), task.escrow);
		let charge = TaskTokenCharges::<Test>::get(task_id).unwrap();
		assert_eq!(charge.prices, priced().unwrap());
		assert_eq!((charge.max_prompt_tokens, charge.max_new_tokens), (16, 8));
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::TaskCreated { task_id: id, fee, .. } if *id == task_id && *fee == task.escrow
		)));
		// `max_fee` below the maximum is refused.
		assert_noop!(
			Inference::request_inference(
				RuntimeOrigin::signed(ALICE),
				model,
				b"[]".to_vec(),
				task.escrow - 1,
				None
			),
			Error::<Test>::FeeAboveMax
		);
		// Without token fees, a language model costs its base fee, and records no charge.
		let flat = llm(None, chat());
		let (flat_task, _) = assigned(flat, b"[]");
		assert_eq!(
			Inference::task(flat_task).unwrap().escrow,
			3 * FEE_PER_EXECUTOR + PROTOCOL_FEE.mul_ceil(3 * FEE_PER_EXECUTOR)
		);
		assert!(TaskTokenCharges::<Test>::get(flat_task).is_none());
	});
}

#[test]
fn settlement_charges_the_generated_tokens_and_refunds_the_rest() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let alice = free(ALICE);
		let treasury = free(TREASURY);
		let (task_id, drawn) = assigned(model, br#"[{"role":"user","content":"hi"}]"#);
		let output = answer(5, &[7, 8, 2], "Hello");
		for v in &drawn {
			commit_bytes(task_id, *v, &output);
		}
		for v in &drawn {
			assert_ok!(try_reveal(task_id, *v, output.clone(), salt_of(*v)));
		}
		// 1,000 + 5 × 10 + 3 × 50 each; the protocol fee scaled by 1,200 / 1,560.
		let per_executor = FEE_PER_EXECUTOR + 5 * PER_PROMPT_TOKEN + 3 * PER_GENERATED_TOKEN;
		let task = Inference::task(task_id).unwrap();
		let protocol_fee = (task.protocol_fee * per_executor).div_ceil(HELD_PER_EXECUTOR);
		let paid = 3 * per_executor;
		let refunded = task.escrow - paid - protocol_fee;
		assert!(matches!(task.status, TaskStatus::Settled { .. }));
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::TaskSettled { task_id: id, paid: p, protocol_fee: f, refunded: r, .. }
				if *id == task_id && (*p, *f, *r) == (paid, protocol_fee, refunded)
		)));
		for v in &drawn {
			assert!(inference_events().iter().any(|e| matches!(
				e,
				Event::ExecutorRewarded { executor, amount, .. }
					if executor == v && *amount == per_executor
			)));
		}
		assert_conserved(task_id, paid, protocol_fee, refunded);
		assert_eq!(alice - free(ALICE), paid + protocol_fee);
		assert_eq!(free(TREASURY) - treasury, protocol_fee);
		// The published result: the generation, canonical and raw.
		let result = TaskResults::<Test>::get(task_id).unwrap();
		assert_eq!(result.canonical.to_vec(), output);
		assert_eq!(result.output.to_vec(), output);
		assert_eq!(slashes(), 0);
	});
}

#[test]
fn a_full_generation_pays_everything_held_and_counts_are_capped() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let (task_id, drawn) = assigned(model, b"[]");
		// Counts beyond the limits (which an honest engine never reports) are charged at the
		// limits: the escrow is all a task can cost.
		let output = answer(40, &[1; 9], "x");
		for v in &drawn {
			commit_bytes(task_id, *v, &output);
		}
		for v in &drawn {
			assert_ok!(try_reveal(task_id, *v, output.clone(), salt_of(*v)));
		}
		let task = Inference::task(task_id).unwrap();
		let paid = 3 * HELD_PER_EXECUTOR;
		assert_conserved(task_id, paid, task.protocol_fee, 0);
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::TaskSettled { refunded: 0, paid: p, .. } if *p == paid
		)));
	});
}

#[test]
fn a_rejection_pays_the_base_fee_only() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let alice = free(ALICE);
		let (task_id, drawn) = assigned(model, b"not json");
		for v in &drawn {
			commit_rejection(task_id, *v, Rejection::MalformedChat);
		}
		for v in &drawn {
			reveal_rejection(task_id, *v, Rejection::MalformedChat);
		}
		let task = Inference::task(task_id).unwrap();
		assert_eq!(
			task.status,
			TaskStatus::Rejected { rejection: Rejection::MalformedChat, at: 3 }
		);
		let paid = 3 * FEE_PER_EXECUTOR;
		let protocol_fee = (task.protocol_fee * FEE_PER_EXECUTOR).div_ceil(HELD_PER_EXECUTOR);
		let refunded = task.escrow - paid - protocol_fee;
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::TaskRejected { paid: p, protocol_fee: f, refunded: r, .. }
				if (*p, *f, *r) == (paid, protocol_fee, refunded)
		)));
		assert_conserved(task_id, paid, protocol_fee, refunded);
		assert_eq!(alice - free(ALICE), paid + protocol_fee);
	});
}

#[test]
fn a_failed_task_refunds_everything() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let alice = free(ALICE);
		let (task_id, drawn) = assigned(model, b"[]");
		// Three different generations: no quorum of 2.
		let outputs: Vec<Vec<u8>> = (0..3).map(|i| answer(4, &[10 + i, 2], "different")).collect();
		for (v, output) in drawn.iter().zip(&outputs) {
			commit_bytes(task_id, *v, output);
		}
		for (v, output) in drawn.iter().zip(&outputs) {
			assert_ok!(try_reveal(task_id, *v, output.clone(), salt_of(*v)));
		}
		let task = Inference::task(task_id).unwrap();
		assert!(matches!(task.status, TaskStatus::Failed { reason: FailReason::NoQuorum, .. }));
		assert_conserved(task_id, 0, 0, task.escrow);
		assert_eq!(free(ALICE), alice);
		assert_eq!(slashes(), 0, "no majority to dissent from");
	});
}

#[test]
fn a_cancelled_task_pays_the_drawn_executors_their_base_fee_only() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let alice = free(ALICE);
		let (task_id, _) = assigned(model, b"[]");
		assert_ok!(Inference::cancel(RuntimeOrigin::signed(ALICE), task_id));
		assert_eq!(alice - free(ALICE), 3 * FEE_PER_EXECUTOR);
		assert_eq!(escrow(ALICE), 0);
	});
}

#[test]
fn generations_are_revealed_under_tokens_and_malformed_ones_refused() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let (task_id, drawn) = assigned(model, b"[]");
		let output = answer(3, &[5, 6], "ok");
		// The digest executors commit to is blake2 of the strict re-encoding.
		let digest = ComparisonRule::Tokens.digest_output(&output).unwrap();
		assert_eq!(digest, opg_primitives::models::digest_canonical(&output));
		for v in &drawn {
			commit_bytes(task_id, *v, &output);
		}
		let v = drawn[0];
		let mut trailing = output.clone();
		trailing.push(0);
		let mut bad_utf8 = answer(3, &[5, 6], "o");
		*bad_utf8.last_mut().unwrap() = 0xff;
		for malformed in [trailing, output[..output.len() - 1].to_vec(), bad_utf8, vec![0; 8]] {
			assert_noop!(
				try_reveal(task_id, v, malformed, salt_of(v)),
				Error::<Test>::MalformedOutput
			);
		}
		// Well-formed but another generation: not what was committed.
		assert_noop!(
			try_reveal(task_id, v, answer(3, &[5, 7], "ok"), salt_of(v)),
			Error::<Test>::CommitmentMismatch
		);
		assert_ok!(try_reveal(task_id, v, output.clone(), salt_of(v)));
		System::assert_last_event(Event::ResultRevealed { task_id, executor: v, digest }.into());
	});
}

/// A requester cannot have honest executors slashed with a chat input they must refuse: the
/// chain refuses what it can check (length, UTF-8), and the executors' deterministic rejection
/// of the rest settles the task with them paid and nobody slashed.
#[test]
fn a_requester_cannot_get_honest_executors_slashed_with_a_bad_chat() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		// Over the model's `max_bytes`, or not UTF-8: refused at request.
		assert_noop!(
			Inference::request_inference(
				RuntimeOrigin::signed(ALICE),
				model,
				vec![b'['; 49],
				Balance::MAX,
				None
			),
			Error::<Test>::InputAboveModelLimit
		);
		assert_noop!(
			Inference::request_inference(
				RuntimeOrigin::signed(ALICE),
				model,
				vec![0xff],
				Balance::MAX,
				None
			),
			Error::<Test>::InputNotUtf8
		);
		let stakes: Vec<Balance> = [V1, V2, V3, V4].iter().map(|v| stake_of(*v, *v)).collect();
		// Not a chat, and a chat over the prompt limit: every honest executor rejects it.
		for (input, rejection) in [
			(&b"{not json"[..], Rejection::MalformedChat),
			(&br#"[{"role":"user","content":"long"}]"#[..], Rejection::TooManyTokens),
		] {
			let (task_id, drawn) = assigned(model, input);
			for v in &drawn {
				commit_rejection(task_id, *v, rejection);
			}
			for v in &drawn {
				reveal_rejection(task_id, *v, rejection);
			}
			assert_eq!(
				Inference::task(task_id).unwrap().status,
				TaskStatus::Rejected { rejection, at: System::block_number() }
			);
		}
		assert_eq!(slashes(), 0);
		let after: Vec<Balance> = [V1, V2, V3, V4].iter().map(|v| stake_of(*v, *v)).collect();
		assert_eq!(after, stakes);
		// A chat rejection is impossible for a raw-prompt model: the chain checked nothing
		// that could make it so, and refuses the reveal.
		let raw = llm(priced(), InputKind::Text { max_bytes: 48 });
		let (task_id, drawn) = assigned(raw, b"hello");
		for v in &drawn {
			commit_rejection(task_id, *v, Rejection::MalformedChat);
		}
		assert_noop!(
			Inference::reveal_result(
				RuntimeOrigin::signed(drawn[0]),
				task_id,
				TaskOutcome::Rejected(Rejection::MalformedChat),
				salt_of(drawn[0])
			),
			Error::<Test>::ImpossibleRejection
		);
	});
}

/// An executor that reports another prompt length than the others (to be paid for more prompt
/// tokens, say) reveals another generation: it is outvoted and slashed, and the quorum's counts
/// are charged.
#[test]
fn an_executor_with_another_prompt_count_is_outvoted() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let (task_id, drawn) = assigned(model, b"[]");
		let honest = answer(5, &[7, 8, 2], "Hello");
		let greedy = answer(16, &[7, 8, 2], "Hello");
		let (liar, others) = drawn.split_last().unwrap();
		for v in others {
			commit_bytes(task_id, *v, &honest);
		}
		commit_bytes(task_id, *liar, &greedy);
		for v in others {
			assert_ok!(try_reveal(task_id, *v, honest.clone(), salt_of(*v)));
		}
		let stake = stake_of(*liar, *liar);
		assert_ok!(try_reveal(task_id, *liar, greedy, salt_of(*liar)));
		let task = Inference::task(task_id).unwrap();
		assert!(matches!(task.status, TaskStatus::Settled { .. }));
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::ExecutorSlashed { executor, reason: SlashReason::Mismatch, .. }
				if executor == liar
		)));
		assert!(stake_of(*liar, *liar) < stake);
		let per_executor = FEE_PER_EXECUTOR + 5 * PER_PROMPT_TOKEN + 3 * PER_GENERATED_TOKEN;
		assert!(inference_events().iter().any(|e| matches!(
			e,
			Event::TaskSettled { paid, .. } if *paid == 2 * per_executor
		)));
		assert_eq!(TaskResults::<Test>::get(task_id).unwrap().output.to_vec(), honest);
	});
}

#[test]
fn the_token_charge_lives_as_long_as_its_task() {
	ExtBuilder::default().build_and_execute(|| {
		let model = llm(priced(), chat());
		let (task_id, drawn) = assigned(model, b"[]");
		for v in &drawn {
			commit_rejection(task_id, *v, Rejection::TooManyTokens);
		}
		for v in &drawn {
			reveal_rejection(task_id, *v, Rejection::TooManyTokens);
		}
		assert!(TaskTokenCharges::<Test>::get(task_id).is_some());
		let expires_at = Inference::task(task_id).unwrap().plan.expires_at;
		run_to_block(expires_at + 1);
		assert!(Inference::task(task_id).is_none());
		assert!(TaskTokenCharges::<Test>::get(task_id).is_none());
	});
}

#[test]
fn the_longest_generation_a_model_allows_is_revealed_settled_and_published() {
	ExtBuilder::default().build_and_execute(|| {
		use opg_primitives::models::{ModelProvider, MAX_TEXT_BYTES_PER_TOKEN};
		let model = llm(priced(), chat());
		let (task_id, drawn) = assigned(model, b"[]");
		// Every token at the most text the engine lets one token add, in 3-byte characters.
		let text = "\u{fffd}".repeat((MAX_NEW_TOKENS * MAX_TEXT_BYTES_PER_TOKEN / 3) as usize);
		let output = answer(MAX_PROMPT_TOKENS, &[u32::MAX; MAX_NEW_TOKENS as usize], &text);
		let limits = Models::model_params(model).unwrap().generation().unwrap();
		assert!(output.len() as u32 <= limits.max_output_bytes());
		assert!(limits.max_output_bytes() <= MAX_OUTPUT);
		for v in &drawn {
			commit_bytes(task_id, *v, &output);
		}
		for v in &drawn {
			assert_ok!(try_reveal(task_id, *v, output.clone(), salt_of(*v)));
		}
		let result = TaskResults::<Test>::get(task_id).unwrap();
		assert_eq!(result.canonical.to_vec(), output);
		assert_eq!(result.output.to_vec(), output);
		let task = Inference::task(task_id).unwrap();
		assert_conserved(task_id, 3 * HELD_PER_EXECUTOR, task.protocol_fee, 0);
	});
}
