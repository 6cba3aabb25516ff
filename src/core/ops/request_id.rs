//! Request ids: every response carries `X-Request-Id`, the caller's own when
//! it is sane, otherwise a fresh one, so a frontend's report and the
//! operator's log line can be matched.

/// The response header, also read from the request.
pub const HEADER: &str = "X-Request-Id";

/// Longest caller-supplied id kept.
pub const MAX_LEN: usize = 128;

/// The caller's id if it is 1 to [`MAX_LEN`] printable ASCII characters
/// (space to `~`, so it can go back in a header and a log line as it came).
pub fn sane(candidate: &str) -> Option<&str> {
    let ok = !candidate.is_empty()
        && candidate.len() <= MAX_LEN
        && candidate.bytes().all(|b| (0x20..=0x7e).contains(&b));
    ok.then_some(candidate)
}

/// A fresh id from 16 random bytes: 32 lowercase hex digits.
pub fn fresh(random: [u8; 16]) -> String {
    crate::core::text::hex(&random)
}

/// The id of a request: the sane one it sent, else `fresh()`.
pub fn choose(sent: Option<&str>, fresh: impl FnOnce() -> String) -> String {
    sent.and_then(sane).map(str::to_string).unwrap_or_else(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_id_is_kept() {
        for id in ["abc-123", "a", "req 42/x:y", &"x".repeat(MAX_LEN), "~!\"#"] {
            assert_eq!(choose(Some(id), || "fresh".into()), id);
        }
    }

    #[test]
    fn an_insane_or_missing_id_is_replaced() {
        let long = "x".repeat(MAX_LEN + 1);
        for id in [
            Some(""),
            Some(long.as_str()),
            Some("a\tb"),
            Some("a\nb"),
            Some("caf\u{e9}"),
            Some("\u{7f}"),
            None,
        ] {
            assert_eq!(choose(id, || "fresh".into()), "fresh", "{id:?}");
        }
    }

    #[test]
    fn fresh_ids_are_hex() {
        let id = fresh([0xab; 16]);
        assert_eq!(id.len(), 32);
        assert_eq!(id, "ab".repeat(16));
        assert_eq!(sane(&id), Some(id.as_str()));
    }
}
