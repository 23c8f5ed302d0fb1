//! What every interface answers (gRPC, JSON and the pages call these): input checked and cleaned,
//! the secret checked by the [`Guard`], the catalog searched. One place, so the three agree.

use crate::error::LookupError;
use crate::guard::Guard;
use motcua_domain::time::vietnam_day;
use motcua_platform::SharedClock;
use motcua_platform::limiter::PublicClient;
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

/// How a search finds and ranks procedures. The query and every procedure's name, its field's
/// name and its keywords are folded alike (no marks, lower case: "Đất đai" is "dat dai"); then,
/// with pg_trgm's word similarity (shared trigrams, 0 to 1, typos cost a few):
///
/// - each query word scores its best similarity to a word of the name, of the keywords, or of
///   the field's name (the last weighed [`FIELD_WEIGHT`], so a name holding the words ranks
///   above one only of the field), and `words` is their mean;
/// - `phrase` is the same for the whole query at once (words in the order typed rank higher);
/// - a procedure matches when the mean of the two reaches [`MIN_SCORE`], and either every word
///   scores above [`MIN_WORD`] (a word matching nothing at all, "xyz", keeps a procedure out)
///   or the phrase reaches [`MIN_PHRASE`] (a long name with one short word mistyped stays in);
/// - matches are ranked by that mean, then by how close the whole name is to the query, then
///   by name. No exact-match pass runs first: a typo that happens to be part of other names
///   ("cua" typed "ca") would put those first and leave the intended one out.
///
/// The thresholds were chosen by typing one-letter typos of every name of a catalog of ~45 TNMT
/// procedures (a letter dropped, replaced or added, in the whole name and in its first four
/// words): every one finds its procedure on the first page (tests/search.rs keeps this for the
/// catalog file), while words absent from every name find nothing. The catalog is thousands of
/// rows at most, so every version in force is scored (no index is needed).
const SEARCH: &str = "
    WITH in_force AS (
        SELECT DISTINCT ON (code) code, field, name, folded_name, folded_keywords, record
        FROM procedures WHERE effective_from <= $1 AND ($2 = '' OR field = $2)
        ORDER BY code, effective_from DESC, version DESC),
    scored AS (
        SELECT p.code, p.name, p.folded_name, p.record, s.words_mean, s.words_min,
               GREATEST(word_similarity($3, p.folded_name), word_similarity($3, p.folded_keywords),
                        $9 * word_similarity($3, COALESCE(f.folded, ''))) AS phrase
        FROM in_force p
        LEFT JOIN unnest($7::text[], $8::text[]) AS f(slug, folded) ON f.slug = p.field
        CROSS JOIN LATERAL (
            SELECT avg(best) AS words_mean, min(best) AS words_min FROM (
                SELECT GREATEST(word_similarity(w, p.folded_name),
                                word_similarity(w, p.folded_keywords),
                                $9 * word_similarity(w, COALESCE(f.folded, ''))) AS best
                FROM unnest($4::text[]) AS w) b) s)
    SELECT record FROM scored
    WHERE $3 = '' OR ((words_mean + phrase) / 2 >= $10 AND (words_min > $11 OR phrase >= $12))
    ORDER BY (COALESCE(words_mean, 0) + phrase) / 2 DESC, similarity($3, folded_name) DESC,
             name, code
    LIMIT $5 OFFSET $6";
/// How much a match with the field's name counts beside one with the name or the keywords.
const FIELD_WEIGHT: f32 = 0.9;
/// The least mean of word and phrase similarity a match needs.
const MIN_SCORE: f32 = 0.6;
/// Every word must score above this, unless the phrase reaches [`MIN_PHRASE`].
const MIN_WORD: f32 = 0.25;
const MIN_PHRASE: f32 = 0.65;

#[derive(Debug, Clone)]
pub struct Queries {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub guard: Arc<Guard>,
    pub reader: crate::store::Reader,
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
    /// A dossier's public view for the holder of its code and secret, asked by `client` (as the
    /// per-client rate limit counted it; None: not known).
    pub async fn dossier(
        &self,
        code: &str,
        secret: &str,
        client: Option<PublicClient>,
    ) -> Result<PublicDossier, LookupError> {
        let code = clean_code(code)?;
        let secret = clean_secret(secret)?;
        let attempt = self
            .guard
            .attempt(&code, secret, client)
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

    /// Procedures in force that match the query, ranked by similarity (see [`SEARCH`]).
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
        let words: Vec<&str> = folded
            .split(' ')
            .filter(|w| !w.is_empty())
            .take(MAX_QUERY_WORDS)
            .collect();
        let folded = words.join(" ");
        let (slugs, field_names): (Vec<&str>, Vec<String>) = motcua_domain::fields::FIELDS
            .iter()
            .map(|slug| {
                (
                    *slug,
                    motcua_domain::text::fold(motcua_domain::fields::name(slug)),
                )
            })
            .unzip();
        let today = vietnam_day(self.clock.now());
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(SEARCH)
            .bind(today)
            .bind(field)
            .bind(&folded)
            .bind(&words)
            .bind(i64::from(size) + 1)
            .bind(i64::from(offset))
            .bind(&slugs)
            .bind(&field_names)
            .bind(FIELD_WEIGHT)
            .bind(MIN_SCORE)
            .bind(MIN_WORD)
            .bind(MIN_PHRASE)
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
