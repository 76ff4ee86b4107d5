//! The node service: client, database, transaction pool, BABE authoring, GRANDPA finality,
//! off-chain workers and RPC.

use std::{sync::Arc, time::Duration};

use futures::FutureExt;
use opg_runtime::{apis::RuntimeApi, opaque::Block};
use sc_client_api::{Backend, BlockBackend};
use sc_consensus_babe::{BabeLink, BabeWorkerHandle, SlotProportion};
use sc_consensus_grandpa::SharedVoterState;
use sc_service::{error::Error as ServiceError, Configuration, TaskManager, WarpSyncConfig};
use sc_telemetry::{Telemetry, TelemetryWorker};
use sc_transaction_pool_api::OffchainTransactionPoolFactory;
use sp_inherents::CreateInherentDataProviders;

/// Host functions the runtime may call, natively implemented by this node: Substrate's, and the
/// inference host function the off-chain worker runs models through.
pub type HostFunctions =
	(sp_io::SubstrateHostFunctions, opg_primitives::execution::opg_inference::HostFunctions);

/// The full client: a wasm executor over the node's database.
pub type FullClient =
	sc_service::TFullClient<Block, RuntimeApi, sc_executor::WasmExecutor<HostFunctions>>;
type FullBackend = sc_service::TFullBackend<Block>;
type FullSelectChain = sc_consensus::LongestChain<FullBackend, Block>;
type GrandpaBlockImport =
	sc_consensus_grandpa::GrandpaBlockImport<FullBackend, Block, FullClient, FullSelectChain>;

/// The inherents a BABE block carries: the slot and the timestamp.
type BabeInherentDataProviders =
	(sp_consensus_babe::inherents::InherentDataProvider, sp_timestamp::InherentDataProvider);
/// Creates [`BabeInherentDataProviders`] from the wall clock, for authoring and for import checks.
type BabeCreateInherentDataProviders = Arc<
	dyn CreateInherentDataProviders<Block, (), InherentDataProviders = BabeInherentDataProviders>,
>;
type BabeBlockImport = sc_consensus_babe::BabeBlockImport<
	Block,
	FullClient,
	GrandpaBlockImport,
	BabeCreateInherentDataProviders,
	FullSelectChain,
>;

/// The minimum period of blocks on which GRANDPA justifications are imported and generated.
const GRANDPA_JUSTIFICATION_PERIOD: u32 = 512;

/// What [`new_partial`] builds and `new_full` and the chain-ops commands use.
pub type Service = sc_service::PartialComponents<
	FullClient,
	FullBackend,
	FullSelectChain,
	sc_consensus::DefaultImportQueue<Block>,
	sc_transaction_pool::TransactionPoolHandle<Block, FullClient>,
	(
		BabeBlockImport,
		sc_consensus_grandpa::LinkHalf<Block, FullClient, FullSelectChain>,
		BabeLink<Block>,
		BabeWorkerHandle<Block>,
		Option<Telemetry>,
	),
>;

/// The slot and timestamp inherents of a block authored now.
fn inherent_data_providers(
	slot_duration: sp_consensus_babe::SlotDuration,
) -> BabeCreateInherentDataProviders {
	Arc::new(move |_parent, ()| async move {
		let timestamp = sp_timestamp::InherentDataProvider::from_system_time();
		let slot =
			sp_consensus_babe::inherents::InherentDataProvider::from_timestamp_and_slot_duration(
				*timestamp,
				slot_duration,
			);
		Ok((slot, timestamp))
	})
}

/// Builds the client, database, transaction pool and import queue.
pub fn new_partial(config: &Configuration) -> Result<Service, ServiceError> {
	let telemetry = config
		.telemetry_endpoints
		.clone()
		.filter(|x| !x.is_empty())
		.map(|endpoints| -> Result<_, sc_telemetry::Error> {
			let worker = TelemetryWorker::new(16)?;
			let telemetry = worker.handle().new_telemetry(endpoints);
			Ok((worker, telemetry))
		})
		.transpose()?;

	let executor = sc_service::new_wasm_executor::<HostFunctions>(&config.executor);
	let (client, backend, keystore_container, task_manager) =
		sc_service::new_full_parts::<Block, RuntimeApi, _>(
			config,
			telemetry.as_ref().map(|(_, telemetry)| telemetry.handle()),
			executor,
			Vec::new(),
		)?;
	let client = Arc::new(client);

	let telemetry = telemetry.map(|(worker, telemetry)| {
		task_manager.spawn_handle().spawn("telemetry", None, worker.run());
		telemetry
	});

	let select_chain = sc_consensus::LongestChain::new(backend.clone());

	let transaction_pool = Arc::from(
		sc_transaction_pool::Builder::new(
			task_manager.spawn_essential_handle(),
			client.clone(),
			config.role.is_authority().into(),
		)
		.with_options(config.transaction_pool.clone())
		.with_prometheus(config.prometheus_registry())
		.build(),
	);

	let (grandpa_block_import, grandpa_link) = sc_consensus_grandpa::block_import(
		client.clone(),
		GRANDPA_JUSTIFICATION_PERIOD,
		&client,
		select_chain.clone(),
		telemetry.as_ref().map(|x| x.handle()),
	)?;
	let justification_import = grandpa_block_import.clone();

	let babe_config = sc_consensus_babe::configuration(&*client)?;
	let slot_duration = babe_config.slot_duration();
	let (block_import, babe_link) = sc_consensus_babe::block_import(
		babe_config,
		grandpa_block_import,
		client.clone(),
		inherent_data_providers(slot_duration),
		select_chain.clone(),
		OffchainTransactionPoolFactory::new(transaction_pool.clone()),
	)?;

	let (import_queue, babe_worker_handle) =
		sc_consensus_babe::import_queue(sc_consensus_babe::ImportQueueParams {
			link: babe_link.clone(),
			block_import: block_import.clone(),
			justification_import: Some(Box::new(justification_import)),
			client: client.clone(),
			slot_duration,
			spawner: &task_manager.spawn_essential_handle(),
			registry: config.prometheus_registry(),
			telemetry: telemetry.as_ref().map(|x| x.handle()),
		})?;

	Ok(sc_service::PartialComponents {
		client,
		backend,
		task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (block_import, grandpa_link, babe_link, babe_worker_handle, telemetry),
	})
}

/// Builds and starts a full node: networking, RPC, off-chain workers and, for authorities, BABE
/// block authoring and the GRANDPA voter.
pub fn new_full<
	N: sc_network::NetworkBackend<Block, <Block as sp_runtime::traits::Block>::Hash>,
>(
	config: Configuration,
	inference: &crate::cli::InferenceParams,
) -> Result<TaskManager, ServiceError> {
	let sc_service::PartialComponents {
		client,
		backend,
		mut task_manager,
		import_queue,
		keystore_container,
		select_chain,
		transaction_pool,
		other: (block_import, grandpa_link, babe_link, babe_worker_handle, mut telemetry),
	} = new_partial(&config)?;

	let mut net_config = sc_network::config::FullNetworkConfiguration::<
		Block,
		<Block as sp_runtime::traits::Block>::Hash,
		N,
	>::new(&config.network, config.prometheus_registry().cloned());
	let metrics = N::register_notification_metrics(config.prometheus_registry());

	let peer_store_handle = net_config.peer_store_handle();
	let genesis_hash = client
		.block_hash(0)
		.ok()
		.flatten()
		.ok_or_else(|| ServiceError::Other("the database has no genesis block".into()))?;
	let grandpa_protocol_name =
		sc_consensus_grandpa::protocol_standard_name(&genesis_hash, &config.chain_spec);
	let (grandpa_protocol_config, grandpa_notification_service) =
		sc_consensus_grandpa::grandpa_peers_set_config::<_, N>(
			grandpa_protocol_name.clone(),
			metrics.clone(),
			peer_store_handle,
		);
	net_config.add_notification_protocol(grandpa_protocol_config);

	let warp_sync = Arc::new(sc_consensus_grandpa::warp_proof::NetworkProvider::new(
		backend.clone(),
		grandpa_link.shared_authority_set().clone(),
		Vec::default(),
	));

	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		sc_service::build_network(sc_service::BuildNetworkParams {
			config: &config,
			net_config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			import_queue,
			block_announce_validator_builder: None,
			warp_sync_config: Some(WarpSyncConfig::WithProvider(warp_sync)),
			block_relay: None,
			metrics,
			gap_sync_body_policy: None,
		})?;

	if config.offchain_worker.enabled {
		// The engine behind the inference host function, for the off-chain workers only: block
		// import and runtime API calls never see it (the host function fails there).
		let engine_config = inference.engine_config(config.base_path.path());
		log::info!(
			"🧠 Inference engine: models in {}, {} thread(s), candle {}, numerics {}",
			engine_config.model_dir.display(),
			engine_config.threads,
			opg_inference::CANDLE_VERSION,
			opg_inference::NUMERICS,
		);
		// Executors must compute the same bits as every other: a validator whose CPU fails the
		// engine's known-answer test, or runs its kernels too slowly to finish a model's largest
		// input in time, refuses to start rather than disagree with honest executors or fail
		// its tasks.
		let engine = opg_inference::Engine::new(engine_config)
			.map_err(|e| ServiceError::Other(format!("inference engine: {e}")))?;
		let test = engine.self_test();
		let level = if test.reproducible { log::Level::Info } else { log::Level::Warn };
		log::log!(
			level,
			"🧠 Engine self-test: kernels {:?} ({}), known answer {}, {:.1} GFLOP/s",
			test.path,
			if test.fma_instruction { "FMA instruction" } else { "emulated FMA" },
			if test.reproducible { "reproduced" } else { "NOT reproduced" },
			test.gflops,
		);
		if config.role.is_authority() {
			if !test.reproducible {
				return Err(ServiceError::Other(format!(
					"this CPU computes the engine's known answer as {}, not {}: its results would \
					 differ from other executors'. Refusing to run as a validator, which would be \
					 slashed for them; report the CPU and the build to the OPG developers. (A \
					 block producer not registered for inference can start with \
					 `--offchain-worker never`.)",
					test.answer,
					opg_inference::kernels::KNOWN_ANSWER,
				)));
			}
			if test.gflops < opg_inference::kernels::MIN_EXECUTOR_GFLOPS {
				return Err(ServiceError::Other(format!(
					"the engine's kernels run at {:.2} GFLOP/s on this CPU ({:?}, {} thread(s)), \
					 below the {} an executor needs to finish a model's largest input in time. \
					 Refusing to run as a validator: use a CPU with FMA (x86-64 with AVX2 and \
					 FMA3, or aarch64), more `--inference-threads`, or a less loaded machine. (A \
					 block producer not registered for inference can start with \
					 `--offchain-worker never`.)",
					test.gflops,
					test.path,
					engine.config().threads,
					opg_inference::kernels::MIN_EXECUTOR_GFLOPS,
				)));
			}
		}
		let metrics = config
			.prometheus_registry()
			.map(crate::inference_host::Metrics::register)
			.transpose()
			.map_err(|e| ServiceError::Other(format!("inference metrics: {e}")))?;
		let host = Arc::new(crate::inference_host::EngineHost::new(
			Arc::new(engine),
			metrics,
			inference.dev_fault_output,
		));
		let offchain_workers =
			sc_offchain::OffchainWorkers::new(sc_offchain::OffchainWorkerOptions {
				runtime_api_provider: client.clone(),
				is_validator: config.role.is_authority(),
				keystore: Some(keystore_container.keystore()),
				offchain_db: backend.offchain_storage(),
				transaction_pool: Some(OffchainTransactionPoolFactory::new(
					transaction_pool.clone(),
				)),
				network_provider: Arc::new(network.clone()),
				enable_http_requests: false,
				custom_extensions: move |_| vec![Box::new(host.extension()) as Box<_>],
			})?;
		task_manager.spawn_handle().spawn(
			"offchain-workers-runner",
			"offchain-worker",
			offchain_workers.run(client.clone(), task_manager.spawn_handle()).boxed(),
		);
	}

	let role = config.role;
	let force_authoring = config.force_authoring;
	let name = config.network.node_name.clone();
	let enable_grandpa = !config.disable_grandpa;
	let prometheus_registry = config.prometheus_registry().cloned();

	let rpc_extensions_builder = {
		let client = client.clone();
		let pool = transaction_pool.clone();
		let select_chain = select_chain.clone();
		let keystore = keystore_container.keystore();

		// The BABE worker answers epoch queries for as long as the RPC holds its handle.
		Box::new(move |_| {
			let deps = crate::rpc::FullDeps {
				client: client.clone(),
				pool: pool.clone(),
				select_chain: select_chain.clone(),
				babe: crate::rpc::BabeDeps {
					worker_handle: babe_worker_handle.clone(),
					keystore: keystore.clone(),
				},
			};
			crate::rpc::create_full(deps).map_err(Into::into)
		})
	};

	let _rpc_handlers = sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		network: network.clone(),
		client: client.clone(),
		keystore: keystore_container.keystore(),
		task_manager: &mut task_manager,
		transaction_pool: transaction_pool.clone(),
		rpc_builder: rpc_extensions_builder,
		backend,
		system_rpc_tx,
		tx_handler_controller,
		sync_service: sync_service.clone(),
		config,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	if role.is_authority() {
		let proposer_factory = sc_basic_authorship::ProposerFactory::new(
			task_manager.spawn_handle(),
			client.clone(),
			transaction_pool.clone(),
			prometheus_registry.as_ref(),
			telemetry.as_ref().map(|x| x.handle()),
		);

		let slot_duration = babe_link.config().slot_duration();
		let babe = sc_consensus_babe::start_babe(sc_consensus_babe::BabeParams {
			keystore: keystore_container.keystore(),
			client: client.clone(),
			select_chain,
			env: proposer_factory,
			block_import,
			sync_oracle: sync_service.clone(),
			justification_sync_link: sync_service.clone(),
			create_inherent_data_providers: inherent_data_providers(slot_duration),
			force_authoring,
			backoff_authoring_blocks: Option::<()>::None,
			babe_link,
			block_proposal_slot_portion: SlotProportion::new(2f32 / 3f32),
			max_block_proposal_slot_portion: None,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
		})?;

		// The BABE authoring task is essential: if it fails, the node stops.
		task_manager.spawn_essential_handle().spawn_blocking(
			"babe-proposer",
			Some("block-authoring"),
			babe,
		);
	}

	if enable_grandpa {
		// Only an authority votes, and so only an authority needs the keystore.
		let keystore = if role.is_authority() { Some(keystore_container.keystore()) } else { None };

		let grandpa_config = sc_consensus_grandpa::Config {
			gossip_duration: Duration::from_millis(333),
			justification_generation_period: GRANDPA_JUSTIFICATION_PERIOD,
			name: Some(name),
			observer_enabled: false,
			keystore,
			local_role: role,
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			protocol_name: grandpa_protocol_name,
		};

		let grandpa_params = sc_consensus_grandpa::GrandpaParams {
			config: grandpa_config,
			link: grandpa_link,
			network,
			sync: Arc::new(sync_service),
			notification_service: grandpa_notification_service,
			voting_rule: sc_consensus_grandpa::VotingRulesBuilder::default().build(),
			prometheus_registry,
			shared_voter_state: SharedVoterState::empty(),
			telemetry: telemetry.as_ref().map(|x| x.handle()),
			offchain_tx_pool_factory: OffchainTransactionPoolFactory::new(transaction_pool),
		};

		// The GRANDPA voter is essential: if it fails, the node stops.
		task_manager.spawn_essential_handle().spawn_blocking(
			"grandpa-voter",
			None,
			sc_consensus_grandpa::run_grandpa_voter(grandpa_params)?,
		);
	}

	Ok(task_manager)
}
