//! What every interface answers (gRPC, JSON and the pages call these): input checked and cleaned,
//! the secret checked by the [`Guard`], the catalog searched. One place, so the three agree.

use crate::error::LookupError;
use crate::guard::Guard;
use motcua_domain::time::vietnam_day;
use motcua_platform::SharedClock;
use motcua_proto::common::Procedure;
use motcua_proto::lookup::PublicDossier;
use prost::Message;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;

/// Longest secret accepted: a token is 10 characters, an ID number 12 (spaces allowed).
const MAX_SECRET_CHARS: usize = 64;
const MAX_CODE_CHARS: usize = 64;
const MAX_QUERY_CHARS: usize = 200;
/// Words of a query that count (the rest are ignored).
const MAX_QUERY_WORDS: usize = 12;
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// Paging by offset: the catalog is thousands of procedures, not millions.
const MAX_OFFSET: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct Queries {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub guard: Arc<Guard>,
    pub reader: crate::reads::Reader,
    pub cache: crate::cache::Cache,
    pub agency_names: Arc<HashMap<String, String>>,
    pub department_names: Arc<HashMap<String, String>>,
}

/// A page of procedures and the token of the next one (empty: none).
#[derive(Debug, Clone, Default)]
pub struct ProcedurePage {
    pub procedures: Vec<Procedure>,
    pub next_page_token: String,
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A dossier code as people type it: spaces dropped, letters upper-cased, then its shape checked.
pub fn clean_code(code: &str) -> Result<String, LookupError> {
    if code.chars().count() > MAX_CODE_CHARS || has_control(code) {
        return Err(LookupError::Invalid(format!(
            "mã hồ sơ không hợp lệ: tối đa {MAX_CODE_CHARS} ký tự, không có ký tự điều khiển, ví dụ 000.00.06.H56-231027-0361 (malformed dossier code)"
        )));
    }
    let cleaned: String = code
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    motcua_domain::dossier_code::check(&cleaned).map_err(LookupError::Invalid)?;
    Ok(cleaned)
}

fn clean_secret(secret: &str) -> Result<&str, LookupError> {
    let secret = secret.trim();
    if secret.is_empty() {
        return Err(LookupError::Invalid(
            "thiếu mã tra cứu (in trên giấy tiếp nhận) hoặc số giấy tờ tùy thân của người nộp (secret is required)".into(),
        ));
    }
    if secret.chars().count() > MAX_SECRET_CHARS || has_control(secret) {
        return Err(LookupError::Invalid(format!(
            "mã tra cứu hoặc số giấy tờ không hợp lệ: tối đa {MAX_SECRET_CHARS} ký tự, không có ký tự điều khiển (malformed secret)"
        )));
    }
    Ok(secret)
}

impl Queries {
    /// A dossier's public view for the holder of its code and secret.
    pub async fn dossier(&self, code: &str, secret: &str) -> Result<PublicDossier, LookupError> {
        let code = clean_code(code)?;
        let secret = clean_secret(secret)?;
        let attempt = self
            .guard
            .attempt(&code, secret)
            .map_err(LookupError::HeldBack)?;
        // A kept row answers only the right secret; anything else goes on to the database, as
        // an unknown code does, so that neither the answer nor its time says the code exists.
        // The check runs on a miss too (against a stand-in), so a kept row costs what none does.
        let kept = self.cache.get(&code);
        let opens = self
            .guard
            .opens(&code, secret, kept.as_ref().map(|r| &r.secrets));
        let view = match kept.filter(|_| opens) {
            Some(row) => {
                metrics::counter!("motcua_lookup_answers_total", "from" => "cache").increment(1);
                row.view.clone()
            }
            None => {
                let epoch = self.cache.epoch();
                let row = self.reader.row(code.clone()).await?;
                if !self
                    .guard
                    .opens(&code, secret, row.as_ref().map(|r| &r.secrets))
                {
                    attempt.failed();
                    return Err(LookupError::NoDossier);
                }
                let Some(row) = row else {
                    return Err(LookupError::NoDossier);
                };
                metrics::counter!("motcua_lookup_answers_total", "from" => "database").increment(1);
                let view = row.view.clone();
                self.cache.offer(&code, row, epoch);
                view
            }
        };
        attempt.succeeded();
        let mut dossier = PublicDossier::decode(view.as_slice())
            .map_err(|e| LookupError::Internal(anyhow::anyhow!("stored view of {code}: {e}")))?;
        dossier.competent_agency_name = self.agency_name(&dossier.competent_agency);
        dossier.current_department_name = self
            .department_names
            .get(&dossier.current_department)
            .cloned()
            .unwrap_or_default();
        Ok(dossier)
    }

    pub fn agency_name(&self, code: &str) -> String {
        self.agency_names.get(code).cloned().unwrap_or_default()
    }

    /// Procedures in force whose name holds the query's words (marks and case aside), best first:
    /// names holding the whole query as typed, then by word similarity, then by name. When no name
    /// holds every word, names similar to the query (a typo) are offered instead.
    pub async fn search(
        &self,
        query: &str,
        field: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<ProcedurePage, LookupError> {
        if query.chars().count() > MAX_QUERY_CHARS || has_control(query) {
            return Err(LookupError::Invalid(format!(
                "từ khóa tìm kiếm tối đa {MAX_QUERY_CHARS} ký tự, không có ký tự điều khiển (query too long or has control characters)"
            )));
        }
        let field = field.trim();
        if !field.is_empty() && !motcua_domain::fields::FIELDS.contains(&field) {
            return Err(LookupError::Invalid(format!(
                "lĩnh vực {} không có; các lĩnh vực: {} (unknown field)",
                motcua_platform::text::quote(field),
                motcua_domain::fields::FIELDS.join(", ")
            )));
        }
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n <= MAX_PAGE_SIZE => n,
            _ => {
                return Err(LookupError::Invalid(format!(
                    "page_size tối đa {MAX_PAGE_SIZE} (page_size at most {MAX_PAGE_SIZE})"
                )));
            }
        };
        let offset = match page_token.trim() {
            "" => 0,
            t => t
                .parse::<u32>()
                .ok()
                .filter(|o| *o <= MAX_OFFSET)
                .ok_or_else(|| {
                    LookupError::Invalid(
                        "page_token không hợp lệ: dùng next_page_token của trang trước (invalid page_token)".into(),
                    )
                })?,
        };
        let folded = motcua_domain::text::fold(query);
        let words: Vec<String> = folded
            .split(' ')
            .filter(|w| !w.is_empty())
            .take(MAX_QUERY_WORDS)
            .map(|w| format!("%{w}%"))
            .collect();
        let folded = words
            .iter()
            .map(|w| w.trim_matches('%'))
            .collect::<Vec<_>>()
            .join(" ");
        let today = vietnam_day(self.clock.now());
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
            "WITH in_force AS (
                SELECT DISTINCT ON (code) code, field, name, folded_name, record
                FROM procedures WHERE effective_from <= $1
                ORDER BY code, effective_from DESC, version DESC),
             matching AS (
                SELECT * FROM in_force
                WHERE ($2 = '' OR field = $2) AND ($3 = '' OR folded_name LIKE ALL ($4::text[]))),
             close_names AS (
                SELECT * FROM in_force
                WHERE $3 <> '' AND NOT EXISTS (SELECT 1 FROM matching)
                  AND ($2 = '' OR field = $2) AND $3 <% folded_name)
             SELECT record FROM (SELECT * FROM matching UNION ALL SELECT * FROM close_names) found
             ORDER BY (folded_name LIKE '%' || $3 || '%') DESC, word_similarity($3, folded_name) DESC, name, code
             LIMIT $5 OFFSET $6",
        )
        .bind(today)
        .bind(field)
        .bind(&folded)
        .bind(&words)
        .bind(i64::from(size) + 1)
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() > size as usize;
        let procedures = rows
            .into_iter()
            .take(size as usize)
            .map(|(r,)| Procedure::decode(r.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LookupError::Internal(e.into()))?;
        Ok(ProcedurePage {
            next_page_token: if more {
                (offset + size).to_string()
            } else {
                String::new()
            },
            procedures,
        })
    }

    /// A procedure's version in force today.
    pub async fn procedure(&self, code: &str) -> Result<Procedure, LookupError> {
        let code = code.trim();
        let ok = !code.is_empty()
            && code.len() <= 32
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(LookupError::Invalid(format!(
                "mã thủ tục {} không hợp lệ: chữ, số và . - _, tối đa 32 ký tự, ví dụ 1.013831 (malformed procedure code)",
                motcua_platform::text::quote(code)
            )));
        }
        let today = vietnam_day(self.clock.now());
        let row: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT record FROM procedures WHERE code = $1 AND effective_from <= $2
             ORDER BY effective_from DESC, version DESC LIMIT 1",
        )
        .bind(code)
        .bind(today)
        .fetch_optional(&self.pool)
        .await?;
        let Some((record,)) = row else {
            return Err(LookupError::NoProcedure(code.to_owned()));
        };
        Procedure::decode(record.as_slice()).map_err(|e| LookupError::Internal(e.into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_are_cleaned_as_people_type_them() {
        assert_eq!(
            clean_code(" 000.00.06.h56-261127-0001 ").unwrap(),
            "000.00.06.H56-261127-0001"
        );
        for bad in [
            "",
            "x",
            "000.00.06.H56-261127",
            "\u{0}",
            &"9".repeat(10_000),
        ] {
            let e = clean_code(bad).unwrap_err();
            assert!(matches!(e, LookupError::Invalid(_)), "{bad:?}");
            assert!(e.to_string().len() < 400, "a long code is not echoed whole");
        }
        assert!(clean_secret(" ").is_err());
        assert!(clean_secret("ab\u{7}c").is_err());
        assert_eq!(clean_secret(" ABC ").unwrap(), "ABC");
    }
}
