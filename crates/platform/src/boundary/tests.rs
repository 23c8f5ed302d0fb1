//! Unit tests of `boundary`, against a contract of their own (`example.proto`).

use super::*;
use prost::Message;
use std::sync::LazyLock;

fn frame(m: &impl Message) -> Vec<u8> {
    let body = m.encode_to_vec();
    let mut out = vec![0];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The test contract, compiled as a service's build compiles its own and hands it to the boundary.
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/boundary");
    let set = protox::compile(["example.proto"], [dir]).unwrap();
    DescriptorPool::from_file_descriptor_set(set).unwrap()
});

fn input(name: &str) -> MessageDescriptor {
    POOL.get_message_by_name(&format!("example.v1.{name}"))
        .unwrap()
}

/// A message of `name` with these fields set.
fn message(name: &str, fields: &[(&str, Value)]) -> DynamicMessage {
    let mut m = DynamicMessage::new(input(name));
    for (field, value) in fields {
        m.set_field_by_name(field, value.clone());
    }
    m
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

const RULES: TextRules = TextRules {
    default_max_chars: 100,
    limits: &[("dossier_code", 10)],
    multiline: &["reason"],
};

#[test]
fn text_enum_and_timestamp_rules_name_the_field() {
    let get = input("GetRequest");
    let ok = message("GetRequest", &[("dossier_code", text("H56-1"))]);
    assert!(check_frame(&RULES, &get, &frame(&ok)).is_ok());
    for (code, want) in [("a\0b", "U+0000"), ("01234567890", "tối đa 10")] {
        let bad = message("GetRequest", &[("dossier_code", text(code))]);
        let e = check_frame(&RULES, &get, &frame(&bad)).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("dossier_code:"), "{}", e.message());
        assert!(e.message().contains(want), "{}", e.message());
    }
    let withdraw = input("WithdrawRequest");
    let two_lines = message(
        "WithdrawRequest",
        &[
            ("dossier_code", text("X")),
            ("reason", text("dòng một\ndòng hai")),
        ],
    );
    assert!(check_frame(&RULES, &withdraw, &frame(&two_lines)).is_ok());
    let submit = input("SubmitRequest");
    let bad_channel = message("SubmitRequest", &[("channel", Value::EnumNumber(7))]);
    let e = check_frame(&RULES, &submit, &frame(&bad_channel)).unwrap_err();
    assert!(
        e.message().starts_with("channel: giá trị 7"),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("CHANNEL_ONLINE = 2"),
        "{}",
        e.message()
    );
    let document = |name: &str| Value::Message(message("Document", &[("name", text(name))]));
    let nested = message(
        "SubmitRequest",
        &[(
            "documents",
            Value::List(vec![document(""), document("bản\u{7}")]),
        )],
    );
    let e = check_frame(&RULES, &submit, &frame(&nested)).unwrap_err();
    assert!(
        e.message().starts_with("documents[1].name:"),
        "{}",
        e.message()
    );
    let far = prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    };
    let mut far_message = message("SubmitRequest", &[]);
    far_message
        .try_set_field_by_name(
            "submitted_at",
            Value::Message(
                DynamicMessage::decode(
                    POOL.get_message_by_name("google.protobuf.Timestamp")
                        .unwrap(),
                    far.encode_to_vec().as_slice(),
                )
                .unwrap(),
            ),
        )
        .unwrap();
    let e = check_frame(&RULES, &submit, &frame(&far_message)).unwrap_err();
    assert!(e.message().starts_with("submitted_at:"), "{}", e.message());
}

#[test]
fn unreadable_frames_are_invalid_arguments() {
    let get = input("GetRequest");
    for bytes in [
        vec![],
        vec![0, 0, 0],
        vec![0, 0, 0, 0, 9, 1],
        vec![0, 0, 0, 0, 3, 0x0a, 2, 0xff],
    ] {
        let e = check_frame(&RULES, &get, &bytes).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bytes:?}");
    }
    // Invalid UTF-8 in a string field.
    let e = check_frame(&RULES, &get, &[0, 0, 0, 0, 4, 0x0a, 2, 0xff, 0xfe]).unwrap_err();
    assert!(
        e.message().contains("request cannot be read"),
        "{}",
        e.message()
    );
    // Compressed, or a flag no gRPC client writes: refused, not passed on unchecked.
    let e = check_frame(&RULES, &get, &[1, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    let e = check_frame(&RULES, &get, &[7, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}
