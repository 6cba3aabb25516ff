//! Session keys: the credential of the coach frontend, which asks
//! `POST /api/get-session-key` for one and sends it back in the body of every
//! prompt request (its `src/api/cloudflareWorker.js`).
//!
//! A key is signed, not stored: `cs2.<kid>.<issued>.<expiry>.<subject>.<broadcaster>.<mac>`,
//! where
//! - `kid` (8 hex digits) names the secret that signed it ([`secret`]);
//! - `issued` is when the key was first issued, in Unix seconds, kept when
//!   it is renewed, so its whole life is bounded ([`life`]);
//! - `expiry` is the end of its current life in Unix seconds;
//! - `subject` is 24 random hex digits, the caller's identity for rate limits,
//!   logs and revocation, kept when the key is renewed;
//! - `broadcaster` is the first 16 bytes of the SHA-256 of the broadcaster's
//!   name in lower case, in hex: the key serves that broadcaster only;
//! - `mac` is HMAC-SHA256 (RustCrypto `hmac` over our `sha2`) of everything
//!   before it, checked in constant time.
//!
//! Checking a key reads no storage; a revoked subject is refused by the
//! caller's state object in the round trip the request makes anyway (the edge).
//!
//! The previous format, `cs1.<expiry>.<subject>.<broadcaster>.<mac>`, has no
//! key id and no first issue. Such a key is accepted until it expires (at
//! most 12 hours after this version is deployed), and renewed into a `cs2`
//! key at its first use, its first issue counted from its own latest issue
//! (expiry minus 12 hours): so a key in use when this version arrived is
//! bounded too. Nothing issues `cs1` keys any more.

pub mod life;
pub mod secret;

pub use life::KeyLife;
pub use secret::{KeyId, Previous, SessionSecret};

use crate::core::access::auth::TokenId;
use crate::core::error::ApiError;
use crate::core::request::{json_object, Broadcaster};
use crate::core::text::{char_len, collapse_whitespace, hex};
use crate::core::time::format_rfc3339;
use hmac::Mac;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest string that could be a key; anything longer is refused unread.
pub const MAX_KEY_CHARS: usize = 200;

const VERSION: &str = "cs2";
const LEGACY: &str = "cs1";
const SUBJECT_BYTES: usize = 12;
const BROADCASTER_BYTES: usize = 16;

/// What signs and checks keys: the current secret, the previous one during
/// its overlap, and how long a key may live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    current: SessionSecret,
    previous: Option<Previous>,
    life: KeyLife,
}

/// Which secret, and which format, a presented key was checked under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signer {
    Current,
    /// `SESSION_SECRET_PREVIOUS`, within its overlap.
    Previous,
    /// A `cs1` key, under either.
    Legacy,
}

impl Keyring {
    pub fn new(current: SessionSecret, life: KeyLife) -> Keyring {
        Keyring {
            current,
            previous: None,
            life,
        }
    }

    pub fn with_previous(mut self, previous: Previous) -> Keyring {
        self.previous = Some(previous);
        self
    }

    pub fn life(&self) -> KeyLife {
        self.life
    }

    pub fn previous(&self) -> Option<&Previous> {
        self.previous.as_ref()
    }

    /// The secrets a key may have been signed with at `now`, by its key id
    /// (a `cs2` key) or, for a `cs1` key, each secret in use.
    fn candidates(&self, kid: Option<&str>, now: u64) -> Vec<(&SessionSecret, Signer)> {
        let previous = self.previous.as_ref().and_then(|p| p.at(now));
        match kid {
            Some(kid) if kid == self.current.id().as_str() => vec![(&self.current, Signer::Current)],
            Some(kid) => previous
                .filter(|p| p.id().as_str() == kid)
                .map(|p| (p, Signer::Previous))
                .into_iter()
                .collect(),
            None => std::iter::once(&self.current)
                .chain(previous)
                .map(|s| (s, Signer::Legacy))
                .collect(),
        }
    }
}

/// A key just issued or renewed, as the answer carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issued {
    #[serde(rename = "sessionKey")]
    pub key: String,
    /// RFC 3339, UTC.
    #[serde(rename = "expiresAt")]
    pub expires_at: String,
}

/// What a valid key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    issued_secs: u64,
    expires_secs: u64,
    subject: String,
    broadcaster: String,
    signer: Signer,
}

/// Why a presented key is refused; each message says what to press in the
/// coach frontend. Settings → Save Configuration always asks for a new key
/// (its `saveConfig`); reloading the page does too once the key's
/// `expiresAt` has passed (its `loadSessionData` drops an expired key), which
/// is so for an expired or ended key, whose refusal never comes before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    /// Not a key of ours, altered, or signed under a secret no longer in use.
    Invalid,
    Expired,
    /// Past its whole life, counted from its first issue.
    Ended,
    /// Issued for another broadcaster name.
    OtherBroadcaster,
    /// Its subject was revoked by the operator.
    Revoked,
}

impl KeyProblem {
    pub fn message(self) -> &'static str {
        match self {
            KeyProblem::Invalid => "This session key is not valid here (it was altered, or the service's secret changed). Open Settings and press Save Configuration to get a new one.",
            KeyProblem::Expired => "This session key has expired. Open Settings and press Save Configuration (or reload the page) to get a new one.",
            KeyProblem::Ended => "This session key has reached the end of its life (keys are renewed while in use, up to a limit the operator sets). Open Settings and press Save Configuration (or reload the page) to get a new one.",
            KeyProblem::OtherBroadcaster => "This session key was issued for another broadcaster name. Open Settings and press Save Configuration to get one for this name.",
            KeyProblem::Revoked => "This session key has been revoked by the service's operator. Open Settings and press Save Configuration to get a new one.",
        }
    }
}

/// The body of `POST /api/get-session-key`: `{"username", "broadcaster"}`
/// as the coach frontend sends it. `username` (the app sends `user`) names
/// no one and is only checked for size; the key is for the broadcaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    pub broadcaster: Broadcaster,
}

impl KeyRequest {
    pub fn from_json(body: &[u8]) -> Result<KeyRequest, ApiError> {
        let value = json_object(body)?;
        match value.get("username") {
            None | Some(Value::Null) => {}
            Some(Value::String(u)) if char_len(u) <= 64 => {}
            Some(_) => {
                return Err(ApiError::invalid(
                    "username",
                    "must be a string of at most 64 characters",
                ))
            }
        }
        Ok(KeyRequest {
            broadcaster: Broadcaster::parse(value.get("broadcaster"))?,
        })
    }
}

/// The body of `POST /admin/session-keys/revoke`: `{"subject"}`, the caller
/// as logs and `GET /admin/usage` name it (`s-` and 12 hex digits), or the
/// key's whole subject (24 hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    pub caller: TokenId,
}

impl RevokeRequest {
    pub fn from_json(body: &[u8]) -> Result<RevokeRequest, ApiError> {
        let value = json_object(body)?;
        let subject = value
            .get("subject")
            .and_then(Value::as_str)
            .map(str::trim)
            .map(|s| s.strip_prefix("s-").unwrap_or(s))
            .filter(|s| (12..=2 * SUBJECT_BYTES).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                ApiError::invalid(
                    "subject",
                    "must name a session key's caller as the logs and GET /admin/usage do: s- and 12 hex digits",
                )
            })?;
        Ok(RevokeRequest {
            caller: TokenId::session(&subject.to_ascii_lowercase()),
        })
    }
}

/// Prefix of a revoked session caller's KV key, `denied:s-<12 hex>`: the
/// deny list with `RATE_LIMIT_STORE = "kv"`, where there is no state object.
pub const DENIED_KEY_PREFIX: &str = "denied:";

/// The KV key that marks `caller` revoked.
pub fn denied_key(caller: &TokenId) -> String {
    format!("{DENIED_KEY_PREFIX}{caller}")
}

/// The hex of the first bytes of SHA-256 of the lower-case name.
fn broadcaster_digest(name: &str) -> String {
    let name = collapse_whitespace(name).to_lowercase();
    hex(&Sha256::digest(name.as_bytes())[..BROADCASTER_BYTES])
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Unix seconds as a key writes them: 1 to 12 digits.
fn seconds(s: &str) -> Option<u64> {
    (!s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// 64 lowercase hex digits as 32 bytes.
fn mac_bytes(s: &str) -> Option<[u8; 32]> {
    if !is_lower_hex(s, 64) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn sign(secret: &SessionSecret, issued: u64, expires: u64, subject: &str, broadcaster: &str) -> Issued {
    let signed = format!(
        "{VERSION}.{}.{issued}.{expires}.{subject}.{broadcaster}",
        secret.id().as_str()
    );
    let mac = hex(&secret.mac(&signed).finalize().into_bytes());
    Issued {
        key: format!("{signed}.{mac}"),
        expires_at: format_rfc3339(expires.min(i64::MAX as u64 / 1000) as i64 * 1000),
    }
}

/// A new key for `broadcaster`, from 12 random bytes, first issued at `now_secs`.
pub fn issue(ring: &Keyring, broadcaster: &str, random: [u8; SUBJECT_BYTES], now_secs: u64) -> Issued {
    sign(
        &ring.current,
        now_secs,
        ring.life.expiry(now_secs, now_secs),
        &hex(&random),
        &broadcaster_digest(broadcaster),
    )
}

/// A key's fields as written, before its signature is checked.
struct Written<'a> {
    signed: &'a str,
    kid: Option<&'a str>,
    issued: Option<u64>,
    expires: u64,
    subject: &'a str,
    broadcaster: &'a str,
    mac: [u8; 32],
}

/// Reads either format; `None` for anything else.
fn read(key: &str) -> Option<Written<'_>> {
    if key.len() > MAX_KEY_CHARS {
        return None;
    }
    let (signed, mac) = key.rsplit_once('.')?;
    let parts: Vec<&str> = signed.split('.').collect();
    let (kid, issued, expires, subject, broadcaster) = match parts.as_slice() {
        [VERSION, kid, issued, expires, subject, broadcaster] => {
            if !is_lower_hex(kid, 2 * secret::KEY_ID_BYTES) {
                return None;
            }
            (
                Some(*kid),
                Some(seconds(issued)?),
                *expires,
                *subject,
                *broadcaster,
            )
        }
        [LEGACY, expires, subject, broadcaster] => (None, None, *expires, *subject, *broadcaster),
        _ => return None,
    };
    if !is_lower_hex(subject, SUBJECT_BYTES * 2) || !is_lower_hex(broadcaster, BROADCASTER_BYTES * 2) {
        return None;
    }
    Some(Written {
        signed,
        kid,
        issued,
        expires: seconds(expires)?,
        subject,
        broadcaster,
        mac: mac_bytes(mac)?,
    })
}

/// The claims of `key` if it is ours, unaltered, within its whole life and
/// alive at `now_secs`.
pub fn verify(ring: &Keyring, key: &str, now_secs: u64) -> Result<SessionClaims, KeyProblem> {
    let written = read(key).ok_or(KeyProblem::Invalid)?;
    // `verify_slice` compares in constant time.
    let signer = ring
        .candidates(written.kid, now_secs)
        .into_iter()
        .find(|(secret, _)| secret.mac(written.signed).verify_slice(&written.mac).is_ok())
        .map(|(_, signer)| signer)
        .ok_or(KeyProblem::Invalid)?;
    let issued = written
        .issued
        .unwrap_or(written.expires.saturating_sub(life::LIFETIME_SECS));
    if now_secs >= ring.life.end(issued) {
        return Err(KeyProblem::Ended);
    }
    if now_secs >= written.expires {
        return Err(KeyProblem::Expired);
    }
    Ok(SessionClaims {
        issued_secs: issued,
        expires_secs: written.expires,
        subject: written.subject.to_string(),
        broadcaster: written.broadcaster.to_string(),
        signer,
    })
}

impl SessionClaims {
    /// The caller's identity: the same across renewals of one key.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn check_broadcaster(&self, name: &str) -> Result<(), KeyProblem> {
        if broadcaster_digest(name) == self.broadcaster {
            Ok(())
        } else {
            Err(KeyProblem::OtherBroadcaster)
        }
    }

    /// The key to hand back with an answer: the same subject, broadcaster and
    /// first issue under the current secret, when [`KeyLife::renewal`] says
    /// it is due. A key signed under the previous secret, or in the `cs1`
    /// format, is renewed at once, so it is the current secret's `cs2` key
    /// from its next request on.
    pub fn renewal(&self, ring: &Keyring, now_secs: u64) -> Option<Issued> {
        let expires = match self.signer {
            Signer::Current => ring.life.renewal(self.issued_secs, self.expires_secs, now_secs)?,
            Signer::Previous | Signer::Legacy => ring.life.expiry(self.issued_secs, now_secs),
        };
        (expires > now_secs).then(|| {
            sign(
                &ring.current,
                self.issued_secs,
                expires,
                &self.subject,
                &self.broadcaster,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::access::strength::Mode;
    use life::LIFETIME_SECS;

    const NOW: u64 = 1_795_000_000;
    const H: u64 = 3600;

    fn secret(s: &str) -> SessionSecret {
        SessionSecret::parse(s, Mode::Deployed).unwrap()
    }

    fn ring() -> Keyring {
        Keyring::new(secret("test-session-secret-0123456789abcdef"), KeyLife::default())
    }

    fn key() -> (Keyring, Issued) {
        let ring = ring();
        let issued = issue(&ring, "Zoe_Live", [7; 12], NOW);
        (ring, issued)
    }

    /// A `cs1` key as the previous version signed it.
    fn legacy(secret: &SessionSecret, expires: u64) -> String {
        let signed = format!(
            "cs1.{expires}.{}.{}",
            "07".repeat(12),
            broadcaster_digest("zoe_live")
        );
        format!("{signed}.{}", hex(&secret.mac(&signed).finalize().into_bytes()))
    }

    #[test]
    fn a_key_carries_its_signer_first_issue_expiry_and_broadcaster_and_verifies() {
        let (ring, issued) = key();
        let parts: Vec<&str> = issued.key.split('.').collect();
        assert_eq!(parts[0], "cs2");
        assert_eq!(parts[1], ring.current.id().as_str());
        assert_eq!(parts[2], NOW.to_string());
        assert_eq!(parts[3], (NOW + LIFETIME_SECS).to_string());
        assert!(issued.key.len() <= MAX_KEY_CHARS, "{}", issued.key.len());
        assert_eq!(
            issued.expires_at,
            format_rfc3339(((NOW + LIFETIME_SECS) * 1000) as i64)
        );
        let claims = verify(&ring, &issued.key, NOW).unwrap();
        assert_eq!(claims.subject(), "070707070707070707070707");
        assert_eq!(claims.check_broadcaster("zoe_live"), Ok(()));
        assert_eq!(claims.check_broadcaster(" Zoe_Live "), Ok(()));
        assert_eq!(
            claims.check_broadcaster("someone_else"),
            Err(KeyProblem::OtherBroadcaster)
        );
    }

    #[test]
    fn tampering_with_any_byte_fails() {
        let (ring, issued) = key();
        let bytes = issued.key.as_bytes();
        for i in 0..bytes.len() {
            let mut altered = bytes.to_vec();
            altered[i] = if altered[i] == b'1' { b'2' } else { b'1' };
            let altered = String::from_utf8(altered).unwrap();
            assert_eq!(verify(&ring, &altered, NOW), Err(KeyProblem::Invalid), "byte {i}");
        }
        assert_eq!(
            verify(&ring, &issued.key[..issued.key.len() - 1], NOW),
            Err(KeyProblem::Invalid)
        );
        for junk in ["", "cs2", "cs2.....", &"x".repeat(10_000), "cs2.é.1.2.3.4.5"] {
            assert_eq!(verify(&ring, junk, NOW), Err(KeyProblem::Invalid), "{junk}");
        }
    }

    #[test]
    fn a_key_expires() {
        let (ring, issued) = key();
        assert!(verify(&ring, &issued.key, NOW + LIFETIME_SECS - 1).is_ok());
        assert_eq!(
            verify(&ring, &issued.key, NOW + LIFETIME_SECS),
            Err(KeyProblem::Expired)
        );
    }

    #[test]
    fn renewal_keeps_subject_broadcaster_and_first_issue_and_only_past_half_life() {
        let (ring, issued) = key();
        let claims = verify(&ring, &issued.key, NOW).unwrap();
        assert_eq!(claims.renewal(&ring, NOW + LIFETIME_SECS / 2 - 1), None);
        let later = NOW + LIFETIME_SECS / 2 + 1;
        let renewed = claims.renewal(&ring, later).unwrap();
        assert_eq!(renewed.key.split('.').nth(2), Some(NOW.to_string().as_str()));
        let again = verify(&ring, &renewed.key, later + LIFETIME_SECS - 1).unwrap();
        assert_eq!(again.subject(), claims.subject());
        assert_eq!(again.check_broadcaster("zoe_live"), Ok(()));
    }

    #[test]
    fn a_key_renewed_on_every_request_is_refused_at_its_end() {
        let (ring, issued) = key();
        let mut key = issued.key;
        let mut now = NOW;
        let refused = loop {
            match verify(&ring, &key, now) {
                Ok(claims) => {
                    if let Some(renewed) = claims.renewal(&ring, now) {
                        key = renewed.key;
                    }
                }
                Err(problem) => break (problem, now),
            }
            now += 10 * 60;
        };
        assert_eq!(refused, (KeyProblem::Ended, NOW + 36 * H));
        assert!(KeyProblem::Ended.message().contains("Save Configuration"));
    }

    #[test]
    fn a_lower_cap_applies_to_keys_already_issued() {
        let (_, issued) = key();
        let short = Keyring::new(
            secret("test-session-secret-0123456789abcdef"),
            KeyLife::hours(12).unwrap(),
        );
        assert!(verify(&short, &issued.key, NOW + 11 * H).is_ok());
        assert_eq!(verify(&short, &issued.key, NOW + 12 * H - 1).map(|_| ()), Ok(()));
        let renewed = verify(&short, &issued.key, NOW + 11 * H + 1800)
            .unwrap()
            .renewal(&short, NOW + 11 * H + 1800);
        assert_eq!(renewed, None, "its expiry is already at the end");
    }

    #[test]
    fn rotation_with_overlap() {
        let old = secret("the-old-session-secret-0123456789abcdef");
        let new = secret("the-new-session-secret-0123456789abcdef");
        let before = Keyring::new(old.clone(), KeyLife::default());
        let issued = issue(&before, "Zoe_Live", [7; 12], NOW);
        let until = NOW + 12 * H;
        let during = Keyring::new(new.clone(), KeyLife::default()).with_previous(Previous {
            secret: old,
            until_secs: until,
        });
        // Within the overlap: accepted, and renewed at once under the new secret.
        let claims = verify(&during, &issued.key, NOW + 60).unwrap();
        let renewed = claims.renewal(&during, NOW + 60).unwrap();
        assert_eq!(renewed.key.split('.').nth(1), Some(new.id().as_str()));
        assert_eq!(renewed.key.split('.').nth(2), Some(NOW.to_string().as_str()));
        let after = Keyring::new(new, KeyLife::default());
        assert!(verify(&after, &renewed.key, NOW + 120).is_ok());
        // After the overlap, or with the previous secret gone: refused.
        assert_eq!(
            verify(&during, &issued.key, until).err(),
            Some(KeyProblem::Invalid)
        );
        assert_eq!(
            verify(&after, &issued.key, NOW + 60).err(),
            Some(KeyProblem::Invalid)
        );
    }

    #[test]
    fn cs1_keys_are_accepted_until_they_expire_and_renewed_into_cs2() {
        let ring = ring();
        let expires = NOW + 2 * H;
        let old = legacy(&ring.current, expires);
        let claims = verify(&ring, &old, NOW).unwrap();
        assert_eq!(claims.subject(), "070707070707070707070707");
        let renewed = claims.renewal(&ring, NOW).unwrap();
        let parts: Vec<&str> = renewed.key.split('.').collect();
        assert_eq!(parts[0], "cs2");
        // Its first issue is its own latest issue: 12 hours before it expires.
        assert_eq!(parts[2], (expires - LIFETIME_SECS).to_string());
        assert!(verify(&ring, &renewed.key, NOW + H).is_ok());
        assert_eq!(verify(&ring, &old, expires).err(), Some(KeyProblem::Expired));
        let other = Keyring::new(
            secret("another-session-secret-0123456789abcdef"),
            KeyLife::default(),
        );
        assert_eq!(verify(&other, &old, NOW).err(), Some(KeyProblem::Invalid));
    }

    #[test]
    fn key_requests_as_the_app_sends_them() {
        let r = KeyRequest::from_json(br#"{"username":"user","broadcaster":"anonymous"}"#).unwrap();
        assert_eq!(r.broadcaster.as_str(), "anonymous");
        for (body, field) in [
            (&br#"{"username":"user"}"#[..], "broadcaster"),
            (br#"{"broadcaster":""}"#, "broadcaster"),
            (br#"{"broadcaster":"b","username":7}"#, "username"),
        ] {
            match KeyRequest::from_json(body) {
                Err(ApiError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn revoke_requests_name_the_caller_as_the_logs_do() {
        for subject in ["s-0a1b2c3d4e5f", " 0A1B2C3D4E5F ", "0a1b2c3d4e5f060708090a0b"] {
            let body = serde_json::json!({ "subject": subject }).to_string();
            let r = RevokeRequest::from_json(body.as_bytes()).unwrap();
            assert_eq!(r.caller.as_str(), "s-0a1b2c3d4e5f", "{subject}");
            assert_eq!(denied_key(&r.caller), "denied:s-0a1b2c3d4e5f");
        }
        for body in [
            &br#"{}"#[..],
            br#"{"subject":"s-0a1b2c3d4e"}"#,
            br#"{"subject":"s-0a1b2c3d4e5g"}"#,
            br#"{"subject":"0a1b2c3d4e5f060708090a0b0c"}"#,
            br#"{"subject":12}"#,
        ] {
            match RevokeRequest::from_json(body) {
                Err(ApiError::InvalidRequest { field, .. }) => assert_eq!(field, "subject"),
                other => panic!("{other:?}"),
            }
        }
    }
}
