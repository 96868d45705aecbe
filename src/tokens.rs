//! Real RS256 JWTs shaped like Azure's access tokens, signed by the harness's test key.
//!
//! The identity and Entra stand-ins mint with [`TokenIssuer`]; the pool stand-in verifies against the
//! JWKS the Entra stand-in serves. Claims follow FIDELITY §4 (DOC, REP): v1.0 managed-identity
//! tokens with `aud` = the resource as requested, `oid` = `sub` = the principal.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

const TEST_KEY_PEM: &str = include_str!("../fixtures/keys/signing-key.pem");
const TEST_KEY_JWK: &str = include_str!("../fixtures/keys/signing-key.jwk.json");

/// Signs tokens with the harness's test key and publishes the matching JWKS.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    jwk: Value,
    /// The same key, parsed once, for verifiers.
    jwk_set: JwkSet,
    kid: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// The issuer backed by `fixtures/keys/` (compiled in, so the binary works from any directory).
    pub fn test_key() -> Self {
        let encoding = EncodingKey::from_rsa_pem(TEST_KEY_PEM.as_bytes())
            .expect("fixtures/keys/signing-key.pem is a valid RSA key");
        let jwk: Value = serde_json::from_str(TEST_KEY_JWK)
            .expect("fixtures/keys/signing-key.jwk.json is valid JSON");
        let kid = jwk["kid"].as_str().unwrap_or_default().to_owned();
        let jwk_set = serde_json::from_value(json!({ "keys": [jwk] }))
            .expect("fixtures/keys/signing-key.jwk.json is a JWK");
        Self { encoding, jwk, jwk_set, kid }
    }

    /// `{"keys":[…]}` as served at Entra's `/{tenant}/discovery/v2.0/keys`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// The JWKS parsed, for verifying tokens this issuer signed.
    pub fn jwk_set(&self) -> &JwkSet {
        &self.jwk_set
    }

    /// Sign `claims` with header `typ, alg, kid, x5t` as Azure does.
    pub fn mint(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        header.x5t = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("signing with an RSA key and JSON claims cannot fail")
    }
}

/// Who a token is for and about. Inputs to [`access_token_claims`].
#[derive(Debug, Clone)]
pub struct TokenSubject<'a> {
    /// The Entra tenant (`tid`, and the issuer's path).
    pub tenant_id: &'a str,
    /// The identity's client (application) id (`appid`).
    pub client_id: &'a str,
    /// The identity's principal (object) id (`oid`, `sub`).
    pub principal_id: &'a str,
    /// `xms_mirid`: the identity's resource id (managed identities only).
    pub resource_id: Option<&'a str>,
    /// `appidacr`: "2" for managed identities (certificate), "1" for a client secret.
    pub appidacr: &'a str,
}

/// Claims of a v1.0 access token for `resource`, issued `now`, valid `lifetime_secs`.
pub fn access_token_claims(
    subject: &TokenSubject<'_>,
    resource: &str,
    now: u64,
    lifetime_secs: u64,
) -> Value {
    let issuer = format!("https://sts.windows.net/{}/", subject.tenant_id);
    let mut claims = json!({
        "aud": resource,
        "iss": issuer,
        "idp": issuer,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(lifetime_secs),
        "aio": crate::ids::opaque(24),
        "appid": subject.client_id,
        "appidacr": subject.appidacr,
        "idtyp": "app",
        "oid": subject.principal_id,
        "rh": crate::ids::opaque(32),
        "sub": subject.principal_id,
        "tid": subject.tenant_id,
        "uti": crate::ids::opaque(22),
        "ver": "1.0",
    });
    if let Some(mirid) = subject.resource_id {
        claims["xms_mirid"] = Value::String(mirid.to_owned());
    }
    claims
}

/// The claims of a JWT, read without verifying anything. `None` when it is not a JWT.
pub(crate) fn decode_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.is_object().then_some(claims)
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenRejection {
    #[error("the token is not a JWT signed by a key in the tenant's JWKS: {0}")]
    BadSignature(String),
    #[error("the token's audience '{found}' is not '{expected}'")]
    WrongAudience { found: String, expected: String },
    // No epoch seconds in these texts: they end up in transcripts, which hold no timestamps.
    #[error("the token has expired (its exp claim is in the past, beyond the clock skew allowed)")]
    Expired { exp: u64 },
    #[error(
        "the token is not valid yet (its nbf claim is in the future, beyond the clock skew allowed)"
    )]
    NotYetValid { nbf: u64 },
    #[error("the token's {claim} claim {reason}")]
    InvalidTime { claim: &'static str, reason: String },
    #[error("the token was issued by '{found}', not by tenant '{expected}'")]
    WrongIssuer { found: String, expected: String },
}

/// Whether a refusal's text (a [`TokenRejection`] as the pool puts it on the exchange) says the
/// token came from another tenant than the one the pool trusts.
pub(crate) fn refused_for_tenant(refusal: &str) -> bool {
    refusal.contains("', not by tenant '")
}

/// The latest time claim a token can carry: 9999-12-31T23:59:59Z, the end of the calendar the
/// Microsoft identity libraries compute with (assumed: a larger `exp` or `nbf` is refused as
/// malformed rather than taken as "valid for ever" or wrapped into the past).
pub const MAX_TIME_CLAIM: u64 = 253_402_300_799;

/// A time claim (`exp`, `nbf`, `iat`) as seconds since the epoch: `Ok(None)` when absent, an error
/// when it is not a whole number of seconds between 0 and [`MAX_TIME_CLAIM`].
pub(crate) fn time_claim(
    claims: &Value,
    claim: &'static str,
) -> Result<Option<u64>, TokenRejection> {
    let Some(value) = claims.get(claim) else { return Ok(None) };
    let invalid = |reason: String| TokenRejection::InvalidTime { claim, reason };
    match value.as_u64() {
        Some(seconds) if seconds <= MAX_TIME_CLAIM => Ok(Some(seconds)),
        Some(seconds) => Err(invalid(format!("{seconds} is beyond the year 9999"))),
        None => Err(invalid(format!("{value} is not a whole number of seconds since 1970"))),
    }
}

/// Whether `claims` are expired at `now` with `leeway_secs` of skew: only a well-formed `exp`
/// can be expired (a missing or absurd one makes the token invalid, not expired).
pub(crate) fn is_expired(claims: &Value, now: u64, leeway_secs: u64) -> bool {
    matches!(time_claim(claims, "exp"), Ok(Some(exp)) if exp.saturating_add(leeway_secs) <= now)
}

/// The time checks a resource server makes, in Microsoft.IdentityModel's order: `exp` present and
/// well-formed (SDK: a token without one is refused), not past (with leeway), `nbf` not in the
/// future (with leeway) when present.
fn check_lifetime(claims: &Value, now: u64, leeway_secs: u64) -> Result<(), TokenRejection> {
    let exp = time_claim(claims, "exp")?
        .ok_or_else(|| TokenRejection::InvalidTime { claim: "exp", reason: "is missing".into() })?;
    if exp.saturating_add(leeway_secs) <= now {
        return Err(TokenRejection::Expired { exp });
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && nbf > now.saturating_add(leeway_secs)
    {
        return Err(TokenRejection::NotYetValid { nbf });
    }
    Ok(())
}

/// Verify a bearer token as a resource server does: signature against the JWKS (by `kid`),
/// then `exp` and `nbf` (with `leeway_secs` of clock skew), `aud` and issuer tenant. Returns the
/// claims.
pub(crate) fn verify(
    token: &str,
    jwks: &JwkSet,
    audience: &str,
    tenant_id: &str,
    now: u64,
    leeway_secs: u64,
) -> Result<Value, TokenRejection> {
    let claims = signed_claims(token, jwks)?;
    check_lifetime(&claims, now, leeway_secs)?;
    let aud = claims["aud"].as_str().unwrap_or_default();
    if aud.trim_end_matches('/') != audience.trim_end_matches('/') {
        return Err(TokenRejection::WrongAudience {
            found: aud.to_owned(),
            expected: audience.to_owned(),
        });
    }
    let expected_issuer = format!("https://sts.windows.net/{tenant_id}/");
    let iss = claims["iss"].as_str().unwrap_or_default();
    if iss != expected_issuer
        && iss != format!("https://login.microsoftonline.com/{tenant_id}/v2.0")
    {
        return Err(TokenRejection::WrongIssuer {
            found: iss.to_owned(),
            expected: tenant_id.to_owned(),
        });
    }
    Ok(claims)
}

/// A service's clock: real time shifted by a scenario-chosen offset (a skewed clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Clock {
    pub offset_secs: i64,
}

impl Clock {
    /// Epoch seconds on this clock.
    pub fn now(self) -> u64 {
        now_secs().saturating_add_signed(self.offset_secs)
    }
}

/// Verify a client assertion (a federated token): signature against the JWKS, `exp` (no skew),
/// `aud`. Returns the claims; issuer and subject are the caller's to match.
pub(crate) fn verify_assertion(
    token: &str,
    jwks: &JwkSet,
    audience: &str,
    now: u64,
) -> Result<Value, TokenRejection> {
    let claims = signed_claims(token, jwks)?;
    check_lifetime(&claims, now, 0)?;
    let aud = claims["aud"].as_str().unwrap_or_default();
    if aud != audience {
        return Err(TokenRejection::WrongAudience {
            found: aud.to_owned(),
            expected: audience.to_owned(),
        });
    }
    Ok(claims)
}

/// The claims of an RS256 token whose signature a key of the JWKS (by `kid`) verifies. Time and
/// audience are left to the caller, to be checked against an injectable clock in Azure's order.
fn signed_claims(token: &str, jwks: &JwkSet) -> Result<Value, TokenRejection> {
    let bad = |e: &dyn std::fmt::Display| TokenRejection::BadSignature(e.to_string());
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(&e))?;
    let kid = header.kid.unwrap_or_default();
    let jwk: &Jwk = jwks.find(&kid).ok_or_else(|| bad(&format!("no key with kid '{kid}'")))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(&e))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    Ok(jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| bad(&e))?.claims)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_wrong_issuer_refusal_reads_as_another_tenant() {
        let issuer = TokenRejection::WrongIssuer { found: "a".into(), expected: "b".into() };
        let expired = TokenRejection::Expired { exp: 1 };

        assert!(refused_for_tenant(&format!("the pool refused the token: {issuer}")));
        assert!(!refused_for_tenant(&expired.to_string()));
    }

    fn subject() -> TokenSubject<'static> {
        TokenSubject {
            tenant_id: "tenant-1",
            client_id: "client-1",
            principal_id: "oid-1",
            resource_id: None,
            appidacr: "2",
        }
    }

    fn jwks() -> JwkSet {
        TokenIssuer::test_key().jwk_set().clone()
    }

    #[test]
    fn the_fixture_pem_and_jwk_are_one_key_pair() {
        let claims = access_token_claims(&subject(), "https://dynamicsessions.io", 1000, 3600);
        let token = TokenIssuer::test_key().mint(&claims);
        let verified =
            verify(&token, &jwks(), "https://dynamicsessions.io", "tenant-1", 1001, 0).unwrap();
        assert_eq!(verified["oid"], "oid-1");
    }

    #[test]
    fn tokens_carry_azure_managed_identity_claims() {
        let claims = access_token_claims(&subject(), "https://dynamicsessions.io", 1000, 3600);
        assert_eq!(claims["iss"], "https://sts.windows.net/tenant-1/");
        assert_eq!(claims["sub"], claims["oid"]);
        assert_eq!(claims["iat"], claims["nbf"]);
        assert_eq!(claims["exp"], 4600);
        assert_eq!(claims["ver"], "1.0");
        assert_eq!(claims["idtyp"], "app");
        let header = jsonwebtoken::decode_header(TokenIssuer::test_key().mint(&claims)).unwrap();
        assert_eq!(header.kid.as_deref(), Some("harness-test-key-1"));
        assert!(header.x5t.is_some());
    }

    #[test]
    fn verification_rejects_wrong_audience_expiry_and_foreign_signatures() {
        let issuer = TokenIssuer::test_key();
        let token = issuer.mint(&access_token_claims(
            &subject(),
            "https://cognitiveservices.azure.com",
            1000,
            3600,
        ));
        assert!(matches!(
            verify(&token, &jwks(), "https://dynamicsessions.io", "tenant-1", 1001, 0),
            Err(TokenRejection::WrongAudience { .. })
        ));
        assert_eq!(
            verify(&token, &jwks(), "https://cognitiveservices.azure.com", "tenant-1", 4601, 0),
            Err(TokenRejection::Expired { exp: 4600 })
        );
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(matches!(
            verify(&tampered, &jwks(), "https://cognitiveservices.azure.com", "tenant-1", 1001, 0),
            Err(TokenRejection::BadSignature(_))
        ));
    }

    #[test]
    fn decoding_claims_needs_three_parts_and_a_json_object() {
        assert!(decode_claims("not-a-jwt").is_none());
        assert!(decode_claims("a.b.c.d").is_none());
        let token = TokenIssuer::test_key().mint(&json!({"aud": "x"}));
        assert_eq!(decode_claims(&token).unwrap()["aud"], "x");
    }
}
