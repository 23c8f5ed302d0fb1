//! Message templates: built-in Vietnamese defaults, versions published by admins, the check at
//! publish time, and rendering.
//!
//! Templates are minijinja text with named placeholders (`{{ code }}`, `{{ due_date }}`, …). What
//! a trigger offers and requires is [`Trigger::placeholders`]; a template that names anything else,
//! lacks a required one, or does not parse is refused when published, and rendering is strict
//! (an undefined name is an error), so a message can never go out with a hole in it. SMS templates
//! are written with diacritics like the rest; SMS are folded to GSM-7 when sent unless
//! MOTCUA_SMS_UNICODE is set. An e-mail without its own HTML body gets the plain text as HTML.
//!
//! The version in use of (trigger, channel, language) for an agency is the newest that agency
//! published, else the newest default, else the built-in text (version 0)
//! ([`crate::template_store`]).

use crate::rules::Channel;
use crate::triggers::{Facts, Trigger};
use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::collections::BTreeSet;

pub const LANGUAGE: &str = "vi";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub trigger: Trigger,
    pub channel: Channel,
    pub language: String,
    pub version: i32,
    pub subject: String,
    pub body: String,
    pub html_body: String,
    pub published_at: Option<DateTime<Utc>>,
    pub published_by: String,
    /// Whose messages it words; empty for a default of every agency.
    pub agency: String,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    pub html_body: String,
}

/// The built-in text of a trigger on a channel: (subject, body). None: the pair has no default.
pub fn builtin(trigger: Trigger, channel: Channel) -> Option<(&'static str, &'static str)> {
    use Channel::*;
    use Trigger::*;
    Some(match (trigger, channel) {
        (Received, Sms) => (
            "",
            "Hồ sơ {{ code }} ({{ procedure }}) đã được tiếp nhận, hẹn trả kết quả ngày {{ due_date }}. Tra cứu: {{ lookup_link }}",
        ),
        (Received, Email) => (
            "Hồ sơ {{ code }} đã được tiếp nhận",
            "Kính gửi ông/bà,\n\nHồ sơ {{ code }} về thủ tục \"{{ procedure }}\" đã được tiếp nhận.\nNgày hẹn trả kết quả: {{ due_date }}.\n\nTheo dõi tiến độ: {{ lookup_link }}\n\nBộ phận Một cửa",
        ),
        (SupplementRequested, Sms) => (
            "",
            "Hồ sơ {{ code }} cần bổ sung: {{ missing_documents }}. Vui lòng nộp bổ sung tại Bộ phận Một cửa.",
        ),
        (SupplementRequested, Email) => (
            "Hồ sơ {{ code }} cần bổ sung giấy tờ",
            "Kính gửi ông/bà,\n\nHồ sơ {{ code }} ({{ procedure }}) cần bổ sung, hoàn thiện các giấy tờ sau:\n{{ missing_documents }}\n\nThời gian giải quyết tạm dừng cho đến khi nhận đủ giấy tờ bổ sung.\nTheo dõi: {{ lookup_link }}\n\nBộ phận Một cửa",
        ),
        (FinancialObligationRequested, Sms) => (
            "",
            "Hồ sơ {{ code }}: vui lòng nộp nghĩa vụ tài chính {{ amount }} để tiếp tục giải quyết.",
        ),
        (FinancialObligationRequested, Email) => (
            "Hồ sơ {{ code }}: thông báo nghĩa vụ tài chính",
            "Kính gửi ông/bà,\n\nĐể tiếp tục giải quyết hồ sơ {{ code }} ({{ procedure }}), ông/bà cần nộp nghĩa vụ tài chính: {{ amount }}.\n{{ note }}\n\nThời gian giải quyết tạm dừng cho đến khi ghi nhận đã nộp.\n\nBộ phận Một cửa",
        ),
        (ApologyIssued, Sms) => (
            "",
            "Xin lỗi ông/bà: hồ sơ {{ code }} chưa kịp trả đúng hẹn ({{ reason }}). Hẹn trả kết quả vào {{ new_date }}.",
        ),
        (ApologyIssued, Email) => (
            "Thư xin lỗi và hẹn lại ngày trả kết quả hồ sơ {{ code }}",
            "Kính gửi ông/bà,\n\nCơ quan chúng tôi xin lỗi vì hồ sơ {{ code }} ({{ procedure }}) chưa giải quyết kịp theo ngày hẹn.\nLý do: {{ reason }}\nHẹn trả kết quả vào {{ new_date }}.\n\nTheo dõi: {{ lookup_link }}\n\nBộ phận Một cửa",
        ),
        (Refused, Sms) => (
            "",
            "Hồ sơ {{ code }} bị từ chối giải quyết. Lý do: {{ reason }}.",
        ),
        (Refused, Email) => (
            "Hồ sơ {{ code }} bị từ chối giải quyết",
            "Kính gửi ông/bà,\n\nHồ sơ {{ code }} ({{ procedure }}) bị từ chối giải quyết.\nLý do: {{ reason }}\n\nBộ phận Một cửa",
        ),
        (ResultReady, Sms) => (
            "",
            "Hồ sơ {{ code }} đã có kết quả. Mời ông/bà đến Bộ phận Một cửa nhận kết quả.",
        ),
        (ResultReady, Email) => (
            "Hồ sơ {{ code }} đã có kết quả",
            "Kính gửi ông/bà,\n\nHồ sơ {{ code }} ({{ procedure }}) đã có kết quả. Mời ông/bà đến Bộ phận Một cửa nhận kết quả (mang theo giấy tiếp nhận).\n\nBộ phận Một cửa",
        ),
        (ResultReturned, Sms) => ("", "Hồ sơ {{ code }} đã trả kết quả. Cảm ơn ông/bà."),
        (ResultReturned, Email) => (
            "Hồ sơ {{ code }} đã trả kết quả",
            "Kính gửi ông/bà,\n\nKết quả hồ sơ {{ code }} ({{ procedure }}) đã được trả. Cảm ơn ông/bà.\n\nBộ phận Một cửa",
        ),
        (Stopped, Sms) => ("", "Hồ sơ {{ code }} đã dừng xử lý. Lý do: {{ reason }}."),
        (Stopped, Email) => (
            "Hồ sơ {{ code }} dừng xử lý",
            "Kính gửi ông/bà,\n\nHồ sơ {{ code }} ({{ procedure }}) đã dừng xử lý.\nLý do: {{ reason }}\n\nBộ phận Một cửa",
        ),
        (WithdrawalApproved, Sms) => (
            "",
            "Yêu cầu rút hồ sơ {{ code }} đã được chấp thuận. {{ reason }}",
        ),
        (WithdrawalApproved, Email) => (
            "Hồ sơ {{ code }} đã được rút",
            "Kính gửi ông/bà,\n\nYêu cầu rút hồ sơ {{ code }} ({{ procedure }}) đã được chấp thuận.\n{{ reason }}\n\nBộ phận Một cửa",
        ),
        (DueSoon, Email) => (
            "Sắp đến hạn: hồ sơ {{ code }}",
            "Hồ sơ {{ code }} sắp đến hạn xử lý bước \"{{ step }}\" ({{ department }}): hạn {{ due_date }}.\nCán bộ xử lý: {{ assignee }}",
        ),
        (Overdue, Email) => (
            "Quá hạn: hồ sơ {{ code }}",
            "Hồ sơ {{ code }} đã quá hạn xử lý bước \"{{ step }}\" ({{ department }}): hạn {{ due_date }}.\nCán bộ xử lý: {{ assignee }}",
        ),
        (SmsReply, Sms) => (
            "",
            "Hồ sơ {{ code }}: {{ status }}.{% if due_date %} Hẹn trả {{ due_date }}.{% endif %}",
        ),
        (SmsHelp, Sms) => (
            "",
            "Tra cứu hồ sơ: soạn {{ keyword }} <mã hồ sơ> <mã tra cứu>, ví dụ {{ example }}",
        ),
        _ => return None,
    })
}

fn environment(html: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if html {
        env.set_auto_escape_callback(|_| AutoEscape::Html);
    } else {
        env.set_auto_escape_callback(|_| AutoEscape::None);
    }
    env
}

/// Why a template is refused, naming what to fix.
pub fn check(
    trigger: Trigger,
    channel: Channel,
    subject: &str,
    body: &str,
    html_body: &str,
) -> Result<(), String> {
    if channel == Channel::Webhook {
        return Err(
            "webhooks carry the event as JSON and take no template; choose sms or email".into(),
        );
    }
    if matches!(trigger, Trigger::StateChanged) {
        return Err("state-changed is for webhooks and takes no template".into());
    }
    if body.trim().is_empty() {
        return Err("body is empty".into());
    }
    if channel == Channel::Email && subject.trim().is_empty() {
        return Err("an e-mail template needs a subject".into());
    }
    if channel == Channel::Sms && (!subject.is_empty() || !html_body.is_empty()) {
        return Err("an SMS template has a body only (no subject, no HTML)".into());
    }
    if [subject, body, html_body]
        .iter()
        .any(|t| t.chars().count() > 8000)
    {
        return Err("a template part is longer than 8000 characters".into());
    }
    let (offered, required) = trigger.placeholders();
    let mut used = BTreeSet::new();
    for (part, text, html) in [
        ("subject", subject, false),
        ("body", body, false),
        ("html_body", html_body, true),
    ] {
        if text.is_empty() {
            continue;
        }
        let env = environment(html);
        let template = env
            .template_from_str(text)
            .map_err(|e| format!("{part}: {e}"))?;
        for name in template.undeclared_variables(false) {
            if !offered.contains(&name.as_str()) {
                return Err(format!(
                    "{part}: unknown placeholder {{{{ {name} }}}}; {} offers {}",
                    trigger.as_str(),
                    offered.join(", ")
                ));
            }
            used.insert(name);
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !used.contains(*r))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing placeholder(s) {}: a {} message must name them",
            missing.join(", "),
            trigger.as_str()
        ));
    }
    render_parts(subject, body, html_body, &sample(trigger)).map(|_| ())
}

/// A body rendered with the sample facts (as published templates are measured).
pub fn render_sample(trigger: Trigger, body: &str) -> Result<String, String> {
    render_parts("", body, "", &sample(trigger)).map(|r| r.body)
}

/// Long sample facts: what a template is measured with when published.
pub fn sample(trigger: Trigger) -> Facts {
    let _ = trigger;
    Facts {
        code: "000.00.06.H56-261127-0001".into(),
        procedure: "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất"
            .into(),
        status: "Đang giải quyết".into(),
        due_date: "15/12/2026".into(),
        lookup_link: "https://tracuu.example.gov.vn/tra-cuu#ma=000.00.06.H56-261127-0001".into(),
        missing_documents: "Bản sao giấy chứng nhận quyền sử dụng đất; Tờ khai lệ phí trước bạ"
            .into(),
        amount: "1.250.000 đồng".into(),
        note: "Lệ phí trước bạ".into(),
        reason: "Cần xác minh thêm nguồn gốc sử dụng đất".into(),
        new_date: "22/12/2026".into(),
        step: "Thẩm định hồ sơ".into(),
        department: "Văn phòng Đăng ký đất đai".into(),
        assignee: "Trần Thị Bình".into(),
        keyword: "HS".into(),
        example: "HS 000.00.06.H56-261127-0001 K7Q2M9XA3B".into(),
    }
}

fn render_parts(
    subject: &str,
    body: &str,
    html_body: &str,
    facts: &Facts,
) -> Result<Rendered, String> {
    let render = |text: &str, html: bool, part: &str| -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        environment(html)
            .render_str(text, minijinja::value::Serde(facts))
            .map_err(|e| format!("{part}: {e}"))
    };
    let body_text = render(body, false, "body")?;
    let html = if html_body.is_empty() {
        String::new()
    } else {
        render(html_body, true, "html_body")?
    };
    Ok(Rendered {
        subject: render(subject, false, "subject")?.replace(['\r', '\n'], " "),
        body: body_text,
        html_body: html,
    })
}

impl Template {
    pub fn render(&self, facts: &Facts) -> Result<Rendered, String> {
        let mut r = render_parts(&self.subject, &self.body, &self.html_body, facts)?;
        if self.channel == Channel::Email && r.html_body.is_empty() {
            r.html_body = plain_to_html(&r.body);
        }
        Ok(r)
    }

    pub fn builtin(trigger: Trigger, channel: Channel) -> Option<Self> {
        let (subject, body) = builtin(trigger, channel)?;
        Some(Template {
            trigger,
            channel,
            language: LANGUAGE.into(),
            version: 0,
            subject: subject.into(),
            body: body.into(),
            html_body: String::new(),
            published_at: None,
            published_by: "motcua".into(),
            agency: String::new(),
        })
    }
}

/// Plain text as a small HTML document: escaped, a paragraph per blank-line block.
pub fn plain_to_html(text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>")))
        .collect();
    format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"></head><body>{}</body></html>",
        paragraphs.join("")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_builtin_template_passes_its_own_check() {
        for t in crate::triggers::ALL {
            for c in [Channel::Sms, Channel::Email] {
                if let Some((subject, body)) = builtin(t, c) {
                    check(t, c, subject, body, "").unwrap_or_else(|e| panic!("{t:?} {c:?}: {e}"));
                }
            }
        }
    }

    #[test]
    fn unknown_and_missing_placeholders_are_refused_at_publish() {
        let t = Trigger::SupplementRequested;
        let err = check(
            t,
            Channel::Sms,
            "",
            "Ho so {{ code }} thieu {{ missing_docs }}",
            "",
        )
        .unwrap_err();
        assert!(
            err.contains("unknown placeholder {{ missing_docs }}"),
            "{err}"
        );
        let err = check(t, Channel::Sms, "", "Ho so {{ code }} can bo sung", "").unwrap_err();
        assert!(
            err.contains("missing placeholder(s) missing_documents"),
            "{err}"
        );
        let err = check(
            t,
            Channel::Sms,
            "",
            "Ho so {{ code } {{ missing_documents }}",
            "",
        )
        .unwrap_err();
        assert!(err.starts_with("body:"), "{err}");
        let err = check(
            Trigger::Received,
            Channel::Email,
            "",
            "Ho so {{ code }}",
            "",
        )
        .unwrap_err();
        assert!(err.contains("subject"), "{err}");
        let err = check(
            Trigger::Received,
            Channel::Email,
            "Hồ sơ {{ code }}",
            "Ho so {{ code }}",
            "<p>{{ applicant_phone }}</p>",
        )
        .unwrap_err();
        assert!(err.starts_with("html_body: unknown placeholder"), "{err}");
        check(
            Trigger::ApologyIssued,
            Channel::Sms,
            "",
            "{{ code }}: {{ reason }}, hen lai {{ new_date }}",
            "",
        )
        .unwrap();
    }

    #[test]
    fn rendering_is_strict_and_html_is_escaped() {
        let t = Template {
            trigger: Trigger::Refused,
            channel: Channel::Email,
            language: "vi".into(),
            version: 3,
            subject: "Hồ sơ {{ code }}\nX".into(),
            body: "Lý do: {{ reason }}".into(),
            html_body: "<p>{{ reason }}</p>".into(),
            published_at: None,
            published_by: "x".into(),
            agency: String::new(),
        };
        let facts = Facts {
            code: "C1".into(),
            reason: "<script>alert(1)</script> & đất".into(),
            ..Facts::default()
        };
        let r = t.render(&facts).unwrap();
        assert_eq!(r.subject, "Hồ sơ C1 X");
        assert_eq!(r.body, "Lý do: <script>alert(1)</script> & đất");
        assert_eq!(
            r.html_body,
            "<p>&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; đất</p>"
        );
        let plain = Template {
            html_body: String::new(),
            ..t
        };
        assert!(
            plain
                .render(&facts)
                .unwrap()
                .html_body
                .contains("&lt;script&gt;")
        );
    }
}
