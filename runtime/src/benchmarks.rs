//! The pallets whose benchmarks `opg-node benchmark pallet` runs.

frame_benchmarking::define_benchmarks!(
	[frame_benchmarking, BaselineBench::<Runtime>]
	[frame_system, SystemBench::<Runtime>]
	[pallet_balances, Balances]
	[pallet_timestamp, Timestamp]
	[pallet_sudo, Sudo]
	[pallet_models, Models]
	[pallet_inference_staking, InferenceStaking]
	[pallet_inference, Inference]
);
