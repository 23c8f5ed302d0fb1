//! What the benchmarks share with the end-to-end tests: the year simulator ([`sim`]), which the
//! top-level tests/ run in miniature and `motcua-bench sim` runs in full.

pub mod figures;
pub mod sim;
