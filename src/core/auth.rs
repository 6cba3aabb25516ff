//! Who is calling: the `Authorization: Bearer` header parsed strictly,
//! constant-time comparison with the static `API_TOKENS`, SHA-256 (tokens are
//! stored in KV only as their hash), and the KV token record.

use super::error::ApiError;
use super::text::{char_len, collapse_whitespace};
use serde::{Deserialize, Serialize};

/// Longest token accepted; anything longer is not one of ours.
pub const MAX_TOKEN_LEN: usize = 256;

pub const MISSING: &str =
    "Send `Authorization: Bearer <token>`; ask the operator for a token if you have none.";
pub const MALFORMED: &str = "The Authorization header must be `Bearer <token>` with a single token.";
pub const UNKNOWN: &str = "That token is not valid; check it or ask the operator for a new one.";
pub const REVOKED: &str = "That token has been revoked; ask the operator for a new one.";

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

/// Equality whose time depends only on the lengths, not on where the inputs
/// first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = a.len() ^ b.len();
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xFF);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Index of `token` in the static list, comparing against every entry.
pub fn match_static(token: &str, tokens: &[String]) -> Option<usize> {
    let mut found = None;
    for (i, t) in tokens.iter().enumerate() {
        if constant_time_eq(token.as_bytes(), t.as_bytes()) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// SHA-256 (FIPS 180-4) of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex SHA-256 of a token: its KV key suffix and, shortened, its name in logs.
pub fn token_hash(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

/// KV key of a per-user token record.
pub fn token_key(hash: &str) -> String {
    format!("token:{hash}")
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
    /// First 12 hex digits of the token's SHA-256: the rate-limit key.
    pub id: String,
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
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::InvalidJson(format!("at line {} column {}", e.line(), e.column())))?;
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
                    .as_u64()
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

    #[test]
    fn constant_time_equality() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokeN"));
        assert!(
            !constant_time_eq(b"secret", b"secret-token"),
            "a prefix is not equal"
        );
        assert!(!constant_time_eq(b"secret-token", b"secret"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        // Lengths differing by a multiple of 256 must not cancel out.
        assert!(!constant_time_eq(&[0u8; 0], &[0u8; 256]));
    }

    #[test]
    fn static_tokens() {
        let tokens = vec!["one".to_string(), "two".to_string()];
        assert_eq!(match_static("two", &tokens), Some(1));
        assert_eq!(match_static("tw", &tokens), None);
        assert_eq!(match_static("", &tokens), None);
    }

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha256(&vec![b'a'; 1_000_000])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn token_record_round_trip() {
        let r: TokenRecord =
            serde_json::from_str(r#"{"name":"luna","created_at":"2025-03-13T03:15:45Z"}"#).unwrap();
        assert!(!r.revoked);
        assert_eq!(r.per_minute, None);
        assert_eq!(token_key("ab"), "token:ab");
    }
}
