//! From an admission request to an answer: which writes are reviewed, how the objects are
//! read, and what is said when they cannot be.

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

use super::admission::{format_warning, AdmissionRequest, AdmissionResponse, Operation};
use crate::cache::Cache;
use crate::cli::UnsyncedPolicy;
use crate::engine::{self, Change, Context, Finding, RulesConfig};
use crate::model::{Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant};

/// Rule id shown on warnings refguard itself adds (object not checked, warnings summarised).
pub const OWN_RULE: &str = "refguard";

/// What became of a review, for metrics and logs.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted, possibly with warnings.
    Allowed,
    /// Refused because of deny findings.
    Denied,
    /// Admitted or refused without running the rules: the cache had not synced, or the object
    /// did not parse.
    NotChecked,
    /// The review itself could not be read.
    BadRequest,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::NotChecked => "not_checked",
            Self::BadRequest => "bad_request",
        }
    }
}

impl EncodeLabelValue for Verdict {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The answer to one review and what led to it.
#[derive(Debug)]
pub struct Outcome {
    /// The reviewed kind, `None` for kinds refguard lets through unread.
    pub kind: Option<Kind>,
    pub operation: &'static str,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub response: AdmissionResponse,
}

/// The settings a review depends on besides the cluster state.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub unsynced: UnsyncedPolicy,
}

/// Answers one admission request from the cache.
pub fn decide(
    request: &AdmissionRequest,
    cache: &Cache,
    config: &RulesConfig,
    policy: Policy,
    now: i64,
) -> Outcome {
    let kind = Kind::from_group_kind(&request.kind.group, &request.kind.kind);
    let outcome = |verdict, findings, response| Outcome {
        kind,
        operation: request.operation.as_str(),
        verdict,
        findings,
        response,
    };

    let Some(kind) = kind.filter(|&kind| is_reviewed(kind, request.operation)) else {
        let response = AdmissionResponse::allow(&request.uid, Vec::new());
        return outcome(Verdict::Allowed, Vec::new(), response);
    };

    if !cache.is_synced() {
        let response = unsynced(&request.uid, policy.unsynced);
        return outcome(Verdict::NotChecked, Vec::new(), response);
    }

    let parsed = match Parsed::read(kind, request) {
        Ok(parsed) => parsed,
        Err(problem) => {
            tracing::warn!(%problem, "Object not checked: it does not match the schema refguard reads");
            let warning = format_warning(
                OWN_RULE,
                "",
                &format!("not checked: {kind} does not match the schema refguard reads: {problem}"),
            );
            let response = AdmissionResponse::allow(&request.uid, vec![warning]);
            return outcome(Verdict::NotChecked, Vec::new(), response);
        }
    };

    let findings = {
        let world = cache.read();
        let stored_grant;
        let change = match &parsed {
            // A DELETE without oldObject: fall back to the cached grant.
            Parsed::Grant(None, None) => {
                stored_grant = world.grant(&request_key(request)).cloned();
                Change::ReferenceGrant {
                    new: None,
                    old: stored_grant.as_ref(),
                }
            }
            parsed => parsed.change(),
        };
        let context = Context {
            world: &world,
            config,
            now,
        };
        engine::review(&change, &context)
    };

    let response = AdmissionResponse::from_findings(&request.uid, &findings);
    let verdict = if response.allowed {
        Verdict::Allowed
    } else {
        Verdict::Denied
    };
    outcome(verdict, findings, response)
}

/// The writes refguard reviews; everything else is admitted unread.
fn is_reviewed(kind: Kind, operation: Operation) -> bool {
    use Operation::{Create, Delete, Update};
    match kind {
        Kind::Gateway | Kind::ListenerSet | Kind::XListenerSet => {
            matches!(operation, Create | Update)
        }
        Kind::ReferenceGrant => matches!(operation, Create | Update | Delete),
        Kind::Secret | Kind::ConfigMap => operation == Delete,
    }
}

fn unsynced(uid: &str, policy: UnsyncedPolicy) -> AdmissionResponse {
    match policy {
        UnsyncedPolicy::Allow => AdmissionResponse::allow(
            uid,
            vec![format_warning(
                OWN_RULE,
                "",
                "not checked: cache not synced (refguard is starting)",
            )],
        ),
        UnsyncedPolicy::Deny => AdmissionResponse {
            uid: uid.to_owned(),
            allowed: false,
            status: Some(super::admission::Status {
                code: 503,
                reason: "ServiceUnavailable",
                message: "refguard has not finished reading the cluster state yet; retry in a \
                          few seconds"
                    .to_owned(),
            }),
            warnings: Vec::new(),
        },
    }
}

fn request_key(request: &AdmissionRequest) -> ObjectKey {
    ObjectKey::new(request.namespace.clone(), request.name.clone())
}

/// The request's objects, read as the model's types.
// One short-lived value per review, on the stack: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Gateway(Gateway, Option<Gateway>),
    ListenerSet(ListenerSet, Option<ListenerSet>),
    /// New (none on DELETE) and old (none on CREATE) grant.
    Grant(Option<ReferenceGrant>, Option<ReferenceGrant>),
    SecretDeleted(ObjectKey),
    ConfigMapDeleted(ObjectKey),
}

/// The innermost cause of a parse error: the serde message, without the object's name
/// (which the user already knows) so that the warning stays short.
fn cause(error: &crate::model::ParseError) -> String {
    use std::error::Error as _;
    error
        .source()
        .map_or_else(|| error.to_string(), ToString::to_string)
}

impl Parsed {
    fn read(kind: Kind, request: &AdmissionRequest) -> Result<Self, String> {
        let namespace = request.namespace.as_str();
        let new = || {
            request
                .object
                .as_ref()
                .filter(|object| !object.is_null())
                .ok_or_else(|| "the request carries no object".to_owned())
        };
        let old = request
            .old_object
            .as_ref()
            .filter(|object| !object.is_null());

        Ok(match kind {
            Kind::Gateway => {
                let new = Gateway::from_value(new()?, namespace).map_err(|e| cause(&e))?;
                // An old object that no longer parses only loses ratcheting.
                let old = old.and_then(|old| Gateway::from_value(old, namespace).ok());
                Self::Gateway(new, old)
            }
            Kind::ListenerSet | Kind::XListenerSet => {
                let new =
                    ListenerSet::from_value(new()?, kind, namespace).map_err(|e| cause(&e))?;
                let old = old.and_then(|old| ListenerSet::from_value(old, kind, namespace).ok());
                Self::ListenerSet(new, old)
            }
            Kind::ReferenceGrant => {
                let new = match request.operation {
                    Operation::Delete => None,
                    _ => {
                        Some(ReferenceGrant::from_value(new()?, namespace).map_err(|e| cause(&e))?)
                    }
                };
                let old = old
                    .map(|old| ReferenceGrant::from_value(old, namespace))
                    .transpose()
                    .map_err(|e| cause(&e))?;
                Self::Grant(new, old)
            }
            Kind::Secret => Self::SecretDeleted(request_key(request)),
            Kind::ConfigMap => Self::ConfigMapDeleted(request_key(request)),
        })
    }

    fn change(&self) -> Change<'_> {
        match self {
            Self::Gateway(new, old) => Change::Gateway {
                new,
                old: old.as_ref(),
            },
            Self::ListenerSet(new, old) => Change::ListenerSet {
                new,
                old: old.as_ref(),
            },
            Self::Grant(new, old) => Change::ReferenceGrant {
                new: new.as_ref(),
                old: old.as_ref(),
            },
            Self::SecretDeleted(key) => Change::SecretDeleted(key),
            Self::ConfigMapDeleted(key) => Change::ConfigMapDeleted(key),
        }
    }
}
