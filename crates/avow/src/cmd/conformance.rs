//! `avow conformance …`: the APTITUDE conformance runner (avow-conformance).

use anyhow::Context;
use avow_conformance::report::TrustInput;
use avow_conformance::{AdminApi, IutOptions, LoginScript, RunOptions, WalletProviderPki};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ConformanceCommand {
    /// Run the issuer checks (VCI-CHECK-*) and deployed cases (VCI-0nn) black-box against an issuer.
    Issuer(IssuerArgs),
}

#[derive(Args)]
pub struct IssuerArgs {
    /// The Credential Issuer Identifier under test.
    #[arg(long)]
    issuer: String,
    /// A credential offer link to use (repeatable; one per transaction that needs an offer).
    #[arg(long = "offer")]
    offers: Vec<String>,
    /// The transaction code of the given offers that ask for one.
    #[arg(long)]
    tx_code: Option<String>,
    /// Avow's admin API, to create offers on demand (when the issuer under test is Avow).
    #[arg(long)]
    admin_url: Option<String>,
    /// Bearer token of the admin API.
    #[arg(long, env = "AVOW_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The holder the admin-created offers are for.
    #[arg(long, default_value = "demo-erika")]
    admin_holder: String,
    /// Login script (TOML) that takes the holder through the issuer's authorization pages.
    #[arg(long)]
    login_script: Option<PathBuf>,
    /// Redirect URI of the runner wallet (default: the script's, else http://127.0.0.1:48555/callback).
    #[arg(long)]
    redirect_uri: Option<String>,
    /// Use this wallet-provider CA (wallet-provider-ca.pem + .key), e.g. avow-data/dev-pki,
    /// instead of the runner's own.
    #[arg(long)]
    wallet_provider: Option<PathBuf>,
    /// Where the runner keeps its own wallet-provider CA (generated on first use).
    #[arg(long, default_value = "./avow-conformance-pki")]
    pki_dir: PathBuf,
    /// PEM file of the issuer CA / IACA the credentials' x5c must chain to (repeatable).
    #[arg(long = "issuer-ca")]
    issuer_cas: Vec<PathBuf>,
    /// The runner wallet's client_id (the WIA sub).
    #[arg(long, default_value = "https://wallet.conformance.avow.dev")]
    client_id: String,
    /// The credential configuration the generic checks use (default: the first SD-JWT VC one).
    #[arg(long)]
    configuration: Option<String>,
    /// What to run: matrix ids (VCI-001, …), catalogue ids (VCI-CHECK-04) or CONF ids/prefixes; default all.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Do not fail the run for applicable checks the runner does not implement yet.
    #[arg(long)]
    allow_unimplemented: bool,
    /// Seconds to wait for codes and nonces to expire (the expiry probes are skipped without it).
    #[arg(long)]
    expiry_wait: Option<u64>,
    /// DEVELOPMENT: allow plain http to an issuer on a loopback address.
    #[arg(long)]
    allow_http_loopback: bool,
    /// Write the JSON report here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    report_html: Option<PathBuf>,
}

pub async fn run(command: ConformanceCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConformanceCommand::Issuer(args) => issuer(args).await,
    }
}

async fn issuer(args: IssuerArgs) -> anyhow::Result<ExitCode> {
    let now = avow_conformance::iut::now();
    let pki = match &args.wallet_provider {
        Some(dir) => WalletProviderPki::load(dir, now)
            .with_context(|| format!("wallet provider {}", dir.display()))?,
        None => WalletProviderPki::generate_or_load(&args.pki_dir, now)
            .with_context(|| format!("runner PKI in {}", args.pki_dir.display()))?,
    };
    eprintln!(
        "The issuer under test must trust this wallet-provider CA ({}):\n{}",
        pki.ca_path().display(),
        pki.ca_pem()
    );
    let mut options = IutOptions::new(&args.issuer);
    options.offers = args.offers.clone();
    options.tx_code = args.tx_code.clone();
    options.client_id = args.client_id.clone();
    options.redirect_uri = args.redirect_uri.clone();
    options.allow_http_loopback = args.allow_http_loopback;
    options.expiry_wait = args.expiry_wait;
    options.configuration = args.configuration.clone();
    let mut inputs = Vec::new();
    if let Some(url) = &args.admin_url {
        let token = args
            .admin_token
            .clone()
            .context("--admin-url needs --admin-token (or AVOW_ADMIN_TOKEN)")?;
        options.admin = Some(AdminApi {
            url: url.clone(),
            token,
            holder_id: args.admin_holder.clone(),
        });
        inputs.push(TrustInput {
            role: "offers created through the admin API".into(),
            source: format!("{url} (holder {})", args.admin_holder),
            subject: None,
            sha256: None,
        });
    }
    if !args.offers.is_empty() {
        inputs.push(TrustInput {
            role: "credential offers".into(),
            source: format!("{} --offer link(s)", args.offers.len()),
            subject: None,
            sha256: None,
        });
    }
    if let Some(path) = &args.login_script {
        options.login_script = Some(LoginScript::load(path)?);
        inputs.push(TrustInput {
            role: "holder login (login script)".into(),
            source: path.display().to_string(),
            subject: None,
            sha256: None,
        });
    }
    for path in &args.issuer_cas {
        let pem = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        for der in avow_crypto::x509::certs_from_pem(&pem)? {
            options
                .issuer_trust_anchors
                .push((path.display().to_string(), der));
        }
    }
    let run = RunOptions {
        selection: args.cases.clone(),
        allow_unimplemented: args.allow_unimplemented,
        inputs,
    };
    let report = avow_conformance::run_issuer(options, pki, &run).await?;
    if let Some(path) = &args.report_json {
        std::fs::write(path, report.to_json()).with_context(|| path.display().to_string())?;
    }
    if let Some(path) = &args.report_html {
        std::fs::write(path, avow_conformance::html::render(&report))
            .with_context(|| path.display().to_string())?;
    }
    print!("{}", report.text_summary());
    Ok(ExitCode::from(report.exit_code()))
}
