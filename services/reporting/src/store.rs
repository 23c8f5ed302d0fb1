//! SQL with the caller's agency filter. One agency is `agency = $3`; a province is its agencies'
//! codes ending in `.<province>` (Caller::covers). The filter is spelled out per statement rather
//! than `($3 IS NULL OR agency = $3)`: that form keeps PostgreSQL from using the agency's index.

/// Whose dossiers a report counts: the caller's scope (DESIGN.md "Identity"), never more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agencies {
    /// One agency: its rows carry its code.
    One(String),
    /// Every agency of a province (the last group of their codes, e.g. `H56`): one row per
    /// field, the agencies summed (agency empty in the rows).
    Province(String),
}

impl Agencies {
    /// The agency's code or the province's group: what the SQL filter is bound to.
    pub fn code(&self) -> &str {
        match self {
            Agencies::One(c) | Agencies::Province(c) => c,
        }
    }

    pub fn is_province(&self) -> bool {
        matches!(self, Agencies::Province(_))
    }
}

/// `text` with `{agency}`, `{competent_agency}` and `{s_agency}` (a filter on `$3`) and
/// `{competent_agency_5}` (on `$5`) replaced by the filter of `scope`. The parameter is bound to
/// [`Agencies::code`]. The text comes from this crate's own constants, never from input.
pub fn scoped(text: &'static str, scope: &Agencies) -> sqlx::AssertSqlSafe<String> {
    let filter = |column: &str, p: &str| match scope {
        Agencies::One(_) => format!("{column} = {p}"),
        // The agency code's last group is the province (auth::province_of).
        Agencies::Province(_) => {
            format!("(right({column}, char_length({p}) + 1) = '.' || {p} OR {column} = {p})")
        }
    };
    sqlx::AssertSqlSafe(
        text.replace("{agency}", &filter("agency", "$3"))
            .replace("{competent_agency}", &filter("competent_agency", "$3"))
            .replace("{s_agency}", &filter("s.competent_agency", "$3"))
            .replace("{competent_agency_5}", &filter("competent_agency", "$5")),
    )
}
