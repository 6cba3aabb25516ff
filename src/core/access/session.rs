//! Session keys: the credential of the coach frontend, which asks
//! `POST /api/get-session-key` for one and sends it back in the body of every
//! prompt request (its `src/api/cloudflareWorker.js`).
//!
//! A key is signed, not stored: `cs1.<expiry>.<subject>.<broadcaster>.<mac>`,
//! where
//! - `expiry` is the end of its life in Unix seconds;
//! - `subject` is 24 random hex digits, the caller's identity for rate limits
//!   and logs, kept when the key is renewed;
//! - `broadcaster` is the first 16 bytes of the SHA-256 of the broadcaster's
//!   name in lower case, in hex: the key serves that broadcaster only;
//! - `mac` is HMAC-SHA256 (RustCrypto `hmac` over our `sha2`) of everything
//!   before it under `SESSION_SECRET`, checked in constant time.
//!
//! Checking a key reads no storage. Rotating `SESSION_SECRET` revokes every
//! key. A key with less than half its life left is renewed in the answer.

use crate::core::error::ApiError;
use crate::core::request::{json_object, Broadcaster};
use crate::core::text::{char_len, collapse_whitespace, hex};
use crate::core::time::format_rfc3339;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// How long a key lives: longer than a broadcast, so one key covers a show;
/// renewal in the answers covers the rest.
pub const LIFETIME_SECS: u64 = 12 * 3600;
/// Shortest `SESSION_SECRET` accepted: 32 characters (128 bits or more of
/// randomness from `openssl rand -hex 32`, which gives 64).
pub const MIN_SECRET_CHARS: usize = 32;
/// Longest string that could be a key; anything longer is refused unread.
pub const MAX_KEY_CHARS: usize = 200;

const VERSION: &str = "cs1";
const SUBJECT_BYTES: usize = 12;
const BROADCASTER_BYTES: usize = 16;

/// `SESSION_SECRET`, keyed once into HMAC-SHA256: redacted when printed.
#[derive(Clone)]
pub struct SessionSecret {
    raw: Vec<u8>,
    keyed: Hmac<Sha256>,
}

impl SessionSecret {
    pub fn parse(value: &str) -> Result<SessionSecret, String> {
        let value = value.trim();
        if value.chars().count() < MIN_SECRET_CHARS {
            return Err(format!(
                "must be at least {MIN_SECRET_CHARS} characters (openssl rand -hex 32)"
            ));
        }
        // HMAC takes keys of any length (RFC 2104), so this does not fail.
        let keyed = Hmac::<Sha256>::new_from_slice(value.as_bytes())
            .map_err(|_| "could not key HMAC-SHA256".to_string())?;
        Ok(SessionSecret {
            raw: value.as_bytes().to_vec(),
            keyed,
        })
    }

    fn mac(&self, signed: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(signed.as_bytes());
        mac
    }
}

impl PartialEq for SessionSecret {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for SessionSecret {}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(redacted)")
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
    expires_secs: u64,
    subject: String,
    broadcaster: String,
}

/// Why a presented key is refused; each message says what to do in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    /// Not a key of ours, altered, or signed under a secret since rotated.
    Invalid,
    Expired,
    /// Issued for another broadcaster name.
    OtherBroadcaster,
}

impl KeyProblem {
    pub fn message(self) -> &'static str {
        match self {
            KeyProblem::Invalid => "This session key is not valid here (it was altered, or the service's secret changed). Open Settings and press Save Configuration to get a new one.",
            KeyProblem::Expired => "This session key has expired. Open Settings and press Save Configuration to get a new one.",
            KeyProblem::OtherBroadcaster => "This session key was issued for another broadcaster name. Open Settings and press Save Configuration to get one for this name.",
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

/// The hex of the first bytes of SHA-256 of the lower-case name.
fn broadcaster_digest(name: &str) -> String {
    let name = collapse_whitespace(name).to_lowercase();
    hex(&Sha256::digest(name.as_bytes())[..BROADCASTER_BYTES])
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn sign(secret: &SessionSecret, expires_secs: u64, subject: &str, broadcaster: &str) -> Issued {
    let signed = format!("{VERSION}.{expires_secs}.{subject}.{broadcaster}");
    let mac = hex(&secret.mac(&signed).finalize().into_bytes());
    Issued {
        key: format!("{signed}.{mac}"),
        expires_at: format_rfc3339(expires_secs as i64 * 1000),
    }
}

/// A new key for `broadcaster`, from 12 random bytes, living from `now_secs`.
pub fn issue(
    secret: &SessionSecret,
    broadcaster: &str,
    random: [u8; SUBJECT_BYTES],
    now_secs: u64,
) -> Issued {
    sign(
        secret,
        now_secs + LIFETIME_SECS,
        &hex(&random),
        &broadcaster_digest(broadcaster),
    )
}

/// The claims of `key` if it is ours, unaltered and alive at `now_secs`.
pub fn verify(secret: &SessionSecret, key: &str, now_secs: u64) -> Result<SessionClaims, KeyProblem> {
    if key.len() > MAX_KEY_CHARS {
        return Err(KeyProblem::Invalid);
    }
    let (signed, mac_hex) = key.rsplit_once('.').ok_or(KeyProblem::Invalid)?;
    let mut parts = signed.split('.');
    let (Some(VERSION), Some(expires), Some(subject), Some(broadcaster), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(KeyProblem::Invalid);
    };
    let well_formed = is_lower_hex(subject, SUBJECT_BYTES * 2)
        && is_lower_hex(broadcaster, BROADCASTER_BYTES * 2)
        && is_lower_hex(mac_hex, 64)
        && !expires.is_empty()
        && expires.len() <= 12
        && expires.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(KeyProblem::Invalid);
    }
    let presented: Vec<u8> = (0..32)
        .filter_map(|i| u8::from_str_radix(&mac_hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    // `verify_slice` compares in constant time.
    secret
        .mac(signed)
        .verify_slice(&presented)
        .map_err(|_| KeyProblem::Invalid)?;
    let expires_secs: u64 = expires.parse().map_err(|_| KeyProblem::Invalid)?;
    if now_secs >= expires_secs {
        return Err(KeyProblem::Expired);
    }
    Ok(SessionClaims {
        expires_secs,
        subject: subject.to_string(),
        broadcaster: broadcaster.to_string(),
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

    /// A fresh key for the same subject and broadcaster when less than half
    /// of this one's life is left; `None` while it is young.
    pub fn renewal(&self, secret: &SessionSecret, now_secs: u64) -> Option<Issued> {
        let left = self.expires_secs.saturating_sub(now_secs);
        (left < LIFETIME_SECS / 2)
            .then(|| sign(secret, now_secs + LIFETIME_SECS, &self.subject, &self.broadcaster))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000;

    fn secret(s: &str) -> SessionSecret {
        SessionSecret::parse(s).unwrap()
    }

    fn key() -> (SessionSecret, Issued) {
        let s = secret("test-session-secret-0123456789abcdef");
        let issued = issue(&s, "Zoe_Live", [7; 12], NOW);
        (s, issued)
    }

    #[test]
    fn a_key_carries_its_expiry_and_broadcaster_and_verifies() {
        let (s, issued) = key();
        assert!(issued.key.starts_with("cs1."));
        assert!(issued.key.len() <= MAX_KEY_CHARS);
        assert_eq!(
            issued.expires_at,
            format_rfc3339(((NOW + LIFETIME_SECS) * 1000) as i64)
        );
        let claims = verify(&s, &issued.key, NOW).unwrap();
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
        let (s, issued) = key();
        let bytes = issued.key.as_bytes();
        for i in 0..bytes.len() {
            let mut altered = bytes.to_vec();
            altered[i] = if altered[i] == b'1' { b'2' } else { b'1' };
            let altered = String::from_utf8(altered).unwrap();
            assert_eq!(verify(&s, &altered, NOW), Err(KeyProblem::Invalid), "byte {i}");
        }
        assert_eq!(
            verify(&s, &issued.key[..issued.key.len() - 1], NOW),
            Err(KeyProblem::Invalid)
        );
        assert_eq!(verify(&s, "", NOW), Err(KeyProblem::Invalid));
        assert_eq!(verify(&s, &"x".repeat(10_000), NOW), Err(KeyProblem::Invalid));
    }

    #[test]
    fn a_key_expires() {
        let (s, issued) = key();
        assert!(verify(&s, &issued.key, NOW + LIFETIME_SECS - 1).is_ok());
        assert_eq!(
            verify(&s, &issued.key, NOW + LIFETIME_SECS),
            Err(KeyProblem::Expired)
        );
    }

    #[test]
    fn rotating_the_secret_revokes_every_key() {
        let (_, issued) = key();
        let rotated = secret("another-session-secret-0123456789abcdef");
        assert_eq!(verify(&rotated, &issued.key, NOW), Err(KeyProblem::Invalid));
    }

    #[test]
    fn renewal_keeps_subject_and_broadcaster_and_only_past_half_life() {
        let (s, issued) = key();
        let claims = verify(&s, &issued.key, NOW).unwrap();
        assert_eq!(claims.renewal(&s, NOW + LIFETIME_SECS / 2 - 1), None);
        let later = NOW + LIFETIME_SECS / 2 + 1;
        let renewed = claims.renewal(&s, later).unwrap();
        let again = verify(&s, &renewed.key, later + LIFETIME_SECS - 1).unwrap();
        assert_eq!(again.subject(), claims.subject());
        assert_eq!(again.check_broadcaster("zoe_live"), Ok(()));
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
    fn short_secrets_are_refused() {
        assert!(SessionSecret::parse("short").is_err());
        assert!(format!("{:?}", secret(&"s".repeat(40))).contains("redacted"));
    }
}
