//! The driver's calls to the services: each through the public gRPC API, retried with its
//! idempotency key while faults are expected (the chaos run); and the submission a desk or the
//! portal makes.

use super::drive::Driver;
use super::plan::Planned;
use anyhow::Context;
use chrono::{DateTime, Utc};
use motcua_calendar::vietnam;
use motcua_proto::common::{ApplicantType, Channel};
use motcua_proto::intake::{
    Applicant, SubmitDossierRequest, SubmittedDocument, UploadAttachmentRequest,
};
use motcua_proto::workflow::{Action, Case, GetCaseRequest};
use std::time::Duration as Wall;
use tonic::Code;

/// Whether a restart or a moment mends this failure (the chaos run tries it again).
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::DeadlineExceeded
    )
}

impl Driver<'_> {
    /// One call (`what`: "service.Method"), answered, its wall time recorded; in a run with faults, a transient failure is tried again (for up to
    /// two minutes) with the same request — its idempotency key makes a repeat an answer, not a
    /// second change.
    pub(super) async fn call<T, F, Fut>(&self, what: &'static str, mut f: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = std::time::Instant::now();
        let deadline = started + Wall::from_secs(120);
        loop {
            match f().await {
                Ok(r) => {
                    self.latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(what)
                        .or_default()
                        .push(started.elapsed());
                    return Ok(r.into_inner());
                }
                Err(s)
                    if self.faults
                        && transient(s.code())
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Wall::from_millis(200)).await;
                }
                Err(s) => {
                    return Err(anyhow::anyhow!("{}: {}", s.code(), s.message())).context(what);
                }
            }
        }
    }
}

impl Driver<'_> {
    /// The case as workflow has it (created by its consumer: the services settled before).
    pub(super) async fn case(&self, code: &str) -> anyhow::Result<Case> {
        let req = GetCaseRequest {
            dossier_code: code.to_owned(),
            with_history: false,
        };
        self.call("workflow.GetCase", || {
            let (mut leader, req) = (self.people.leader(), req.clone());
            async move { leader.get_case(req).await }
        })
        .await?
        .case
        .context("no case")
    }

    pub(super) async fn submit(
        &self,
        plan: &Planned,
        key: &str,
    ) -> anyhow::Result<motcua_proto::intake::Receipt> {
        let online = plan.channel == Channel::Online;
        let intake = if online {
            self.people.portal()
        } else {
            self.people.desk_intake(plan.officer)
        };
        let mut documents = Vec::new();
        for d in plan.procedure.documents.iter().filter(|d| d.mandatory) {
            let mut attachment_ids = Vec::new();
            if online {
                let a = self
                    .call("intake.UploadAttachment", || {
                        let (mut client, req) = (
                            intake.clone(),
                            UploadAttachmentRequest {
                                file_name: format!("{}.pdf", d.key),
                                media_type: "application/pdf".into(),
                                content: b"%PDF-1.4\n% ban scan\n%%EOF\n".to_vec(),
                            },
                        );
                        async move { client.upload_attachment(req).await }
                    })
                    .await?
                    .attachment
                    .context("no attachment")?;
                attachment_ids.push(a.id);
            }
            documents.push(SubmittedDocument {
                key: d.key.clone(),
                form: d.form,
                copies: d.copies.max(1),
                attachment_ids,
                ..Default::default()
            });
        }
        let n = plan.n as u64;
        let req = SubmitDossierRequest {
            idempotency_key: key.to_owned(),
            procedure_code: plan.procedure.code.clone(),
            channel: plan.channel as i32,
            applicant: Some(Applicant {
                r#type: ApplicantType::Citizen as i32,
                name: NAMES[plan.n % NAMES.len()].into(),
                id_number: format!("038{:09}", n % 1_000_000_000),
                phone: phone(plan.n),
                email: String::new(),
                address: "Số 5 đường Trần Phú, phường Hạc Thành, tỉnh Thanh Hóa".into(),
            }),
            documents,
            ..Default::default()
        };
        self.call("intake.SubmitDossier", || {
            let (mut client, req) = (intake.clone(), req.clone());
            async move { client.submit_dossier(req).await }
        })
        .await?
        .receipt
        .context("no receipt")
    }
}

const NAMES: [&str; 6] = [
    "Nguyễn Văn An",
    "Trần Thị Bình",
    "Lê Văn Cường",
    "Phạm Thị Dung",
    "Hoàng Văn Em",
    "Vũ Thị Giang",
];

pub(super) fn action(version: u64, key: String) -> Option<Action> {
    Some(Action {
        expected_version: version,
        idempotency_key: key,
        ..Default::default()
    })
}

pub(super) fn ts(t: prost_types::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).unwrap_or_default()
}

pub(super) fn vn(t: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
    t.with_timezone(&vietnam())
}

/// The applicant's phone of dossier `n` (distinct per dossier).
pub(super) fn phone(n: usize) -> String {
    format!("09{:08}", (n as u64 * 7919) % 100_000_000)
}
