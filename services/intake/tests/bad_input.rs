//! Bad input as a new integrator sends it: every text field checked the same way at the boundary,
//! values that make no sense refused with what to fix, short error messages, nothing stored.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_proto::common::Channel;
use motcua_proto::intake::*;
use tonic::Code;

/// Clients drop error trailers much past 8 KiB; ours stay well under.
const SHORT: usize = 600;

fn expect<T: std::fmt::Debug>(
    r: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    words: &str,
) {
    let e = r.expect_err(words);
    assert_eq!(e.code(), code, "{words}: {}", e.message());
    assert!(
        e.message().contains(words),
        "{:?} should say {words:?}",
        e.message()
    );
    assert!(
        e.message().len() < SHORT,
        "message of {} bytes: {words}",
        e.message().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_text_field_is_checked_at_the_boundary_the_same_way() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    type Change = fn(&mut SubmitDossierRequest);
    let cases: Vec<(Change, &str)> = vec![
        (
            |r| r.procedure_code = "1.0138\u{0}31".into(),
            "procedure_code: chứa ký tự điều khiển U+0000",
        ),
        (
            |r| r.applicant.as_mut().unwrap().email = "an@x.vn\u{7}".into(),
            "applicant.email: chứa ký tự điều khiển",
        ),
        (
            |r| r.result_delivery = "tai-quay\r\n".into(),
            "result_delivery: chứa ký tự điều khiển",
        ),
        (
            |r| r.documents[0].name = "Đơn\u{1b}[31m".into(),
            "documents[0].name: chứa ký tự điều khiển U+001B",
        ),
        (
            |r| r.idempotency_key = "k\u{0}".into(),
            "idempotency_key: chứa ký tự điều khiển",
        ),
        (
            |r| r.applicant.as_mut().unwrap().phone = "9".repeat(1_000_000),
            "applicant.phone: dài 1000000 ký tự, tối đa 32",
        ),
        (
            |r| r.note = "x".repeat(1_000_001),
            "note: dài 1000001 ký tự, tối đa 1000",
        ),
        (
            |r| r.channel = 7,
            "channel: giá trị 7 không có trong Channel",
        ),
        (
            |r| r.applicant.as_mut().unwrap().r#type = 9,
            "applicant.type: giá trị 9",
        ),
        (
            |r| r.documents[1].form = -1,
            "documents[1].form: giá trị -1",
        ),
        (
            |r| {
                r.submitted_at = Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: -5,
                })
            },
            "submitted_at: thời điểm không hợp lệ",
        ),
    ];
    for (change, words) in cases {
        let mut r = counter_submission("");
        change(&mut r);
        expect(desk.submit_dossier(r).await, Code::InvalidArgument, words);
    }
    // A NUL or a huge value in a dossier code, wherever a code is taken.
    for code in ["000.00.06.H56-260302-0001\u{0}", &"X".repeat(20_000)] {
        let words = "dossier_code:";
        expect(
            desk.get_dossier(GetDossierRequest {
                dossier_code: code.to_owned(),
            })
            .await,
            Code::InvalidArgument,
            words,
        );
        expect(
            desk.request_withdrawal(RequestWithdrawalRequest {
                dossier_code: code.to_owned(),
                reason: "rút".into(),
                idempotency_key: String::new(),
            })
            .await,
            Code::InvalidArgument,
            words,
        );
    }
    // A reason may span lines; a NUL in it may not.
    expect(
        desk.reject_dossier(RejectDossierRequest {
            submission: Some(counter_submission("")),
            reasons: vec!["dòng một\ndòng hai\u{0}".into()],
        })
        .await,
        Code::InvalidArgument,
        "reasons[0]: chứa ký tự điều khiển U+0000",
    );
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM dossier_actions").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_make_no_sense_are_refused_with_what_to_fix() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let mut portal = app.portal().await;
    type Change = fn(&mut SubmitDossierRequest);
    let cases: Vec<(Change, Code, &str)> = vec![
        (
            |r| r.result_delivery = "giao tận nhà".into(),
            Code::InvalidArgument,
            "tai-quay, buu-chinh hoặc truc-tuyen",
        ),
        // 1.013831 is "partial": its results are not returned online.
        (
            |r| r.result_delivery = "truc-tuyen".into(),
            Code::FailedPrecondition,
            "không trả kết quả trực tuyến",
        ),
        (
            |r| r.documents[0].copies = 0,
            Code::InvalidArgument,
            "documents[0].copies: 0 bản",
        ),
        (
            |r| r.documents[2].copies = u32::MAX,
            Code::InvalidArgument,
            "documents[2].copies: 4294967295 bản",
        ),
        (
            |r| r.channel = 0,
            Code::InvalidArgument,
            "channel is required",
        ),
        (
            |r| r.applicant.as_mut().unwrap().address = "Hà".into(),
            Code::InvalidArgument,
            "address is too short",
        ),
        (
            |r| r.applicant.as_mut().unwrap().address = String::new(),
            Code::InvalidArgument,
            "address is required",
        ),
    ];
    for (change, code, words) in cases {
        let mut r = counter_submission("");
        change(&mut r);
        expect(desk.submit_dossier(r).await, code, words);
    }
    // Lists beyond their bounds are refused naming the field, before anything is stored.
    let mut r = counter_submission("");
    let extra = r.documents[0].clone();
    r.documents = vec![extra; 101];
    expect(
        desk.submit_dossier(r).await,
        Code::InvalidArgument,
        "documents: tối đa 100",
    );
    let mut r = counter_submission("");
    r.documents[0].attachment_ids = vec![uuid::Uuid::now_v7().to_string(); 21];
    expect(
        desk.submit_dossier(r).await,
        Code::InvalidArgument,
        "documents[0].attachment_ids",
    );
    expect(
        desk.reject_dossier(RejectDossierRequest {
            submission: Some(counter_submission("")),
            reasons: vec!["Thiếu bản vẽ".into(); 51],
        })
        .await,
        Code::InvalidArgument,
        "reasons: tối đa 50",
    );
    // An integrating system may receive for any agency in the catalog — not for one in none.
    let mut r = counter_submission("");
    r.channel = Channel::Postal as i32;
    r.receiving_agency = "000.00.99.H56".into();
    expect(
        portal.submit_dossier(r).await,
        Code::FailedPrecondition,
        "receiving agency is in no catalog",
    );
    // An empty code is a mistake of the request, not a dossier that is not there.
    expect(
        desk.get_dossier(GetDossierRequest::default()).await,
        Code::InvalidArgument,
        "dossier_code is required",
    );
    expect(
        desk.submit_supplement(SubmitSupplementRequest {
            dossier_code: "  ".into(),
            documents: vec![SubmittedDocument {
                name: "Bản vẽ".into(),
                copies: 1,
                ..Default::default()
            }],
            idempotency_key: String::new(),
        })
        .await,
        Code::InvalidArgument,
        "dossier_code is required",
    );
    expect(
        desk.get_dossier(GetDossierRequest {
            dossier_code: "không-phải-mã".into(),
        })
        .await,
        Code::InvalidArgument,
        "malformed dossier code",
    );
    // A forged page token names no instant the database can hold.
    expect(
        desk.list_dossiers(ListDossiersRequest {
            page_token: "-1000000000000000000|x".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "page_token",
    );
    // A rejection lists what was handed in; each document is still checked.
    let mut incomplete = counter_submission("");
    incomplete.documents.truncate(1);
    incomplete.documents[0].copies = 0;
    expect(
        desk.reject_dossier(RejectDossierRequest {
            submission: Some(incomplete),
            reasons: vec!["Thiếu giấy chứng nhận".into()],
        })
        .await,
        Code::InvalidArgument,
        "documents[0].copies",
    );
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receipt_keeps_the_note_and_names_documents_as_the_catalog_does() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let mut r = counter_submission("named");
    r.note = "Người nộp hẹn lấy kết quả buổi chiều.\nĐã kiểm tra bản chính.".into();
    r.documents[0].name = "Giấy gì cũng được".into();
    r.documents.push(SubmittedDocument {
        key: String::new(),
        name: "  Sơ đồ   thửa đất  ".into(),
        copies: 2,
        ..Default::default()
    });
    let receipt = desk
        .submit_dossier(r)
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    assert_eq!(
        receipt.note,
        "Người nộp hẹn lấy kết quả buổi chiều.\nĐã kiểm tra bản chính."
    );
    assert_eq!(
        receipt.documents[0].name,
        "Đơn đăng ký biến động đất đai, tài sản gắn liền với đất (Mẫu số 11/ĐK)",
        "the catalog's name, not the client's"
    );
    assert_eq!(
        (
            receipt.documents[3].name.as_str(),
            receipt.documents[3].copies
        ),
        ("Sơ đồ thửa đất", 2)
    );
    assert_eq!(receipt.result_delivery, "tai-quay");
    let got = desk
        .get_dossier(GetDossierRequest {
            dossier_code: receipt.dossier_code.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap()
        .receipt
        .unwrap();
    assert_eq!(
        got.note, receipt.note,
        "the note is returned, not swallowed"
    );
    app.stop().await;
}
