//! The secrets that sign session keys, and the key id that names each.
//!
//! `SESSION_SECRET` signs every key issued or renewed. During a rotation
//! `SESSION_SECRET_PREVIOUS` (the secret before) still checks the keys it
//! signed until `SESSION_SECRET_PREVIOUS_UNTIL`, and each such key is renewed
//! under the new secret at its first use; after that moment they are refused.
//! A key names its signer by a key id, so checking it costs one HMAC.

use super::super::strength::{self, Mode, Weakness, MIN_SESSION_SECRET_CHARS};
use crate::core::text::hex;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// What the key id is derived from: a fixed label under the secret.
const KEY_ID_LABEL: &[u8] = b"coach-worker session key id";
/// Bytes of the key id (8 hex digits in a key).
pub const KEY_ID_BYTES: usize = 4;

/// A secret's public name in keys: the first 4 bytes of HMAC-SHA256 of a
/// fixed label under it. It tells the secrets apart and says nothing of them
/// (an HMAC output), and the operator never has to number them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session secret, keyed once into HMAC-SHA256: redacted when printed.
#[derive(Clone)]
pub struct SessionSecret {
    keyed: Hmac<Sha256>,
    id: KeyId,
}

impl SessionSecret {
    /// A trimmed secret fit to sign keys in `mode`.
    pub fn parse(value: &str, mode: Mode) -> Result<SessionSecret, Weakness> {
        let value = value.trim();
        strength::check(value, MIN_SESSION_SECRET_CHARS, mode)?;
        // HMAC takes keys of any length (RFC 2104), so this does not fail;
        // were it to, the secret is refused as if too short.
        let keyed = Hmac::<Sha256>::new_from_slice(value.as_bytes()).map_err(|_| Weakness::Short {
            min: MIN_SESSION_SECRET_CHARS,
        })?;
        let mut label = keyed.clone();
        label.update(KEY_ID_LABEL);
        let id = KeyId(hex(&label.finalize().into_bytes()[..KEY_ID_BYTES]));
        Ok(SessionSecret { keyed, id })
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// HMAC-SHA256 of `signed` under this secret, ready to finalize or verify.
    pub(super) fn mac(&self, signed: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(signed.as_bytes());
        mac
    }
}

/// Two secrets are the same when their ids are: an HMAC output of the
/// secret, so equal ids mean equal secrets but for a 2^-32 chance.
impl PartialEq for SessionSecret {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for SessionSecret {}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionSecret({}, redacted)", self.id.as_str())
    }
}

/// The secret before a rotation, and the end of its overlap in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub secret: SessionSecret,
    pub until_secs: u64,
}

impl Previous {
    /// The secret while its overlap lasts.
    pub fn at(&self, now_secs: u64) -> Option<&SessionSecret> {
        (now_secs < self.until_secs).then_some(&self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_secrets_without_showing_them() {
        let a = SessionSecret::parse("a-session-secret-of-32-characters-or-more", Mode::Deployed).unwrap();
        let b = SessionSecret::parse("another-session-secret-of-32-characters", Mode::Deployed).unwrap();
        assert_eq!(a.id().as_str().len(), 2 * KEY_ID_BYTES);
        assert_ne!(a.id(), b.id());
        assert_ne!(a, b);
        let again =
            SessionSecret::parse(" a-session-secret-of-32-characters-or-more ", Mode::Deployed).unwrap();
        assert_eq!(a, again, "trimmed");
        assert!(!format!("{a:?}").contains("characters"));
        assert!(format!("{a:?}").contains("redacted"));
    }

    #[test]
    fn weak_secrets_are_refused() {
        assert_eq!(
            SessionSecret::parse("short", Mode::Deployed).err(),
            Some(Weakness::Short { min: 32 })
        );
        let example = "dev-session-secret-change-me-0123456789abcdef";
        assert_eq!(
            SessionSecret::parse(example, Mode::Deployed).err(),
            Some(Weakness::Shipped)
        );
        assert!(SessionSecret::parse(example, Mode::Local).is_ok());
    }

    #[test]
    fn the_previous_secret_lasts_until_its_moment() {
        let secret = SessionSecret::parse(&"p".repeat(40), Mode::Deployed).unwrap();
        let previous = Previous {
            secret,
            until_secs: 100,
        };
        assert!(previous.at(99).is_some());
        assert!(previous.at(100).is_none());
    }
}
