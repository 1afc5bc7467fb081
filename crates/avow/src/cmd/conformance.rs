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
    /// Serve a reference issuer, hand its offers to a wallet and run the wallet checks and cases.
    Wallet(WalletArgs),
}

#[derive(Args)]
pub struct WalletArgs {
    /// Drive Avow's own CLI wallet (this program), keeping its data in DIR; its DEVELOPMENT
    /// wallet provider is the runner's (--pki-dir).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["wallet_cmd", "manual_wait"])]
    avow_wallet: Option<PathBuf>,
    /// Shell command that receives one offer (env: AVOW_CONFORMANCE_OFFER, _TX_CODE when the
    /// offer asks for one, _ISSUER, _TRUST_ANCHOR, _LOGIN_USER, _LOGIN_PASSWORD).
    #[arg(long, conflicts_with = "manual_wait")]
    wallet_cmd: Option<String>,
    /// Shell command that polls deferred issuances after the receiving command returned.
    #[arg(long, requires = "wallet_cmd")]
    wallet_poll_cmd: Option<String>,
    /// Longest run of one wallet command, seconds.
    #[arg(long, default_value_t = 120)]
    command_timeout: u64,
    /// No command: print each offer and wait up to this many seconds for the wallet.
    #[arg(long)]
    manual_wait: Option<u64>,
    /// PEM file of the wallet provider CA whose WIAs and key attestations the reference
    /// issuer accepts (repeatable; with --avow-wallet, the runner's own).
    #[arg(long = "wallet-provider-ca")]
    wallet_provider_cas: Vec<PathBuf>,
    /// Where the runner keeps its own wallet provider (for --avow-wallet).
    #[arg(long, default_value = "./avow-conformance-pki")]
    pki_dir: PathBuf,
    /// Where the reference issuers keep their DEVELOPMENT PKI and databases.
    #[arg(long, default_value = "./avow-conformance-issuer")]
    data_dir: PathBuf,
    /// Where the reference issuers listen: HOST:PORT; with a fixed PORT the three issuers
    /// (plain, A128GCM, A256GCM) take PORT, PORT+1, PORT+2.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The public https origin of the first reference issuer when a TLS-terminating proxy
    /// fronts them (a phone wallet); the others are on the next ports. Needs a fixed --listen port.
    #[arg(long)]
    public_url: Option<String>,
    /// Offer link schemes the wallet claims (CONF-C01-05 runs each).
    #[arg(
        long = "scheme",
        value_delimiter = ',',
        default_value = "openid-credential-offer"
    )]
    schemes: Vec<String>,
    /// What to run: matrix ids (VCI-001, …), catalogue ids (VCI-CHECK-04) or CONF ids/prefixes; default all.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Write the JSON report here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    report_html: Option<PathBuf>,
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
        ConformanceCommand::Wallet(args) => wallet(args).await,
    }
}

/// Single-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The hooks that drive `avow wallet` itself.
fn avow_wallet_hooks(exe: &str, dir: &str, provider: &str) -> (String, String) {
    let common = format!(
        "--wallet-dir {dir} --trust-anchor \"$AVOW_CONFORMANCE_TRUST_ANCHOR\" --dev --dev-wallet-provider {provider}"
    );
    (
        format!(
            "{exe} wallet receive \"$AVOW_CONFORMANCE_OFFER\" {common} --yes \
             --login-user \"$AVOW_CONFORMANCE_LOGIN_USER\" --login-password \"$AVOW_CONFORMANCE_LOGIN_PASSWORD\" \
             ${{AVOW_CONFORMANCE_TX_CODE:+--tx-code \"$AVOW_CONFORMANCE_TX_CODE\"}}"
        ),
        format!("{exe} wallet pending --watch {common}"),
    )
}

async fn wallet(args: WalletArgs) -> anyhow::Result<ExitCode> {
    use avow_conformance::{WalletDriver, WutOptions};
    let timeout = std::time::Duration::from_secs(args.command_timeout);
    let mut anchors = args.wallet_provider_cas.clone();
    let driver = if let Some(dir) = &args.avow_wallet {
        let pki = WalletProviderPki::generate_or_load(&args.pki_dir, avow_conformance::iut::now())
            .with_context(|| format!("runner PKI in {}", args.pki_dir.display()))?;
        anchors.push(pki.ca_path());
        let exe = std::env::current_exe().context("the path of this program")?;
        let (receive, poll) = avow_wallet_hooks(
            &shell_quote(&exe.display().to_string()),
            &shell_quote(&dir.display().to_string()),
            &shell_quote(&args.pki_dir.display().to_string()),
        );
        WalletDriver::Command {
            receive,
            poll_deferred: Some(poll),
            timeout,
        }
    } else if let Some(receive) = &args.wallet_cmd {
        WalletDriver::Command {
            receive: receive.clone(),
            poll_deferred: args.wallet_poll_cmd.clone(),
            timeout,
        }
    } else if let Some(wait) = args.manual_wait {
        WalletDriver::Manual {
            wait: std::time::Duration::from_secs(wait),
        }
    } else {
        anyhow::bail!(
            "name the wallet under test: --avow-wallet DIR, --wallet-cmd CMD or --manual-wait SECS"
        );
    };
    if anchors.is_empty() {
        anyhow::bail!(
            "--wallet-provider-ca: the reference issuer must know the wallet's provider CA"
        );
    }
    let (host, port) = args
        .listen
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_matches(['[', ']']).to_owned(),
                p.parse::<u16>().ok()?,
            ))
        })
        .context("--listen HOST:PORT")?;
    if args.public_url.is_some() && port == 0 {
        anyhow::bail!("--public-url needs a fixed --listen port (the proxy forwards to it)");
    }
    let mut options = WutOptions::new(driver, args.data_dir.clone());
    options.listen = avow_conformance::wut::Listen {
        host,
        first_port: port,
        public_url: args.public_url.clone(),
    };
    options.wallet_provider_anchors = anchors;
    options.schemes = args
        .schemes
        .iter()
        .map(|s| format!("{}://", s.trim_end_matches("://")))
        .collect();
    eprintln!(
        "DEVELOPMENT reference issuer: generated PKI in {} (the wallet under test must trust its CA)",
        args.data_dir.display()
    );
    let run = RunOptions {
        selection: args.cases.clone(),
        allow_unimplemented: false,
        inputs: Vec::new(),
    };
    let report = avow_conformance::run_wallet(options, &run).await?;
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
