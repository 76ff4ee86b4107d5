//! Bonding, delegating, unbonding and withdrawing: positions, their holds and their chunks.

use crate::{pallet::*, types::*, LOG_TARGET};
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{self, MutateHold as _},
		tokens::Precision,
		Imbalance, OnUnbalanced,
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use opg_primitives::staking::OnValidatorRemoved;
use sp_runtime::{
	traits::{Saturating, Zero},
	Perbill,
};

impl<T: Config> Pallet<T> {
	/// Registers `who` as a validator with an own bond of `bond`. When `MaxValidators` are
	/// registered, evicts the least-staked one if `bond` is more than its stake (see
	/// [`Self::least_staked`]); returns the evicted validator.
	pub(crate) fn do_register(
		who: &T::AccountId,
		bond: BalanceOf<T>,
		commission: Perbill,
	) -> Result<Option<T::AccountId>, DispatchError> {
		ensure!(!Validators::<T>::contains_key(who), Error::<T>::AlreadyValidator);
		ensure!(bond >= T::MinValidatorBond::get(), Error::<T>::BondTooLow);
		Self::ensure_can_bond(who, bond)?;
		// A validator keeps a chunk place free for the chunk an eviction would give it.
		let chunks = Unbonding::<T>::decode_len(who).unwrap_or(0);
		ensure!(
			u32::try_from(chunks).unwrap_or(u32::MAX) < T::MaxUnbondingChunks::get(),
			Error::<T>::TooManyUnbondingChunks
		);
		let evicted = if Validators::<T>::count() >= T::MaxValidators::get() {
			let (least, stake) = Self::least_staked().ok_or(Error::<T>::TooManyValidators)?;
			ensure!(bond > stake, Error::<T>::TooManyValidators);
			Some(least)
		} else {
			None
		};

		let mut pool = Pools::<T>::get(who).unwrap_or_default();
		let mut stake = Stake::new(&pool);
		stake.shares = pool.active.mint(bond).map_err(Error::<T>::from)?;
		stake.principal = bond;
		pool.members = pool.members.checked_add(1).ok_or(Error::<T>::Overflow)?;
		if let Some(least) = &evicted {
			Self::evict(least, who)?;
		}
		let slot = Self::allocate_slot().ok_or(Error::<T>::TooManyValidators)?;
		T::Currency::hold(&Self::hold_reason(), who, bond)?;

		let mut info = ValidatorInfoOf::<T> {
			commission,
			pending_commission: None,
			status: ValidatorStatus::Active,
			self_stake: stake,
			jailed_until: None,
			recent_faults: Default::default(),
			slot,
			sampling_weight: Zero::zero(),
		};
		SlotOwner::<T>::insert(slot, who);
		Self::refresh_sampling_weight(&mut info, &pool);
		Validators::<T>::insert(who, info);
		Pools::<T>::insert(who, pool);
		Self::deposit_event(Event::ValidatorRegistered {
			validator: who.clone(),
			bond,
			commission,
		});
		Ok(evicted)
	}

	/// The validator a newcomer evicts from a full set, with the stake it is compared by: the
	/// least sampling weight, which is the total stake of an eligible validator and zero for
	/// one that is chilled, jailed or under-bonded (so those go first); among equals, the
	/// lowest account. Reads every validator: `O(MaxValidators)`, charged by
	/// `register_validator`. (A validator evicted while it holds tasks still finishes them: the
	/// inference pallet keeps its key linked until they are done.)
	pub(crate) fn least_staked() -> Option<(T::AccountId, BalanceOf<T>)> {
		Validators::<T>::iter()
			.map(|(who, info)| (info.sampling_weight, who))
			.min()
			.map(|(stake, who)| (who, stake))
	}

	/// Evicts `victim` to make room for `by`. Its whole own bond (after slashes) moves into an
	/// unbonding chunk that matures after `UnbondingPeriod` blocks and stays slashable like any
	/// chunk (see [`Self::do_slash`]); then it leaves as `deregister` leaves: its rewards are
	/// paid, its slot and sampling weight go, its delegators keep their positions, and
	/// `OnValidatorRemoved` is told.
	fn evict(victim: &T::AccountId, by: &T::AccountId) -> DispatchResult {
		let mut info = Validators::<T>::get(victim).ok_or(Error::<T>::NotValidator)?;
		let mut pool = Pools::<T>::get(victim).ok_or(Error::<T>::NotValidator)?;
		let mut chunks = Unbonding::<T>::get(victim);
		Self::touch_stake(victim, victim, &mut info.self_stake, &pool);
		let everything = info.self_stake.principal;
		// The place kept free while `victim` was registered takes the chunk.
		let (amount, unlock_at) = Self::unbond_stake(
			victim,
			&mut info.self_stake,
			&mut pool,
			&mut chunks,
			everything,
			Zero::zero(),
			T::MaxUnbondingChunks::get(),
		)?;
		Self::put_chunks(victim, chunks);
		Self::deposit_event(Event::Unbonded { validator: victim.clone(), amount, unlock_at });
		Self::remove_validator(victim, info, pool)?;
		Self::deposit_event(Event::ValidatorEvicted { validator: victim.clone(), by: by.clone() });
		T::OnValidatorRemoved::on_validator_removed(victim);
		Ok(())
	}

	/// Most unbonding chunks `who` may hold after one more of its own calls: one fewer than
	/// `MaxUnbondingChunks` for a validator, whose last place is kept for the chunk an eviction
	/// would give it (so that no validator can make itself impossible to evict).
	fn chunk_limit(who: &T::AccountId) -> u32 {
		let max = T::MaxUnbondingChunks::get();
		if Validators::<T>::contains_key(who) {
			max.saturating_sub(1)
		} else {
			max
		}
	}

	/// Adds `amount` to `who`'s own bond.
	pub(crate) fn do_bond_extra(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		let mut info = Validators::<T>::get(who).ok_or(Error::<T>::NotValidator)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		Self::ensure_can_bond(who, amount)?;
		let mut pool = Pools::<T>::get(who).ok_or(Error::<T>::NotValidator)?;

		Self::touch_stake(who, who, &mut info.self_stake, &pool);
		Self::add_to_stake(&mut info.self_stake, &mut pool, amount)?;
		T::Currency::hold(&Self::hold_reason(), who, amount)?;
		Self::refresh_sampling_weight(&mut info, &pool);
		Validators::<T>::insert(who, info);
		Pools::<T>::insert(who, pool);
		Self::deposit_event(Event::Bonded { validator: who.clone(), amount });
		Ok(())
	}

	/// Chills or activates `who`.
	pub(crate) fn do_set_status(who: &T::AccountId, status: ValidatorStatus) -> DispatchResult {
		let mut info = Validators::<T>::get(who).ok_or(Error::<T>::NotValidator)?;
		let pool = Pools::<T>::get(who).ok_or(Error::<T>::NotValidator)?;
		let now = frame_system::Pallet::<T>::block_number();
		match status {
			ValidatorStatus::Chilled => {
				ensure!(info.status == ValidatorStatus::Active, Error::<T>::AlreadyChilled);
			},
			ValidatorStatus::Active => {
				ensure!(info.status == ValidatorStatus::Chilled, Error::<T>::AlreadyActive);
				ensure!(!info.is_jailed(&now), Error::<T>::StillJailed);
				ensure!(
					info.self_stake.value(&pool.active) >= T::MinValidatorBond::get(),
					Error::<T>::OwnBondBelowMinimum
				);
				info.jailed_until = None;
			},
		}
		info.status = status;
		Self::refresh_sampling_weight(&mut info, &pool);
		Validators::<T>::insert(who, info);
		let validator = who.clone();
		Self::deposit_event(match status {
			ValidatorStatus::Chilled => Event::Chilled { validator },
			ValidatorStatus::Active => Event::Activated { validator },
		});
		Ok(())
	}

	/// Moves up to `amount` of `who`'s own bond into unbonding. Returns the number of chunks
	/// `who` had before (the weight component).
	pub(crate) fn do_unbond(
		who: &T::AccountId,
		amount: BalanceOf<T>,
	) -> Result<u32, DispatchError> {
		let mut info = Validators::<T>::get(who).ok_or(Error::<T>::NotValidator)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut pool = Pools::<T>::get(who).ok_or(Error::<T>::NotValidator)?;
		let mut chunks = Unbonding::<T>::get(who);
		let chunk_count = chunks.len() as u32;

		Self::touch_stake(who, who, &mut info.self_stake, &pool);
		let (amount, unlock_at) = Self::unbond_stake(
			who,
			&mut info.self_stake,
			&mut pool,
			&mut chunks,
			amount,
			T::MinValidatorBond::get(),
			Self::chunk_limit(who),
		)?;
		let chilled = Self::chill_if_under_bonded(&mut info, &pool);
		Self::refresh_sampling_weight(&mut info, &pool);
		Validators::<T>::insert(who, info);
		Pools::<T>::insert(who, pool);
		Self::put_chunks(who, chunks);
		Self::deposit_event(Event::Unbonded { validator: who.clone(), amount, unlock_at });
		if chilled {
			Self::deposit_event(Event::Chilled { validator: who.clone() });
		}
		Ok(chunk_count)
	}

	/// Chills `info` when it is active with an own bond (after slashes) below
	/// `MinValidatorBond`, and says whether it did. Called wherever the own bond can fall: a
	/// slash, an `unbond` of all of it. The validator then takes no task, and `activate` refuses
	/// it until `bond_extra` brings its own bond back to the minimum.
	pub(crate) fn chill_if_under_bonded(
		info: &mut ValidatorInfoOf<T>,
		pool: &Pool<BalanceOf<T>>,
	) -> bool {
		let under_bonded = info.self_stake.value(&pool.active) < T::MinValidatorBond::get();
		if info.status == ValidatorStatus::Active && under_bonded {
			info.status = ValidatorStatus::Chilled;
			true
		} else {
			false
		}
	}

	/// Deregisters `who`. Returns the number of chunks scanned (the weight component).
	pub(crate) fn do_deregister(who: &T::AccountId) -> Result<u32, DispatchError> {
		let mut info = Validators::<T>::get(who).ok_or(Error::<T>::NotValidator)?;
		let pool = Pools::<T>::get(who).ok_or(Error::<T>::NotValidator)?;
		let chunks = Unbonding::<T>::get(who);
		Self::touch_stake(who, who, &mut info.self_stake, &pool);
		ensure!(
			info.self_stake.shares.is_zero() && info.self_stake.principal.is_zero(),
			Error::<T>::StillBonded
		);
		ensure!(!chunks.iter().any(|c| &c.validator == who), Error::<T>::UnbondingPending);

		Self::remove_validator(who, info, pool)?;
		Self::deposit_event(Event::ValidatorDeregistered { validator: who.clone() });
		T::OnValidatorRemoved::on_validator_removed(who);
		Ok(chunks.len() as u32)
	}

	/// Removes `who`'s validator record, whose own stake is empty and touched: pays its unclaimed
	/// commission and rewards, takes its weight out of the sampling tree, frees its slot and
	/// drops its own stake from the pool's members (delegations and chunks keep the pool). The
	/// caller announces the removal, then tells `OnValidatorRemoved`.
	fn remove_validator(
		who: &T::AccountId,
		mut info: ValidatorInfoOf<T>,
		mut pool: Pool<BalanceOf<T>>,
	) -> DispatchResult {
		Self::pay_rewards(who, who, info.self_stake.unclaimed)?;
		Self::set_sampling_weight(&mut info, Zero::zero());
		Self::free_slot(info.slot);
		Validators::<T>::remove(who);
		pool.members = pool.members.saturating_sub(1);
		Self::put_pool(who, pool);
		Ok(())
	}

	/// Delegates `amount` from `who` to `validator`.
	pub(crate) fn do_delegate(
		who: &T::AccountId,
		validator: &T::AccountId,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		ensure!(who != validator, Error::<T>::SelfDelegation);
		let mut info = Validators::<T>::get(validator).ok_or(Error::<T>::NotValidator)?;
		ensure!(amount >= T::MinDelegation::get(), Error::<T>::DelegationTooLow);
		Self::ensure_can_bond(who, amount)?;
		let mut pool = Pools::<T>::get(validator).ok_or(Error::<T>::NotValidator)?;

		let mut stake = match Delegations::<T>::get(who, validator) {
			Some(mut stake) => {
				Self::touch_stake(who, validator, &mut stake, &pool);
				stake
			},
			None => {
				let count = DelegationCount::<T>::get(who);
				ensure!(
					count < T::MaxDelegationsPerDelegator::get(),
					Error::<T>::TooManyDelegations
				);
				// Cannot overflow: bounded by `MaxDelegationsPerDelegator` just above.
				DelegationCount::<T>::insert(who, count.saturating_add(1));
				pool.members = pool.members.checked_add(1).ok_or(Error::<T>::Overflow)?;
				Stake::new(&pool)
			},
		};
		Self::add_to_stake(&mut stake, &mut pool, amount)?;
		T::Currency::hold(&Self::hold_reason(), who, amount)?;
		Delegations::<T>::insert(who, validator, stake);
		Self::refresh_sampling_weight(&mut info, &pool);
		Validators::<T>::insert(validator, info);
		Pools::<T>::insert(validator, pool);
		Self::deposit_event(Event::Delegated {
			delegator: who.clone(),
			validator: validator.clone(),
			amount,
		});
		Ok(())
	}

	/// Moves up to `amount` of `who`'s delegation to `validator` into unbonding. Returns the
	/// number of chunks `who` had before (the weight component).
	pub(crate) fn do_undelegate(
		who: &T::AccountId,
		validator: &T::AccountId,
		amount: BalanceOf<T>,
	) -> Result<u32, DispatchError> {
		let mut stake = Delegations::<T>::get(who, validator).ok_or(Error::<T>::NotDelegated)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut pool = Pools::<T>::get(validator).ok_or(Error::<T>::NotDelegated)?;
		let mut chunks = Unbonding::<T>::get(who);
		let chunk_count = chunks.len() as u32;

		Self::touch_stake(who, validator, &mut stake, &pool);
		let (amount, unlock_at) = Self::unbond_stake(
			validator,
			&mut stake,
			&mut pool,
			&mut chunks,
			amount,
			T::MinDelegation::get(),
			Self::chunk_limit(who),
		)?;
		if stake.shares.is_zero() && stake.principal.is_zero() {
			// Position closed: pay what it earned and free the delegation slot.
			Self::pay_rewards(who, validator, stake.unclaimed)?;
			Delegations::<T>::remove(who, validator);
			DelegationCount::<T>::mutate_exists(who, |count| {
				*count = count.map(|c| c.saturating_sub(1)).filter(|c| *c > 0);
			});
			pool.members = pool.members.saturating_sub(1);
		} else {
			Delegations::<T>::insert(who, validator, stake);
		}
		if let Some(mut info) = Validators::<T>::get(validator) {
			Self::refresh_sampling_weight(&mut info, &pool);
			Validators::<T>::insert(validator, info);
		}
		Self::put_pool(validator, pool);
		Self::put_chunks(who, chunks);
		Self::deposit_event(Event::Undelegated {
			delegator: who.clone(),
			validator: validator.clone(),
			amount,
			unlock_at,
		});
		Ok(chunk_count)
	}

	/// Releases `who`'s matured chunks. Returns the number of chunks `who` had (the weight
	/// component).
	pub(crate) fn do_withdraw_unbonded(who: &T::AccountId) -> Result<u32, DispatchError> {
		let now = frame_system::Pallet::<T>::block_number();
		let chunks = Unbonding::<T>::get(who);
		let chunk_count = chunks.len() as u32;
		ensure!(chunks.iter().any(|c| c.unlock_at <= now), Error::<T>::NothingToWithdraw);

		let mut kept = ChunksOf::<T>::default();
		let mut released = BalanceOf::<T>::zero();
		let mut slashed = BalanceOf::<T>::zero();
		for chunk in chunks {
			if chunk.unlock_at > now {
				// Cannot fail: `kept` has the same bound as the list it is taken from.
				let _ = kept.try_push(chunk);
				continue;
			}
			let Some(mut pool) = Pools::<T>::get(&chunk.validator) else {
				// A chunk always counts as a member of its pool, which keeps the pool alive.
				log::error!(target: LOG_TARGET, "unbonding chunk of {who:?} without a pool");
				T::Currency::release(&Self::hold_reason(), who, chunk.principal, Precision::Exact)?;
				released = released.saturating_add(chunk.principal);
				continue;
			};
			let value = chunk.value(&pool.unbonding);
			let cut = chunk.principal.saturating_sub(value);
			Self::burn_held(who, &chunk.validator, cut);
			T::Currency::release(&Self::hold_reason(), who, value, Precision::Exact)?;
			if chunk.generation == pool.unbonding.generation {
				pool.unbonding.burn(chunk.shares, value);
			}
			pool.members = pool.members.saturating_sub(1);
			Self::put_pool(&chunk.validator, pool);
			released = released.saturating_add(value);
			slashed = slashed.saturating_add(cut);
		}
		Self::put_chunks(who, kept);
		Self::deposit_event(Event::Withdrawn { who: who.clone(), amount: released, slashed });
		Ok(chunk_count)
	}

	/// Brings a position in `validator`'s active pool up to date: settles its rewards, burns
	/// what slashes took since it was last touched, and moves it out of a wiped generation.
	/// Afterwards `stake.principal` is its exact value.
	pub(crate) fn touch_stake(
		who: &T::AccountId,
		validator: &T::AccountId,
		stake: &mut Stake<BalanceOf<T>>,
		pool: &Pool<BalanceOf<T>>,
	) {
		Self::settle_rewards(validator, stake, pool);
		let value = stake.value(&pool.active);
		Self::burn_held(who, validator, stake.principal.saturating_sub(value));
		stake.principal = value;
		if stake.generation != pool.active.generation {
			stake.shares = 0;
			stake.generation = pool.active.generation;
			stake.reward_per_share_paid = pool.reward_per_share;
		}
		stake.epoch = pool.active.epoch;
	}

	/// Adds `amount` (not yet held) to a touched position.
	fn add_to_stake(
		stake: &mut Stake<BalanceOf<T>>,
		pool: &mut Pool<BalanceOf<T>>,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		let shares = pool.active.mint(amount).map_err(Error::<T>::from)?;
		stake.shares = stake.shares.checked_add(shares).ok_or(Error::<T>::Overflow)?;
		stake.principal = stake.principal.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
		Ok(())
	}

	/// Takes up to `amount` out of a touched position into an unbonding chunk, leaving zero or
	/// at least `minimum`, with at most `limit` chunks afterwards. Returns the amount taken and,
	/// if not zero, when it unlocks.
	fn unbond_stake(
		validator: &T::AccountId,
		stake: &mut Stake<BalanceOf<T>>,
		pool: &mut Pool<BalanceOf<T>>,
		chunks: &mut ChunksOf<T>,
		amount: BalanceOf<T>,
		minimum: BalanceOf<T>,
		limit: u32,
	) -> Result<(BalanceOf<T>, Option<BlockNumberFor<T>>), DispatchError> {
		let value = stake.principal;
		let amount = amount.min(value);
		let remaining = value.saturating_sub(amount);
		ensure!(remaining.is_zero() || remaining >= minimum, Error::<T>::BelowMinimum);
		let shares_out = if remaining.is_zero() {
			stake.shares
		} else {
			pool.active.shares_for(amount, stake.shares)
		};
		// What stays must keep at least one share, or it could not be valued after a slash.
		ensure!(remaining.is_zero() || shares_out < stake.shares, Error::<T>::ShareRounding);

		pool.active.burn(shares_out, amount);
		stake.shares = stake.shares.saturating_sub(shares_out);
		stake.principal = remaining;
		if amount.is_zero() {
			return Ok((amount, None));
		}
		let unlock_at = Self::push_chunk(validator, pool, chunks, amount, limit)?;
		Ok((amount, Some(unlock_at)))
	}

	/// Adds `amount` (already held) to the unbonding pool of `validator` as a chunk of `chunks`,
	/// merged into the last chunk when that one was made in the same block for the same
	/// validator and has seen the same slashes; a new chunk needs fewer than `limit` already.
	fn push_chunk(
		validator: &T::AccountId,
		pool: &mut Pool<BalanceOf<T>>,
		chunks: &mut ChunksOf<T>,
		amount: BalanceOf<T>,
		limit: u32,
	) -> Result<BlockNumberFor<T>, DispatchError> {
		let now = frame_system::Pallet::<T>::block_number();
		let unlock_at = now.saturating_add(T::UnbondingPeriod::get());
		let shares = pool.unbonding.mint(amount).map_err(Error::<T>::from)?;
		if let Some(last) = chunks.last_mut() {
			if &last.validator == validator
				&& last.unlock_at == unlock_at
				&& last.generation == pool.unbonding.generation
				&& last.epoch == pool.unbonding.epoch
			{
				last.shares = last.shares.checked_add(shares).ok_or(Error::<T>::Overflow)?;
				last.principal = last.principal.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
				return Ok(unlock_at);
			}
		}
		ensure!(
			u32::try_from(chunks.len()).unwrap_or(u32::MAX) < limit,
			Error::<T>::TooManyUnbondingChunks
		);
		chunks
			.try_push(UnbondingChunk {
				validator: validator.clone(),
				shares,
				principal: amount,
				generation: pool.unbonding.generation,
				epoch: pool.unbonding.epoch,
				unlock_at,
			})
			.map_err(|_| Error::<T>::TooManyUnbondingChunks)?;
		pool.members = pool.members.checked_add(1).ok_or(Error::<T>::Overflow)?;
		Ok(unlock_at)
	}

	/// Burns `amount` of `who`'s staking hold for slashes of `validator` and hands it to the
	/// slash handler.
	pub(crate) fn burn_held(who: &T::AccountId, validator: &T::AccountId, amount: BalanceOf<T>) {
		if amount.is_zero() {
			return;
		}
		let (credit, missing) =
			<T::Currency as fungible::BalancedHold<_>>::slash(&Self::hold_reason(), who, amount);
		if !missing.is_zero() {
			// The ledger says the funds are held; `try_state` checks it.
			log::error!(target: LOG_TARGET, "{who:?} holds {missing:?} less than its ledger");
		}
		let taken = credit.peek();
		T::Slash::on_unbalanced(credit);
		Self::deposit_event(Event::SlashApplied {
			who: who.clone(),
			validator: validator.clone(),
			amount: taken,
		});
	}

	/// Writes `who`'s chunks, removing the entry when there are none.
	fn put_chunks(who: &T::AccountId, chunks: ChunksOf<T>) {
		if chunks.is_empty() {
			Unbonding::<T>::remove(who);
		} else {
			Unbonding::<T>::insert(who, chunks);
		}
	}

	/// Writes `validator`'s pool, or removes it once nothing refers to it.
	pub(crate) fn put_pool(validator: &T::AccountId, pool: Pool<BalanceOf<T>>) {
		if pool.members == 0 && !Validators::<T>::contains_key(validator) {
			Pools::<T>::remove(validator);
		} else {
			Pools::<T>::insert(validator, pool);
		}
	}

	/// Value of `validator`'s active pool: its total stake after slashes.
	pub(crate) fn active_stake(validator: &T::AccountId) -> BalanceOf<T> {
		if !Validators::<T>::contains_key(validator) {
			return Zero::zero();
		}
		Pools::<T>::get(validator).map(|p| p.active.value).unwrap_or_default()
	}

	/// `who`'s position with `validator`, as a client sees it.
	pub(crate) fn position_view(
		who: &T::AccountId,
		validator: &T::AccountId,
	) -> Option<PositionView<BalanceOf<T>>> {
		let pool = Pools::<T>::get(validator)?;
		let stake = if who == validator {
			Validators::<T>::get(validator)?.self_stake
		} else {
			Delegations::<T>::get(who, validator)?
		};
		let mut settled = stake;
		Self::settle_rewards(validator, &mut settled, &pool);
		Some(PositionView {
			active: stake.value(&pool.active),
			held: stake.principal,
			rewards: settled.unclaimed,
		})
	}

	/// `who`'s chunks as `(validator, value after slashes, unlock_at)`.
	pub(crate) fn chunks_view(
		who: &T::AccountId,
	) -> alloc::vec::Vec<(T::AccountId, BalanceOf<T>, BlockNumberFor<T>)> {
		Unbonding::<T>::get(who)
			.into_iter()
			.map(|c| {
				let value = Pools::<T>::get(&c.validator)
					.map(|p| c.value(&p.unbonding))
					.unwrap_or(c.principal);
				(c.validator, value, c.unlock_at)
			})
			.collect()
	}
}
