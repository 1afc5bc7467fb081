//! `avow bench issue`: N complete issuance flows at a given concurrency,
//! wallet-side key generation and signing included; prints flows/s and
//! latency percentiles per step.
//!
//! `--flow pre-authorized` (default): token + nonce + credential.
//! `--flow authorization-code`: PAR + authorization (login form with an
//! argon2id password check, consent) + token + nonce + credential.

use crate::admin_client::AdminClient;
use anyhow::{Context, bail};
use avow_core::SystemClock;
use avow_crypto::{Signer, SoftwareSigner, SystemRandom};
use avow_issuer::offer::{CreateOfferRequest, OfferGrant};
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use avow_wallet::HttpClient;
use avow_wallet::attestation::{ClientAttestation, DevWalletProvider};
use avow_wallet::authorize::{Pkce, ScriptedLogin, UserAgent, authorization_url, parse_callback};
use avow_wallet::flow::{AuthorizationRequest, IssuanceSession};
use avow_wallet::issuer::{IssuerInfo, discover};
use avow_wallet::key_proofs::{ProofMethod, request_credentials};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Complete issuance flows.
    Issue(IssueArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Flow {
    PreAuthorized,
    AuthorizationCode,
}

#[derive(Args)]
pub struct IssueArgs {
    #[arg(long, default_value_t = 1000)]
    flows: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, value_enum, default_value_t = Flow::PreAuthorized)]
    flow: Flow,
    /// Pre-authorized flows without client authentication (the issuer must allow it).
    #[arg(long)]
    anonymous: bool,
    /// A running issuer to measure (needs --admin-url, --admin-token and --dev-wallet-provider);
    /// default: an in-process issuer on the embedded DEVELOPMENT defaults.
    #[arg(long)]
    issuer: Option<String>,
    #[arg(long, env = "AVOW_ADMIN_URL")]
    admin_url: Option<String>,
    #[arg(long, env = "AVOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// DEVELOPMENT wallet provider directory (wallet-provider-ca.pem/.key) the issuer trusts.
    #[arg(long)]
    dev_wallet_provider: Option<PathBuf>,
    /// In-process issuer database (default: SQLite in a temporary directory).
    #[arg(long, env = "AVOW_DATABASE_URL")]
    database_url: Option<String>,
    /// Holder to issue to, and its password for the authorization-code flow.
    #[arg(long, default_value = "demo-erika")]
    holder: String,
    #[arg(
        long,
        env = "AVOW_LOGIN_PASSWORD",
        default_value = "erika-demo-password",
        hide_env_values = true
    )]
    holder_password: String,
    #[arg(long = "config-id", default_value = "pid-sd-jwt")]
    config_id: String,
    /// Keys (so credentials) per credential request: a batch (VCI §8.2).
    /// Configurations that need key attestations (e.g. pid-mdoc) get a WUA
    /// from the dev wallet provider for every request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

/// Latencies per step name.
type Samples = BTreeMap<&'static str, Vec<Duration>>;

/// What every worker shares.
struct Bench {
    client: HttpClient,
    info: Arc<IssuerInfo>,
    provider: Option<DevWalletProvider>,
    codes: Vec<String>,
    next: AtomicUsize,
    /// Credentials received, over all flows.
    issued: AtomicUsize,
    args: IssueArgs,
}

const CLIENT_ID: &str = "https://wallet.avow.dev/bench";

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let BenchCommand::Issue(args) = command;
    if args.flows == 0 || args.concurrency == 0 {
        bail!("--flows and --concurrency must be positive");
    }
    let mut local = None;
    let (issuer_url, admin, provider_dir) = match &args.issuer {
        Some(url) => {
            let admin_url = args
                .admin_url
                .clone()
                .context("--admin-url is required with --issuer")?;
            let token = args
                .admin_token
                .clone()
                .context("--admin-token is required with --issuer")?;
            (
                url.clone(),
                AdminClient::new(&admin_url, &token)?,
                args.dev_wallet_provider.clone(),
            )
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
            let provider_dir = state
                .client_auth
                .dev_wallet_provider
                .as_ref()
                .and_then(|(cert, _)| cert.parent().map(PathBuf::from));
            let url = state.issuer_id.clone();
            local = Some(running);
            (url, admin, provider_dir)
        }
    };
    let provider = match (&provider_dir, args.flow, args.anonymous) {
        (_, Flow::PreAuthorized, true) => None,
        (Some(dir), _, _) => Some(DevWalletProvider::load(
            &dir.join("wallet-provider-ca.pem"),
            &dir.join("wallet-provider-ca.key"),
        )?),
        (None, _, _) => bail!("--dev-wallet-provider is required to authenticate the wallet"),
    };
    let mut codes = Vec::new();
    if args.flow == Flow::PreAuthorized {
        eprintln!("creating {} offers (not timed)…", args.flows);
        for _ in 0..args.flows {
            let created = admin
                .create_offer(&CreateOfferRequest {
                    holder_id: args.holder.clone(),
                    credential_configuration_ids: vec![args.config_id.clone()],
                    tx_code: None,
                    grants: vec![OfferGrant::PreAuthorizedCode],
                })
                .await?;
            let grant = created
                .credential_offer
                .grants
                .pre_authorized_code
                .context("offer without a pre-authorized code")?;
            codes.push(grant.pre_authorized_code);
        }
    }
    let client = HttpClient::new(true)?;
    let info = Arc::new(discover(&client, &issuer_url).await?);
    let bench = Arc::new(Bench {
        client,
        info,
        provider,
        codes,
        next: AtomicUsize::new(0),
        issued: AtomicUsize::new(0),
        args,
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..bench.args.concurrency {
        let bench = bench.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Samples::new();
            loop {
                let index = bench.next.fetch_add(1, Ordering::Relaxed);
                if index >= bench.args.flows {
                    break;
                }
                let flow = Instant::now();
                match bench.args.flow {
                    Flow::PreAuthorized => pre_authorized_flow(&bench, index, &mut samples).await?,
                    Flow::AuthorizationCode => {
                        authorization_code_flow(&bench, &mut samples).await?
                    }
                }
                samples
                    .entry("whole flow")
                    .or_default()
                    .push(flow.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Samples::new();
    for worker in workers {
        for (step, durations) in worker.await.context("a bench worker panicked")?? {
            all.entry(step).or_default().extend(durations);
        }
    }
    let elapsed = started.elapsed();
    if let Some(running) = local {
        running.stop().await;
    }
    let flows = bench.args.flows;
    println!(
        "flow: {}  flows: {flows}  concurrency: {}  client auth: {}  elapsed: {:.2}s  throughput: {:.1} flows/s",
        match bench.args.flow {
            Flow::PreAuthorized => "pre-authorized",
            Flow::AuthorizationCode => "authorization-code",
        },
        bench.args.concurrency,
        if bench.provider.is_some() {
            "wallet attestation"
        } else {
            "anonymous"
        },
        elapsed.as_secs_f64(),
        flows as f64 / elapsed.as_secs_f64()
    );
    let credentials = bench.issued.load(Ordering::Relaxed);
    println!(
        "configuration: {}  batch: {}  credentials: {credentials}  ({:.1} credentials/s)",
        bench.args.config_id,
        bench.args.batch,
        credentials as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9}",
        "step", "p50 ms", "p95 ms", "p99 ms"
    );
    for step in [
        "par",
        "authorize",
        "token",
        "nonce",
        "credential",
        "whole flow",
    ] {
        if let Some(samples) = all.get_mut(step) {
            samples.sort();
            println!(
                "{:<12} {:>9.2} {:>9.2} {:>9.2}",
                step,
                percentile(samples, 0.50),
                percentile(samples, 0.95),
                percentile(samples, 0.99)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn time(samples: &mut Samples, step: &'static str, since: Instant) {
    samples.entry(step).or_default().push(since.elapsed());
}

/// A session with a fresh DPoP key and, unless anonymous, a fresh WIA.
async fn session(bench: &Bench) -> anyhow::Result<IssuanceSession<'_>> {
    let clock: &'static SystemClock = &SystemClock;
    let session = IssuanceSession::new(&bench.client, bench.info.clone(), clock)?;
    Ok(match &bench.provider {
        Some(provider) => {
            let instance_key = SoftwareSigner::generate()?;
            let now = avow_core::Clock::now(clock);
            let wia = provider
                .issue_wia(CLIENT_ID, instance_key.public_jwk(), now, 3600)
                .await?;
            session.with_attestation(ClientAttestation::new(CLIENT_ID, wia, instance_key))
        }
        None => session,
    })
}

async fn pre_authorized_flow(
    bench: &Bench,
    index: usize,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let code = bench.codes.get(index).context("no offer left")?;
    let mut session = session(bench).await?;
    let t = Instant::now();
    session.redeem_pre_authorized_code(code, None).await?;
    time(samples, "token", t);
    credential_steps(bench, &session, samples).await
}

async fn authorization_code_flow(bench: &Bench, samples: &mut Samples) -> anyhow::Result<()> {
    let mut session = session(bench).await?;
    let agent = ScriptedLogin::new(
        "http://127.0.0.1:8999/callback",
        &bench.args.holder,
        &bench.args.holder_password,
        true,
    )?;
    let pkce = Pkce::generate(&SystemRandom);
    let state = avow_crypto::Random::token(&SystemRandom, 16);
    let scope = bench
        .info
        .metadata
        .credential_configurations_supported
        .get(&bench.args.config_id)
        .and_then(|c| c.scope.clone())
        .context("the configuration has no scope")?;
    let redirect_uri = agent.redirect_uri();
    let request = AuthorizationRequest {
        redirect_uri: &redirect_uri,
        state: &state,
        pkce: &pkce,
        scopes: &[scope],
        authorization_details: &[],
        issuer_state: None,
    };
    let t = Instant::now();
    let request_uri = session.push_authorization_request(&request).await?;
    time(samples, "par", t);
    let endpoint = bench
        .info
        .authorization_server
        .authorization_endpoint
        .clone()
        .context("no authorization endpoint")?;
    let t = Instant::now();
    let callback = agent
        .authorize(&authorization_url(&endpoint, CLIENT_ID, &request_uri))
        .await?;
    time(samples, "authorize", t);
    let code = parse_callback(&callback, &state, &bench.info.authorization_server.issuer)?;
    let t = Instant::now();
    session
        .redeem_authorization_code(&code, &redirect_uri, &pkce.verifier)
        .await?;
    time(samples, "token", t);
    credential_steps(bench, &session, samples).await
}

async fn credential_steps(
    bench: &Bench,
    session: &IssuanceSession<'_>,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let configuration = bench
        .info
        .metadata
        .credential_configurations_supported
        .get(&bench.args.config_id)
        .context("the configuration is not in the issuer metadata")?;
    let plain_jwt = matches!(
        ProofMethod::for_configuration(configuration)?,
        ProofMethod::Jwt
    );
    if bench.args.batch > 1 || !plain_jwt {
        // Batch or key attestation: the wallet library builds the keys, the
        // WUA and the proofs; "credential" then includes the nonce request.
        let t = Instant::now();
        let selector = avow_core::credential::CredentialSelector::ConfigurationId(
            bench.args.config_id.clone(),
        );
        let provider = bench
            .provider
            .as_ref()
            .map(|p| p as &dyn avow_wallet::flow::WiaSource);
        let now = avow_core::Clock::now(&SystemClock);
        let (response, keys) = request_credentials(
            session,
            configuration,
            &selector,
            bench.args.batch,
            provider,
            now,
        )
        .await?;
        time(samples, "credential", t);
        let count = response.credentials.map_or(0, |c| c.len());
        if count == 0 || count != keys.len() {
            bail!(
                "a batch returned {count} credentials for {} keys",
                keys.len()
            );
        }
        bench.issued.fetch_add(count, Ordering::Relaxed);
        return Ok(());
    }
    let t = Instant::now();
    let c_nonce = session.fetch_c_nonce().await?;
    time(samples, "nonce", t);
    let holder = SoftwareSigner::generate()?;
    let proof = session.key_proof(&holder, &c_nonce).await?;
    let t = Instant::now();
    let response = session
        .request_credential(&bench.args.config_id, &proof)
        .await?;
    time(samples, "credential", t);
    if response.credentials.is_none_or(|c| c.is_empty()) {
        bail!("a flow returned no credential");
    }
    bench.issued.fetch_add(1, Ordering::Relaxed);
    Ok(())
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
