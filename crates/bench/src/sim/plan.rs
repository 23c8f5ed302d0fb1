//! The year laid out before it runs: every dossier's field, procedure, channel, arrival, and how
//! its processing is meant to end, drawn from the profile with a seed (the same seed, the same
//! year). Counts are exact, not drawn one by one: a profile's 6,899 online dossiers are 6,899.

use super::profile::Profile;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use motcua_calendar::{Calendar, vietnam};
use motcua_proto::common::{Channel, Procedure};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// How a dossier's processing is meant to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fate {
    /// A result recorded before the due day.
    Early,
    /// A result recorded on the due day, before the due time.
    OnTime,
    /// A result recorded after the due time.
    Late,
    /// Refused by the leader at the approval step.
    Refused,
    /// Withdrawn at the applicant's request, approved by the desk.
    Withdrawn,
}

/// One dossier of the year, before it arrives.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Its number in the year (0-based); its submission's idempotency key names it.
    pub n: usize,
    pub field: String,
    pub procedure: Procedure,
    pub channel: Channel,
    pub arrives: DateTime<Utc>,
    pub fate: Fate,
    /// Asked once for a supplement during appraisal.
    pub supplement: bool,
    /// Which officer of each role handles it (modulo the role's officers).
    pub officer: u32,
    /// Asked for fees and taxes during appraisal (the clock pauses until the payment).
    pub obligation: bool,
    /// Meant to be late, and apologised for before its due time.
    pub apology: bool,
    /// The applicant looks it up on the public page, and asks by SMS.
    pub web_lookup: bool,
    pub sms_lookup: bool,
}

/// `total` split into parts proportional to `weights`, adding up exactly (largest remainder).
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b] - exact[*b].floor())
            .total_cmp(&(exact[*a] - exact[*a].floor()))
            .then(a.cmp(b))
    });
    let left = total - parts.iter().sum::<u64>();
    for i in order.into_iter().take(left as usize) {
        parts[i] += 1;
    }
    parts
}

/// `counts[i]` copies of `labels[i]`, shuffled.
fn dealt<T: Copy>(labels: &[T], counts: &[u64], rng: &mut StdRng) -> Vec<T> {
    let mut out: Vec<T> = labels
        .iter()
        .zip(counts)
        .flat_map(|(l, n)| std::iter::repeat_n(*l, *n as usize))
        .collect();
    out.shuffle(rng);
    out
}

/// `total` yes-or-no marks, exactly `share` of them yes, shuffled.
fn flags(total: u64, share: f64, rng: &mut StdRng) -> Vec<bool> {
    dealt(
        &[true, false],
        &apportion(total, &[share, 1.0 - share]),
        rng,
    )
}

/// The working days of `year` in Vietnam, per month (index 0 = January).
fn working_days(cal: &Calendar, year: i32) -> anyhow::Result<Vec<Vec<NaiveDate>>> {
    let mut months = vec![Vec::new(); 12];
    let mut day = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(|| anyhow::anyhow!("year"))?;
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    while day.year() == year {
        let at = day
            .and_time(nine)
            .and_local_timezone(vietnam())
            .single()
            .ok_or_else(|| anyhow::anyhow!("{day}"))?;
        if cal.is_working_moment(at)? {
            months[day.month0() as usize].push(day);
        }
        day = day.succ_opt().ok_or_else(|| anyhow::anyhow!("{day}"))?;
    }
    Ok(months)
}

/// A moment of a working day when the desk receives: on the grid of `tick` minutes within the
/// shifts (07:00–11:30, 13:30–17:00), never in the last quarter of a shift. With the quarter-hour
/// grid: 17 moments in the morning (07:00–11:00), 13 in the afternoon (13:30–16:30).
fn desk_moment(day: NaiveDate, tick: u32, rng: &mut StdRng) -> DateTime<Utc> {
    let slots: Vec<u32> = (7 * 60..16 * 60 + 45)
        .step_by(tick.max(1) as usize)
        .filter(|m| *m < 11 * 60 + 15 || *m >= 13 * 60 + 30)
        .collect();
    let minutes = slots[rng.random_range(0..slots.len())];
    let local = day.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
    local
        .and_local_timezone(vietnam())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Lays out the year: `fields` (already scaled) over the catalog's procedures.
pub fn year(
    profile: &Profile,
    fields: &BTreeMap<String, u64>,
    procedures: &[Procedure],
    cal: &Calendar,
    seed: u64,
) -> anyhow::Result<Vec<Planned>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total: u64 = fields.values().sum();
    let days = working_days(cal, profile.year)?;
    let months = dealt(
        &(0..12).collect::<Vec<usize>>(),
        &apportion(total, &profile.months.weights),
        &mut rng,
    );
    let c = &profile.channels;
    let channels = dealt(
        &[Channel::Counter, Channel::Postal, Channel::Online],
        &apportion(total, &[c.counter, c.postal, c.online]),
        &mut rng,
    );
    let s = &profile.shares;
    let o = &profile.outcomes;
    let results = 1.0 - s.refused - s.withdrawn;
    let fates = dealt(
        &[
            Fate::Early,
            Fate::OnTime,
            Fate::Late,
            Fate::Refused,
            Fate::Withdrawn,
        ],
        &apportion(
            total,
            &[
                results * o.early,
                results * o.on_time,
                results * o.late,
                s.refused,
                s.withdrawn,
            ],
        ),
        &mut rng,
    );
    let supplements = flags(total, s.supplement, &mut rng);
    let web = flags(total, s.web_lookups, &mut rng);
    let sms = flags(total, s.sms_lookups, &mut rng);
    let obligations = flags(total, s.obligation, &mut rng);
    let apologies = flags(total, s.apology_of_late, &mut rng);
    let mut planned = Vec::with_capacity(total as usize);
    let mut n = 0usize;
    for (field, count) in fields {
        let of_field: Vec<&Procedure> = procedures.iter().filter(|p| &p.field == field).collect();
        if of_field.is_empty() && *count > 0 {
            anyhow::bail!("the catalog has no procedure of field {field}");
        }
        for _ in 0..*count {
            let wanted = channels[n];
            let fits = |p: &&&Procedure| match wanted {
                Channel::Online => motcua_domain::catalog::accepts_online(p.level),
                Channel::Postal => p.accepts_postal,
                _ => true,
            };
            let candidates: Vec<&&Procedure> = of_field.iter().filter(fits).collect();
            let (procedure, channel) = if candidates.is_empty() {
                (
                    of_field[rng.random_range(0..of_field.len())],
                    Channel::Counter,
                )
            } else {
                (*candidates[rng.random_range(0..candidates.len())], wanted)
            };
            let month = &days[months[n]];
            if month.is_empty() {
                anyhow::bail!(
                    "month {} of {} has no working day",
                    months[n] + 1,
                    profile.year
                );
            }
            let day = month[rng.random_range(0..month.len())];
            planned.push(Planned {
                n,
                field: field.clone(),
                procedure: procedure.clone(),
                channel,
                arrives: desk_moment(day, profile.tick_minutes, &mut rng),
                fate: fates[n],
                // A supplement names a document of the procedure: none is asked of one that lists
                // none (the catalog's procedures without a document list).
                supplement: supplements[n]
                    && !matches!(fates[n], Fate::Withdrawn)
                    && !procedure.documents.is_empty(),
                officer: rng.random_range(0..u32::MAX),
                obligation: obligations[n] && !matches!(fates[n], Fate::Withdrawn | Fate::Refused),
                apology: apologies[n] && fates[n] == Fate::Late,
                web_lookup: web[n],
                sms_lookup: sms[n],
            });
            n += 1;
        }
    }
    planned.sort_by_key(|p| (p.arrives, p.n));
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportioned_parts_add_up_exactly() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(31_002, &[0.70, 0.077466, 0.222534])[2], 6_899);
        assert_eq!(apportion(5, &[0.0, 0.0]), vec![0, 0]);
    }

    #[test]
    fn the_desk_receives_on_the_grid_within_its_shifts() {
        use chrono::Timelike;
        let day = NaiveDate::from_ymd_opt(2017, 3, 1).unwrap();
        for (tick, slots) in [(15u32, 30usize), (60, 8)] {
            let mut rng = StdRng::seed_from_u64(1);
            let seen: std::collections::BTreeSet<(u32, u32)> = (0..2000)
                .map(|_| {
                    let t = desk_moment(day, tick, &mut rng).with_timezone(&vietnam());
                    assert_eq!(t.date_naive(), day);
                    (t.hour(), t.minute())
                })
                .collect();
            assert_eq!(seen.len(), slots, "tick {tick}: {seen:?}");
            for (h, m) in seen {
                let minutes = h * 60 + m;
                assert_eq!(minutes % tick, 0, "{h}:{m} is off the grid of {tick}");
                assert!(
                    (7 * 60..11 * 60 + 15).contains(&minutes)
                        || (13 * 60 + 30..16 * 60 + 45).contains(&minutes),
                    "{h}:{m} is outside the shifts"
                );
            }
        }
    }
}
