//! What the simulator itself knows happened to each dossier — when it was received, by which
//! channel, when and how it ended, its due time — and Biểu 06 computed from that alone, by the
//! rules the form states (DESIGN.md §2; `services/reporting/src/form06.rs` documents the same):
//! (4)/(5) received in the period online / at the desk or by post, (6) received before it and not
//! done before it; (7) done in it — (8) early, (9) on time, (10) late, the rest unclassified;
//! (11) not done by its end — (13) those whose due time had passed by then, (12) the rest.

use chrono::{DateTime, Utc};
use motcua_proto::common::{Channel, DossierStatus, Outcome};
use std::collections::BTreeMap;

/// One dossier as the simulator saw it.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub code: String,
    /// The receipt's secret for public lookup.
    pub lookup_token: String,
    pub field: String,
    pub channel: Option<Channel>,
    pub received_at: Option<DateTime<Utc>>,
    /// When the result was recorded, or the case refused or withdrawn.
    pub done_at: Option<DateTime<Utc>>,
    /// The outcome the calendar gives for the due time and the moment the result was recorded.
    pub outcome: Option<Outcome>,
    /// The due time as the last action left it (moved by pauses).
    pub due_at: Option<DateTime<Utc>>,
    /// The status the dossier ends in.
    pub status: Option<DossierStatus>,
    pub supplements: u32,
}

/// Columns (4)–(13) of one row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cells {
    pub online: u64,
    pub counter_postal: u64,
    pub carried: u64,
    pub early: u64,
    pub on_time: u64,
    pub late: u64,
    pub unclassified: u64,
    pub within: u64,
    pub overdue: u64,
}

impl Cells {
    /// The row's figures by column number, for a readable mismatch.
    pub fn columns(&self) -> [(&'static str, u64); 12] {
        let received = self.online + self.counter_postal + self.carried;
        let resolved = self.early + self.on_time + self.late + self.unclassified;
        [
            ("(3)", received),
            ("(4)", self.online),
            ("(5)", self.counter_postal),
            ("(6)", self.carried),
            ("(7)", resolved),
            ("(8)", self.early),
            ("(9)", self.on_time),
            ("(10)", self.late),
            ("(7) unclassified", self.unclassified),
            ("(11)", self.within + self.overdue),
            ("(12)", self.within),
            ("(13)", self.overdue),
        ]
    }

    pub fn from_row(r: &motcua_proto::reporting::Form06Row) -> Self {
        Self {
            online: r.received_online,
            counter_postal: r.received_counter_postal,
            carried: r.carried_over,
            early: r.resolved_early,
            on_time: r.resolved_on_time,
            late: r.resolved_late,
            unclassified: r.resolved_unclassified,
            within: r.in_progress_within_deadline,
            overdue: r.in_progress_overdue,
        }
    }
}

/// Biểu 06 per field for the period `[from, end)` as the simulator's own records give it, the
/// in-progress figures taken at `end` (the run is over: every period has ended).
pub fn form06(
    truths: &[Truth],
    from: DateTime<Utc>,
    end: DateTime<Utc>,
) -> BTreeMap<String, Cells> {
    let mut rows: BTreeMap<String, Cells> = BTreeMap::new();
    for t in truths {
        let (Some(received), Some(channel)) = (t.received_at, t.channel) else {
            continue;
        };
        if received >= end || t.done_at.is_some_and(|d| d < from) {
            continue;
        }
        let c = rows.entry(t.field.clone()).or_default();
        if received < from {
            c.carried += 1;
        } else if channel == Channel::Online {
            c.online += 1;
        } else {
            c.counter_postal += 1;
        }
        match t.done_at {
            Some(done) if done < end => match t.outcome {
                Some(Outcome::Early) => c.early += 1,
                Some(Outcome::OnTime) => c.on_time += 1,
                Some(Outcome::Late) => c.late += 1,
                _ => c.unclassified += 1,
            },
            _ => {
                if t.due_at.is_some_and(|due| due < end) {
                    c.overdue += 1;
                } else {
                    c.within += 1;
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn each_dossier_is_counted_once_on_each_side_of_the_form() {
        let d = |received: &str, done: Option<&str>, outcome, due: &str, channel| Truth {
            field: "dat-dai".into(),
            channel: Some(channel),
            received_at: Some(t(received)),
            done_at: done.map(t),
            outcome,
            due_at: Some(t(due)),
            ..Default::default()
        };
        let truths = [
            // Carried in, finished early in the period.
            d(
                "2017-02-27T02:00:00Z",
                Some("2017-03-02T02:00:00Z"),
                Some(Outcome::Early),
                "2017-03-08T02:00:00Z",
                Channel::Counter,
            ),
            // New online, still open at the end and overdue.
            d(
                "2017-03-10T02:00:00Z",
                None,
                None,
                "2017-03-22T02:00:00Z",
                Channel::Online,
            ),
            // New at the desk, refused in the period.
            d(
                "2017-03-13T02:00:00Z",
                Some("2017-03-15T02:00:00Z"),
                None,
                "2017-03-23T02:00:00Z",
                Channel::Postal,
            ),
            // Done before the period: not in it.
            d(
                "2017-02-01T02:00:00Z",
                Some("2017-02-10T02:00:00Z"),
                Some(Outcome::Late),
                "2017-02-09T02:00:00Z",
                Channel::Counter,
            ),
        ];
        let rows = form06(
            &truths,
            t("2017-02-28T17:00:00Z"),
            t("2017-03-31T17:00:00Z"),
        );
        let c = rows["dat-dai"];
        assert_eq!(
            c,
            Cells {
                online: 1,
                counter_postal: 1,
                carried: 1,
                early: 1,
                unclassified: 1,
                overdue: 1,
                ..Default::default()
            }
        );
    }
}
