//! How long each text field of intake's API may be, and which may hold line breaks. The gRPC
//! boundary holds every request to these before intake's code runs (any control character, NUL
//! included, is refused elsewhere); the checks in [`crate::applicant`] and [`crate::submission`]
//! then judge the content.

use motcua_platform::boundary::TextRules;

pub const TEXT_RULES: TextRules = TextRules {
    default_max_chars: 300,
    limits: &[
        ("dossier_code", 64),
        ("procedure_code", 64),
        ("code", 64),
        ("idempotency_key", 128),
        ("receiving_agency", 32),
        ("competent_agency", 32),
        ("agency", 32),
        ("field", 32),
        ("id_number", 32),
        ("phone", 32),
        ("email", 254),
        ("name", 500),
        ("address", 500),
        ("result_delivery", 32),
        ("note", 1000),
        ("reason", 1000),
        ("reasons", 1000),
        ("fee_note", 1000),
        ("keywords", 100),
        ("legal_basis", 2000),
        ("file_name", 255),
        ("media_type", 127),
        ("attachment_ids", 64),
        ("page_token", 200),
        ("as_of", 10),
        ("effective_from", 10),
        ("cutoff", 5),
    ],
    multiline: &["note", "reason", "reasons", "fee_note", "legal_basis"],
};
