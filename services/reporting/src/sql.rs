//! SQL with an optional agency filter, as two statements rather than one with
//! `($3 IS NULL OR agency = $3)`: that form keeps PostgreSQL from using the agency's index, and a
//! province's report would read the whole country's rows.

/// `text` with `{agency}`, `{competent_agency}` and `{s_agency}` (a filter on `$3`) and
/// `{competent_agency_5}` (on `$5`) replaced by the filter when an agency is given, or by a
/// condition that is always true (still naming the parameter, which is bound NULL). The text
/// comes from this crate's own constants, never from input.
pub fn scoped(text: &'static str, agency: Option<&str>) -> sqlx::AssertSqlSafe<String> {
    let (a, ca, sa, ca5) = match agency {
        Some(_) => (
            "agency = $3",
            "competent_agency = $3",
            "s.competent_agency = $3",
            "competent_agency = $5",
        ),
        None => (
            "$3::text IS NULL",
            "$3::text IS NULL",
            "$3::text IS NULL",
            "$5::text IS NULL",
        ),
    };
    sqlx::AssertSqlSafe(
        text.replace("{agency}", a)
            .replace("{competent_agency}", ca)
            .replace("{s_agency}", sa)
            .replace("{competent_agency_5}", ca5),
    )
}
