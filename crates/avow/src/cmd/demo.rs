//! `avow demo`: an issuer and a wallet in one process, on embedded defaults,
//! over real HTTP on loopback. Exit 0 only if the credential verified.

use crate::admin_client::AdminClient;
use anyhow::Context;
use avow_core::SystemClock;
use avow_crypto::SystemRandom;
use avow_issuer::offer::{CreateOfferRequest, TxCodeSpec};
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use avow_wallet::{CredentialStore, Wallet, WalletOptions};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args)]
pub struct DemoArgs {
    /// Where the demo keeps issuer and wallet data (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run the issuer on this database instead of SQLite (e.g. postgres://postgres@127.0.0.1/test).
    #[arg(long, env = "AVOW_DATABASE_URL")]
    database_url: Option<String>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    eprintln!("{}", super::DEV_BANNER);
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("avow-demo-{}", uuid_like())),
    };
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut config = IssuerConfig::defaults()?;
    config.server.public_url = format!("http://{}", public.local_addr()?);
    config.storage.data_dir = data_dir.join("issuer");
    config.storage.database_url = args.database_url;
    let state = build_state(config, Arc::new(SystemClock), Arc::new(SystemRandom)).await?;
    let issuer = RunningIssuer::start(state.clone(), public, admin)?;
    println!(
        "== Issuer {} (store: {:?}, data in {})",
        state.issuer_id,
        state.store.backend(),
        data_dir.display()
    );

    let admin = AdminClient::new(&format!("http://{}", issuer.admin_addr), &state.admin_token)?;
    let holders: serde_json::Value = serde_json::from_str(avow_issuer::config::DEMO_HOLDERS)?;
    admin.import_holders(&holders).await?;
    let created = admin
        .create_offer(&CreateOfferRequest {
            holder_id: "demo-erika".into(),
            credential_configuration_ids: vec!["pid-sd-jwt".into()],
            tx_code: Some(TxCodeSpec {
                description: Some("Demo: the code is printed below".into()),
                ..TxCodeSpec::default()
            }),
        })
        .await?;
    println!(
        "== Offer for demo holder demo-erika, pre-authorized code flow with a transaction code"
    );
    super::issuer::print_offer(&created, None)?;

    let anchor = state
        .keys
        .dev_anchor
        .clone()
        .context("the demo needs the dev PKI")?;
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: super::wallet::load_anchors(&[anchor])?,
        clock_skew: 60,
    };
    let wallet = Wallet::new(options, CredentialStore::open(&data_dir.join("wallet"))?)?;
    let link = &created
        .links
        .get("openid-credential-offer")
        .context("no offer link")?
        .by_reference;
    let outcome = wallet.receive(link, created.tx_code.as_deref()).await;
    issuer.stop().await;
    let received = outcome.context("the wallet could not receive the credential")?;
    for r in &received {
        println!(
            "== Credential {} stored encrypted in {}",
            r.stored.id,
            data_dir.join("wallet").display()
        );
        print!("{}", describe_sd_jwt_vc(&r.stored.credential)?);
        println!(
            "== VERIFIED: issuer x5c chain to the dev CA, signature, disclosures, vct, holder binding"
        );
    }
    println!("Flows run: pre-authorized code (with tx_code, DPoP, nonce endpoint) -> SD-JWT VC");
    Ok(if received.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn uuid_like() -> String {
    avow_crypto::Random::token(&SystemRandom, 9).replace(['-', '_'], "x")
}

/// Header, payload and disclosures of an SD-JWT VC, for people.
pub fn describe_sd_jwt_vc(credential: &str) -> anyhow::Result<String> {
    let sd_jwt = avow_formats::sd_jwt_vc::peek(credential)?;
    let header = serde_json::Value::Object(sd_jwt.jws().header().clone());
    let mut header_short = header.clone();
    if let Some(x5c) = header_short.get_mut("x5c").and_then(|v| v.as_array_mut()) {
        for cert in x5c.iter_mut() {
            *cert = serde_json::Value::String(format!(
                "<certificate, {} base64 chars>",
                cert.as_str().map_or(0, str::len)
            ));
        }
    }
    let payload: serde_json::Value = serde_json::from_slice(sd_jwt.jws().payload())?;
    let mut out = String::new();
    writeln!(
        out,
        "-- issuer-signed JWT header:\n{}",
        serde_json::to_string_pretty(&header_short)?
    )?;
    writeln!(
        out,
        "-- payload (digests only):\n{}",
        serde_json::to_string_pretty(&payload)?
    )?;
    writeln!(out, "-- disclosures:")?;
    for d in sd_jwt.disclosures() {
        writeln!(
            out,
            "   {} = {}",
            d.name().unwrap_or("[array element]"),
            d.value()
        )?;
    }
    let processed = sd_jwt.process()?;
    writeln!(
        out,
        "-- claims with all disclosures applied:\n{}",
        serde_json::to_string_pretty(&processed)?
    )?;
    Ok(out)
}
