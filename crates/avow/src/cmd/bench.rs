//! `avow bench issue`: N complete pre-authorized flows (token + nonce +
//! credential, wallet-side key generation and signing included) at a given
//! concurrency; prints flows/s and latency percentiles per endpoint.

use crate::admin_client::AdminClient;
use anyhow::{Context, bail};
use avow_core::SystemClock;
use avow_crypto::SystemRandom;
use avow_issuer::offer::{CreateOfferRequest, CreatedOffer, OfferGrant};
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use avow_wallet::HttpClient;
use avow_wallet::flow::IssuanceSession;
use avow_wallet::issuer::discover;
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Complete pre-authorized issuance flows.
    Issue(IssueArgs),
}

#[derive(Args)]
pub struct IssueArgs {
    #[arg(long, default_value_t = 1000)]
    flows: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// A running issuer to measure (needs --admin-url and --admin-token); default: an in-process issuer.
    #[arg(long)]
    issuer: Option<String>,
    #[arg(long, env = "AVOW_ADMIN_URL")]
    admin_url: Option<String>,
    #[arg(long, env = "AVOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// In-process issuer database (default: SQLite in a temporary directory).
    #[arg(long, env = "AVOW_DATABASE_URL")]
    database_url: Option<String>,
    /// Holder to issue to (must exist on a remote issuer; created in-process).
    #[arg(long, default_value = "demo-erika")]
    holder: String,
    #[arg(long = "config-id", default_value = "pid-sd-jwt")]
    config_id: String,
}

#[derive(Default)]
struct Samples {
    token: Vec<Duration>,
    nonce: Vec<Duration>,
    credential: Vec<Duration>,
    flow: Vec<Duration>,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let BenchCommand::Issue(args) = command;
    if args.flows == 0 || args.concurrency == 0 {
        bail!("--flows and --concurrency must be positive");
    }
    let mut local = None;
    let (issuer_url, admin) = match &args.issuer {
        Some(url) => {
            let admin_url = args
                .admin_url
                .clone()
                .context("--admin-url is required with --issuer")?;
            let token = args
                .admin_token
                .clone()
                .context("--admin-token is required with --issuer")?;
            (url.clone(), AdminClient::new(&admin_url, &token)?)
        }
        None => {
            let public = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let mut config = IssuerConfig::defaults()?;
            config.server.public_url = format!("http://{}", public.local_addr()?);
            config.storage.data_dir =
                std::env::temp_dir().join(format!("avow-bench-{}", std::process::id()));
            config.storage.database_url = args.database_url.clone();
            let state = build_state(config, Arc::new(SystemClock), Arc::new(SystemRandom)).await?;
            let running = RunningIssuer::start(state.clone(), public, admin)?;
            let admin = AdminClient::new(
                &format!("http://{}", running.admin_addr),
                &state.admin_token,
            )?;
            admin
                .import_holders(&serde_json::from_str(avow_issuer::config::DEMO_HOLDERS)?)
                .await?;
            eprintln!(
                "in-process issuer {} on {:?} (DEVELOPMENT config)",
                state.issuer_id,
                state.store.backend()
            );
            let url = state.issuer_id.clone();
            local = Some(running);
            (url, admin)
        }
    };
    eprintln!("creating {} offers (not timed)…", args.flows);
    let mut offers: Vec<CreatedOffer> = Vec::with_capacity(args.flows);
    for _ in 0..args.flows {
        offers.push(
            admin
                .create_offer(&CreateOfferRequest {
                    holder_id: args.holder.clone(),
                    credential_configuration_ids: vec![args.config_id.clone()],
                    tx_code: None,
                    grants: vec![OfferGrant::PreAuthorizedCode],
                })
                .await?,
        );
    }
    let client = Arc::new(HttpClient::new(true)?);
    let info = Arc::new(discover(&client, &issuer_url).await?);
    let offers = Arc::new(offers);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, info, offers, next, config_id) = (
            client.clone(),
            info.clone(),
            offers.clone(),
            next.clone(),
            args.config_id.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let clock = SystemClock;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(offer) = offers.get(i) else { break };
                let code = offer
                    .credential_offer
                    .grants
                    .pre_authorized_code
                    .as_ref()
                    .map(|g| g.pre_authorized_code.clone())
                    .context("offer without a pre-authorized code")?;
                let flow = Instant::now();
                let mut session = IssuanceSession::new(&client, info.clone(), &clock)?;
                let t = Instant::now();
                session.redeem_pre_authorized_code(&code, None).await?;
                samples.token.push(t.elapsed());
                let t = Instant::now();
                let c_nonce = session.fetch_c_nonce().await?;
                samples.nonce.push(t.elapsed());
                let holder = avow_crypto::SoftwareSigner::generate()?;
                let proof = session.key_proof(&holder, &c_nonce).await?;
                let t = Instant::now();
                let response = session.request_credential(&config_id, &proof).await?;
                samples.credential.push(t.elapsed());
                if response.credentials.is_none_or(|c| c.is_empty()) {
                    anyhow::bail!("a flow returned no credential");
                }
                samples.flow.push(flow.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Samples::default();
    for worker in workers {
        let s = worker.await.context("a bench worker panicked")??;
        all.token.extend(s.token);
        all.nonce.extend(s.nonce);
        all.credential.extend(s.credential);
        all.flow.extend(s.flow);
    }
    let elapsed = started.elapsed();
    if let Some(running) = local {
        running.stop().await;
    }
    println!(
        "flows: {}  concurrency: {}  elapsed: {:.2}s  throughput: {:.1} flows/s",
        args.flows,
        args.concurrency,
        elapsed.as_secs_f64(),
        args.flows as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9}",
        "endpoint", "p50 ms", "p95 ms", "p99 ms"
    );
    for (name, samples) in [
        ("token", &mut all.token),
        ("nonce", &mut all.nonce),
        ("credential", &mut all.credential),
        ("whole flow", &mut all.flow),
    ] {
        samples.sort();
        println!(
            "{:<12} {:>9.2} {:>9.2} {:>9.2}",
            name,
            percentile(samples, 0.50),
            percentile(samples, 0.95),
            percentile(samples, 0.99)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Nearest-rank percentile of sorted samples, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted
        .get(rank - 1)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
