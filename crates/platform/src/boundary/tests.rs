//! Unit tests of `boundary`.

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

/// Every motcua contract, as a service hands its own to the boundary.
static POOL: LazyLock<DescriptorPool> =
    LazyLock::new(|| DescriptorPool::decode(motcua_proto::FILE_DESCRIPTOR_SET).unwrap());

fn input(name: &str) -> MessageDescriptor {
    POOL.get_message_by_name(name).unwrap()
}

const RULES: TextRules = TextRules {
    default_max_chars: 100,
    limits: &[("dossier_code", 10)],
    multiline: &["reason"],
};

#[test]
fn text_enum_and_timestamp_rules_name_the_field() {
    use motcua_proto::intake::*;
    let get = input("motcua.intake.v1.GetDossierRequest");
    let ok = GetDossierRequest {
        dossier_code: "H56-1".into(),
    };
    assert!(check_frame(&RULES, &get, &frame(&ok)).is_ok());
    for (code, want) in [("a\0b", "U+0000"), ("01234567890", "tối đa 10")] {
        let bad = GetDossierRequest {
            dossier_code: code.into(),
        };
        let e = check_frame(&RULES, &get, &frame(&bad)).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("dossier_code:"), "{}", e.message());
        assert!(e.message().contains(want), "{}", e.message());
    }
    let withdraw = input("motcua.intake.v1.RequestWithdrawalRequest");
    let two_lines = RequestWithdrawalRequest {
        dossier_code: "X".into(),
        reason: "dòng một\ndòng hai".into(),
        idempotency_key: String::new(),
    };
    assert!(check_frame(&RULES, &withdraw, &frame(&two_lines)).is_ok());
    let submit = input("motcua.intake.v1.SubmitDossierRequest");
    let bad_channel = SubmitDossierRequest {
        channel: 7,
        ..Default::default()
    };
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
    let nested = SubmitDossierRequest {
        documents: vec![
            SubmittedDocument::default(),
            SubmittedDocument {
                name: "bản\u{7}".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let e = check_frame(&RULES, &submit, &frame(&nested)).unwrap_err();
    assert!(
        e.message().starts_with("documents[1].name:"),
        "{}",
        e.message()
    );
    let far = SubmitDossierRequest {
        submitted_at: Some(prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        }),
        ..Default::default()
    };
    let e = check_frame(&RULES, &submit, &frame(&far)).unwrap_err();
    assert!(e.message().starts_with("submitted_at:"), "{}", e.message());
}

#[test]
fn unreadable_frames_are_invalid_arguments() {
    let get = input("motcua.intake.v1.GetDossierRequest");
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
