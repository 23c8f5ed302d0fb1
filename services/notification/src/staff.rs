//! The staff directory: how to reach officers and leaders (MOTCUA_STAFF_FILE). Tokens say who an
//! officer is, not their e-mail, so reminders need this list; without it, due-soon and overdue
//! notices have no one to go to (logged once at start).
//!
//! ```toml
//! [[staff]]
//! subject = "vpdk-01"            # the token's `sub`
//! name = "Trần Thị Bình"
//! email = "binh.tt@example.gov.vn"
//! agency = "000.00.06.H56"
//! department = "van-phong-dang-ky-dat-dai"   # optional
//! leader = false
//! ```

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub subject: String,
    #[serde(default)]
    pub name: String,
    pub email: String,
    pub agency: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub leader: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staff(pub Vec<Member>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    staff: Vec<Member>,
}

impl Staff {
    pub fn from_file(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("{path}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        for m in &file.staff {
            if m.subject.trim().is_empty() || m.agency.trim().is_empty() {
                return Err("every [[staff]] needs subject and agency".into());
            }
            lettre::Address::try_from(m.email.clone()).map_err(|e| {
                format!(
                    "staff {}: e-mail {:?} is not an address: {e}",
                    m.subject, m.email
                )
            })?;
        }
        Ok(Staff(file.staff))
    }

    pub fn by_subject(&self, subject: &str) -> Option<&Member> {
        self.0.iter().find(|m| m.subject == subject)
    }

    /// Leaders of `agency` who lead the whole agency or `department`.
    pub fn leaders<'a>(
        &'a self,
        agency: &'a str,
        department: &'a str,
    ) -> impl Iterator<Item = &'a Member> + 'a {
        self.0.iter().filter(move |m| {
            m.leader
                && m.agency == agency
                && (m.department.is_empty() || m.department == department)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn leaders_of_the_agency_and_the_department() {
        let s = Staff::parse(
            r#"
[[staff]]
subject = "gd"
email = "gd@example.gov.vn"
agency = "A"
leader = true
[[staff]]
subject = "tp"
email = "tp@example.gov.vn"
agency = "A"
department = "d1"
leader = true
[[staff]]
subject = "cv"
email = "cv@example.gov.vn"
agency = "A"
department = "d1"
"#,
        )
        .unwrap();
        let d1: Vec<&str> = s.leaders("A", "d1").map(|m| m.subject.as_str()).collect();
        assert_eq!(d1, ["gd", "tp"]);
        let d2: Vec<&str> = s.leaders("A", "d2").map(|m| m.subject.as_str()).collect();
        assert_eq!(d2, ["gd"]);
        assert!(s.by_subject("cv").is_some());
        let err = Staff::parse("[[staff]]\nsubject = \"x\"\nemail = \"nope\"\nagency = \"A\"\n")
            .unwrap_err();
        assert!(err.contains("not an address"), "{err}");
    }
}
