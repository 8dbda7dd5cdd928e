//! The `admission.k8s.io/v1` AdmissionReview wire format, reduced to what refguard reads and
//! writes, and the rendering of findings into a reply.
//!
//! We keep our own small types instead of kube-core's: its `AdmissionResponse::invalid` leaves
//! the uid empty, and the API server rejects any reply whose uid differs from the request's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{Finding, Severity};

/// The only AdmissionReview version refguard speaks (the API server has sent v1 since 1.16).
pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// The one warning on a review that could not be read but whose uid could.
pub const NOT_READ_WARNING: &str = "[refguard] not checked: the AdmissionReview could not be read";

/// Most characters the API server keeps of all warnings together.
const WARNINGS_BUDGET: usize = 4096;
/// Each warning stays under this many characters, so nothing is cut.
const WARNING_MAX: usize = 119;

/// A review as the API server sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    pub api_version: String,
    pub kind: String,
    pub request: AdmissionRequest,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    /// The kind of the object as the client wrote it; refguard routes on its group and kind.
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    pub operation: Operation,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub old_object: Option<Value>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// Just enough of a review to answer one that cannot be read in full.
#[derive(Deserialize)]
struct UidOnly {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    request: UidOnlyRequest,
}

#[derive(Deserialize)]
struct UidOnlyRequest {
    uid: String,
}

/// Why a body is not a review refguard can answer in full.
pub enum ReadError {
    /// The uid is known, so the API server can still be answered.
    WithUid {
        api_version: String,
        uid: String,
        problem: String,
    },
    /// Not even a uid: the caller is not the API server, or the body is garbage.
    Unreadable(String),
}

/// Reads a review. On failure, recovers the uid when the body is JSON that carries one.
///
/// The body is parsed straight into the typed review (no intermediate `Value` copy of two
/// objects of up to 3 MiB); only a body that fails is parsed again for its uid.
pub fn read_review(body: &[u8]) -> Result<AdmissionReview, ReadError> {
    let problem = match serde_json::from_slice::<AdmissionReview>(body) {
        Ok(review) if review.api_version == API_VERSION && review.kind == KIND => {
            return Ok(review);
        }
        Ok(review) => format!(
            "expected {API_VERSION} {KIND}, got {} {}",
            review.api_version, review.kind
        ),
        Err(error) if error.is_syntax() || error.is_eof() => {
            return Err(ReadError::Unreadable(format!("body is not JSON: {error}")));
        }
        Err(error) => format!("not an AdmissionReview: {error}"),
    };

    match serde_json::from_slice::<UidOnly>(body) {
        Ok(partial) if !partial.request.uid.is_empty() => Err(ReadError::WithUid {
            api_version: partial
                .api_version
                .filter(|version| version.starts_with("admission.k8s.io/"))
                .unwrap_or_else(|| API_VERSION.to_owned()),
            uid: partial.request.uid,
            problem,
        }),
        _ => Err(ReadError::Unreadable(problem)),
    }
}

/// A reply, as serialised back to the API server.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewReply {
    pub api_version: String,
    pub kind: &'static str,
    pub response: AdmissionResponse,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl AdmissionReviewReply {
    pub fn new(api_version: impl Into<String>, response: AdmissionResponse) -> Self {
        Self {
            api_version: api_version.into(),
            kind: KIND,
            response,
        }
    }
}

impl AdmissionResponse {
    /// Admitted, with these warnings.
    pub fn allow(uid: impl Into<String>, warnings: Vec<String>) -> Self {
        Self {
            uid: uid.into(),
            allowed: true,
            status: None,
            warnings,
        }
    }

    /// Refused because of what the object says; kubectl prints `Error from server (Forbidden)`.
    pub fn forbid(uid: impl Into<String>, message: String, warnings: Vec<String>) -> Self {
        Self {
            uid: uid.into(),
            allowed: false,
            status: Some(Status {
                code: 403,
                reason: "Forbidden",
                message,
            }),
            warnings,
        }
    }

    /// Admitted unchecked because the review itself could not be read. Refusing would override
    /// the webhook's `failurePolicy: Ignore`: a review refguard cannot read is refguard's
    /// problem (or a newer API server's), not the writer's. The reason is logged, not returned.
    pub fn unread(uid: impl Into<String>) -> Self {
        Self::allow(uid, vec![NOT_READ_WARNING.to_owned()])
    }

    /// The answer for a set of findings: refused when any of them denies, warnings otherwise.
    pub fn from_findings(uid: impl Into<String>, findings: &[Finding]) -> Self {
        let warnings = warnings(
            findings
                .iter()
                .filter(|finding| finding.severity == Severity::Warn)
                .map(|finding| format_warning(finding.rule, &finding.field, &finding.message)),
        );
        let denials: Vec<&Finding> = findings
            .iter()
            .filter(|finding| finding.severity == Severity::Deny)
            .collect();

        if denials.is_empty() {
            Self::allow(uid, warnings)
        } else {
            Self::forbid(uid, denial_message(&denials), warnings)
        }
    }
}

/// Every deny finding, with its field path: `[rule] field: message; [rule] field: message`.
fn denial_message(denials: &[&Finding]) -> String {
    denials
        .iter()
        .map(|finding| format!("[{}] {}: {}", finding.rule, finding.field, finding.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One warning line under 120 characters: `[rule] field: message`. When that is too long, the
/// field path goes first, then the fix hint after the message's last `; ` (what is wrong
/// matters more than how to fix it, which `refguard check` and the docs repeat), and only then
/// is the line cut.
pub fn format_warning(rule: &str, field: &str, message: &str) -> String {
    let with_field = format!("[{rule}] {field}: {message}");
    if !field.is_empty() && with_field.chars().count() <= WARNING_MAX {
        return with_field;
    }

    let whole = format!("[{rule}] {message}");
    if whole.chars().count() <= WARNING_MAX {
        return whole;
    }

    match message.rsplit_once("; ") {
        Some((problem, _hint)) => shorten(format!("[{rule}] {problem}"), WARNING_MAX),
        None => shorten(whole, WARNING_MAX),
    }
}

/// Keeps warnings within what the API server passes on whole: once the next one would not
/// fit, the rest are counted in one final line instead of being cut by the API server.
pub fn warnings(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    // Room kept for the summary line, which itself is under WARNING_MAX.
    const RESERVE: usize = WARNING_MAX + 1;

    let lines: Vec<String> = lines.into_iter().collect();
    let total: usize = lines.iter().map(|line| line.chars().count()).sum();
    if total <= WARNINGS_BUDGET {
        return lines;
    }

    let mut kept = Vec::new();
    let mut used = 0;
    for line in &lines {
        let len = line.chars().count();
        if used + len > WARNINGS_BUDGET - RESERVE {
            break;
        }
        used += len;
        kept.push(line.clone());
    }
    let omitted = lines.len() - kept.len();
    kept.push(format!(
        "[refguard] {omitted} more warnings not shown; run `refguard check` on the object to see all"
    ));
    kept
}

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
fn shorten(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_stay_short() {
        let long = "x".repeat(300);
        let line = format_warning("some-rule", "spec.listeners[0]", &long);
        assert_eq!(line.chars().count(), WARNING_MAX);
        assert!(
            line.starts_with("[some-rule] xxx"),
            "field dropped first: {line}"
        );
        assert!(line.ends_with('…'));
    }

    #[test]
    fn the_fix_hint_goes_before_the_problem_is_cut() {
        let message = format!(
            "Gateway {} would lose Secret cert; keep it in a grant",
            "g".repeat(50)
        );
        let line = format_warning("grant-change-breaks-reference", "spec", &message);
        assert!(line.ends_with("would lose Secret cert"), "{line}");
        assert!(line.chars().count() <= WARNING_MAX);
    }

    #[test]
    fn the_field_is_kept_when_it_fits() {
        let message = "m".repeat(80);
        let line = format_warning("r", "spec.listeners[0]", &message);
        assert_eq!(line, format!("[r] spec.listeners[0]: {message}"));
        let message = "m".repeat(100);
        let line = format_warning("r", "spec.listeners[0]", &message);
        assert_eq!(line, format!("[r] {message}"));
    }

    #[test]
    fn many_warnings_are_summarised_within_the_budget() {
        let lines: Vec<String> = (0..100)
            .map(|i| format_warning("r", &format!("f{i}"), &"y".repeat(100)))
            .collect();
        let kept = warnings(lines);
        let total: usize = kept.iter().map(|line| line.chars().count()).sum();
        assert!(total <= WARNINGS_BUDGET, "total {total}");
        let last = kept.last().expect("a summary line");
        assert!(last.starts_with("[refguard] "), "{last}");
        assert!(last.contains(&format!("{} more warnings", 100 - (kept.len() - 1))));
        assert!(kept.iter().all(|line| line.chars().count() < 120));
    }

    fn finding(rule: &'static str, severity: Severity, field: &str, message: &str) -> Finding {
        Finding {
            rule,
            reason: crate::engine::Reason::RefNotPermitted,
            severity,
            object: crate::model::ObjectRef {
                api_version: "gateway.networking.k8s.io/v1".into(),
                kind: "Gateway".into(),
                namespace: "apps".into(),
                name: "web".into(),
            },
            listener: None,
            field: field.into(),
            message: message.into(),
            detail: None,
        }
    }

    #[test]
    fn deny_findings_become_a_forbidden_reply_listing_each_field() {
        let findings = [
            finding(
                "a-rule",
                Severity::Deny,
                "spec.listeners[0].tls.certificateRefs[0]",
                "no grant",
            ),
            finding("b-rule", Severity::Warn, "spec.listeners[1]", "heads up"),
            finding(
                "c-rule",
                Severity::Deny,
                "spec.listeners[2].tls.certificateRefs[0]",
                "bad kind",
            ),
        ];
        let reply = AdmissionReviewReply::new(
            API_VERSION,
            AdmissionResponse::from_findings("u1", &findings),
        );
        assert_eq!(
            serde_json::to_value(&reply).expect("serialises"),
            serde_json::json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {
                    "uid": "u1",
                    "allowed": false,
                    "status": {
                        "code": 403,
                        "reason": "Forbidden",
                        "message": "[a-rule] spec.listeners[0].tls.certificateRefs[0]: no grant; \
                                    [c-rule] spec.listeners[2].tls.certificateRefs[0]: bad kind"
                    },
                    "warnings": ["[b-rule] spec.listeners[1]: heads up"]
                }
            })
        );
    }

    #[test]
    fn warn_findings_alone_are_admitted() {
        let findings = [finding("b-rule", Severity::Warn, "spec", "heads up")];
        let response = AdmissionResponse::from_findings("u2", &findings);
        assert!(response.allowed);
        assert_eq!(response.status, None);
        assert_eq!(response.warnings, ["[b-rule] spec: heads up"]);
    }

    #[test]
    fn few_warnings_are_kept_as_they_are() {
        let lines = vec!["[a] one".to_owned(), "[b] two".to_owned()];
        assert_eq!(warnings(lines.clone()), lines);
    }

    #[test]
    fn uid_is_recovered_from_a_review_of_the_wrong_shape() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "request":{"uid":"abc","operation":"EXPLODE"}}"#;
        match read_review(body) {
            Err(ReadError::WithUid { uid, problem, .. }) => {
                assert_eq!(uid, "abc");
                assert!(problem.contains("not an AdmissionReview"), "{problem}");
            }
            _ => panic!("expected the uid to be recovered"),
        }
    }

    #[test]
    fn an_unread_review_is_admitted_with_one_warning() {
        let response = AdmissionResponse::unread("abc");
        assert_eq!(
            serde_json::to_value(&response).expect("serialises"),
            serde_json::json!({
                "uid": "abc",
                "allowed": true,
                "warnings": ["[refguard] not checked: the AdmissionReview could not be read"]
            })
        );
    }

    #[test]
    fn garbage_has_no_uid() {
        assert!(matches!(
            read_review(b"\x00\x01 not json"),
            Err(ReadError::Unreadable(_))
        ));
        assert!(matches!(
            read_review(br#"{"request":{}}"#),
            Err(ReadError::Unreadable(_))
        ));
    }
}
