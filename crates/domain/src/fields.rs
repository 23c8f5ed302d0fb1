//! The fields (lĩnh vực) of DESIGN.md §1, as they appear in subjects: `dossier.<field>.<event>`.
//! The land field carries ~99% of a province's dossiers, which is why it can run on its own.

pub const LAND: &str = "dat-dai";

pub const FIELDS: &[&str] = &[
    LAND,
    "tai-nguyen-nuoc",
    "moi-truong",
    "khoang-san",
    "do-dac-ban-do",
    "khi-tuong-thuy-van",
    "bien-hai-dao",
    "vien-tham",
    "bien-doi-khi-hau",
];

/// A field's name in Vietnamese, for pages and messages (the slug itself when unknown).
pub fn name(slug: &str) -> &str {
    match slug {
        "dat-dai" => "Đất đai",
        "tai-nguyen-nuoc" => "Tài nguyên nước",
        "moi-truong" => "Môi trường",
        "khoang-san" => "Khoáng sản",
        "do-dac-ban-do" => "Đo đạc và bản đồ",
        "khi-tuong-thuy-van" => "Khí tượng thủy văn",
        "bien-hai-dao" => "Biển và hải đảo",
        "vien-tham" => "Viễn thám",
        "bien-doi-khi-hau" => "Biến đổi khí hậu",
        other => other,
    }
}

/// Which fields a deployment handles, as written in its setting: `all`, a comma-separated list
/// (`dat-dai`), or `all-except:` a list (`all-except:dat-dai`, the rest beside a land deployment).
pub fn parse_selection(text: &str) -> Result<Vec<&'static str>, String> {
    let text = text.trim();
    let (except, list) = match text.strip_prefix("all-except:") {
        Some(rest) => (true, rest),
        None if text == "all" => return Ok(FIELDS.to_vec()),
        None => (false, text),
    };
    let mut named = Vec::new();
    for f in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let Some(known) = FIELDS.iter().find(|k| **k == f) else {
            return Err(format!("{f:?} is not a field; use {}", FIELDS.join(", ")));
        };
        named.push(*known);
    }
    if named.is_empty() {
        return Err("names no field".into());
    }
    Ok(if except {
        FIELDS
            .iter()
            .copied()
            .filter(|f| !named.contains(f))
            .collect()
    } else {
        named
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_land_deployment_and_the_rest_cover_every_field_once() {
        let land = parse_selection("dat-dai").unwrap();
        let rest = parse_selection("all-except:dat-dai").unwrap();
        let mut both: Vec<&str> = land.iter().chain(&rest).copied().collect();
        both.sort();
        let mut all = parse_selection("all").unwrap();
        all.sort();
        assert_eq!(both, all);
        assert!(parse_selection("dat dai").is_err());
        assert!(parse_selection("all-except:").is_err());
    }
}
