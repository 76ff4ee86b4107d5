//! Storage migrations.

use crate::{agenda::SCHEDULE_PROBE, pallet::*, types::AgendaItem, LOG_TARGET};
use frame_support::{
	migrations::VersionedMigration, pallet_prelude::*, traits::UncheckedOnRuntimeUpgrade,
};
use sp_runtime::traits::{One, Saturating};

/// Version 0 → 1: counts the executor draws already planned (assignments and replacement draws
/// on the agenda) in [`AgendaDraws`], which version 1 introduces, so that admission does not
/// plan more than `MaxDrawsPerBlock` on top of them.
pub type V0ToV1<T> = VersionedMigration<
	0,
	1,
	CountPlannedDraws<T>,
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;

/// The inner, unversioned step of [`V0ToV1`].
pub struct CountPlannedDraws<T>(core::marker::PhantomData<T>);

impl<T: Config> CountPlannedDraws<T> {
	/// Blocks from the current one that can hold a draw: an assignment is planned at most
	/// `SCHEDULE_PROBE + 1` blocks ahead, a replacement one block ahead. One block more covers
	/// a migration that runs before the current block's agenda.
	pub fn horizon() -> u32 {
		SCHEDULE_PROBE.saturating_add(2)
	}
}

impl<T: Config> UncheckedOnRuntimeUpgrade for CountPlannedDraws<T> {
	fn on_runtime_upgrade() -> Weight {
		let now = frame_system::Pallet::<T>::block_number();
		// A lagging agenda still holds earlier blocks' items: start from its cursor.
		let cursor = AgendaCursor::<T>::get();
		let mut at = if cursor.is_zero() || cursor > now { now } else { cursor };
		let last = now.saturating_add(Self::horizon().into());
		let (mut reads, mut writes) = (1u64, 0u64);
		while at <= last {
			reads.saturating_inc();
			// Every assignment and replacement item counts, stale ones too: counting a draw
			// that will not happen only keeps its slot free.
			let draws = Agenda::<T>::get(at)
				.iter()
				.filter(|item| matches!(item, AgendaItem::Assign(_) | AgendaItem::Replace(_)))
				.count();
			let draws = u32::try_from(draws).unwrap_or(u32::MAX);
			if draws > 0 {
				AgendaDraws::<T>::insert(at, draws);
				writes.saturating_inc();
			}
			at = at.saturating_add(One::one());
		}
		log::info!(target: LOG_TARGET, "counted the planned executor draws of {reads} blocks");
		T::DbWeight::get().reads_writes(reads, writes)
	}
}

/// Version 1 → 2: starts the reliability records ([`ValidatorRecords`], [`ValidatorSlashes`],
/// [`ModelStats`]) at the next task id ([`RecordsSince`]). Tasks already requested are not
/// counted, so that each counted task is counted from its request to its end (its earlier
/// events are not in storage to count).
pub type V1ToV2<T> =
	VersionedMigration<1, 2, StartRecords<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// The inner, unversioned step of [`V1ToV2`].
pub struct StartRecords<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for StartRecords<T> {
	fn on_runtime_upgrade() -> Weight {
		let since = NextTaskId::<T>::get();
		RecordsSince::<T>::put(since);
		log::info!(target: LOG_TARGET, "reliability records count the tasks from {since} on");
		T::DbWeight::get().reads_writes(1, 1)
	}
}
