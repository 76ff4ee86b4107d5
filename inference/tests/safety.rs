//! Execution bounds: time limit, cancellation, panic containment, engine identity.

mod common;

use opg_inference::{CancelToken, Engine, EngineConfig, EngineError, CANDLE_VERSION};
use std::time::Duration;

fn engine_with_timeout(name: &str, timeout: Duration) -> Engine {
	let mut config = EngineConfig::new(common::fresh_dir(name));
	config.timeout = timeout;
	config.threads = 2;
	Engine::new(config).expect("engine starts")
}

#[test]
fn overrunning_job_times_out() {
	let engine = engine_with_timeout("safety-timeout", Duration::from_millis(50));
	let result = engine.execute(&CancelToken::new(), || {
		std::thread::sleep(Duration::from_secs(2));
		Ok(1)
	});
	assert!(matches!(result, Err(EngineError::Timeout)));
}

#[test]
fn cancelled_job_returns_cancelled() {
	let engine = engine_with_timeout("safety-cancel", Duration::from_secs(60));
	let token = CancelToken::new();
	let canceller = token.clone();
	std::thread::spawn(move || {
		std::thread::sleep(Duration::from_millis(20));
		canceller.cancel();
	});
	let result = engine.execute(&token, || {
		std::thread::sleep(Duration::from_secs(2));
		Ok(1)
	});
	assert!(matches!(result, Err(EngineError::Cancelled)));
}

#[test]
fn panic_becomes_an_error_and_engine_keeps_working() {
	let engine = engine_with_timeout("safety-panic", Duration::from_secs(60));
	let result: Result<u32, _> = engine.execute(&CancelToken::new(), || panic!("model exploded"));
	match result {
		Err(EngineError::Panicked(message)) => assert!(message.contains("model exploded")),
		other => panic!("expected a contained panic, got {other:?}"),
	}
	assert_eq!(engine.execute(&CancelToken::new(), || Ok(7)).unwrap(), 7);
}

#[test]
fn engine_info_matches_the_build() {
	let engine = engine_with_timeout("safety-info", Duration::from_secs(1));
	let info = engine.info();
	assert_eq!(info.threads, 2);
	assert_eq!(info.dtype, "f32");
	assert_eq!(info.numerics, opg_inference::NUMERICS);
	// CANDLE_VERSION must track the candle-core actually linked (see the workspace Cargo.lock).
	let lock =
		std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
	let expected = format!("name = \"candle-core\"\nversion = \"{CANDLE_VERSION}\"");
	assert!(lock.contains(&expected), "Cargo.lock does not pin candle-core {CANDLE_VERSION}");
	assert_eq!(info.candle_version, CANDLE_VERSION);
}
