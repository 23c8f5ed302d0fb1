//! `cargo bench -p motcua-calendar`: due-date computations per second on one core.
//!
//! Prints the rate of `due` over mixed spans (days and hours, 0–60, received at all hours of the
//! year, a third of them with a pause) beside the machine's own limit measured in the same run: the
//! rate of the least work any due computation must do, converting the received instant to a local
//! date and time and back. The ratio is what to compare between runs on these shared machines.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use motcua_calendar::{Pause, Span, standard, vietnam};
use std::hint::black_box;
use std::time::Instant;

const N: usize = 4096;
const ROUNDS: usize = 400;

fn inputs() -> Vec<(DateTime<FixedOffset>, Span, Vec<Pause>)> {
    let base = vietnam()
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("valid instant");
    // A small linear congruential generator keeps the inputs the same on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    (0..N)
        .map(|_| {
            let received = base + Duration::minutes((next() % (365 * 24 * 60)) as i64);
            let n = (next() % 61) as u32;
            let span = if next() % 4 == 0 {
                Span::Hours(n)
            } else {
                Span::Days(n)
            };
            let pauses = if next() % 3 == 0 {
                let from = received + Duration::hours((next() % 72) as i64);
                vec![Pause {
                    from,
                    to: from + Duration::hours((next() % 200) as i64),
                }]
            } else {
                Vec::new()
            };
            (received, span, pauses)
        })
        .collect()
}

fn rate(mut f: impl FnMut() -> usize) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut count = 0;
    for _ in 0..ROUNDS {
        count += f();
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let cal = standard().expect("shipped calendar");
    let inputs = inputs();

    let due_rate = rate(|| {
        for (received, span, pauses) in &inputs {
            black_box(cal.due(*received, *span, None, pauses).expect("in range"));
        }
        inputs.len()
    });
    let floor_rate = rate(|| {
        for (received, _, _) in &inputs {
            let local = black_box(*received).with_timezone(&vietnam()).naive_local();
            black_box(local.and_local_timezone(vietnam()).single());
        }
        inputs.len()
    });

    println!("calendar due: {due_rate:.0} computations/s (one core; target ≥ 1000000)");
    println!("machine limit (instant → local → instant): {floor_rate:.0} /s");
    println!("ratio due / limit: {:.3}", due_rate / floor_rate);
}
