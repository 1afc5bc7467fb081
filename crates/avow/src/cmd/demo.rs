//! `avow demo`: an issuer and a wallet in one process, on embedded defaults,
//! over real HTTP on loopback. Exit 0 only if the credential verified.

use crate::admin_client::AdminClient;
use anyhow::Context;
use avow_core::SystemClock;
use avow_crypto::SystemRandom;
use avow_issuer::offer::CreatedOffer;
use avow_issuer::offer::{CreateOfferRequest, OfferGrant, TxCodeSpec};
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use avow_wallet::attestation::DevWalletProvider;
use avow_wallet::authorize::ScriptedLogin;
use avow_wallet::{CredentialStore, ReceivedCredential, Wallet, WalletOptions};
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
            grants: vec![OfferGrant::PreAuthorizedCode],
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
    let (provider_cert, provider_key) = state
        .client_auth
        .dev_wallet_provider
        .clone()
        .context("the demo needs the dev wallet provider")?;
    let provider = DevWalletProvider::load(&provider_cert, &provider_key)?;
    let options = WalletOptions {
        allow_http_loopback: true,
        trust_anchors: super::wallet::load_anchors(&[anchor])?,
        clock_skew: 60,
        client_id: DEMO_CLIENT_ID.into(),
        wia_source: Some(Arc::new(provider)),
        prefer_anonymous: false,
        encryption: None,
    };
    let batch_wallet = Wallet::new(
        options.clone(),
        CredentialStore::open(&data_dir.join("wallet"))?,
    )?
    .with_batch_size_wanted(3);
    let wallet = Wallet::new(options, CredentialStore::open(&data_dir.join("wallet"))?)?;
    let outcome = run_flows(&wallet, &batch_wallet, &admin, &created).await;
    issuer.stop().await;
    let received = outcome?;
    let flows = ["1", "2", "3", "4", "5", "5", "5"];
    for (n, r) in received.iter().enumerate() {
        let flow = flows.get(n).copied().unwrap_or("?");
        println!(
            "== Credential {} ({}, flow {flow}) stored encrypted in {}",
            r.stored.id,
            r.stored.format,
            data_dir.join("wallet").display()
        );
        match &r.verified {
            avow_wallet::flow::VerifiedCredential::SdJwtVc(_) if n == 0 => {
                print!("{}", describe_sd_jwt_vc(&r.stored.credential)?)
            }
            avow_wallet::flow::VerifiedCredential::Mdoc(mdoc) => {
                println!(
                    "-- mdoc {} valid until {}, elements:",
                    mdoc.doctype, mdoc.valid_until
                );
                for (namespace, elements) in &mdoc.namespaces {
                    for (name, value) in elements {
                        println!("   {namespace} / {name} = {value}");
                    }
                }
            }
            _ => {}
        }
        println!(
            "== VERIFIED: issuer chain to the dev CA, signature, digests, type, holder binding (key {})",
            r.stored.holder_key_thumbprint
        );
    }
    println!("Flows run:");
    println!(
        "  1. pre-authorized code with tx_code, wallet attestation (WIA + PoP), DPoP, nonce endpoint -> SD-JWT VC"
    );
    println!(
        "  2. authorization code from an offer (issuer_state): PAR + PKCE S256 + WIA + DPoP, holder login and consent"
    );
    println!(
        "     by the scripted agent, code exchange, credential by credential_identifier -> SD-JWT VC"
    );
    println!(
        "  3. refresh: rotated refresh token (same DPoP and instance keys) -> a fresh SD-JWT VC"
    );
    println!(
        "  4. pre-authorized code, mdoc on the attestation proof path (key attestation from the dev wallet provider) -> mso_mdoc"
    );
    println!(
        "  5. batch: one credential request with three proofs -> three SD-JWT VCs, each bound to its own key"
    );
    Ok(if received.len() == flows.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The demo wallet's OAuth client_id (the WIA `sub`).
const DEMO_CLIENT_ID: &str = "https://wallet.avow.dev/demo";

async fn run_flows(
    wallet: &Wallet,
    batch_wallet: &Wallet,
    admin: &AdminClient,
    created: &CreatedOffer,
) -> anyhow::Result<Vec<ReceivedCredential>> {
    let link = &created
        .links
        .get("openid-credential-offer")
        .context("no offer link")?
        .by_reference;
    let mut received = wallet
        .receive(link, created.tx_code.as_deref())
        .await
        .context("pre-authorized flow")?;

    let offer = admin
        .create_offer(&CreateOfferRequest {
            holder_id: "demo-erika".into(),
            credential_configuration_ids: vec!["pid-sd-jwt".into()],
            tx_code: None,
            grants: vec![OfferGrant::AuthorizationCode],
        })
        .await?;
    println!("== Offer for demo-erika, authorization code flow (issuer_state)");
    let link = &offer
        .links
        .get("openid-credential-offer")
        .context("no offer link")?
        .by_reference;
    let (offer, info) = wallet.preview(link).await?;
    let issuer_state = offer
        .grants
        .authorization_code
        .as_ref()
        .and_then(|g| g.issuer_state.clone());
    // DEVELOPMENT: the scripted agent fills the issuer's login form as the demo holder.
    let agent = ScriptedLogin::new(
        "http://127.0.0.1:8999/callback",
        "demo-erika",
        "erika-demo-password",
        true,
    )?;
    let by_code = wallet
        .authorize_and_receive(
            Arc::new(info),
            &offer.credential_configuration_ids,
            issuer_state.as_deref(),
            &agent,
        )
        .await
        .context("authorization code flow")?;
    let refreshed_from = by_code
        .first()
        .map(|r| r.stored.id.clone())
        .context("no credential from the code flow")?;
    received.extend(by_code);
    received.push(wallet.refresh(&refreshed_from).await.context("refresh")?);

    // 4. The PID as an mdoc, on the attestation proof path (key attestation from the dev wallet provider).
    let mdoc_offer = admin
        .create_offer(&CreateOfferRequest {
            holder_id: "demo-erika".into(),
            credential_configuration_ids: vec!["pid-mdoc".into()],
            tx_code: None,
            grants: vec![OfferGrant::PreAuthorizedCode],
        })
        .await?;
    let link = &mdoc_offer
        .links
        .get("openid-credential-offer")
        .context("no offer link")?
        .by_reference;
    received.extend(wallet.receive(link, None).await.context("mdoc flow")?);

    // 5. A batch: three SD-JWT VCs in one request, each bound to its own key.
    let batch_offer = admin
        .create_offer(&CreateOfferRequest {
            holder_id: "demo-erika".into(),
            credential_configuration_ids: vec!["pid-sd-jwt".into()],
            tx_code: None,
            grants: vec![OfferGrant::PreAuthorizedCode],
        })
        .await?;
    let link = &batch_offer
        .links
        .get("openid-credential-offer")
        .context("no offer link")?
        .by_reference;
    received.extend(
        batch_wallet
            .receive(link, None)
            .await
            .context("batch flow")?,
    );
    Ok(received)
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
