//! How model calls fail and what to do about each failure: Workers AI's
//! published error table as data, the classification of a thrown error's
//! message against it, and the backoff arithmetic (a remote provider's HTTP
//! statuses are read in [`crate::core::llm::protocol::chat_completions`]). The coaching loop in
//! [`crate::core::coach`] applies these decisions; the edge only reports what the
//! binding threw or the provider answered.

/// What the coaching loop does after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth another try on the same model after a backoff: capacity, upstream timeouts.
    Transient,
    /// This model cannot answer this request; the next model may.
    Permanent,
    /// The account cannot use this provider right now (Workers AI: daily
    /// allocation used, blocked, plan; a remote provider: key refused, no
    /// credit): every other model of the same provider would be refused too.
    Account,
    /// The model refused JSON mode: call it once more, at once, without it.
    JsonMode,
    /// An error the published table does not list: one more try at most.
    Unknown,
    /// The call hung past its timeout: another try on the same model would
    /// likely spend the deadline the same way, so the next model goes first.
    TimedOut,
    /// The answer failed a quality check a second sample usually passes (it
    /// named someone not in the room): one more call of the same model, at once.
    RetryOnce,
    /// The answer failed a quality check a second sample of the same model
    /// is not likely to pass: the next model.
    Refused,
    /// A provider's rate limit (HTTP 429): worth another try after its
    /// `Retry-After` (milliseconds, when it sent one) if the deadline allows.
    Throttled(Option<u64>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFailure {
    /// The code the failure carried: a Workers AI error code when the
    /// binding's message starts with one, or a remote provider's HTTP status.
    pub code: Option<u32>,
    pub kind: FailureKind,
    /// A short label for logs (never shown to callers).
    pub label: &'static str,
}

impl ModelFailure {
    /// The model answered, and the answer was judged unfit.
    pub fn is_refusal(&self) -> bool {
        matches!(self.kind, FailureKind::RetryOnce | FailureKind::Refused)
    }

    pub fn timeout() -> Self {
        ModelFailure {
            code: None,
            kind: FailureKind::TimedOut,
            label: "timeout",
        }
    }

    /// The provider reported a failure inside its event stream.
    pub fn stream_failed() -> Self {
        ModelFailure {
            code: None,
            kind: FailureKind::Transient,
            label: "failure reported inside the stream",
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

/// Workers AI's published error codes (its errors page; source and date in
/// data/SOURCES.md): (code, the table's name, what we do).
pub const DOCUMENTED: [(u32, &str, FailureKind); 16] = [
    (5007, "no such model", FailureKind::Permanent),
    (5004, "invalid data", FailureKind::Permanent),
    (3039, "finetune missing required files", FailureKind::Permanent),
    (3003, "incomplete request", FailureKind::Permanent),
    (
        5018,
        "account not allowed for private model",
        FailureKind::Permanent,
    ),
    (5016, "model agreement not accepted", FailureKind::Permanent),
    (3023, "account blocked", FailureKind::Account),
    (
        3041,
        "account not allowed for private model",
        FailureKind::Permanent,
    ),
    (5019, "deprecated SDK version", FailureKind::Permanent),
    (5005, "LoRA unsupported", FailureKind::Permanent),
    (3042, "invalid model id", FailureKind::Permanent),
    (3006, "request too large", FailureKind::Permanent),
    (3007, "timeout", FailureKind::Transient),
    (3008, "aborted", FailureKind::Transient),
    (3036, "daily free allocation used", FailureKind::Account),
    (3040, "out of capacity", FailureKind::Transient),
];

/// Codes the table above does not list: 5025 as reported in issue 7 (thrown
/// by the binding, in no stored docs page); 5035 from the 2026-07-28 Workers
/// AI changelog (HTTP 403, Workers Paid plan required; data/SOURCES.md).
pub const REPORTED: [(u32, &str, FailureKind); 2] = [
    (5025, "model does not support JSON mode", FailureKind::JsonMode),
    (5035, "needs the Workers Paid plan", FailureKind::Account),
];

/// Workers AI's text when a JSON-mode model could not meet the schema
/// (json-mode.mdx); it carries no code.
const JSON_MODE_NOT_MET: &str = "json mode couldn't be met";

/// The code a Workers AI message starts with: `3040: Capacity…`, or after the
/// error's name, `AiError: 5007: No such model`. A number anywhere else in
/// the text is not a code.
fn leading_code(message: &str) -> Option<u32> {
    let mut rest = message.trim_start();
    if let Some((name, after)) = rest.split_once(':') {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic()) {
            rest = after.trim_start();
        }
    }
    let digits = rest.get(..4)?;
    let after = rest[4..].chars().next()?;
    if digits.bytes().all(|b| b.is_ascii_digit()) && after == ':' {
        digits.parse().ok()
    } else {
        None
    }
}

/// Classifies the message of an error thrown by the `AI` binding.
pub fn classify_error(message: &str) -> ModelFailure {
    let code = leading_code(message);
    let known = code.and_then(|c| {
        DOCUMENTED
            .iter()
            .chain(REPORTED.iter())
            .find(|(k, _, _)| *k == c)
            .map(|(_, label, kind)| (*kind, *label))
    });
    let (kind, label) = match known {
        Some(found) => found,
        None if message.to_ascii_lowercase().contains(JSON_MODE_NOT_MET) => {
            (FailureKind::JsonMode, "JSON mode could not be met")
        }
        None if code.is_some() => (FailureKind::Unknown, "error code not in the published table"),
        None => (FailureKind::Unknown, "uncoded upstream error"),
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
    fn codes_are_read_only_where_workers_ai_puts_them() {
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
        // Numbers in free text are not codes.
        for m in [
            "model 1234: nope",
            "failed after 3040 ms",
            "upstream said 5007 things",
            "AiError: took 3007 ms",
            "",
            "12345: five digits",
            "\u{e9}\u{e9}: 3040: odd",
        ] {
            assert_eq!(classify_error(m).code, None, "{m}");
            assert_eq!(classify_error(m).kind, FailureKind::Unknown, "{m}");
        }
    }

    #[test]
    fn every_documented_code_has_its_decision() {
        for (code, _, kind) in DOCUMENTED.iter().chain(REPORTED.iter()) {
            let f = classify_error(&format!("AiError: {code}: whatever the text says"));
            assert_eq!((f.code, f.kind), (Some(*code), *kind), "{code}");
        }
        assert_eq!(classify_error("3040: busy").kind, FailureKind::Transient);
        assert_eq!(classify_error("3036: used up").kind, FailureKind::Account);
        assert_eq!(classify_error("5007: No such model").kind, FailureKind::Permanent);
        assert_eq!(
            classify_error("AiError: 5025: This model doesn't suuport JSON Schema").kind,
            FailureKind::JsonMode
        );
        assert_eq!(
            classify_error("AiError: JSON Mode couldn't be met").kind,
            FailureKind::JsonMode
        );
    }

    #[test]
    fn codes_outside_the_table_are_unknown() {
        let f = classify_error("AiError: 9999: something new");
        assert_eq!((f.code, f.kind), (Some(9999), FailureKind::Unknown));
        assert_eq!(classify_error("something broke").kind, FailureKind::Unknown);
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
