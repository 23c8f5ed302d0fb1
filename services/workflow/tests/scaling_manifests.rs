//! The autoscaler of each workflow Deployment watches the consumers that Deployment's pods
//! create: the ScaledObjects (k8s/overlays/production/keda.yaml) name the stream and durable
//! consumers that `motcua_workflow::consumer` makes for the fields the Deployment's
//! MOTCUA_WORKFLOW_FIELDS selects (k8s/base/workflow.yaml). A renamed consumer, a new field or a
//! Deployment that takes other fields fails here instead of scaling on a backlog nobody has.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;

fn documents(path: &str) -> Vec<Value> {
    let file = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// The (stream, consumer) pairs the code creates for the Deployment's fields.
fn consumers_of(deployment: &Value) -> BTreeSet<(String, String)> {
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let fields = env
        .iter()
        .find(|e| e["name"] == "MOTCUA_WORKFLOW_FIELDS")
        .and_then(|e| e["value"].as_str())
        .expect("every workflow Deployment says which fields it takes");
    let fields = motcua_domain::fields::parse_selection(fields).unwrap();
    let mut out = BTreeSet::new();
    for field in fields {
        for event_type in motcua_workflow::consume::TYPES {
            let spec = motcua_workflow::consumer(field, event_type);
            out.insert((spec.stream.to_owned(), spec.name));
        }
    }
    out
}

/// The (stream, consumer) pairs the ScaledObject's JetStream triggers watch.
fn watched_by(scaled: &Value) -> BTreeSet<(String, String)> {
    scaled["spec"]["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "nats-jetstream")
        .map(|t| {
            let m = &t["metadata"];
            (
                m["stream"].as_str().unwrap().to_owned(),
                m["consumer"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn each_workflow_autoscaler_watches_exactly_the_consumers_its_pods_create() {
    let base = documents("k8s/base/workflow.yaml");
    let keda = documents("k8s/overlays/production/keda.yaml");
    let mut every = BTreeSet::new();
    for name in ["motcua-workflow-land", "motcua-workflow-rest"] {
        let made = consumers_of(named(&base, "Deployment", name));
        let scaled = named(&keda, "ScaledObject", name);
        assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], name);
        assert_eq!(
            watched_by(scaled),
            made,
            "{name}: triggers against consumers"
        );
        assert!(
            every.is_disjoint(&made),
            "two Deployments take one consumer"
        );
        every.extend(made);
    }
    // Between them, every field's events are taken, so no backlog goes unwatched.
    assert_eq!(
        every.len(),
        motcua_domain::fields::FIELDS.len() * motcua_workflow::consume::TYPES.len()
    );
}
