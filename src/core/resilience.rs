//! How model calls fail and what to do about it: Workers AI error messages
//! classified into transient (retry with backoff) and permanent (move on), and
//! the backoff arithmetic. The edge owns the clock and the loop; this owns
//! the decisions, so they are tested natively.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth another try on the same model: capacity, timeouts, upstream 5xx.
    Transient,
    /// Retrying the same model cannot help: no such model, bad input, account limit.
    Permanent,
    /// The call hung past its timeout: another try on the same model would
    /// likely spend the deadline the same way, so the next model goes first.
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFailure {
    /// The Workers AI error code, when the error carried one.
    pub code: Option<u32>,
    pub kind: FailureKind,
    /// A short label for logs (never shown to callers).
    pub label: &'static str,
}

impl ModelFailure {
    pub fn timeout() -> Self {
        ModelFailure {
            code: None,
            kind: FailureKind::TimedOut,
            label: "timeout",
        }
    }

    /// The model named someone who is not in the room.
    pub fn unknown_person() -> Self {
        ModelFailure {
            code: None,
            kind: FailureKind::Permanent,
            label: "named someone not in the room",
        }
    }

    /// The model answered, but nothing usable could be read from it.
    pub fn unusable() -> Self {
        ModelFailure {
            code: None,
            kind: FailureKind::Permanent,
            label: "unusable answer",
        }
    }
}

/// The first four-digit code in a Workers AI error message, such as
/// `3040: Capacity temporarily exceeded` or `AiError: 5007: No such model`.
fn error_code(message: &str) -> Option<u32> {
    let b = message.as_bytes();
    (0..b.len().saturating_sub(4)).find_map(|i| {
        let before_ok = i == 0 || !b[i - 1].is_ascii_digit();
        let digits = &b[i..i + 4];
        let after_ok = b.get(i + 4).is_some_and(|c| *c == b':' || *c == b' ');
        if before_ok && after_ok && digits.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(digits).ok()?.parse().ok()
        } else {
            None
        }
    })
}

/// Classifies the message of an error thrown by the `AI` binding.
pub fn classify_error(message: &str) -> ModelFailure {
    let code = error_code(message);
    let (kind, label) = match code {
        Some(3040) => (FailureKind::Transient, "capacity exceeded"),
        Some(3007) | Some(3046) => (FailureKind::Transient, "upstream timeout"),
        Some(3008) => (FailureKind::Transient, "aborted upstream"),
        Some(3043) | Some(3001) => (FailureKind::Transient, "upstream internal error"),
        Some(5007) | Some(3042) => (FailureKind::Permanent, "no such model"),
        Some(5006) | Some(5004) | Some(3003) | Some(3006) => (FailureKind::Permanent, "invalid input"),
        Some(3036) => (FailureKind::Permanent, "account limit reached"),
        Some(3023) | Some(5016) | Some(5018) | Some(5022) => (FailureKind::Permanent, "account not allowed"),
        Some(_) => (FailureKind::Transient, "other upstream error"),
        None => {
            let lower = message.to_ascii_lowercase();
            if lower.contains("no such model") || lower.contains("invalid input") {
                (FailureKind::Permanent, "invalid request upstream")
            } else {
                (FailureKind::Transient, "uncoded upstream error")
            }
        }
    };
    ModelFailure { code, kind, label }
}

/// Backoff before retry number `attempt` (0 for the first retry): exponential
/// from `base_ms`, capped at `max_ms`, with jitter. `jitter` is uniform in
/// [0, 1); the wait is between half and all of the exponential step.
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let step = base_ms.saturating_mul(1u64 << attempt.min(16)).min(max_ms);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let half = step / 2;
    half + (half as f64 * jitter) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_workers_ai_messages() {
        assert_eq!(
            classify_error("3040: Capacity temporarily exceeded, please try again.").code,
            Some(3040)
        );
        assert_eq!(
            classify_error("AiError: 5007: No such model @cf/x").code,
            Some(5007)
        );
        assert_eq!(
            classify_error("InferenceUpstreamError: 3036: account limit").code,
            Some(3036)
        );
        assert_eq!(classify_error("model 12345: nope").code, None);
        assert_eq!(classify_error("").code, None);
    }

    #[test]
    fn transient_and_permanent() {
        for m in [
            "3040: Capacity temporarily exceeded",
            "3007: timeout",
            "something broke",
            "500 Internal",
        ] {
            assert_eq!(classify_error(m).kind, FailureKind::Transient, "{m}");
        }
        for m in [
            "5007: No such model",
            "5006: Invalid input",
            "3036: Account limited",
            "no such model",
        ] {
            assert_eq!(classify_error(m).kind, FailureKind::Permanent, "{m}");
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(backoff_ms(0, 200, 2_000, 0.0), 100);
        assert_eq!(backoff_ms(0, 200, 2_000, 0.999_999), 199);
        assert_eq!(backoff_ms(1, 200, 2_000, 0.0), 200);
        assert_eq!(backoff_ms(2, 200, 2_000, 0.0), 400);
        assert_eq!(backoff_ms(10, 200, 2_000, 1.0), 2_000);
        assert_eq!(backoff_ms(u32::MAX, 200, 2_000, f64::NAN), 1_500);
    }
}
