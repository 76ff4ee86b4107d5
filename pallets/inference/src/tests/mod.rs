//! Tests of the inference pallet, by feature, against the real registry and staking pallets.

mod agenda;
mod assignment;
mod commit_reveal;
mod decline;
mod eviction;
mod incentives;
mod keys;
mod offchain;
mod offences;
mod property;
mod rejection;
mod request;
mod settlement;
