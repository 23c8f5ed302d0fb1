//! Unit tests of `bus`.

use super::*;

#[test]
fn a_stream_keeps_its_replicas_unless_the_setting_says_otherwise() {
    assert_eq!(replicas(None, None), 1, "a new stream, no setting");
    assert_eq!(replicas(None, Some(3)), 3, "an operator's R3 is kept");
    assert_eq!(replicas(Some(3), None), 3, "a new stream as set");
    assert_eq!(replicas(Some(3), Some(1)), 3, "raised as set");
    assert_eq!(
        replicas(Some(1), Some(3)),
        1,
        "lowered only when the setting says so"
    );
}
