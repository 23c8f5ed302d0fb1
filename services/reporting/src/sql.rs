//! SQL with an optional agency filter, as two statements rather than one with
//! `($3 IS NULL OR agency = $3)`: that form keeps PostgreSQL from using the agency's index, and a
//! province's report would read the whole country's rows.

/// `text` with `{agency}` / `{competent_agency}` / `{s_agency}` replaced by the filter on `$3` when an agency is
/// given, or by a condition that is always true (still naming `$3`, which is bound NULL).
/// The text comes from this crate's own constants, never from input.
pub fn scoped(text: &'static str, agency: Option<&str>) -> sqlx::AssertSqlSafe<String> {
    let (a, ca, sa) = match agency {
        Some(_) => (
            "agency = $3",
            "competent_agency = $3",
            "s.competent_agency = $3",
        ),
        None => ("$3::text IS NULL", "$3::text IS NULL", "$3::text IS NULL"),
    };
    sqlx::AssertSqlSafe(
        text.replace("{agency}", a)
            .replace("{competent_agency}", ca)
            .replace("{s_agency}", sa),
    )
}
