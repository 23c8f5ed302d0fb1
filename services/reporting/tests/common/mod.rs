//! What the reporting tests share.

use motcua_proto::reporting::Form06Row;

/// Columns (3)–(13) of a row, in the form's order, with the resolved dossiers no rule classified
/// after (10): what the tests compare against figures they wrote out by hand. (Not
/// `form06::columns`, which leaves that count out, and which the tests check rather than use.)
pub fn cells(r: &Form06Row) -> [u64; 12] {
    [
        r.received_total,
        r.received_online,
        r.received_counter_postal,
        r.carried_over,
        r.resolved_total,
        r.resolved_early,
        r.resolved_on_time,
        r.resolved_late,
        r.resolved_unclassified,
        r.in_progress_total,
        r.in_progress_within_deadline,
        r.in_progress_overdue,
    ]
}
