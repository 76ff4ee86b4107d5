//! Shared types and cross-pallet traits of OPG chain, `no_std`.
//!
//! Pallets meet only through the traits defined here, wired in the runtime:
//! - [`models`]: model registry types, the output canonicalisation used by both the engine and
//!   the chain, and the `ModelProvider` trait;
//! - [`staking`]: the `InferenceStaking` trait of the staking pallet;
//! - [`inference`]: task identifiers, commitments and revealed outputs of `pallet-inference`;
//! - [`execution`]: the inference host function executors' off-chain workers call, and their
//!   key type;
//! - [`runtime_api`]: runtime APIs clients call to read the registry and tasks.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod execution;
pub mod inference;
pub mod models;
pub mod runtime_api;
pub mod staking;
