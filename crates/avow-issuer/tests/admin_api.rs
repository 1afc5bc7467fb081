//! The admin API (ISS-ADM-01, -02, ISS-OFFER-01): authenticated, on its
//! own listener, and strict about what it accepts.

mod common;

use common::{Backend, HOLDER, PID, TestIssuer};
use reqwest::Method;
use serde_json::json;

/// ISS-ADM-01: without the admin token, or with a wrong one, every admin call is 401.
#[tokio::test]
async fn iss_adm_01_admin_token_required() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let offer = json!({ "holder_id": HOLDER, "credential_configuration_ids": [PID] });
    let url = |path: &str| format!("{}{path}", issuer.admin_url);
    let wrong = format!("{}x", issuer.admin_token);
    let attempts = [
        issuer.http.post(url("/admin/offers")).json(&offer),
        issuer
            .http
            .post(url("/admin/offers"))
            .bearer_auth(&wrong)
            .json(&offer),
        issuer
            .http
            .post(url("/admin/offers"))
            .bearer_auth(&issuer.admin_token[1..])
            .json(&offer),
        issuer
            .http
            .post(url("/admin/offers"))
            .header("Authorization", format!("Basic {}", issuer.admin_token))
            .json(&offer),
        issuer.http.get(url("/admin/holders")),
        issuer.http.get(url(&format!("/admin/holders/{HOLDER}"))),
        issuer
            .http
            .put(url("/admin/holders"))
            .bearer_auth(&wrong)
            .json(&json!([])),
    ];
    for request in attempts {
        let response = issuer.send(request).await;
        response.assert_status(401);
        assert_eq!(response.json()["error"], "invalid_token");
        assert!(
            response
                .header("www-authenticate")
                .is_some_and(|c| c.starts_with("Bearer")),
            "admin challenge"
        );
    }
    // Nothing was created or imported by the refused calls.
    let response = issuer
        .send(issuer.admin(Method::GET, "/admin/holders"))
        .await;
    response.assert_status(200);
    assert_eq!(response.json(), json!([HOLDER]));
}

/// ISS-OFFER-01, -05: offers only for known configurations and holders.
#[tokio::test]
async fn iss_offer_01_offer_creation_is_validated() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    for body in [
        json!({ "holder_id": HOLDER, "credential_configuration_ids": ["unknown"] }),
        json!({ "holder_id": HOLDER, "credential_configuration_ids": [PID, "unknown"] }),
        json!({ "holder_id": "nobody", "credential_configuration_ids": [PID] }),
        json!({ "holder_id": HOLDER, "credential_configuration_ids": [] }),
        json!({ "holder_id": HOLDER, "credential_configuration_ids": [PID, PID] }),
        json!({ "holder_id": HOLDER, "credential_configuration_ids": [PID],
                "tx_code": { "length": 3 } }),
        json!({ "holder_id": HOLDER, "credential_configuration_ids": [PID],
                "tx_code": { "description": "x".repeat(301) } }),
    ] {
        let response = issuer.create_offer_request(&body).await;
        assert_eq!(response.status, 400, "{body}");
        response.assert_error(400, "invalid_request");
    }
    // A text tx_code of 8 characters with a 300-character description is fine.
    let response = issuer
        .create_offer_request(&json!({
            "holder_id": HOLDER, "credential_configuration_ids": [PID],
            "tx_code": { "length": 8, "input_mode": "text", "description": "x".repeat(300) }
        }))
        .await;
    response.assert_status(201);
    let created = response.json();
    assert_eq!(created["tx_code"].as_str().map(str::len), Some(8));
    let tx = &created["credential_offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
        ["tx_code"];
    assert_eq!(tx["input_mode"], "text");
    assert_eq!(tx["length"], 8);
    // The text code redeems the offer (ISS-TPA-03, -04).
    let code = created["credential_offer"]["grants"]
        ["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"]
        .as_str()
        .expect("code");
    let tx_code = created["tx_code"].as_str().expect("tx_code");
    issuer.redeem(code, Some(tx_code)).await.assert_status(200);
}

/// ISS-ADM-02: holder import refuses claims reserved for the issuer, atomically.
#[tokio::test]
async fn iss_adm_02_holder_import() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    for reserved in ["iss", "vct", "cnf", "exp", "status", "_sd"] {
        let response = issuer
            .import_holders(&json!([
                { "id": "fine", "claims": { "given_name": "A" } },
                { "id": "bad", "claims": { "given_name": "B", reserved: "x" } }
            ]))
            .await;
        assert_eq!(response.status, 400, "{reserved}");
        response.assert_error(400, "invalid_request");
    }
    for id in ["", &"x".repeat(201)] {
        issuer
            .import_holders(&json!([{ "id": id, "claims": {} }]))
            .await
            .assert_error(400, "invalid_request");
    }
    // Nothing of a refused batch was stored.
    issuer
        .send(issuer.admin(Method::GET, "/admin/holders/fine"))
        .await
        .assert_error(404, "not_found");

    let response = issuer
        .import_holders(&json!([{ "id": "fine", "claims": { "given_name": "A" } }]))
        .await;
    response.assert_status(200);
    assert_eq!(response.json(), json!({ "imported": 1 }));
    let response = issuer
        .send(issuer.admin(Method::GET, "/admin/holders/fine"))
        .await;
    response.assert_status(200);
    assert_eq!(
        response.json(),
        json!({ "id": "fine", "claims": { "given_name": "A" } })
    );
    let response = issuer
        .send(issuer.admin(Method::GET, "/admin/holders"))
        .await;
    assert_eq!(response.json(), json!([HOLDER, "fine"]));
}

/// ISS-ADM-01: the admin routes are not on the public listener and the
/// public routes are not on the admin listener.
#[tokio::test]
async fn iss_adm_01_listeners_are_separate() {
    let issuer = TestIssuer::start(Backend::Sqlite).await;
    let public = &issuer.url;
    let body = json!({ "holder_id": HOLDER, "credential_configuration_ids": [PID] });
    let on_public = [
        issuer
            .http
            .post(format!("{public}/admin/offers"))
            .bearer_auth(&issuer.admin_token)
            .json(&body),
        issuer
            .http
            .post(format!("{public}/admin/offers"))
            .json(&body),
        issuer
            .http
            .get(format!("{public}/admin/holders"))
            .bearer_auth(&issuer.admin_token),
        issuer
            .http
            .put(format!("{public}/admin/holders"))
            .bearer_auth(&issuer.admin_token)
            .json(&json!([])),
    ];
    for request in on_public {
        issuer.send(request).await.assert_status(404);
    }
    for (method, path) in [
        (Method::GET, "/.well-known/openid-credential-issuer"),
        (Method::GET, "/.well-known/oauth-authorization-server"),
        (Method::GET, "/.well-known/jwt-vc-issuer"),
        (Method::POST, "/token"),
        (Method::POST, "/nonce"),
        (Method::POST, "/credential"),
        (Method::GET, "/credential-offer/abc"),
    ] {
        let response = issuer.send(issuer.admin(method, path)).await;
        assert_eq!(response.status, 404, "{path} on the admin listener");
    }
}
