//! `opg-node`: the OPG chain node, run by validators and full nodes.

// `sc_cli::Error` is large and sc-cli's runner API returns it from every command; boxing it in
// our closures would not make sc-cli's own results smaller.
#![allow(clippy::result_large_err)]

mod chain_spec;
mod cli;
mod command;
mod inference_host;
mod rpc;
mod service;

fn main() -> sc_cli::Result<()> {
	command::run()
}
