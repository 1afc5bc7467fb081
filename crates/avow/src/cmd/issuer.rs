//! `avow issuer …`: serve, create offers, import holders, print the default config.

use crate::admin_client::AdminClient;
use crate::qr;
use anyhow::{Context, bail};
use avow_core::SystemClock;
use avow_crypto::SystemRandom;
use avow_issuer::offer::{CreateOfferRequest, OfferGrant, TxCodeSpec};
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum IssuerCommand {
    /// Serve the issuer (public endpoints and the admin API).
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Override storage.database_url (sqlite://… or postgres://…).
        #[arg(long, env = "AVOW_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Create a pre-authorized credential offer and print its links and QR code.
    Offer {
        #[arg(long)]
        holder: String,
        /// Credential configuration id (repeat for several).
        #[arg(long = "config-id", required = true)]
        config_ids: Vec<String>,
        /// Grant(s) of the offer: pre-authorized-code (default) and/or authorization-code (repeatable).
        #[arg(long = "grant", value_enum, default_values_t = [GrantArg::PreAuthorizedCode])]
        grants: Vec<GrantArg>,
        /// Require a numeric transaction code (printed here, to deliver out of band).
        #[arg(long)]
        tx_code: bool,
        /// Where to write the QR code of the by-reference link (.png or .svg).
        #[arg(long, default_value = "offer-qr.png")]
        qr: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Holder records.
    #[command(subcommand)]
    Holders(HoldersCommand),
    /// Credential status (Token Status List): revoke, suspend, resume, show.
    #[command(subcommand)]
    Status(StatusCommand),
    /// Deferred issuance: list, approve and deny pending transactions (ISS-DEF-08).
    #[command(subcommand)]
    Deferred(DeferredCommand),
    /// Events wallets reported at the Notification Endpoint (ISS-NOTIF-06).
    Notifications {
        /// Only this holder's notifications.
        #[arg(long)]
        holder: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Print the embedded default configuration (a starting point for issuer.toml).
    DefaultConfig,
}

/// `avow issuer deferred …` (ISS-DEF-08).
#[derive(Subcommand)]
pub enum DeferredCommand {
    /// List deferred transactions (oldest first).
    List {
        /// Only transactions in this state: pending, approved, denied, issued, expired.
        #[arg(long)]
        state: Option<String>,
        /// Only this holder's transactions.
        #[arg(long)]
        holder: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Approve a pending transaction: the wallet's next poll gets the credentials.
    Approve {
        /// The transaction id shown by `avow issuer deferred list`.
        transaction: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Deny a pending transaction: the wallet gets credential_request_denied.
    Deny {
        transaction: String,
        /// Why (kept for the operator; never sent to the wallet).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GrantArg {
    PreAuthorizedCode,
    AuthorizationCode,
}

impl From<GrantArg> for OfferGrant {
    fn from(g: GrantArg) -> Self {
        match g {
            GrantArg::PreAuthorizedCode => OfferGrant::PreAuthorizedCode,
            GrantArg::AuthorizationCode => OfferGrant::AuthorizationCode,
        }
    }
}

#[derive(Subcommand)]
pub enum HoldersCommand {
    /// Import holders from a JSON array of {"id", "claims"} objects.
    Import {
        file: PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// `avow issuer status …` (ISS-STAT-06, ISS-ADM-02).
#[derive(Subcommand)]
pub enum StatusCommand {
    /// Revoke a credential (final: it can never be valid again).
    Revoke {
        /// The issuance id (see `avow issuer status list --holder …`).
        issuance_id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Suspend a credential (temporarily invalid).
    Suspend {
        issuance_id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Resume a suspended credential (valid again).
    Resume {
        issuance_id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Show the status of one credential.
    Show {
        issuance_id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List a holder's issued credentials with their status.
    List {
        #[arg(long)]
        holder: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Args, Clone)]
pub struct ConfigArgs {
    /// Issuer config file (TOML); embedded defaults when omitted.
    #[arg(long, env = "AVOW_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct AdminArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Admin API base URL; default: http://<server.admin_listen> of the config.
    #[arg(long, env = "AVOW_ADMIN_URL")]
    pub admin_url: Option<String>,
    /// Admin token; default: server.admin_token, or the dev token in <data_dir>/admin-token.
    #[arg(long, env = "AVOW_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

pub fn load_config(args: &ConfigArgs) -> anyhow::Result<IssuerConfig> {
    match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(IssuerConfig::from_toml(&text)?)
        }
        None => Ok(IssuerConfig::defaults()?),
    }
}

impl AdminArgs {
    pub fn client(&self) -> anyhow::Result<AdminClient> {
        let config = load_config(&self.config)?;
        let url = self
            .admin_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.server.admin_listen));
        let token = match (&self.admin_token, &config.server.admin_token) {
            (Some(t), _) | (None, Some(t)) => t.clone(),
            (None, None) => read_dev_token(&config.storage.data_dir)?,
        };
        AdminClient::new(&url, &token)
    }
}

fn read_dev_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin-token");
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_owned())
        .with_context(|| {
            format!(
                "no admin token given and {} is not readable (start the issuer first)",
                path.display()
            )
        })
}

pub async fn run(command: IssuerCommand) -> anyhow::Result<ExitCode> {
    match command {
        IssuerCommand::Serve {
            config,
            database_url,
        } => serve(&config, database_url).await,
        IssuerCommand::Offer {
            holder,
            config_ids,
            grants,
            tx_code,
            qr,
            admin,
        } => {
            offer(
                holder,
                config_ids,
                grants.into_iter().map(OfferGrant::from).collect(),
                tx_code,
                &qr,
                &admin,
            )
            .await
        }
        IssuerCommand::Holders(HoldersCommand::Import { file, admin }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let holders: serde_json::Value =
                serde_json::from_str(&text).context("the holders file is not JSON")?;
            let count = admin.client()?.import_holders(&holders).await?;
            println!("imported {count} holder(s)");
            Ok(ExitCode::SUCCESS)
        }
        IssuerCommand::Status(command) => status(command).await,
        IssuerCommand::Deferred(command) => deferred(command).await,
        IssuerCommand::Notifications { holder, admin } => {
            notifications(holder.as_deref(), &admin).await
        }
        IssuerCommand::DefaultConfig => {
            print!("{}", avow_issuer::config::DEFAULT_CONFIG);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: &ConfigArgs, database_url: Option<String>) -> anyhow::Result<ExitCode> {
    let mut config = load_config(args)?;
    if let Some(url) = database_url {
        config.storage.database_url = Some(url);
    }
    if config.server.dev_mode {
        eprintln!("{}", super::DEV_BANNER);
    }
    let state = build_state(config, Arc::new(SystemClock), Arc::new(SystemRandom)).await?;
    let mut issuer = RunningIssuer::bind(state.clone()).await?;
    println!("credential issuer  {}", state.issuer_id);
    println!("public endpoints   http://{}", issuer.public_addr);
    println!("admin API          http://{}", issuer.admin_addr);
    if let Some(anchor) = &state.keys.dev_anchor {
        println!(
            "DEV trust anchor   {} (wallets must trust this CA)",
            anchor.display()
        );
        println!(
            "DEV admin token    in {}",
            state.config.storage.data_dir.join("admin-token").display()
        );
    }
    tokio::select! {
        _ = issuer.wait() => bail!("the issuer stopped unexpectedly"),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("shutting down");
            issuer.stop().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn offer(
    holder: String,
    config_ids: Vec<String>,
    grants: Vec<OfferGrant>,
    tx_code: bool,
    qr_path: &Path,
    admin: &AdminArgs,
) -> anyhow::Result<ExitCode> {
    let request = CreateOfferRequest {
        holder_id: holder,
        credential_configuration_ids: config_ids,
        tx_code: tx_code.then(|| TxCodeSpec {
            description: Some("Enter the code we sent you".into()),
            ..TxCodeSpec::default()
        }),
        grants,
    };
    let created = admin.client()?.create_offer(&request).await?;
    print_offer(&created, Some(qr_path))?;
    Ok(ExitCode::SUCCESS)
}

pub fn print_offer(
    created: &avow_issuer::offer::CreatedOffer,
    qr_path: Option<&Path>,
) -> anyhow::Result<()> {
    let main = created
        .links
        .get("openid-credential-offer")
        .context("no openid-credential-offer link")?;
    println!("Credential offer (by reference):\n  {}", main.by_reference);
    println!("Credential offer (by value):\n  {}", main.by_value);
    for (scheme, links) in &created.links {
        if scheme != "openid-credential-offer" {
            println!("  {scheme}: {}", links.by_reference);
        }
    }
    if let Some(code) = &created.tx_code {
        println!("Transaction code (deliver out of band): {code}");
    }
    println!("{}", qr::terminal(&main.by_reference)?);
    if let Some(path) = qr_path {
        match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => std::fs::write(path, qr::svg(&main.by_reference)?)?,
            _ => std::fs::write(path, qr::png(&main.by_reference, 8)?)?,
        }
        println!("QR code written to {}", path.display());
    }
    Ok(())
}

fn print_status(entry: &serde_json::Value) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_owned();
    println!(
        "{}  {}  idx {} of {}",
        text(&entry["id"]),
        text(&entry["status"]).to_uppercase(),
        entry["status_list"]["idx"],
        text(&entry["status_list"]["uri"])
    );
}

/// `avow issuer status …`: through the admin API (ISS-STAT-06).
async fn status(command: StatusCommand) -> anyhow::Result<ExitCode> {
    let (id, admin, change) = match command {
        StatusCommand::Revoke { issuance_id, admin } => (issuance_id, admin, Some("revoked")),
        StatusCommand::Suspend { issuance_id, admin } => (issuance_id, admin, Some("suspended")),
        StatusCommand::Resume { issuance_id, admin } => (issuance_id, admin, Some("valid")),
        StatusCommand::Show { issuance_id, admin } => (issuance_id, admin, None),
        StatusCommand::List { holder, admin } => {
            let client = admin.client()?;
            let issuances = client.issuances(&holder).await?;
            let list = issuances.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no issuances for {holder}");
            }
            for issuance in list {
                let id = issuance["id"].as_str().unwrap_or_default();
                let configuration = issuance["credential_configuration_id"]
                    .as_str()
                    .unwrap_or_default();
                match client.issuance_status(id).await {
                    Ok(entry) => {
                        print!("{configuration}  ");
                        print_status(&entry);
                    }
                    Err(_) => println!("{configuration}  {id}  (no status list entry)"),
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let client = admin.client()?;
    let entry = match change {
        Some(status) => client.set_issuance_status(&id, status).await?,
        None => client.issuance_status(&id).await?,
    };
    print_status(&entry);
    Ok(ExitCode::SUCCESS)
}

fn print_transaction(t: &serde_json::Value) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let keys = t["key_thumbprints"].as_array().map_or(0, Vec::len);
    let mut line = format!(
        "{}  {}  holder {}  {}  {} key(s)  created {}  expires {}",
        text(&t["id"]),
        text(&t["state"]).to_uppercase(),
        text(&t["holder_id"]),
        text(&t["credential_configuration_id"]),
        keys,
        t["created_at"],
        t["expires_at"]
    );
    if let Some(reason) = t["reason"].as_str() {
        line.push_str(&format!("  reason: {reason}"));
    }
    println!("{line}");
}

/// `avow issuer deferred …`: through the admin API (ISS-DEF-08).
async fn deferred(command: DeferredCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeferredCommand::List {
            state,
            holder,
            admin,
        } => {
            let list = admin
                .client()?
                .deferred_transactions(state.as_deref(), holder.as_deref())
                .await?;
            let list = list.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no deferred transactions");
            }
            for transaction in &list {
                print_transaction(transaction);
            }
        }
        DeferredCommand::Approve { transaction, admin } => {
            let decided = admin
                .client()?
                .decide_deferred(&transaction, true, None)
                .await?;
            print_transaction(&decided);
        }
        DeferredCommand::Deny {
            transaction,
            reason,
            admin,
        } => {
            let decided = admin
                .client()?
                .decide_deferred(&transaction, false, reason.as_deref())
                .await?;
            print_transaction(&decided);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `avow issuer notifications [--holder ID]` (ISS-NOTIF-06).
async fn notifications(holder: Option<&str>, admin: &AdminArgs) -> anyhow::Result<ExitCode> {
    let list = admin.client()?.notifications(holder).await?;
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no notifications");
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    for n in &list {
        println!(
            "{}  holder {}  {}  {} credential(s)  issued {}{}",
            text(&n["id"]),
            text(&n["holder_id"]),
            text(&n["credential_configuration_id"]),
            n["credential_count"],
            n["created_at"],
            n["deferred_transaction_id"]
                .as_str()
                .map(|d| format!("  (deferred {d})"))
                .unwrap_or_default()
        );
        let events = n["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            println!("    (no events)");
        }
        for e in &events {
            println!(
                "    {}  {}x  first {}  last {}{}",
                text(&e["event"]),
                e["repeats"],
                e["first_received_at"],
                e["last_received_at"],
                e["event_description"]
                    .as_str()
                    .map(|d| format!("  \"{d}\""))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
