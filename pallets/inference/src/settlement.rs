//! Ending tasks: settlement on a quorum (on an output, or on the model's rejection of the input),
//! failure with a full refund, and the money moves of both. What each fault costs is in
//! [`crate::offences`].
//!
//! Money only moves through the requester's escrow hold: each paid executor's fee leaves it as a
//! credit (`BalancedHold::slash`) handed to the staking pallet's `reward` (commission to the
//! validator, the rest to its delegators and own bond, pro rata); the protocol fee leaves it as a
//! credit to `ProtocolFeeDestination`; everything else is released back to the requester. A
//! reward the staking side refuses (the validator deregistered meanwhile) goes back to the
//! requester too. So for every task: `escrow = paid + protocol fee + refunded`.
//!
//! ## Token fees
//!
//! A task of a causal language model with token fees ([`TaskTokenCharges`]) holds, per executor,
//! `fee_per_executor + per_prompt_token × max_prompt_tokens + per_generated_token ×
//! max_new_tokens`, and the protocol fee on that. Settled on a generation, each paid executor
//! gets `fee_per_executor + per_prompt_token × p + per_generated_token × n`, where `p` is the
//! generation's `prompt_tokens` and `n` its number of `tokens` (each capped at the limit the
//! escrow covers), and the protocol fee is scaled by the same ratio, rounded up:
//! `ceil(protocol_fee × paid per executor / held per executor)`. Settled on a rejection, each
//! paid executor gets `fee_per_executor` alone (no token was generated), with the protocol fee
//! scaled likewise. A failed or cancelled task pays no token fee. Whatever is not paid is
//! refunded, so the conservation above holds in every case.

use crate::{pallet::*, types::*, LOG_TARGET};
use alloc::vec::Vec;
use frame_support::traits::{
	fungible::{Balanced, BalancedHold},
	Imbalance, OnUnbalanced,
};
use opg_primitives::{
	inference::{TaskId, TaskOutcome},
	models::Generation,
	staking::{InferenceStaking, SlashReason},
};
use sp_core::H256;
use sp_runtime::{
	helpers_128bit::multiply_by_rational_with_rounding,
	traits::{Get, Saturating, Zero},
	Rounding, SaturatedConversion,
};

impl<T: Config> Pallet<T> {
	/// The digest a quorum agreed on: the largest group of equal digests among the reveals, if
	/// it has at least `quorum` members and no other group is as large.
	pub fn quorum_digest(task: &TaskInfoOf<T>) -> Option<H256> {
		let mut groups: Vec<(H256, u32)> = Vec::new();
		for digest in task.executors.iter().filter_map(|executor| executor.revealed) {
			match groups.iter_mut().find(|(seen, _)| *seen == digest) {
				Some((_, members)) => *members = members.saturating_add(1),
				None => groups.push((digest, 1)),
			}
		}
		let largest = groups.iter().map(|(_, members)| *members).max()?;
		let mut tops = groups.iter().filter(|(_, members)| *members == largest);
		let (digest, _) = tops.next()?;
		(largest >= task.quorum && tops.next().is_none()).then_some(*digest)
	}

	/// Settles `task_id` on its reveals: pays the quorum, slashes dissenters, withholders and
	/// no-shows, refunds the rest; fails it when there is no quorum. A quorum on a rejection
	/// ends the task `Rejected`, with the same payments.
	pub(crate) fn settle(task_id: TaskId, task: TaskInfoOf<T>) {
		let Some(digest) = Self::quorum_digest(&task) else {
			Self::fail(task_id, task, FailReason::NoQuorum);
			return;
		};
		let escrow_reason = HoldReason::Escrow.into();
		let (_, outcome) = RevealedOutputs::<T>::take(task_id, digest)
			.unwrap_or_else(|| (0, TaskOutcome::Output(Default::default())));
		let (per_executor, protocol_fee_due) =
			Self::charges(&task, TaskTokenCharges::<T>::get(task_id).as_ref(), &outcome);
		let mut paid = BalanceOf::<T>::zero();
		let mut returned = BalanceOf::<T>::zero();
		for executor in task.executors.iter() {
			match executor.revealed {
				Some(revealed) if revealed == digest => {
					Self::record_agreed(task_id, &executor.who);
					Self::pay_executor(
						task_id,
						&task,
						&executor.who,
						per_executor,
						&mut paid,
						&mut returned,
					);
				},
				Some(_) => Self::punish(task_id, &executor.who, SlashReason::Mismatch),
				None if executor.commitment.is_some() => {
					Self::punish(task_id, &executor.who, SlashReason::Withheld)
				},
				None => Self::punish(task_id, &executor.who, SlashReason::NoShow),
			}
		}
		let (fee_credit, _) = <T::Currency as BalancedHold<T::AccountId>>::slash(
			&escrow_reason,
			&task.requester,
			protocol_fee_due,
		);
		let protocol_fee = fee_credit.peek();
		T::ProtocolFeeDestination::on_unbalanced(fee_credit);
		let rest =
			task.escrow.saturating_sub(paid).saturating_sub(protocol_fee).saturating_sub(returned);
		let refunded = Self::release(&task.requester, rest).saturating_add(returned);

		let _ = RevealedOutputs::<T>::clear_prefix(task_id, T::MaxRedundancy::get(), None);
		let now = frame_system::Pallet::<T>::block_number();
		match outcome {
			TaskOutcome::Output(output) => {
				// The reveal checked that the output canonicalises to `digest`; its canonical
				// form fits `CanonicalBound` (see there).
				let canonical: CanonicalOf<T> = task
					.comparison
					.canonical_output(&output)
					.and_then(|canonical| canonical.try_into().ok())
					.unwrap_or_default();
				// The first quorum member in draw order: the revealer whose output was kept.
				let publisher = task
					.executors
					.iter()
					.find(|executor| executor.revealed == Some(digest))
					.map_or_else(|| task.requester.clone(), |executor| executor.who.clone());
				TaskResults::<T>::insert(
					task_id,
					SettledResult {
						canonical: canonical.clone(),
						output: output.clone(),
						publisher: publisher.clone(),
					},
				);
				Self::record_settled(task_id, &task, false);
				Self::end_task(task_id, task, TaskStatus::Settled { digest, at: now });
				Self::deposit_event(Event::TaskSettled {
					task_id,
					digest,
					canonical,
					output,
					publisher,
					paid,
					protocol_fee,
					refunded,
				});
			},
			TaskOutcome::Rejected(rejection) => {
				Self::record_settled(task_id, &task, true);
				Self::end_task(task_id, task, TaskStatus::Rejected { rejection, at: now });
				Self::deposit_event(Event::TaskRejected {
					task_id,
					rejection,
					paid,
					protocol_fee,
					refunded,
				});
			},
		}
	}

	/// What each paid executor of `task` gets for `outcome`, and the protocol fee due (see
	/// [Token fees](self#token-fees)): `fee_per_executor` and the task's `protocol_fee` without
	/// token fees; with them, the token fees of the settled generation's counts (none for a
	/// rejection, or for an output that is not a generation) and the protocol fee scaled to
	/// match.
	pub(crate) fn charges(
		task: &TaskInfoOf<T>,
		token_charge: Option<&TokenChargeOf<T>>,
		outcome: &OutcomeOf<T>,
	) -> (BalanceOf<T>, BalanceOf<T>) {
		let Some(charge) = token_charge else { return (task.fee_per_executor, task.protocol_fee) };
		let (prompt, generated) = match outcome {
			TaskOutcome::Output(output) => {
				Generation::decode_output(output).map_or((0, 0), |generation| {
					let generated = u32::try_from(generation.tokens.len()).unwrap_or(u32::MAX);
					(generation.prompt_tokens, generated)
				})
			},
			TaskOutcome::Rejected(_) => (0, 0),
		};
		// The request checked that the maximum does not overflow; the counts are capped by it.
		let held = charge.max().unwrap_or_else(Zero::zero).saturating_add(task.fee_per_executor);
		let due = charge
			.for_counts(prompt, generated)
			.unwrap_or_else(Zero::zero)
			.saturating_add(task.fee_per_executor)
			.min(held);
		let protocol_fee = if held.is_zero() {
			task.protocol_fee
		} else {
			multiply_by_rational_with_rounding(
				task.protocol_fee.saturated_into::<u128>(),
				due.saturated_into::<u128>(),
				held.saturated_into::<u128>(),
				Rounding::Up,
			)
			.map_or(task.protocol_fee, |fee| fee.saturated_into())
			.min(task.protocol_fee)
		};
		(due, protocol_fee)
	}

	/// Pays `executor` `amount` out of the requester's escrow, through the staking side
	/// (commission, then its stakers); adds it to `paid`, or, when the staking side refuses it
	/// (the validator deregistered meanwhile), gives it back to the requester and adds it to
	/// `returned`.
	pub(crate) fn pay_executor(
		task_id: TaskId,
		task: &TaskInfoOf<T>,
		executor: &T::AccountId,
		amount: BalanceOf<T>,
		paid: &mut BalanceOf<T>,
		returned: &mut BalanceOf<T>,
	) {
		let (credit, _) = <T::Currency as BalancedHold<T::AccountId>>::slash(
			&HoldReason::Escrow.into(),
			&task.requester,
			amount,
		);
		let amount = credit.peek();
		match T::Staking::reward(executor, credit) {
			Ok(()) => {
				paid.saturating_accrue(amount);
				Self::deposit_event(Event::ExecutorRewarded {
					task_id,
					executor: executor.clone(),
					amount,
				});
			},
			Err((credit, error)) => {
				log::warn!(
					target: LOG_TARGET,
					"reward of task {task_id} refused ({error:?}); returned to the requester"
				);
				returned.saturating_accrue(credit.peek());
				if let Err(lost) = T::Currency::resolve(&task.requester, credit) {
					// Cannot happen: the requester's account exists (it held escrow).
					returned.saturating_reduce(lost.peek());
					drop(lost);
				}
			},
		}
	}

	/// Fails `task_id` and refunds the whole escrow. Executors that did not commit are
	/// no-shows only when a quorum did commit (fewer commits prove nothing: one executor could
	/// commit anything to have the others charged); in the reveal phase, committers that did not
	/// reveal withheld. See [`crate::offences`]. A task failed for `AgendaFull` (the chain's
	/// fault) slashes nobody.
	pub(crate) fn fail(task_id: TaskId, task: TaskInfoOf<T>, reason: FailReason) {
		let revealing = matches!(task.status, TaskStatus::Revealing { .. });
		let quorum_committed = task.commits() >= task.quorum;
		let executors =
			if reason == FailReason::AgendaFull { &[][..] } else { &task.executors[..] };
		for executor in executors {
			if executor.commitment.is_none() {
				if quorum_committed {
					Self::punish(task_id, &executor.who, SlashReason::NoShow);
				}
			} else if revealing && executor.revealed.is_none() {
				Self::punish(task_id, &executor.who, SlashReason::Withheld);
			}
		}
		let refunded = Self::refund_all(&task);
		let _ = RevealedOutputs::<T>::clear_prefix(task_id, T::MaxRedundancy::get(), None);
		let now = frame_system::Pallet::<T>::block_number();
		Self::record_failed(task_id, task.model_id);
		Self::end_task(task_id, task, TaskStatus::Failed { reason, at: now });
		Self::deposit_event(Event::TaskFailed { task_id, reason, refunded });
	}
}
