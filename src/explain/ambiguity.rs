//! One answer, two causes: when the evidence cannot tell them apart, both are listed at medium
//! with what would tell them apart, never one at high; when it can (a visible `client_id=`, the
//! user's pool showing a target port), the other is dropped.

use super::{Captured, Confidence, Hypothesis};
use crate::diagnosis::Diagnosis;
use crate::evidence::import::Parts;
use crate::transcript::Hop;

/// What tells `identity-not-found` from `identity-not-specified` (FIDELITY §7, REP).
pub(super) const IDENTITY_TELL_APART: &str = "the same answer comes when the app has only user-assigned identities and the request names none (no AZURE_CLIENT_ID): give --app (az containerapp show -o json), or paste the SDK's request line (a client_id= in the token request's URL means an identity was named) to tell them apart";

/// What tells a portless pool from a container's own 404 (FIDELITY §5, REP).
const NOT_FOUND_TELL_APART: &str = "a pool created without a target port answers 404 with the bare body \"Not Found\"; a container answers its own 404 otherwise: give --pool (az containerapp sessionpool show -o json) or the body to tell them apart";

/// Re-weigh `found` where one answer has two causes.
pub(super) fn resolve(
    found: &mut Vec<Hypothesis>,
    hop: Hop,
    captured: &Captured,
    user: Option<&Parts>,
) {
    match (hop, captured.status) {
        (Hop::Identity, Some(400)) if user.is_none() => identity(found, captured),
        (Hop::Pool, Some(404)) => not_found(found, captured, user),
        _ => {}
    }
}

fn has(found: &[Hypothesis], id: Diagnosis) -> bool {
    found.iter().any(|h| h.id == id)
}

/// `Unable to load the proper Managed Identity.`: named an identity that is not on the app, or
/// named none on an app with only user-assigned identities.
fn identity(found: &mut Vec<Hypothesis>, captured: &Captured) {
    let (named, unnamed) = (Diagnosis::IdentityNotFound, Diagnosis::IdentityNotSpecified);
    if !(has(found, named) && has(found, unnamed)) {
        return;
    }
    match captured.named_identity {
        Some(true) => found.retain(|h| h.id != unnamed),
        Some(false) => {
            found.retain(|h| h.id != named);
            for h in found.iter_mut().filter(|h| h.id == unnamed) {
                h.confidence = Confidence::High;
                h.note = Some("the token request's URL names no identity (no client_id=)".into());
            }
        }
        None => both_medium(found, &[named, unnamed], IDENTITY_TELL_APART),
    }
}

/// A pool's 404: no target port, or the container's own answer.
fn not_found(found: &mut Vec<Hypothesis>, captured: &Captured, user: Option<&Parts>) {
    let (portless, container) = (Diagnosis::NoTargetPort, Diagnosis::ContainerPathNotFound);
    if let Some(pool) = user.and_then(|u| u.pool.as_ref()) {
        match pool.target_port {
            Some(port) => {
                found.retain(|h| h.id != portless);
                if let Some(h) = found.iter_mut().find(|h| h.id == container) {
                    h.confidence = h.confidence.max(Confidence::Medium);
                    h.note = Some(format!(
                        "your pool has target port {port}, so the 404 is the container's"
                    ));
                }
            }
            None => {
                found.retain(|h| h.id != container);
                if let Some(h) = found.iter_mut().find(|h| h.id == portless) {
                    h.confidence = Confidence::High;
                    h.note = Some(
                        "your pool has no target port (customContainerTemplate.ingress.targetPort)"
                            .into(),
                    );
                }
            }
        }
        found.sort_by_key(|h| std::cmp::Reverse(h.confidence));
        return;
    }
    if captured.body.trim().is_empty() && has(found, portless) && has(found, container) {
        both_medium(found, &[portless, container], NOT_FOUND_TELL_APART);
    }
}

/// `ids` first, each at medium with `why`, in the order given.
fn both_medium(found: &mut Vec<Hypothesis>, ids: &[Diagnosis], why: &str) {
    let mut front: Vec<Hypothesis> = Vec::new();
    for id in ids {
        if let Some(at) = found.iter().position(|h| h.id == *id) {
            let mut h = found.remove(at);
            h.confidence = Confidence::Medium;
            h.note = Some(format!("one of two causes of this answer: {why}"));
            front.push(h);
        }
    }
    front.append(found);
    *found = front;
}
