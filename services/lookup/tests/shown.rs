//! What the applicant reads of a dossier, the same through gRPC, the JSON API and the page: a
//! paid obligation as paid with its date, the return date promised now (after an apology) beside
//! the original one, the reasons the desk refused a dossier for, the national status code as a
//! labelled code and as a number, and a procedure's fee as the catalog words it.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use motcua_domain::time::ts;
use motcua_proto::common::{DossierStatus, PauseReason, Procedure, ProcessingTime};
use motcua_proto::events::{ChangeKind, RejectedAtIntake};
use motcua_proto::lookup::{GetProcedureRequest, PublicDossier};
use prost::Message;
use uuid::Uuid;

const CODE: &str = "000.00.06.H56-260302-0011";
const TOKEN: &str = "K7M2P9Q4RX";

/// "10:00 ngày 04/03/2026", as the page prints a time.
fn vn(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .format("%H:%M ngày %d/%m/%Y")
        .to_string()
}

/// The same instant as the JSON prints it.
fn rfc(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

async fn publish_state(app: &App, event_type: &'static str, payload: Vec<u8>) {
    app.publish(
        &format!("dossier.dat-dai.{event_type}"),
        event_type,
        Uuid::now_v7(),
        payload,
    )
    .await;
}

/// The dossier as each interface shows it once lookup holds `version`: gRPC's message, the
/// JSON, the page's HTML.
async fn everywhere(app: &App, version: u64) -> (PublicDossier, serde_json::Value, String) {
    let d = app.wait_version(CODE, TOKEN, version).await;
    let (status, _, json) = json_lookup(app, CODE, TOKEN).await;
    assert_eq!(status, 200, "{json}");
    let (status, page) = page_lookup(app, CODE, TOKEN).await;
    assert_eq!(status, 200, "{page}");
    (d, serde_json::from_str(&json).unwrap(), page)
}

/// The text of the page's `<dd>` after the `<dt>` labelled `label` (None: no such row).
fn row<'p>(page: &'p str, label: &str) -> Option<&'p str> {
    let at = page.find(&format!("<dt>{label}</dt>"))?;
    let rest = &page[at..];
    let start = rest.find("<dd>")? + 4;
    let end = rest.find("</dd>")?;
    Some(rest[start..end].trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_obligation_shows_as_paid_with_its_date_and_voucher() {
    let app = lookup_only(|_| {}).await;
    let at = start_time();
    publish_state(
        &app,
        "submitted",
        submitted(state(CODE, 1, DossierStatus::Received, TOKEN)),
    )
    .await;
    let mut owed = state(CODE, 2, DossierStatus::FinancialObligation, TOKEN);
    owed.paused = PauseReason::FinancialObligation as i32;
    owed.paused_since = Some(ts(at + Duration::hours(1)));
    owed.obligation_vnd = 1_250_000;
    owed.obligation_note = "Lệ phí trước bạ".into();
    publish_state(
        &app,
        "state-changed",
        changed(
            owed.clone(),
            ChangeKind::FinancialObligationRequested,
            at + Duration::hours(1),
        ),
    )
    .await;
    let (d, json, page) = everywhere(&app, 2).await;
    assert!(d.obligation_paid_at.is_none());
    assert_eq!(json["obligation_paid"], false);
    assert!(json["obligation_paid_at"].is_null());
    assert!(
        page.contains("phải nộp") && page.contains("1.250.000 đồng"),
        "owed: {page}"
    );

    // Paid two days later: the case resumes; the amount stays, now as paid.
    let paid_at = at + Duration::days(2);
    let mut paid = owed;
    paid.version = 3;
    paid.status = DossierStatus::InProgress as i32;
    paid.national_code = 4;
    paid.paused = PauseReason::Unspecified as i32;
    paid.paused_since = None;
    paid.obligation_paid_at = Some(ts(paid_at));
    paid.obligation_payment_reference = "BL 0012345".into();
    publish_state(
        &app,
        "state-changed",
        changed(paid, ChangeKind::PaymentRecorded, paid_at),
    )
    .await;
    let (d, json, page) = everywhere(&app, 3).await;
    assert_eq!(d.obligation_paid_at, Some(ts(paid_at)));
    assert_eq!(d.obligation_payment_reference, "BL 0012345");
    assert_eq!(json["obligation_paid"], true);
    assert_eq!(json["obligation_paid_at"], rfc(paid_at));
    assert_eq!(json["obligation_payment_reference"], "BL 0012345");
    assert_eq!(json["obligation_vnd"], 1_250_000);
    assert!(
        page.contains(&format!("đã nộp lúc {}", vn(paid_at))) && page.contains("BL 0012345"),
        "paid, with its date and voucher: {page}"
    );
    assert!(!page.contains("phải nộp"), "no longer owed: {page}");

    // A later state that no longer carries the amount still says it was paid.
    let mut later = state(CODE, 4, DossierStatus::InProgress, TOKEN);
    later.obligation_paid_at = Some(ts(paid_at));
    later.obligation_payment_reference = "BL 0012345".into();
    publish_state(
        &app,
        "state-changed",
        changed(later, ChangeKind::Forwarded, paid_at + Duration::hours(1)),
    )
    .await;
    let (_, _, page) = everywhere(&app, 4).await;
    assert!(
        page.contains(&format!("Nghĩa vụ tài chính: đã nộp lúc {}", vn(paid_at))),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_apology_the_promised_date_is_the_return_date_and_the_original_is_shown_apart() {
    let app = lookup_only(|_| {}).await;
    let receipt_due = start_time() + Duration::days(12);
    let mut s1 = state(CODE, 1, DossierStatus::Received, TOKEN);
    s1.original_due_at = Some(ts(receipt_due));
    publish_state(&app, "submitted", submitted(s1.clone())).await;
    let (d, json, page) = everywhere(&app, 1).await;
    assert_eq!(d.promised_due_at, Some(ts(receipt_due)));
    assert_eq!(json["promised_due_at"], rfc(receipt_due));
    assert_eq!(
        row(&page, "Ngày hẹn trả kết quả"),
        Some(vn(receipt_due).as_str())
    );
    assert_eq!(
        row(&page, "Ngày hẹn trên giấy tiếp nhận"),
        None,
        "nothing moved: one date"
    );

    // A supplement moved the due time two days; then an apology promised a later date.
    let moved = receipt_due + Duration::days(2);
    let promised = receipt_due + Duration::days(9);
    let mut s2 = s1;
    s2.version = 2;
    s2.status = DossierStatus::InProgress as i32;
    s2.national_code = 4;
    s2.due_at = Some(ts(moved));
    s2.apology_reason = "Chờ ý kiến cơ quan thuế".into();
    s2.apology_due_at = Some(ts(promised));
    publish_state(
        &app,
        "state-changed",
        changed(
            s2,
            ChangeKind::ApologyIssued,
            start_time() + Duration::days(13),
        ),
    )
    .await;
    let (d, json, page) = everywhere(&app, 2).await;
    assert_eq!(d.promised_due_at, Some(ts(promised)), "gRPC: the promise");
    assert_eq!(
        d.original_due_at,
        Some(ts(receipt_due)),
        "gRPC: the receipt's"
    );
    assert_eq!(d.due_at, Some(ts(moved)), "gRPC: the legal one, as before");
    assert_eq!(json["promised_due_at"], rfc(promised));
    assert_eq!(json["original_due_at"], rfc(receipt_due));
    assert_eq!(json["due_at"], rfc(moved));
    assert_eq!(
        row(&page, "Ngày hẹn trả kết quả"),
        Some(vn(promised).as_str()),
        "the page's return date is the promised one: {page}"
    );
    assert_eq!(
        row(&page, "Ngày hẹn trên giấy tiếp nhận"),
        Some(vn(receipt_due).as_str())
    );
    assert_eq!(
        row(&page, "Ngày hẹn trước khi xin lỗi"),
        Some(vn(moved).as_str())
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_refused_at_intake_shows_the_reasons_the_desk_recorded() {
    let app = lookup_only(|_| {}).await;
    let mut s = state(CODE, 1, DossierStatus::RejectedAtIntake, TOKEN);
    s.stopped_at = s.received_at;
    let reasons = vec![
        "Thiếu bản vẽ sơ đồ thửa đất".to_owned(),
        "Đơn chưa có chữ ký của người sử dụng đất <b>".to_owned(),
    ];
    publish_state(
        &app,
        "rejected-at-intake",
        RejectedAtIntake {
            state: Some(s),
            reasons: reasons.clone(),
            rejected_by: None,
        }
        .encode_to_vec(),
    )
    .await;
    let (d, json, page) = everywhere(&app, 1).await;
    assert_eq!(d.status_label, "Không được tiếp nhận");
    assert_eq!(d.rejection_reasons, reasons);
    assert_eq!(json["rejection_reasons"], serde_json::json!(reasons));
    assert!(page.contains("Thiếu bản vẽ sơ đồ thửa đất"), "{page}");
    assert!(
        page.contains("Đơn chưa có chữ ký của người sử dụng đất &") && !page.contains("đất <b>"),
        "shown as written, escaped: {page}"
    );
    assert!(d.promised_due_at.is_none(), "nothing is due");
    assert_eq!(row(&page, "Ngày hẹn trả kết quả"), None, "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_labelled_on_the_page_and_numbers_in_the_json() {
    let app = lookup_only(|_| {}).await;
    publish_state(
        &app,
        "submitted",
        submitted(state(CODE, 1, DossierStatus::Received, TOKEN)),
    )
    .await;
    let mut s = state(CODE, 2, DossierStatus::SupplementRequested, TOKEN);
    s.missing_documents = vec!["Bản vẽ".into()];
    publish_state(
        &app,
        "state-changed",
        changed(s, ChangeKind::SupplementRequested, start_time()),
    )
    .await;
    let (_, json, page) = everywhere(&app, 2).await;
    assert_eq!(json["national_code"], 5);
    let history: Vec<(u64, &str)> = json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["national_code"].as_u64().unwrap(),
                c["status_label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [(2, "Đã tiếp nhận"), (5, "Chờ bổ sung hồ sơ")],
        "each change carries the national code beside its text"
    );
    assert_eq!(
        row(&page, "Trạng thái trên Cổng Dịch vụ công quốc gia"),
        Some("Mã trạng thái 5: Chờ bổ sung hồ sơ"),
        "{page}"
    );
    assert_eq!(
        row(&page, "Mã thủ tục"),
        Some(r#"<a href="/thu-tuc/1.013831">1.013831</a>"#),
        "{page}"
    );
    app.stop().await;
}

fn procedure(code: &str, fee_vnd: i64, fee_note: &str) -> Procedure {
    Procedure {
        code: code.into(),
        version: 1,
        name: format!("Thủ tục {code}"),
        field: "dat-dai".into(),
        competent_agency: AGENCY.into(),
        level: motcua_proto::common::ServiceLevel::Partial as i32,
        processing_time: Some(ProcessingTime {
            span: Some(motcua_proto::common::processing_time::Span::WorkingDays(5)),
        }),
        fee_vnd,
        fee_note: fee_note.into(),
        effective_from: "2025-07-01".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fee_is_worded_as_the_catalog_gives_it_and_free_only_when_it_is() {
    let app = lookup_only(|_| {}).await;
    // (code, fee, fee note, the words shown, free)
    let cases = [
        (
            "t.nghi-quyet",
            0,
            "Lệ phí theo Nghị quyết của HĐND tỉnh",
            "Lệ phí theo Nghị quyết của HĐND tỉnh",
            false,
        ),
        ("t.khong-ghi", 0, "", "Miễn phí", true),
        ("t.khong-thu", 0, "Không thu phí.", "Không thu phí.", true),
        ("t.co-phi", 150_000, "", "150.000 đồng", false),
        (
            "t.co-phi-ghi-chu",
            150_000,
            "Lệ phí cấp giấy",
            "150.000 đồng. Lệ phí cấp giấy",
            false,
        ),
    ];
    for (code, fee, note, _, _) in cases {
        publish_procedure(&app, procedure(code, fee, note)).await;
    }
    app.wait_db("SELECT count(*) = 5 FROM procedures", "five procedures")
        .await;
    for (code, _, _, words, free) in cases {
        let json: serde_json::Value =
            serde_json::from_str(&get_text(&app, &format!("/api/v1/procedures/{code}")).await)
                .unwrap();
        assert_eq!(json["fee"], words, "{code}");
        assert_eq!(json["free"], free, "{code}");
        let page = get_text(&app, &format!("/thu-tuc/{code}")).await;
        assert_eq!(row(&page, "Phí, lệ phí"), Some(words), "{code}");
        if !free {
            assert!(!page.contains("Miễn phí"), "{code}: {page}");
        }
    }
    // gRPC carries the catalog's own fields, unchanged.
    let p = app
        .lookup_client()
        .await
        .get_procedure(GetProcedureRequest {
            code: "t.nghi-quyet".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .procedure
        .unwrap();
    assert_eq!(
        (p.fee_vnd, p.fee_note.as_str()),
        (0, "Lệ phí theo Nghị quyết của HĐND tỉnh")
    );
    app.stop().await;
}
