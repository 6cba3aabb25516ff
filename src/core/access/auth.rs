//! Who is calling: the `Authorization: Bearer` header parsed strictly, token
//! digests (SHA-256 from `sha2`, compared in constant time with `subtle`;
//! tokens are stored and compared only as digests), token ids, and the KV
//! token record with its list metadata.

use crate::core::error::ApiError;
use crate::core::text::{char_len, collapse_whitespace, hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Longest token accepted; anything longer is not one of ours.
pub const MAX_TOKEN_LEN: usize = 256;

pub const MISSING: &str =
    "Send `Authorization: Bearer <token>` (ask the operator for a token) or a `sessionKey` from POST /api/get-session-key.";
pub const MALFORMED: &str = "The Authorization header must be `Bearer <token>` with a single token.";
pub const UNKNOWN: &str = "That token is not valid; check it or ask the operator for a new one.";
pub const REVOKED: &str = "That token has been revoked; ask the operator for a new one.";
/// The answers of the admin routes (and of `/healthz` asked with a token)
/// while `ADMIN_TOKEN` cannot be used: what the operator must do, never the value.
pub const ADMIN_UNSET: &str = "The admin routes are disabled: the operator has not set ADMIN_TOKEN.";
pub const ADMIN_SHIPPED: &str = "The admin routes and the detailed health report are disabled: ADMIN_TOKEN is an example value shipped with this project, which anyone can read. Set a new one: openssl rand -hex 32 | npx wrangler secret put ADMIN_TOKEN";
pub const ADMIN_SHORT: &str = "The admin routes and the detailed health report are disabled: ADMIN_TOKEN is shorter than 24 characters. Set a new one: openssl rand -hex 32 | npx wrangler secret put ADMIN_TOKEN";

/// Why a request carries no usable credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerProblem {
    Missing,
    Malformed,
}

impl BearerProblem {
    pub fn message(self) -> &'static str {
        match self {
            BearerProblem::Missing => MISSING,
            BearerProblem::Malformed => MALFORMED,
        }
    }
}

/// The token of an `Authorization` header (`Bearer` in any case, one token of
/// visible ASCII, at most [`MAX_TOKEN_LEN`] bytes).
pub fn parse_bearer(header: Option<&str>) -> Result<&str, BearerProblem> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(BearerProblem::Missing)?;
    let (scheme, rest) = header.split_once(' ').ok_or(BearerProblem::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerProblem::Malformed);
    }
    let token = rest.trim();
    let valid =
        !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(token)
    } else {
        Err(BearerProblem::Malformed)
    }
}

/// SHA-256 of a token: what is compared and what is stored, never the token.
///
/// Static tokens are compared as digests, so the comparison has a fixed
/// length (32 bytes) whatever was presented: neither the content nor the
/// length of a configured token shows in the time it takes.
#[derive(Clone, Copy)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// Constant-time equality (`subtle`), for checking a presented token.
    pub fn matches(&self, other: &TokenDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// 64 lowercase hex digits: the suffix of the token's KV key.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// The token's public id (see [`TokenId`]).
    pub fn id(&self) -> TokenId {
        TokenId::from_hash(&self.hex())
    }
}

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for TokenDigest {}

impl fmt::Debug for TokenDigest {
    /// Only the id: a configured token's full digest stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", self.id())
    }
}

/// A token's public name in logs, rate-limit keys and the admin routes: the
/// first 12 hex digits of its SHA-256. The one place that rule is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenId(String);

impl TokenId {
    const HEX_DIGITS: usize = 12;

    /// From a full hex hash (a KV key suffix); a shorter string is kept whole.
    pub fn from_hash(hash: &str) -> TokenId {
        TokenId(hash.get(..Self::HEX_DIGITS).unwrap_or(hash).to_string())
    }

    /// A session key's caller: `s-` and the first 12 hex digits of its
    /// subject, so it never collides with a token's id.
    pub fn session(subject: &str) -> TokenId {
        TokenId(format!(
            "s-{}",
            subject.get(..Self::HEX_DIGITS).unwrap_or(subject)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TokenId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Index of the presented token among the configured digests, comparing
/// against every entry (no early exit).
pub fn match_static(presented: &TokenDigest, configured: &[TokenDigest]) -> Option<usize> {
    let mut found = None;
    for (i, digest) in configured.iter().enumerate() {
        if digest.matches(presented) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// `API_TOKENS` as digests, each with its place in the variable (from 1):
/// the `N` of `static-N` in logs, unchanged when an entry before it is
/// refused (see [`crate::core::access::strength`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticTokens {
    digests: Vec<TokenDigest>,
    places: Vec<usize>,
}

impl StaticTokens {
    pub fn push(&mut self, place: usize, token: &str) {
        self.digests.push(TokenDigest::of(token));
        self.places.push(place);
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    pub fn digests(&self) -> &[TokenDigest] {
        &self.digests
    }

    /// The place of the presented token, compared with every entry.
    pub fn find(&self, presented: &TokenDigest) -> Option<usize> {
        match_static(presented, &self.digests).and_then(|i| self.places.get(i).copied())
    }
}

/// Prefix of the tokens `POST /admin/tokens` issues: `ck_` and 64 hex digits.
pub const ISSUED_PREFIX: &str = "ck_";

/// A new per-user token from 32 random bytes.
pub fn issued_token(secret: &[u8; 32]) -> String {
    format!("{ISSUED_PREFIX}{}", hex(secret))
}

/// Whether `token` is a session key, in either format (see
/// [`crate::core::access::session`]).
pub fn looks_like_session_key(token: &str) -> bool {
    token.starts_with("cs2.") || token.starts_with("cs1.")
}

/// Whether `token` has the shape of an issued token; nothing else can be in
/// KV, so nothing else costs a KV read.
pub fn looks_issued(token: &str) -> bool {
    token
        .strip_prefix(ISSUED_PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Prefix of every per-user token record in KV: `token:<sha256 hex>`.
pub const TOKEN_KEY_PREFIX: &str = "token:";

/// KV key of a per-user token record.
pub fn token_key(digest: &TokenDigest) -> String {
    format!("{TOKEN_KEY_PREFIX}{}", digest.hex())
}

/// The hex hash in a token record's KV key, if it is one.
pub fn hash_of_key(key: &str) -> Option<&str> {
    key.strip_prefix(TOKEN_KEY_PREFIX)
}

/// A per-user token as stored in KV under `token:<sha256 hex>`. The token
/// itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u32>,
    #[serde(default)]
    pub revoked: bool,
}

/// An authenticated caller, named for logs and rate limits without its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Token name (KV tokens) or `static-N` (the N-th of `API_TOKENS`).
    pub name: String,
    /// The rate-limit key and the name in logs.
    pub id: TokenId,
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
}

/// The body of `POST /admin/tokens`: who the token is for and optional limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
}

impl NewToken {
    pub fn from_json(body: &[u8]) -> Result<NewToken, ApiError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ApiError::from_json_error(&e))?;
        let name = value
            .get("name")
            .and_then(serde_json::Value::as_str)
            .map(collapse_whitespace)
            .filter(|n| !n.is_empty() && char_len(n) <= 64 && !n.chars().any(char::is_control))
            .ok_or_else(|| {
                ApiError::invalid(
                    "name",
                    "is required: 1 to 64 characters naming the token's holder",
                )
            })?;
        let limit = |key: &str| -> Result<Option<u32>, ApiError> {
            match value.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_number()
                    .and_then(crate::core::text::whole_number)
                    .filter(|n| (1..=1_000_000).contains(n))
                    .map(|n| Some(n as u32))
                    .ok_or_else(|| ApiError::invalid(key, "must be a whole number from 1 to 1000000")),
            }
        };
        Ok(NewToken {
            name,
            per_minute: limit("per_minute")?,
            per_day: limit("per_day")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_refusals_state_the_minimum() {
        let min = crate::core::access::strength::MIN_TOKEN_CHARS;
        assert!(ADMIN_SHORT.contains(&format!("shorter than {min} characters")));
    }

    #[test]
    fn new_token_requests() {
        let t = NewToken::from_json(br#"{"name":" Luna  Live ","per_minute":5}"#).unwrap();
        assert_eq!(
            (t.name.as_str(), t.per_minute, t.per_day),
            ("Luna Live", Some(5), None)
        );
        for (body, field) in [
            (&br#"{}"#[..], "name"),
            (br#"{"name":""}"#, "name"),
            (br#"{"name":"x","per_day":0}"#, "per_day"),
            (br#"{"name":"x","per_minute":"5"}"#, "per_minute"),
        ] {
            match NewToken::from_json(body) {
                Err(ApiError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(parse_bearer(Some("Bearer abc.DEF-123")), Ok("abc.DEF-123"));
        assert_eq!(parse_bearer(Some("bearer abc")), Ok("abc"));
        assert_eq!(parse_bearer(Some("BEARER   abc  ")), Ok("abc"));
        assert_eq!(parse_bearer(None), Err(BearerProblem::Missing));
        assert_eq!(parse_bearer(Some("  ")), Err(BearerProblem::Missing));
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearer a b",
            "Token abc",
            "Bearerabc",
        ] {
            assert_eq!(parse_bearer(Some(bad)), Err(BearerProblem::Malformed), "{bad}");
        }
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(parse_bearer(Some(&long)), Err(BearerProblem::Malformed));
        assert_eq!(
            parse_bearer(Some("Bearer t\u{e9}st")),
            Err(BearerProblem::Malformed)
        );
    }

    fn digests(tokens: &[&str]) -> Vec<TokenDigest> {
        tokens.iter().map(|t| TokenDigest::of(t)).collect()
    }

    #[test]
    fn digest_comparison() {
        let secret = TokenDigest::of("secret-token");
        assert!(secret.matches(&TokenDigest::of("secret-token")));
        for other in [
            "secret-tokeN",
            "secret",
            "secret-token-",
            "",
            "ecret-token",
            " secret-token",
        ] {
            assert!(!secret.matches(&TokenDigest::of(other)), "{other:?}");
            assert_ne!(secret, TokenDigest::of(other));
        }
        assert!(TokenDigest::of("").matches(&TokenDigest::of("")));
    }

    #[test]
    fn static_tokens_are_matched_by_digest() {
        let configured = digests(&["one", "two", "two"]);
        assert_eq!(match_static(&TokenDigest::of("two"), &configured), Some(1));
        for wrong in ["tw", "twoo", "", "TWO", "one "] {
            assert_eq!(
                match_static(&TokenDigest::of(wrong), &configured),
                None,
                "{wrong}"
            );
        }
        assert_eq!(match_static(&TokenDigest::of("one"), &[]), None);
        let mut places = StaticTokens::default();
        places.push(1, "one");
        places.push(3, "three");
        assert_eq!(places.find(&TokenDigest::of("three")), Some(3));
        assert_eq!(places.find(&TokenDigest::of("two")), None);
    }

    #[test]
    fn sha256_known_vectors() {
        // FIPS 180-2 appendix B and the empty string.
        assert_eq!(
            TokenDigest::of("").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            TokenDigest::of("abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            TokenDigest::of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn issued_tokens_have_one_shape() {
        let token = issued_token(&[0xab; 32]);
        assert!(looks_issued(&token));
        assert_eq!(token.len(), 67);
        for other in [
            "ck_",
            "test-token-0123456789abcdef",
            &token[..66],
            &format!("{token}0"),
            &token.to_uppercase(),
            &token.replacen("ck_", "ct_", 1),
        ] {
            assert!(!looks_issued(other), "{other}");
        }
    }

    #[test]
    fn ids_keys_and_debug_output() {
        let d = TokenDigest::of("abc");
        assert_eq!(d.id().as_str(), "ba7816bf8f01");
        assert_eq!(TokenId::from_hash("ab12").as_str(), "ab12");
        let key = token_key(&d);
        assert_eq!(key, format!("token:{}", d.hex()));
        assert_eq!(hash_of_key(&key), Some(d.hex().as_str()));
        assert_eq!(TokenId::from_hash(hash_of_key(&key).unwrap()), d.id());
        assert_eq!(hash_of_key("rl:abc"), None);
        assert_eq!(format!("{d:?}"), "TokenDigest(ba7816bf8f01)");
    }

    #[test]
    fn token_record_round_trip() {
        let r: TokenRecord =
            serde_json::from_str(r#"{"name":"luna","created_at":"2025-03-13T03:15:45Z"}"#).unwrap();
        assert!(!r.revoked);
        assert_eq!(r.per_minute, None);
    }
}
