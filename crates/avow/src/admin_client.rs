//! A small client of the issuer's admin API, used by the CLI, the demo and the bench.

use anyhow::{Context, bail};
use avow_issuer::offer::{CreateOfferRequest, CreatedOffer};

pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        bail!("admin API answered {status}: {body}")
    }

    pub async fn import_holders(&self, holders: &serde_json::Value) -> anyhow::Result<u64> {
        let response = self
            .http
            .put(format!("{}/admin/holders", self.base))
            .bearer_auth(&self.token)
            .json(holders)
            .send()
            .await
            .context("admin API unreachable")?;
        let body: serde_json::Value = Self::check(response).await?.json().await?;
        Ok(body
            .get("imported")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0))
    }

    /// `GET /admin/holders/{holder}/issuances`: the holder's issuance records.
    pub async fn issuances(&self, holder: &str) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}/admin/holders/{holder}/issuances", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .context("admin API unreachable")?;
        Ok(Self::check(response).await?.json().await?)
    }

    /// `GET /admin/issuances/{id}/status`: `{id, status, status_list}` (ISS-STAT-06).
    pub async fn issuance_status(&self, id: &str) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}/admin/issuances/{id}/status", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .context("admin API unreachable")?;
        Ok(Self::check(response).await?.json().await?)
    }

    /// `POST /admin/issuances/{id}/status` with `revoked`, `suspended` or
    /// `valid` (ISS-STAT-06); answers `{id, status, status_list}`.
    pub async fn set_issuance_status(
        &self,
        id: &str,
        status: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .post(format!("{}/admin/issuances/{id}/status", self.base))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "status": status }))
            .send()
            .await
            .context("admin API unreachable")?;
        Ok(Self::check(response).await?.json().await?)
    }

    /// `GET /admin/deferred` with optional `state` and `holder` filters (ISS-DEF-08).
    pub async fn deferred_transactions(
        &self,
        state: Option<&str>,
        holder: Option<&str>,
    ) -> anyhow::Result<serde_json::Value> {
        let mut query = Vec::new();
        if let Some(state) = state {
            query.push(("state", state));
        }
        if let Some(holder) = holder {
            query.push(("holder", holder));
        }
        let response = self
            .http
            .get(format!("{}/admin/deferred", self.base))
            .query(&query)
            .bearer_auth(&self.token)
            .send()
            .await
            .context("admin API unreachable")?;
        Ok(Self::check(response).await?.json().await?)
    }

    /// `POST /admin/deferred/{id}/approve` or `…/deny` (with an optional
    /// reason); answers the transaction (ISS-DEF-08).
    pub async fn decide_deferred(
        &self,
        id: &str,
        approve: bool,
        reason: Option<&str>,
    ) -> anyhow::Result<serde_json::Value> {
        let action = if approve { "approve" } else { "deny" };
        let mut request = self
            .http
            .post(format!("{}/admin/deferred/{id}/{action}", self.base))
            .bearer_auth(&self.token);
        if let Some(reason) = reason {
            request = request.json(&serde_json::json!({ "reason": reason }));
        }
        let response = request.send().await.context("admin API unreachable")?;
        Ok(Self::check(response).await?.json().await?)
    }

    /// `GET /admin/notifications`, optionally of one holder (ISS-NOTIF-06).
    pub async fn notifications(&self, holder: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let mut request = self
            .http
            .get(format!("{}/admin/notifications", self.base))
            .bearer_auth(&self.token);
        if let Some(holder) = holder {
            request = request.query(&[("holder", holder)]);
        }
        let response = request.send().await.context("admin API unreachable")?;
        Ok(Self::check(response).await?.json().await?)
    }

    pub async fn create_offer(&self, request: &CreateOfferRequest) -> anyhow::Result<CreatedOffer> {
        let response = self
            .http
            .post(format!("{}/admin/offers", self.base))
            .bearer_auth(&self.token)
            .json(request)
            .send()
            .await
            .context("admin API unreachable")?;
        Ok(Self::check(response).await?.json().await?)
    }
}
