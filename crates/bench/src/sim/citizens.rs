//! The applicants' side trips while their dossiers go on: a look at the public page (lookup's JSON
//! API, as the page's script asks it) compared with what workflow has at that moment, and an SMS
//! lookup handed in through notification's gateway endpoint (answered by SMS, counted at the end).

use super::calls::phone;
use super::drive::Driver;
use anyhow::{Context, bail};
use std::sync::Mutex;

/// (page lookups, where the page differed from workflow, SMS lookups).
pub(super) type Citizens = Mutex<(u64, Vec<String>, u64)>;

impl Driver<'_> {
    /// The applicant's look (`Follow`) or SMS (`Ask`) for one dossier.
    pub(super) async fn citizen(
        &self,
        dossier: &Mutex<super::drive::Dossier>,
        act: super::drive::Act,
        citizens: &Citizens,
    ) -> anyhow::Result<()> {
        let (code, token, n) = {
            let d = dossier.lock().unwrap_or_else(|p| p.into_inner());
            (d.truth.code.clone(), d.truth.lookup_token.clone(), d.plan.n)
        };
        let web = &self.people.web;
        if act == super::drive::Act::Ask {
            let r = web
                .http
                .post(format!("{}/sms/inbound", web.notification))
                .header("x-gateway-secret", &web.gateway_secret)
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({
                        "from": phone(n),
                        "text": format!("HS {code} {token}"),
                        "message_id": format!("sim-{}-{n}-sms", self.seed),
                    })
                    .to_string(),
                )
                .send()
                .await
                .context("POST /sms/inbound")?;
            if !r.status().is_success() {
                bail!(
                    "POST /sms/inbound: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
            }
            citizens.lock().unwrap_or_else(|p| p.into_inner()).2 += 1;
            return Ok(());
        }
        let case = self.case(&code).await?;
        let r = web
            .http
            .post(format!("{}/api/v1/dossiers/lookup", web.lookup))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "dossier_code": code, "secret": token }).to_string())
            .send()
            .await
            .context("POST /api/v1/dossiers/lookup")?;
        if !r.status().is_success() {
            bail!("POST /api/v1/dossiers/lookup: {}", r.status());
        }
        let page: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.context("the lookup's answer")?)
                .context("the lookup's JSON")?;
        let shown = page["national_code"].as_u64().unwrap_or(0);
        let mut c = citizens.lock().unwrap_or_else(|p| p.into_inner());
        c.0 += 1;
        if shown != u64::from(case.national_code) {
            c.1.push(format!(
                "{code}: the public page shows national status {shown}, workflow has {}",
                case.national_code
            ));
        }
        Ok(())
    }
}
