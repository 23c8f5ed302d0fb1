//! Unit tests of `bus`.

use super::*;

#[test]
fn a_stream_gets_the_replicas_set_and_never_fewer_than_it_has() {
    assert_eq!(replicas(None, None), 1, "a new stream, no setting");
    assert_eq!(replicas(None, Some(3)), 3, "an operator's R3 is kept");
    assert_eq!(replicas(Some(3), None), 3, "a new stream as set");
    assert_eq!(replicas(Some(3), Some(1)), 3, "raised as set");
    assert_eq!(replicas(Some(1), Some(3)), 3, "never lowered by a service");
}
