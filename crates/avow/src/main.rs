//! `avow`: one binary for every role.

mod admin_client;
mod browser;
mod cmd;
mod qr;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "avow",
    version,
    about = "Avow: OpenID4VCI credential issuance, issuer to wallet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an issuer and a wallet in-process on embedded defaults and issue a credential end to end.
    Demo(cmd::demo::DemoArgs),
    /// Run and administer a Credential Issuer.
    #[command(subcommand)]
    Issuer(cmd::issuer::IssuerCommand),
    /// The holder's wallet.
    #[command(subcommand)]
    Wallet(cmd::wallet::WalletCommand),
    /// Measure issuance throughput and latency.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// APTITUDE conformance runner: check an issuer black-box over HTTP.
    #[command(subcommand)]
    Conformance(cmd::conformance::ConformanceCommand),
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AVOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => {
                init_tracing("warn");
                cmd::demo::run(args).await
            }
            Command::Issuer(c) => {
                init_tracing("info");
                cmd::issuer::run(c).await
            }
            Command::Wallet(c) => {
                init_tracing("warn");
                cmd::wallet::run(c).await
            }
            Command::Bench(c) => {
                init_tracing("error");
                cmd::bench::run(c).await
            }
            Command::Conformance(c) => {
                init_tracing("warn");
                cmd::conformance::run(c).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
