//! Unit tests, one file per feature. Every test runs through
//! [`ExtBuilder::build_and_execute`](crate::mock::ExtBuilder::build_and_execute), which checks
//! the pallet's `try_state` invariants after the test.

mod deposits;
mod generation;
mod migration;
mod ownership;
mod provider;
mod registration;
mod removal;
mod serving;
mod updates;
mod versions;
