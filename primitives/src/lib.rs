//! Shared types and cross-pallet traits of OPG chain, `no_std`: the FRAME-facing side.
//!
//! What a model is, how its outputs are compared and what executors commit to is FRAME-free and
//! shared with the native engine: it is [`opg_model`], whose items the modules below re-export
//! at the paths the pallets use. Pallets meet only through the traits defined here, wired in the
//! runtime:
//! - [`models`]: the `ModelProvider` trait of the registry, the `ModelParams` it returns, and
//!   the `PendingTasksGuard` of the inference side;
//! - [`staking`]: the `InferenceStaking` trait of the staking pallet;
//! - [`inference`]: what an executor still has to do for a task (`PendingAction`);
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
