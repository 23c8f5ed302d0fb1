//! A year's profile as data (deploy/sim/<name>.toml): how many dossiers of each field arrive, by
//! which channel, in which months, how their processing ends, and who acts on them.
//!
//! Every share is a fraction of 1. `--scale` multiplies the field counts (each field keeps at
//! least one dossier when it had any), so a test runs the same year in miniature.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub year: i32,
    /// The agency whose desk receives and whose officers act (the catalog's competent agency).
    pub agency: String,
    /// Dossiers received in the year per field slug.
    pub fields: BTreeMap<String, u64>,
    pub channels: Channels,
    pub outcomes: Outcomes,
    pub shares: Shares,
    pub months: Months,
    pub officers: Officers,
    /// The grid of simulated time, in minutes, on which the desk receives and officers act (a
    /// divisor of 60; 15 when not given). Every distinct moment costs the replay a settle of the
    /// services (tens of milliseconds of wall time), so a coarser grid replays a year faster with
    /// the same dossiers, the same due dates and the same outcomes; only when in the day an act
    /// happens is rounded more.
    #[serde(default = "quarter_hour")]
    pub tick_minutes: u32,
}

fn quarter_hour() -> u32 {
    15
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    pub counter: f64,
    pub postal: f64,
    pub online: f64,
}

/// Of the dossiers resolved with a result: finished before the due day, on it, after it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    pub early: f64,
    pub on_time: f64,
    pub late: f64,
}

/// Of all dossiers: asked for a supplement once, refused, withdrawn at the applicant's request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shares {
    pub supplement: f64,
    pub refused: f64,
    pub withdrawn: f64,
    /// Applicants who look their dossier up on the public page (HTTP) a working day after
    /// submitting, and who ask by SMS two working days after (assumed shares).
    #[serde(default)]
    pub web_lookups: f64,
    /// Asked for fees and taxes during appraisal (assumed); of the late ones, apologised for.
    #[serde(default)]
    pub obligation: f64,
    #[serde(default)]
    pub apology_of_late: f64,
    #[serde(default)]
    pub sms_lookups: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Months {
    /// Relative arrivals per month, January first.
    pub weights: [f64; 12],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Officers {
    pub desk: u32,
    pub specialist: u32,
    pub leader: u32,
}

/// Where the shipped profiles live.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/sim")
}

impl Profile {
    /// `name` of a shipped profile (deploy/sim/<name>.toml) or a path to a profile file.
    pub fn load(name: &str) -> anyhow::Result<Self> {
        let path = if name.ends_with(".toml") {
            PathBuf::from(name)
        } else {
            dir().join(format!("{name}.toml"))
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the profile {}", path.display()))?;
        let p: Profile =
            toml::from_str(&text).with_context(|| format!("the profile {}", path.display()))?;
        p.check()
            .with_context(|| format!("the profile {}", path.display()))?;
        Ok(p)
    }

    fn check(&self) -> anyhow::Result<()> {
        let near_one = |what: &str, sum: f64| {
            if (sum - 1.0).abs() > 1e-6 {
                bail!("{what} add up to {sum}, not 1");
            }
            Ok(())
        };
        near_one(
            "channels",
            self.channels.counter + self.channels.postal + self.channels.online,
        )?;
        near_one(
            "outcomes",
            self.outcomes.early + self.outcomes.on_time + self.outcomes.late,
        )?;
        let s = &self.shares;
        for (what, v) in [
            ("shares.supplement", s.supplement),
            ("shares.refused", s.refused),
            ("shares.withdrawn", s.withdrawn),
            ("shares.web_lookups", s.web_lookups),
            ("shares.obligation", s.obligation),
            ("shares.apology_of_late", s.apology_of_late),
            ("shares.sms_lookups", s.sms_lookups),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bail!("{what} = {v} is not a share between 0 and 1");
            }
        }
        if s.refused + s.withdrawn > 1.0 {
            bail!("refused and withdrawn together exceed every dossier");
        }
        if self.months.weights.iter().any(|w| *w < 0.0)
            || self.months.weights.iter().sum::<f64>() <= 0.0
        {
            bail!("months.weights must be non-negative with some month above 0");
        }
        let o = &self.officers;
        if o.desk == 0 || o.specialist == 0 || o.leader == 0 {
            bail!("every role needs at least one officer");
        }
        if self.fields.is_empty() {
            bail!("no field has dossiers");
        }
        if !(5..=60).contains(&self.tick_minutes) || 60 % self.tick_minutes != 0 {
            bail!(
                "tick_minutes = {}: give a divisor of 60 from 5 to 60",
                self.tick_minutes
            );
        }
        Ok(())
    }

    /// The field counts multiplied by `scale` (a field with dossiers keeps at least one).
    pub fn scaled_fields(&self, scale: f64) -> BTreeMap<String, u64> {
        self.fields
            .iter()
            .map(|(f, n)| {
                let scaled = (*n as f64 * scale).round() as u64;
                (f.clone(), if *n > 0 { scaled.max(1) } else { 0 })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_load_and_tq2017_holds_the_reported_counts() {
        let p = Profile::load("tq2017").unwrap();
        assert_eq!(p.fields.values().sum::<u64>(), 31_002);
        assert_eq!(p.fields["dat-dai"], 30_860);
        assert_eq!(
            (p.channels.online * 31_002.0).round() as u64,
            6_899,
            "online: 6,899 of 31,002 as reported"
        );
        assert_eq!(p.tick_minutes, 60, "tq2017 runs on the hour");
        assert_eq!(Profile::load("national-peak").unwrap().tick_minutes, 15);
        let small = p.scaled_fields(0.01);
        assert_eq!(small["dat-dai"], 309);
        assert_eq!(
            small["tai-nguyen-nuoc"], 1,
            "a field with dossiers keeps one"
        );
    }

    #[test]
    fn a_grid_that_does_not_divide_the_hour_is_refused_saying_what_to_give() {
        let mut p = Profile::load("tq2017").unwrap();
        for ok in [5, 15, 30, 60] {
            p.tick_minutes = ok;
            p.check().unwrap();
        }
        for bad in [0, 7, 45, 120] {
            p.tick_minutes = bad;
            let e = p.check().unwrap_err().to_string();
            assert!(e.contains("divisor of 60"), "{bad}: {e}");
        }
    }
}
