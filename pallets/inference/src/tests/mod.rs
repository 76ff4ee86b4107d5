//! Tests of the inference pallet, by feature, against the real registry and staking pallets.

mod agenda;
mod assignment;
mod batch;
mod commit_reveal;
mod decline;
mod eviction;
mod generation;
mod incentives;
mod keys;
mod offchain;
mod offences;
mod property;
mod records;
mod rejection;
mod request;
mod settlement;

/// A small deterministic generator (xorshift64*), so that a failing seed can be replayed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
	pub(crate) fn next(&mut self) -> u64 {
		self.0 ^= self.0 >> 12;
		self.0 ^= self.0 << 25;
		self.0 ^= self.0 >> 27;
		self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
	}
	pub(crate) fn below(&mut self, n: u64) -> u64 {
		self.next() % n
	}
	pub(crate) fn chance(&mut self, percent: u64) -> bool {
		self.below(100) < percent
	}
}
