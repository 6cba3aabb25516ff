//! The OpenAI chat-completions wire format, spoken by Together AI, OpenRouter
//! and OpenAI-compatible servers: the request body for one call, the answer
//! (`choices[0].message.content`, or streamed `choices[0].delta.content`,
//! with `usage` and `finish_reason`), and what an HTTP status means for the
//! coaching loop. Pure: the edge only sends the bytes and hands back the
//! status, the `Retry-After` header and the body.

use crate::core::llm::catalog::{AnswerShape, Entry};
use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::llm::protocol::workers_ai::usage_of;
use crate::core::llm::Message;
use crate::core::llm::{ModelReply, StreamPiece};
use crate::core::request::options::GenerationOptions;
use crate::core::request::options::OptionRange;
use serde_json::{json, Value};
use std::borrow::Cow;

/// Where the option ranges below come from.
pub const OPTIONS_SOURCE: &str = "OpenAI API reference, CreateChatCompletionRequest \
     (temperature 0..2, top_p 0..1, presence_penalty and frequency_penalty -2..2, seed and max_tokens integers), read 2026-11-21";

/// The options the protocol takes, under their OpenAI names, with their
/// published ranges, sorted by name; the rest (`top_k`,
/// `repetition_penalty`) are never sent.
pub const OPTIONS: [(&str, OptionRange); 6] = [
    ("frequency_penalty", range(Some(-2.0), Some(2.0), false)),
    ("max_tokens", range(Some(1.0), None, true)),
    ("presence_penalty", range(Some(-2.0), Some(2.0), false)),
    ("seed", range(None, None, true)),
    ("temperature", range(Some(0.0), Some(2.0), false)),
    ("top_p", range(Some(0.0), Some(1.0), false)),
];

const fn range(min: Option<f64>, max: Option<f64>, integer: bool) -> OptionRange {
    OptionRange { min, max, integer }
}

/// The registry's entry for a model of an OpenAI-compatible provider: its
/// context window is unknown (so the prompt is fitted to the smallest
/// published one), it streams, and it answers in the `choices` shape. JSON
/// mode (`response_format: {"type": "json_object"}`) only where the operator
/// says the provider's models take it (`*_JSON_MODE`): support differs from
/// model to model there, and the prompt and the parser do without it.
pub fn entry(id: &str, json_mode: bool) -> Entry {
    Entry {
        id: Cow::Owned(id.to_string()),
        context_window: None,
        json_mode,
        streams: true,
        answer: Some(AnswerShape::Choices),
        retires_on: None,
        retired_by_notice: false,
        successor: None,
        options: &OPTIONS,
        price: None,
    }
}

/// The body of `POST {base}/chat/completions` for `model` (its name at the
/// provider): the messages and the options the protocol takes, fitted to
/// their ranges; `response_format` when `json_mode` is asked for and the
/// entry has it (never with a stream); `stream: true` when streaming.
pub fn request_body(
    model: &str,
    entry: &Entry,
    messages: &[Message],
    options: &GenerationOptions,
    json_mode: bool,
    stream: bool,
) -> Value {
    let mut body = Value::Object(options.input_for(entry));
    body["model"] = json!(model);
    body["messages"] = json!(messages);
    if stream {
        body["stream"] = json!(true);
    } else if json_mode && entry.json_mode {
        body["response_format"] = json!({"type": "json_object"});
    }
    body
}

/// A whole answer's body (`choices[0].message.content`, `usage`,
/// `finish_reason`); `None` when it is not one.
pub fn reply_from_body(body: &[u8]) -> Option<ModelReply> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let choice = v.pointer("/choices/0")?;
    let content = choice.pointer("/message/content").and_then(Value::as_str)?;
    Some(ModelReply {
        response: Value::String(content.to_string()),
        usage: usage_of(&v),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// One `data:` payload of a streamed answer: a `choices[0].delta.content`
/// piece (reasoning deltas are never read), `usage` and `finish_reason` when
/// present, or `[DONE]`; an `error` object or `finish_reason: "error"` (how
/// OpenRouter reports a failure mid-stream) marks the stream `failed`.
/// `None` for anything else (skipped).
pub fn stream_piece(data: &str) -> Option<StreamPiece> {
    let data = data.trim();
    if data == "[DONE]" {
        return Some(StreamPiece::end());
    }
    let v: Value = serde_json::from_str(data).ok()?;
    let choice = v.pointer("/choices/0");
    let finish_reason = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str);
    Some(StreamPiece {
        failed: v.get("error").is_some() || finish_reason == Some("error"),
        text: choice
            .and_then(|c| c.pointer("/delta/content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        usage: usage_of(&v),
        finish_reason: finish_reason.map(str::to_string),
        done: false,
    })
}

/// `Retry-After` as milliseconds: delay-seconds only (an HTTP date is not
/// worth parsing for a wait this short). Never shortened: the loop waits it
/// out only when the deadline allows, else the next model answers.
pub fn retry_after_ms(header: Option<&str>) -> Option<u64> {
    let secs = crate::core::text::decimal(header?)?;
    // `as` saturates: an absurd value becomes a wait no deadline allows.
    (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64)
}

/// What a non-2xx status means for the loop. The body is never read into
/// the failure: upstream text reaches neither the caller nor the label. A
/// request refused while it carried `response_format` is tried once more
/// without it, as a Workers AI JSON-mode refusal is.
pub fn failure_for_status(status: u16, retry_after: Option<&str>, sent_json_mode: bool) -> ModelFailure {
    let (kind, label) = match status {
        400 | 422 if sent_json_mode => (FailureKind::JsonMode, "provider refused response_format"),
        401 | 403 => (
            FailureKind::Account,
            "provider refused the API key (misconfigured)",
        ),
        402 => (FailureKind::Account, "provider account out of credit"),
        408 => (FailureKind::Transient, "provider timed out"),
        429 => (
            FailureKind::Throttled(retry_after_ms(retry_after)),
            "provider rate limit",
        ),
        500..=599 => (FailureKind::Transient, "provider server error"),
        404 => (FailureKind::Permanent, "provider does not know the model"),
        _ => (FailureKind::Permanent, "provider refused the request"),
    };
    ModelFailure {
        code: Some(u32::from(status)),
        kind,
        label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_the_model_messages_and_only_the_protocols_options() {
        let opts =
            GenerationOptions::parse(Some(&json!({"temperature": 3.5, "top_k": 5, "seed": 7}))).unwrap();
        let e = entry("together:m", false);
        let messages = [Message {
            role: "system",
            content: "be brief".into(),
        }];
        let body = request_body("meta-llama/M", &e, &messages, &opts, true, false);
        assert_eq!(body["model"], "meta-llama/M");
        assert_eq!(body["messages"][0]["content"], "be brief");
        assert_eq!(body["temperature"], json!(2.0), "fitted to the range");
        assert_eq!(body["seed"], json!(7));
        assert!(body.get("top_k").is_none() && body.get("stream").is_none());
        assert!(body.get("max_tokens").is_some());
        assert!(
            body.get("response_format").is_none(),
            "not where the operator did not say so"
        );
        assert_eq!(
            request_body("m", &e, &messages, &opts, false, true)["stream"],
            json!(true)
        );
        let json_mode = entry("together:m", true);
        let body = request_body("m", &json_mode, &messages, &opts, true, false);
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert!(request_body("m", &json_mode, &messages, &opts, false, false)
            .get("response_format")
            .is_none());
        assert!(request_body("m", &json_mode, &messages, &opts, true, true)
            .get("response_format")
            .is_none());
    }

    #[test]
    fn whole_and_streamed_answers() {
        let r = reply_from_body(
            br#"{"choices":[{"message":{"content":"Hi Max","reasoning_content":"hidden"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!(r.response, json!("Hi Max"));
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.usage.unwrap().completion_tokens, 2);
        assert!(reply_from_body(b"{\"error\":{\"message\":\"bad\"}}").is_none());
        assert!(reply_from_body(b"<html>").is_none());
        let p = stream_piece(r#"{"choices":[{"delta":{"content":"Hi","reasoning":"no"}}]}"#).unwrap();
        assert_eq!(p.text, "Hi");
        let end = stream_piece(r#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":3}}"#)
            .unwrap();
        assert_eq!(
            (end.text.as_str(), end.finish_reason.as_deref()),
            ("", Some("length"))
        );
        assert!(stream_piece("[DONE]").unwrap().done);
        assert!(stream_piece(r#"{"error":{"message":"upstream"},"choices":[{"delta":{"content":""},"finish_reason":"error"}]}"#)
            .unwrap()
            .failed);
        assert!(!p.failed);
        assert!(stream_piece("not json").is_none());
    }

    #[test]
    fn statuses_map_to_what_the_loop_does() {
        assert_eq!(failure_for_status(401, None, false).kind, FailureKind::Account);
        assert_eq!(failure_for_status(403, None, false).kind, FailureKind::Account);
        assert_eq!(
            failure_for_status(429, Some("2"), false).kind,
            FailureKind::Throttled(Some(2_000))
        );
        assert_eq!(
            failure_for_status(429, Some("3600"), false).kind,
            FailureKind::Throttled(Some(3_600_000))
        );
        assert_eq!(
            failure_for_status(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), false).kind,
            FailureKind::Throttled(None)
        );
        assert_eq!(failure_for_status(503, None, false).kind, FailureKind::Transient);
        assert_eq!(failure_for_status(400, None, false).kind, FailureKind::Permanent);
        assert_eq!(failure_for_status(400, None, true).kind, FailureKind::JsonMode);
        assert_eq!(retry_after_ms(Some("-1")), None);
        assert_eq!(retry_after_ms(Some("0.5")), Some(500));
    }
}
