//! Electronic agency codes (mã định danh điện tử của cơ quan), e.g. `000.00.06.H56`.

/// An electronic agency code: dot-separated groups of upper-case letters and digits.
pub fn check_agency_code(code: &str) -> Result<(), String> {
    let ok = !code.is_empty()
        && code.len() <= 32
        && code.split('.').all(|g| {
            !g.is_empty()
                && g.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "mã cơ quan {} không hợp lệ, ví dụ 000.00.06.H56 (agency code like 000.00.06.H56)",
            crate::text::quote(code)
        ))
    }
}

/// The agencies a catalog file names (`[[agency]]` with `code` and `name`): the public page shows
/// the name of a dossier's competent agency from the same file the desk loads its procedures from.
pub fn names(catalog: &str) -> Result<Vec<(String, String)>, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        agency: Vec<Agency>,
    }
    #[derive(serde::Deserialize)]
    struct Agency {
        code: String,
        #[serde(default)]
        name: String,
    }
    let file: File = toml::from_str(catalog).map_err(|e| e.to_string())?;
    file.agency
        .into_iter()
        .map(|a| {
            check_agency_code(&a.code)?;
            Ok((a.code, a.name))
        })
        .collect()
}

/// The departments a catalog file names (`[[department]]` with `key` and `name`), for showing
/// where a dossier is in words rather than keys.
pub fn department_names(catalog: &str) -> Result<Vec<(String, String)>, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        department: Vec<Department>,
    }
    #[derive(serde::Deserialize)]
    struct Department {
        key: String,
        name: String,
    }
    let file: File = toml::from_str(catalog).map_err(|e| e.to_string())?;
    Ok(file
        .department
        .into_iter()
        .map(|d| (d.key, d.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_codes() {
        assert!(check_agency_code("000.00.06.H56").is_ok());
        assert!(check_agency_code("000.00.06.h56").is_err());
        assert!(check_agency_code("000..06").is_err());
        assert!(check_agency_code("").is_err());
        let long = "A".repeat(20_000);
        assert!(
            check_agency_code(&long).unwrap_err().len() < 200,
            "a long code is not echoed whole"
        );
    }
}
