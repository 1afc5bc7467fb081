//! `avow wallet …`: receive an offer, list and show credentials.

use anyhow::Context;
use avow_crypto::x509::{TrustAnchors, certs_from_pem};
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use clap::{Args, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum WalletCommand {
    /// Receive the credentials of an offer link (openid-credential-offer://, haip-vci://, eu-eaa-offer://, https).
    Receive {
        offer: String,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        connect: ConnectArgs,
        /// The transaction code, if the offer asks for one (otherwise prompted).
        #[arg(long)]
        tx_code: Option<String>,
        /// Accept the offer without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Wallet-initiated issuance: the authorization code flow for a credential configuration.
    Request {
        /// The Credential Issuer Identifier (https URL).
        #[arg(long)]
        issuer: String,
        /// Credential configuration id (repeatable).
        #[arg(long = "config-id", required = true)]
        config_ids: Vec<String>,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Obtain a fresh credential with the stored refresh token (authorization code flow only).
    Refresh {
        id: String,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Delete (decline) a stored credential; tells the issuer with
    /// `credential_deleted` when it can (OID4VCI §11.1; WAL-NOTIF-03).
    Delete {
        id: String,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Deferred issuances (WAL-DEF-07): list them; `--poll` polls the due
    /// ones once, `--watch` until none is pending; `--stop`, `--resume`,
    /// `--forget` one.
    Pending {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Poll every due transaction once (needs --trust-anchor).
        #[arg(long)]
        poll: bool,
        /// Keep polling, each transaction at its interval, until none is pending.
        #[arg(long, conflicts_with = "poll")]
        watch: bool,
        /// Stop polling this transaction.
        #[arg(long, value_name = "ID")]
        stop: Option<String>,
        /// Resume polling this transaction.
        #[arg(long, value_name = "ID")]
        resume: Option<String>,
        /// Delete this transaction record.
        #[arg(long, value_name = "ID")]
        forget: Option<String>,
        #[command(flatten)]
        connect: PendingConnectArgs,
    },
    /// List stored credentials.
    List {
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Show one stored credential, decoded.
    Show {
        id: String,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Check a stored credential's status list entry: prints VALID, INVALID or SUSPENDED
    /// (exit code 0 only when VALID).
    Status {
        id: String,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Args, Clone)]
pub struct WalletArgs {
    /// Wallet data directory (encrypted credential store).
    #[arg(long, env = "AVOW_WALLET_DIR", default_value = "./avow-wallet-data")]
    pub wallet_dir: PathBuf,
}

/// How the wallet reaches issuers and proves what it is.
#[derive(Args, Clone)]
pub struct ConnectArgs {
    /// PEM file of an issuer CA to trust (repeatable).
    #[arg(long = "trust-anchor", required = true)]
    pub trust_anchors: Vec<PathBuf>,
    /// DEVELOPMENT: allow plain http to issuers on loopback addresses.
    #[arg(long)]
    pub dev: bool,
    /// DEVELOPMENT wallet provider: a directory with wallet-provider-ca.pem and
    /// wallet-provider-ca.key (the issuer's dev PKI writes them) that signs this wallet's WIAs.
    #[arg(long)]
    pub dev_wallet_provider: Option<PathBuf>,
    /// The wallet's OAuth client_id (the WIA sub).
    #[arg(long, default_value = "https://wallet.avow.dev/cli")]
    pub client_id: String,
    /// Use anonymous pre-authorized access when the issuer allows it.
    #[arg(long)]
    pub anonymous: bool,
    /// Automation: log in with these credentials by filling the issuer's Avow login form
    /// instead of opening a browser.
    #[arg(long, requires = "login_password")]
    pub login_user: Option<String>,
    #[arg(
        long,
        requires = "login_user",
        env = "AVOW_LOGIN_PASSWORD",
        hide_env_values = true
    )]
    pub login_password: Option<String>,
}

impl ConnectArgs {
    pub fn wallet(&self, wallet: &WalletArgs) -> anyhow::Result<Wallet> {
        if self.dev {
            eprintln!("DEVELOPMENT: plain http to loopback issuers is allowed");
        }
        let wia_source: Option<std::sync::Arc<dyn avow_wallet::flow::WiaSource>> =
            match &self.dev_wallet_provider {
                Some(dir) => {
                    eprintln!(
                        "DEVELOPMENT wallet provider: WIAs are signed by {}",
                        dir.display()
                    );
                    let provider = avow_wallet::attestation::DevWalletProvider::load(
                        &dir.join("wallet-provider-ca.pem"),
                        &dir.join("wallet-provider-ca.key"),
                    )?;
                    Some(std::sync::Arc::new(provider))
                }
                None => None,
            };
        let options = WalletOptions {
            allow_http_loopback: self.dev,
            trust_anchors: load_anchors(&self.trust_anchors)?,
            clock_skew: 60,
            client_id: self.client_id.clone(),
            wia_source,
            prefer_anonymous: self.anonymous,
            encryption: None,
        };
        Ok(Wallet::new(
            options,
            CredentialStore::open(&wallet.wallet_dir)?,
        )?)
    }

    /// The user agent of the authorization step: the system browser with a loopback redirect, or the scripted login.
    pub async fn agent(&self) -> anyhow::Result<Box<dyn avow_wallet::authorize::UserAgent>> {
        match (&self.login_user, &self.login_password) {
            (Some(user), Some(password)) => {
                Ok(Box::new(avow_wallet::authorize::ScriptedLogin::new(
                    "http://127.0.0.1:8999/callback",
                    user,
                    password,
                    true,
                )?))
            }
            _ => Ok(Box::new(
                crate::browser::LoopbackBrowser::bind(std::time::Duration::from_secs(300)).await?,
            )),
        }
    }
}

fn print_received(received: &[avow_wallet::ReceivedCredential]) {
    for r in received {
        println!(
            "stored {} ({}), verified",
            r.stored.id,
            r.stored
                .credential_display_name
                .as_deref()
                .unwrap_or(&r.stored.credential_configuration_id)
        );
    }
}

/// [`ConnectArgs`] for `pending`, where listing needs none of them.
#[derive(Args, Clone)]
pub struct PendingConnectArgs {
    /// PEM file of an issuer CA to trust (repeatable; required to poll).
    #[arg(long = "trust-anchor")]
    pub trust_anchors: Vec<PathBuf>,
    /// DEVELOPMENT: allow plain http to issuers on loopback addresses.
    #[arg(long)]
    pub dev: bool,
    /// DEVELOPMENT wallet provider directory (renews access tokens of the
    /// authorization code flow; see `receive`).
    #[arg(long)]
    pub dev_wallet_provider: Option<PathBuf>,
    /// The wallet's OAuth client_id (the WIA sub).
    #[arg(long, default_value = "https://wallet.avow.dev/cli")]
    pub client_id: String,
}

impl PendingConnectArgs {
    fn connect(&self) -> Option<ConnectArgs> {
        (!self.trust_anchors.is_empty()).then(|| ConnectArgs {
            trust_anchors: self.trust_anchors.clone(),
            dev: self.dev,
            dev_wallet_provider: self.dev_wallet_provider.clone(),
            client_id: self.client_id.clone(),
            anonymous: false,
            login_user: None,
            login_password: None,
        })
    }
}

/// The outcome of a flow: received credentials, and deferred transactions
/// that are now stored for `avow wallet pending` (WAL-DEF-01).
fn report(
    result: Result<Vec<avow_wallet::ReceivedCredential>, avow_wallet::WalletError>,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(received) => {
            print_received(&received);
            Ok(ExitCode::SUCCESS)
        }
        Err(avow_wallet::WalletError::Deferred { pending, received }) => {
            print_received(&received);
            for id in pending {
                println!(
                    "pending {id}: the issuer will issue later (run `avow wallet pending --poll`)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}

fn print_pending(pending: &[avow_wallet::deferred::PendingIssuance], now: i64) {
    use avow_wallet::deferred::PendingState;
    if pending.is_empty() {
        println!("no pending issuances");
    }
    for p in pending {
        let state = match &p.state {
            PendingState::Pending if p.next_poll_at <= now => {
                "PENDING  next poll: due now".to_owned()
            }
            PendingState::Pending => format!("PENDING  next poll in {} s", p.next_poll_at - now),
            PendingState::Stopped => "STOPPED  (resume with --resume)".to_owned(),
            PendingState::Failed { reason } => format!("FAILED   {reason}"),
        };
        let error = p
            .last_error
            .as_deref()
            .map(|e| format!("  last error: {e}"))
            .unwrap_or_default();
        println!(
            "{}  {}  {}  from {}  polls {}{error}",
            p.id, state, p.credential_configuration_id, p.credential_issuer, p.polls
        );
    }
}

fn print_outcome(outcome: &avow_wallet::deferred::PollOutcome) {
    use avow_wallet::deferred::PollOutcome;
    match outcome {
        PollOutcome::Received { id, credentials } => {
            println!("{id}: received");
            print_received(credentials);
        }
        PollOutcome::Pending { id, next_poll_at } => {
            println!("{id}: still pending (next poll at {next_poll_at})");
        }
        PollOutcome::Retrying {
            id,
            reason,
            next_poll_at,
        } => println!("{id}: {reason}; retrying at {next_poll_at}"),
        PollOutcome::Failed { id, reason } => println!("{id}: FAILED: {reason}"),
        PollOutcome::NotDue { id, next_poll_at } => {
            println!("{id}: not due before {next_poll_at}");
        }
    }
}

/// `avow wallet pending …` (WAL-DEF-02 … -07).
#[allow(clippy::too_many_arguments)]
async fn pending(
    wallet: &WalletArgs,
    poll: bool,
    watch: bool,
    stop: Option<String>,
    resume: Option<String>,
    forget: Option<String>,
    connect: Option<&ConnectArgs>,
) -> anyhow::Result<ExitCode> {
    let now = || avow_core::Clock::now(&avow_core::SystemClock);
    let wallet_app = match connect {
        Some(connect) => connect.wallet(wallet)?,
        None if poll || watch => anyhow::bail!("--poll and --watch need --trust-anchor"),
        // Listing and managing records only: no issuer is contacted.
        None => Wallet::new(
            WalletOptions {
                allow_http_loopback: false,
                trust_anchors: TrustAnchors::default(),
                clock_skew: 60,
                client_id: String::new(),
                wia_source: None,
                prefer_anonymous: true,
                encryption: None,
            },
            CredentialStore::open(&wallet.wallet_dir)?,
        )?,
    };
    if let Some(id) = stop {
        wallet_app.stop_pending(&id)?;
        println!("{id}: stopped");
    }
    if let Some(id) = resume {
        wallet_app.resume_pending(&id)?;
        println!("{id}: resumed");
    }
    if let Some(id) = forget {
        wallet_app.forget_pending(&id)?;
        println!("{id}: forgotten");
    }
    if poll || watch {
        loop {
            for outcome in wallet_app.poll_pending().await? {
                print_outcome(&outcome);
            }
            let next = wallet_app.next_pending_poll()?;
            match next {
                Some(at) if watch => {
                    let wait = u64::try_from(at - now()).unwrap_or(0).max(1);
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                }
                _ => break,
            }
        }
    }
    print_pending(&wallet_app.pending_issuances()?, now());
    Ok(ExitCode::SUCCESS)
}

pub fn load_anchors(paths: &[PathBuf]) -> anyhow::Result<TrustAnchors> {
    let mut ders = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        ders.extend(
            certs_from_pem(&text)
                .with_context(|| format!("{} holds no certificate", path.display()))?,
        );
    }
    Ok(TrustAnchors::new(ders)?)
}

pub async fn run(command: WalletCommand) -> anyhow::Result<ExitCode> {
    match command {
        WalletCommand::Receive {
            offer,
            wallet,
            connect,
            tx_code,
            yes,
        } => {
            let wallet_app = connect.wallet(&wallet)?;
            let (offer, info) = wallet_app.preview(&offer).await?;
            let issuer_name = info
                .metadata
                .display
                .iter()
                .find_map(|d| d.name.clone())
                .unwrap_or_else(|| offer.credential_issuer.clone());
            println!("Offer from {issuer_name} ({})", offer.credential_issuer);
            for id in &offer.credential_configuration_ids {
                let name = info
                    .metadata
                    .credential_configurations_supported
                    .get(id)
                    .and_then(|c| c.credential_metadata.as_ref())
                    .and_then(|m| m.display.iter().find_map(|d| d.name.clone()))
                    .unwrap_or_else(|| id.clone());
                println!("  - {name}");
            }
            if !yes && !confirm("Accept this offer?")? {
                println!("declined");
                return Ok(ExitCode::from(2));
            }
            let info = std::sync::Arc::new(info);
            let received = match (
                &offer.grants.pre_authorized_code,
                &offer.grants.authorization_code,
            ) {
                (Some(grant), _) => {
                    let tx_code = match (&grant.tx_code, tx_code) {
                        (Some(spec), None) => Some(prompt_tx_code(spec, &issuer_name)?),
                        (_, given) => given,
                    };
                    wallet_app.accept(&offer, info, tx_code.as_deref()).await
                }
                (None, authorization) => {
                    let issuer_state = authorization.as_ref().and_then(|g| g.issuer_state.clone());
                    let agent = connect.agent().await?;
                    wallet_app
                        .authorize_and_receive(
                            info,
                            &offer.credential_configuration_ids,
                            issuer_state.as_deref(),
                            agent.as_ref(),
                        )
                        .await
                }
            };
            report(received)
        }
        WalletCommand::Request {
            issuer,
            config_ids,
            wallet,
            connect,
        } => {
            let wallet_app = connect.wallet(&wallet)?;
            let info = std::sync::Arc::new(
                avow_wallet::issuer::discover(wallet_app.client(), &issuer).await?,
            );
            let agent = connect.agent().await?;
            report(
                wallet_app
                    .authorize_and_receive(info, &config_ids, None, agent.as_ref())
                    .await,
            )
        }
        WalletCommand::Refresh {
            id,
            wallet,
            connect,
        } => {
            let wallet_app = connect.wallet(&wallet)?;
            report(wallet_app.refresh(&id).await.map(|r| vec![r]))
        }
        WalletCommand::Delete {
            id,
            wallet,
            connect,
        } => {
            use avow_wallet::delete::DeletionNotice;
            let wallet_app = connect.wallet(&wallet)?;
            let notice = wallet_app.delete_credential(&id).await?;
            println!("deleted {id}");
            match notice {
                DeletionNotice::Sent => println!("the issuer was told (credential_deleted)"),
                DeletionNotice::NotApplicable => {}
                DeletionNotice::NotSent => {
                    println!("the issuer could not be told (no valid token or unreachable)")
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        WalletCommand::Pending {
            wallet,
            poll,
            watch,
            stop,
            resume,
            forget,
            connect,
        } => {
            pending(
                &wallet,
                poll,
                watch,
                stop,
                resume,
                forget,
                connect.connect().as_ref(),
            )
            .await
        }
        WalletCommand::List { wallet } => {
            let store = CredentialStore::open(&wallet.wallet_dir)?;
            let list = store.list()?;
            if list.is_empty() {
                println!("no credentials");
            }
            for c in list {
                println!(
                    "{}  {}  {}  from {}",
                    c.id,
                    c.format,
                    c.credential_display_name
                        .as_deref()
                        .unwrap_or(&c.credential_configuration_id),
                    c.issuer_display_name
                        .as_deref()
                        .unwrap_or(&c.credential_issuer)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        WalletCommand::Status {
            id,
            wallet,
            connect,
        } => {
            let wallet_app = connect.wallet(&wallet)?;
            let credential = wallet_app
                .store()
                .get(&id)?
                .with_context(|| format!("no credential {id}"))?;
            let anchors = load_anchors(&connect.trust_anchors)?;
            let now = avow_core::Clock::now(&avow_core::SystemClock);
            let status = avow_wallet::status::stored_credential_status(
                wallet_app.client(),
                &anchors,
                &credential,
                now,
                60,
            )
            .await?;
            match status {
                None => {
                    println!("NO STATUS (the credential carries no status list reference)");
                    Ok(ExitCode::SUCCESS)
                }
                Some(avow_formats::status_list::StatusType::Valid) => {
                    println!("VALID");
                    Ok(ExitCode::SUCCESS)
                }
                Some(other) => {
                    println!("{other}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        WalletCommand::Show { id, wallet } => {
            let store = CredentialStore::open(&wallet.wallet_dir)?;
            let credential = store
                .get(&id)?
                .with_context(|| format!("no credential {id}"))?;
            println!("id:            {}", credential.id);
            println!("format:        {}", credential.format);
            println!("configuration: {}", credential.credential_configuration_id);
            println!("issuer:        {}", credential.credential_issuer);
            println!(
                "status:        {}",
                match credential.status_checked {
                    Some(true) => "VALID when received (check now: avow wallet status ID)",
                    Some(false) => "NOT CHECKED: the status list was unreachable when received",
                    None => "no status list reference",
                }
            );
            println!(
                "holder key:    {} (DEVELOPMENT software key store)",
                credential.holder_key_thumbprint
            );
            print!(
                "{}",
                super::demo::describe_sd_jwt_vc(&credential.credential)?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// WAL-OFFER-10: shows the issuer, the description and the expected shape.
fn prompt_tx_code(spec: &avow_core::offer::TxCode, issuer: &str) -> anyhow::Result<String> {
    if let Some(d) = &spec.description {
        println!("{d}");
    }
    let mode = match spec.input_mode {
        Some(avow_core::offer::InputMode::Text) => "characters",
        _ => "digits",
    };
    let length = spec.length.map(|l| format!("{l} ")).unwrap_or_default();
    print!("Transaction code for {issuer} ({length}{mode}): ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}
