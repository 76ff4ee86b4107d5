//! What OPG chain runs and agrees on, shared by the runtime and the native inference engine,
//! `no_std` and free of FRAME.
//!
//! The chain (`pallet-models`, `pallet-inference`) and the engine (`opg-inference`) must describe
//! a model, and turn its output into the bytes executors commit to, identically. Everything they
//! share for that is here, and nothing else:
//!
//! - [`descriptor`]: what is executed, [`ModelDescriptor`](descriptor::ModelDescriptor) (the
//!   weights file by hash, its format, the architecture naming its other files by hash, and the
//!   engine profile), and what a request's input and output are;
//! - [`comparison`]: the [`ComparisonRule`](comparison::ComparisonRule)s, which map a raw `f32`
//!   output to canonical bytes and a blake2-256 digest (the canonical-form table is there);
//! - [`generation`]: text generation by causal language models, its parameters and the
//!   [`Generation`](generation::Generation) executors reveal and compare;
//! - [`task`]: task and salt types, the executors' [`commitment`](task::commitment), the encoding
//!   of revealed outputs and the engine's deterministic [`Rejection`](task::Rejection)s.
//!
//! The chain-facing side (cross-pallet traits, runtime APIs, the inference host function) is in
//! `opg-primitives`, which re-exports these items at their former paths
//! (`opg_primitives::models`, `opg_primitives::inference`).
//!
//! Hashes are [`H256`], the same type as `sp_core::H256`, so encodings are the chain's.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod comparison;
pub mod descriptor;
pub mod generation;
pub mod task;

pub use primitive_types::H256;

/// blake2-256 of `bytes`, the chain's hash (`BlakeTwo256`).
fn blake2_256(bytes: &[u8]) -> H256 {
	H256(sp_crypto_hashing::blake2_256(bytes))
}
