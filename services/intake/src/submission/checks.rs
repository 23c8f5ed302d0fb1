//! What a submission is checked against before anything is stored: its documents against the
//! procedure's list (forms, copies, scans), the result delivery, and the channel the caller may use.

use super::*;

/// Copies a document may be handed in with.
pub(super) const COPIES: std::ops::RangeInclusive<u32> = 1..=20;
/// Documents one submission or supplement lists, and scans one document carries: far above any
/// procedure's list, and low enough that every event stays small (proto comments say the same).
pub(crate) const MAX_DOCUMENTS: usize = 100;
pub(super) const MAX_ATTACHMENTS_PER_DOCUMENT: usize = 20;

/// One document handed in, checked against the procedure's list: a keyed document takes the
/// catalog's name (the receipt shows what the procedure calls it, whatever the client sent) and
/// must be in at least the required form; an extra document needs a name.
pub(super) fn check_document(
    procedure: &Procedure,
    i: usize,
    d: &SubmittedDocument,
) -> Result<SubmittedDocument, ServiceError> {
    if d.attachment_ids.len() > MAX_ATTACHMENTS_PER_DOCUMENT {
        return Err(invalid(format!(
            "documents[{i}].attachment_ids: tối đa {MAX_ATTACHMENTS_PER_DOCUMENT} tệp cho một giấy tờ (at most {MAX_ATTACHMENTS_PER_DOCUMENT})"
        )));
    }
    let mut d = d.clone();
    if d.key.is_empty() {
        d.name = applicant::clean_text(&d.name, &format!("documents[{i}].name"), 300)?;
        if d.name.is_empty() {
            return Err(invalid(format!(
                "documents[{i}]: giấy tờ bổ sung cần có tên (an extra document needs a name)"
            )));
        }
        if DocumentForm::try_from(d.form).unwrap_or(DocumentForm::Unspecified)
            == DocumentForm::Unspecified
        {
            d.form = DocumentForm::Copy as i32;
        }
    } else {
        let Some(required) = procedure.documents.iter().find(|r| r.key == d.key) else {
            return Err(invalid(format!(
                "documents[{i}]: thủ tục {} không có giấy tờ {} (unknown document key)",
                procedure.code,
                quote(&d.key)
            )));
        };
        let form = DocumentForm::try_from(d.form).unwrap_or(DocumentForm::Unspecified);
        if form == DocumentForm::Unspecified {
            d.form = required.form;
        } else if d.form > required.form {
            return Err(invalid(format!(
                "documents[{i}]: {} phải là {} (required form is stricter)",
                required.name,
                form_label(required.form)
            )));
        }
        d.name = required.name.clone();
    }
    if !COPIES.contains(&d.copies) {
        return Err(invalid(format!(
            "documents[{i}].copies: {} bản không hợp lệ, ghi số bản nộp từ {} đến {} (copies must be {}–{})",
            d.copies,
            COPIES.start(),
            COPIES.end(),
            COPIES.start(),
            COPIES.end()
        )));
    }
    for id in &d.attachment_ids {
        Uuid::parse_str(id).map_err(|_| {
            invalid(format!(
                "documents[{i}]: attachment id {} không hợp lệ (not an attachment id)",
                quote(id)
            ))
        })?;
    }
    Ok(d)
}

/// Documents listed without the procedure's requirements (a supplement, a rejection): each checked
/// like a submission's, none mandatory.
pub(super) fn at_most_documents(docs: &[SubmittedDocument]) -> Result<(), ServiceError> {
    if docs.len() > MAX_DOCUMENTS {
        return Err(invalid(format!(
            "documents: tối đa {MAX_DOCUMENTS} giấy tờ, nhận {} (at most {MAX_DOCUMENTS})",
            docs.len()
        )));
    }
    Ok(())
}

pub(crate) fn listed_documents(
    procedure: &Procedure,
    docs: &[SubmittedDocument],
) -> Result<Vec<SubmittedDocument>, ServiceError> {
    at_most_documents(docs)?;
    docs.iter()
        .enumerate()
        .map(|(i, d)| check_document(procedure, i, d))
        .collect()
}

/// Documents handed in against the procedure's list: every mandatory one present, none twice;
/// online submissions carry a scan of each, and every attachment exists.
pub(super) async fn check_documents(
    pool: &PgPool,
    procedure: &Procedure,
    docs: &[SubmittedDocument],
    online: bool,
) -> Result<Vec<SubmittedDocument>, ServiceError> {
    at_most_documents(docs)?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(docs.len());
    let mut attachment_ids = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let d = check_document(procedure, i, d)?;
        if !d.key.is_empty() && !seen.insert(d.key.clone()) {
            return Err(invalid(format!(
                "documents[{i}]: giấy tờ {} được khai hai lần (listed twice)",
                quote(&d.key)
            )));
        }
        if online && d.attachment_ids.is_empty() {
            return Err(invalid(format!(
                "documents[{i}]: hồ sơ trực tuyến cần bản điện tử của {} (online submissions need a scan)",
                d.name
            )));
        }
        attachment_ids.extend(
            d.attachment_ids
                .iter()
                .filter_map(|id| Uuid::parse_str(id).ok()),
        );
        out.push(d);
    }
    let missing: Vec<&str> = procedure
        .documents
        .iter()
        .filter(|r| r.mandatory && !seen.contains(&r.key))
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ServiceError::FailedPrecondition(format!(
            "hồ sơ thiếu giấy tờ bắt buộc: {} (missing required documents)",
            missing.join("; ")
        )));
    }
    if !attachment_ids.is_empty() {
        let found: HashSet<Uuid> = store::existing_attachments(pool, &attachment_ids)
            .await?
            .into_iter()
            .collect();
        if let Some(id) = attachment_ids.iter().find(|id| !found.contains(id)) {
            return Err(invalid(format!(
                "attachment {id} không tồn tại; tải lên bằng UploadAttachment trước (unknown attachment)"
            )));
        }
    }
    Ok(out)
}

/// Where the result goes back: at the desk (default), by post, or online where the procedure's
/// level returns results online (level 4, full-online).
pub(super) fn check_result_delivery(
    value: &str,
    procedure: &Procedure,
) -> Result<String, ServiceError> {
    let value = value.trim();
    match value {
        "" | "tai-quay" => Ok("tai-quay".into()),
        "buu-chinh" => Ok(value.into()),
        "truc-tuyen"
            if matches!(
                ServiceLevel::try_from(procedure.level),
                Ok(ServiceLevel::ServiceLevel4 | ServiceLevel::FullOnline)
            ) =>
        {
            Ok(value.into())
        }
        "truc-tuyen" => Err(ServiceError::FailedPrecondition(format!(
            "thủ tục {} không trả kết quả trực tuyến ở mức độ này; chọn tai-quay hoặc buu-chinh (procedure does not return results online)",
            procedure.code
        ))),
        other => Err(invalid(format!(
            "result_delivery {} không hợp lệ; dùng tai-quay, buu-chinh hoặc truc-tuyen (unknown result delivery)",
            quote(other)
        ))),
    }
}

pub(super) fn form_label(form: i32) -> &'static str {
    match DocumentForm::try_from(form).unwrap_or(DocumentForm::Unspecified) {
        DocumentForm::Original => "bản chính",
        DocumentForm::CertifiedCopy => "bản sao có chứng thực",
        DocumentForm::Copy => "bản sao",
        DocumentForm::Unspecified => "không rõ",
    }
}

/// Who may receive a dossier on each channel, and what another caller is told: desks receive in
/// person and by post; integrating systems (the national portal) forward online and postal
/// dossiers. The table [`check_channel`] reads; a channel not listed is refused.
pub(super) const CHANNEL_ROLES: &[(Channel, &[Role], &str)] = &[
    (
        Channel::Counter,
        &[Role::Desk],
        "chỉ bộ phận một cửa tiếp nhận hồ sơ trực tiếp (counter needs role desk)",
    ),
    (
        Channel::Postal,
        &[Role::Desk, Role::Integration],
        "hồ sơ bưu chính do bộ phận một cửa hoặc hệ thống tích hợp tiếp nhận (postal needs role desk or integration)",
    ),
    (
        Channel::Online,
        &[Role::Integration],
        "hồ sơ trực tuyến chỉ nhận qua hệ thống tích hợp (online needs role integration)",
    ),
];

/// Which channels a caller may use, and whether the procedure accepts the channel.
pub(super) fn check_channel(
    caller: &Caller,
    channel: Channel,
    procedure: &Procedure,
) -> Result<(), ServiceError> {
    let Some((_, roles, refusal)) = CHANNEL_ROLES.iter().find(|(c, _, _)| *c == channel) else {
        return Err(invalid(
            "thiếu kênh nộp: COUNTER, ONLINE hoặc POSTAL (channel is required)",
        ));
    };
    if !roles.iter().any(|r| caller.has(*r)) {
        return Err(ServiceError::PermissionDenied((*refusal).into()));
    }
    if channel == Channel::Online && !catalog::accepts_online(procedure.level) {
        return Err(ServiceError::FailedPrecondition(format!(
            "thủ tục {} không cung cấp dịch vụ trực tuyến ở mức độ này (procedure does not accept online submission)",
            procedure.code
        )));
    }
    if channel == Channel::Postal && !procedure.accepts_postal {
        return Err(ServiceError::FailedPrecondition(format!(
            "thủ tục {} không tiếp nhận qua bưu chính công ích (procedure does not accept postal submission)",
            procedure.code
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
