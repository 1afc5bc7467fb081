//! `avow wallet …`: receive an offer, list and show credentials.

use anyhow::{Context, bail};
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
        /// PEM file of an issuer CA to trust (repeatable).
        #[arg(long = "trust-anchor")]
        trust_anchors: Vec<PathBuf>,
        /// The transaction code, if the offer asks for one (otherwise prompted).
        #[arg(long)]
        tx_code: Option<String>,
        /// Accept the offer without asking.
        #[arg(long)]
        yes: bool,
        /// DEVELOPMENT: allow plain http to issuers on loopback addresses.
        #[arg(long)]
        dev: bool,
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
}

#[derive(Args, Clone)]
pub struct WalletArgs {
    /// Wallet data directory (encrypted credential store).
    #[arg(long, env = "AVOW_WALLET_DIR", default_value = "./avow-wallet-data")]
    pub wallet_dir: PathBuf,
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
            trust_anchors,
            tx_code,
            yes,
            dev,
        } => {
            if trust_anchors.is_empty() {
                bail!(
                    "give at least one --trust-anchor (the issuer CA); the wallet trusts no issuer by default"
                );
            }
            if dev {
                eprintln!("DEVELOPMENT: plain http to loopback issuers is allowed");
            }
            let options = WalletOptions {
                allow_http_loopback: dev,
                trust_anchors: load_anchors(&trust_anchors)?,
                clock_skew: 60,
            };
            let store = CredentialStore::open(&wallet.wallet_dir)?;
            let wallet = Wallet::new(options, store)?;
            let (offer, info) = wallet.preview(&offer).await?;
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
            let tx_code = match (
                &offer
                    .grants
                    .pre_authorized_code
                    .as_ref()
                    .and_then(|g| g.tx_code.clone()),
                tx_code,
            ) {
                (Some(spec), None) => Some(prompt_tx_code(spec, &issuer_name)?),
                (_, given) => given,
            };
            let received = wallet
                .accept(&offer, std::sync::Arc::new(info), tx_code.as_deref())
                .await?;
            for r in &received {
                println!(
                    "stored {} ({}), verified",
                    r.stored.id,
                    r.stored
                        .credential_display_name
                        .as_deref()
                        .unwrap_or(&r.stored.credential_configuration_id)
                );
            }
            Ok(ExitCode::SUCCESS)
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
