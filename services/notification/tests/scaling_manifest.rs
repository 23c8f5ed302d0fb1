//! Notification's autoscaler (k8s/overlays/production/keda.yaml) reads the backlog the pods
//! export: the platform's due-jobs gauge over the queues in which every channel's deliveries wait.
//! A renamed gauge or queue fails here instead of leaving the autoscaler at its minimum.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_notification::deliveries;
use motcua_notification::rules::Channel;
use serde::Deserialize;
use serde_json::Value;

#[test]
fn the_autoscaler_reads_the_due_deliveries_of_every_channel() {
    let file = format!(
        "{}/../../k8s/overlays/production/keda.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let scaled = serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .find(|d| d["kind"] == "ScaledObject" && d["metadata"]["name"] == "motcua-notification")
        .expect("a ScaledObject for notification");
    assert_eq!(
        scaled["spec"]["scaleTargetRef"]["name"],
        "motcua-notification"
    );
    let query = scaled["spec"]["triggers"][0]["metadata"]["query"]
        .as_str()
        .expect("a Prometheus query");
    assert!(
        query.contains(&format!("{}{{", motcua_platform::jobs::DUE_GAUGE)),
        "{query}"
    );
    // The query's queue pattern is `<prefix>[.].+`: every channel's queue is under it.
    let pattern = query
        .split("queue=~\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a queue pattern");
    let prefix = pattern
        .strip_suffix("[.].+")
        .expect("a prefix, a dot, a name");
    for channel in [Channel::Sms, Channel::Email, Channel::Webhook] {
        let queue = deliveries::queue(channel);
        let name = queue
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'));
        assert!(
            name.is_some_and(|n| !n.is_empty()),
            "{queue} is not matched by {pattern}"
        );
    }
}
