//! The agencies reporting knows: those of the catalog file (with their names) and those the
//! published catalog names at run time. Intake's `PublishProcedure` may name a competent agency
//! the file does not list; its dossiers are counted from the events like any other, so its
//! catalog event (ProcedurePublished on the CATALOG stream, the source every other service reads)
//! makes it reportable too.

use futures::future::BoxFuture;
use motcua_domain::events::PROCEDURE_PUBLISHED;
use motcua_domain::time::instant;
use motcua_platform::bus::CATALOG;
use motcua_platform::consumer::{ConsumerSpec, Event, HandleError, Handler};
use motcua_proto::events::ProcedurePublished;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

/// The durable consumer of the catalog.
pub fn consumer() -> ConsumerSpec {
    ConsumerSpec::new("reporting-catalog", CATALOG, "catalog.>").only(&[PROCEDURE_PUBLISHED])
}

/// Records the competent agency of every published procedure.
#[derive(Debug, Clone, Copy)]
pub struct Learn;

impl Handler for Learn {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            if event.event_type != PROCEDURE_PUBLISHED {
                return Ok(());
            }
            let published = ProcedurePublished::decode(event.payload.as_ref())
                .map_err(|e| HandleError::Poison(format!("procedure-published: {e}")))?;
            let procedure = published.procedure.unwrap_or_default();
            let code = procedure.competent_agency.trim();
            if code.is_empty() {
                return Err(HandleError::Poison(
                    "procedure-published without a competent agency".into(),
                ));
            }
            sqlx::query(
                "INSERT INTO agencies (code, first_seen) VALUES ($1, $2)
                 ON CONFLICT (code) DO UPDATE SET first_seen = least(agencies.first_seen, EXCLUDED.first_seen)",
            )
            .bind(code)
            .bind(instant(procedure.published_at.as_ref()))
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }
}

/// The catalog file's agencies (with names) and the table of those learned from events.
#[derive(Debug, Clone)]
pub struct Known {
    pub pool: PgPool,
    pub named: std::sync::Arc<BTreeMap<String, String>>,
}

impl Known {
    /// Whether `code` is a known agency. With no catalog file and nothing learned yet every code
    /// is (a deployment without a catalog cannot tell a typo from an agency).
    pub async fn contains(&self, code: &str) -> sqlx::Result<bool> {
        if self.named.contains_key(code) {
            return Ok(true);
        }
        let (learned, any): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM agencies WHERE code = $1), EXISTS (SELECT 1 FROM agencies)",
        )
        .bind(code)
        .fetch_one(&self.pool)
        .await?;
        Ok(learned || (!any && self.named.is_empty()))
    }

    /// "Name (code)" when the catalog file names it, else the code.
    pub fn title(&self, code: &str) -> String {
        self.named
            .get(code)
            .map_or_else(|| code.to_owned(), |name| format!("{name} ({code})"))
    }
}
