//! Where notification learns an applicant's phone and e-mail: intake holds them, and events no
//! longer carry them (DESIGN.md "Secrets and personal data in events"). On a dossier's
//! `submitted`, notification asks intake's GetApplicantContacts with an integration token and
//! keeps them ([`crate::contacts`]) until its own erasure, the same retention as intake's.

use motcua_platform::auth::outgoing::TokenSource;
use motcua_platform::consumer::HandleError;
use motcua_proto::intake::GetApplicantContactsRequest;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use tonic::transport::Channel;

/// Intake's API, connected lazily, with the token notification calls it with.
#[derive(Clone)]
pub struct IntakeContacts {
    client: IntakeServiceClient<Channel>,
    token: Option<TokenSource>,
}

impl std::fmt::Debug for IntakeContacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeContacts").finish_non_exhaustive()
    }
}

impl IntakeContacts {
    pub fn new(endpoint: &str, token: Option<TokenSource>) -> anyhow::Result<Self> {
        let channel = motcua_platform::client::grpc_channel(
            "MOTCUA_NOTIFICATION_INTAKE_URL",
            endpoint,
            Some(std::time::Duration::from_secs(5)),
        )?;
        Ok(Self {
            client: IntakeServiceClient::new(channel),
            token,
        })
    }

    /// The applicant's phone and e-mail of `code` (empty once erased). Intake away or refusing is
    /// a reason to try this event again later, never to drop the applicant's message nor to hold
    /// up other dossiers'.
    pub async fn get(&self, code: &str) -> Result<(String, String), HandleError> {
        let mut req = tonic::Request::new(GetApplicantContactsRequest {
            dossier_code: code.to_owned(),
        });
        if let Some(t) = &self.token {
            t.authorize(&mut req).await;
        }
        match self.client.clone().get_applicant_contacts(req).await {
            Ok(r) => {
                let r = r.into_inner();
                Ok((r.phone, r.email))
            }
            // A token refused is the operator's to fix, not the network's: said loudly, counted.
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                ) =>
            {
                metrics::counter!("motcua_notification_intake_refused_total").increment(1);
                tracing::error!(
                    dossier = code,
                    code = ?s.code(),
                    message = s.message(),
                    "intake refuses notification's token (MOTCUA_NOTIFICATION_INTAKE_TOKEN): applicants' notices wait until it is fixed"
                );
                Err(HandleError::wait_for(format!(
                    "intake's contacts of dossier {code} ({:?}: {})",
                    s.code(),
                    s.message()
                )))
            }
            // This event waits (redelivered with backoff, dead-lettered after the consumer's wait
            // limit, replayable), while every other dossier's notices go on.
            Err(s) => Err(HandleError::wait_for(format!(
                "intake's contacts of dossier {code} ({}: {})",
                s.code(),
                s.message()
            ))),
        }
    }
}
