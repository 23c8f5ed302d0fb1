//! The end-to-end tests live in `tests/tests/`: each starts the five services on the test floor
//! (`motcua-testkit`) with their clocks on the simulated time the year simulator
//! (`motcua_bench::sim`) drives, and checks the whole against the simulator's own records.
