//! The dashboard's two charts, as the numbers an SVG template draws (`templates/dashboard.html`)
//! and the words that say the same (each chart's description, its text alternative).

use motcua_proto::reporting::{Form06Row, TrendPoint};
use std::collections::BTreeMap;

/// Early / on time / late of one field: a stacked bar, 360 px for the largest.
#[derive(Debug)]
pub struct OutcomeBar {
    pub label: String,
    pub y: u32,
    pub early: u64,
    pub on_time: u64,
    pub late: u64,
    pub early_w: u32,
    pub on_time_x: u32,
    pub on_time_w: u32,
    pub late_x: u32,
    pub late_w: u32,
    pub end_x: u32,
}

/// Received and resolved in one month.
#[derive(Debug)]
pub struct TrendBar {
    pub label: String,
    pub x: u32,
    pub received: u64,
    pub resolved: u64,
    pub received_y: u32,
    pub received_h: u32,
    pub resolved_y: u32,
    pub resolved_h: u32,
}

fn scale(n: u64, max: u64, px: u32) -> u32 {
    if max == 0 {
        0
    } else {
        ((n as f64 / max as f64) * f64::from(px)).round() as u32
    }
}

/// Rows of several agencies, summed per field (the charts are per field).
fn per_field(rows: &[Form06Row]) -> Vec<(String, u64, u64, u64)> {
    let mut by: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for r in rows {
        let e = by.entry(r.field_name.clone()).or_default();
        e.0 += r.resolved_early;
        e.1 += r.resolved_on_time;
        e.2 += r.resolved_late;
    }
    by.into_iter().map(|(k, (a, b, c))| (k, a, b, c)).collect()
}

/// The outcome chart: its bars, its height and its description.
pub fn outcomes(rows: &[Form06Row]) -> (Vec<OutcomeBar>, u32, String) {
    let fields = per_field(rows);
    let max = fields.iter().map(|f| f.1 + f.2 + f.3).max().unwrap_or(0);
    let bars: Vec<OutcomeBar> = fields
        .iter()
        .enumerate()
        .map(|(i, (label, e, o, l))| {
            let (ew, ow, lw) = (
                scale(*e, max, 360),
                scale(*o, max, 360),
                scale(*l, max, 360),
            );
            OutcomeBar {
                label: label.clone(),
                y: 10 + 30 * i as u32,
                early: *e,
                on_time: *o,
                late: *l,
                early_w: ew,
                on_time_x: 180 + ew,
                on_time_w: ow,
                late_x: 180 + ew + ow,
                late_w: lw,
                end_x: 186 + ew + ow + lw,
            }
        })
        .collect();
    let height = 20 + 30 * bars.len().max(1) as u32;
    let desc = if fields.is_empty() {
        "Chưa có hồ sơ đã giải quyết trong kỳ.".into()
    } else {
        fields
            .iter()
            .map(|(l, e, o, la)| format!("{l}: trước hạn {e}, đúng hạn {o}, quá hạn {la}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    (bars, height, desc)
}

/// The trend chart (all fields per month): its bars and its description.
pub fn trend(points: &[TrendPoint]) -> (Vec<TrendBar>, String) {
    let mut months: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in points {
        let e = months.entry(p.start.clone()).or_default();
        e.0 += p.received;
        e.1 += p.resolved;
    }
    let max = months
        .values()
        .map(|(a, b)| (*a).max(*b))
        .max()
        .unwrap_or(0);
    let bars: Vec<TrendBar> = months
        .iter()
        .enumerate()
        .map(|(i, (start, (received, resolved)))| {
            let label = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d")
                .map(|d| d.format("%m/%Y").to_string())
                .unwrap_or_else(|_| start.clone());
            let (rh, sh) = (scale(*received, max, 180), scale(*resolved, max, 180));
            TrendBar {
                label,
                x: 20 + 46 * i as u32,
                received: *received,
                resolved: *resolved,
                received_y: 200 - rh,
                received_h: rh,
                resolved_y: 200 - sh,
                resolved_h: sh,
            }
        })
        .collect();
    let desc = if bars.is_empty() {
        "Chưa có số liệu trong kỳ.".into()
    } else {
        bars.iter()
            .map(|b| {
                format!(
                    "{}: tiếp nhận {}, đã giải quyết {}",
                    b.label, b.received, b.resolved
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    (bars, desc)
}
