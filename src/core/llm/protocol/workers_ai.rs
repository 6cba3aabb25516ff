//! Workers AI's wire format for text generation: the input a model is sent
//! (messages, the options its schema takes, JSON mode only where the catalog
//! says the model has it) and every shape a result comes back in (an object
//! with `response`, an OpenAI-style `choices` object, a bare string, or an SSE
//! byte stream) read into one [`ModelReply`]. Reasoning fields are never read.

use crate::core::llm::catalog::Entry;
use crate::core::llm::sse::SseDecoder;
use crate::core::llm::Message;
use crate::core::llm::ModelReply;
use crate::core::llm::StreamPiece;
use crate::core::llm::Usage;
use crate::core::request::options::GenerationOptions;
use serde_json::{json, Value};

/// The JSON-mode schema of a suggestion.
fn suggestion_schema() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["say", "do"]},
                "content": {"type": "string"}
            },
            "required": ["action", "content"]
        }
    })
}

/// The input for `model`: `messages`, the options its schema takes (fitted
/// to its ranges), and `response_format` when `json_mode` is asked for and
/// the catalog says the model supports it.
pub fn model_input(
    model: &Entry,
    messages: &[Message],
    options: &GenerationOptions,
    json_mode: bool,
) -> Value {
    let mut input = Value::Object(options.input_for(model));
    input["messages"] = json!(messages);
    if json_mode && model.json_mode {
        input["response_format"] = suggestion_schema();
    }
    input
}

/// The input of a streamed call: plain text (JSON mode does not stream),
/// with `stream: true` where the model's schema takes it; a model that cannot
/// stream answers whole.
pub fn stream_input(model: &Entry, messages: &[Message], options: &GenerationOptions) -> Value {
    let mut input = model_input(model, messages, options, false);
    if model.streams {
        input["stream"] = Value::Bool(true);
    }
    input
}

/// `usage` as both Workers AI and chat-completions APIs report it.
pub(crate) fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?;
    Some(Usage {
        prompt_tokens: u.get("prompt_tokens")?.as_u64()?,
        completion_tokens: u.get("completion_tokens")?.as_u64()?,
    })
}

fn finish_reason_of(v: &Value) -> Option<String> {
    v.get("finish_reason")
        .or_else(|| v.pointer("/choices/0/finish_reason"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A Workers AI result already read as JSON: `{response, usage?}`, an
/// OpenAI-style `{choices: [{message: {content}}]}`, or a bare string.
pub fn reply_from_value(v: Value) -> Option<ModelReply> {
    match v {
        Value::String(_) => Some(ModelReply {
            response: v,
            usage: None,
            finish_reason: None,
        }),
        Value::Object(_) => {
            let response = v
                .get("response")
                .cloned()
                // Chat completions: `content` only; `reasoning_content` is never spoken.
                .or_else(|| v.pointer("/choices/0/message/content").cloned())
                .or_else(|| v.pointer("/choices/0/text").cloned())
                .filter(|r| !r.is_null())?;
            Some(ModelReply {
                usage: usage_of(&v),
                finish_reason: finish_reason_of(&v),
                response,
            })
        }
        _ => None,
    }
}

/// One `data:` payload of a streamed answer: Workers AI's `{"response":
/// "<token>"}` or an OpenAI-style `{"choices": [{"delta": {"content"}}]}`;
/// `None` for a payload that is neither (skipped, as a keep-alive would be).
pub fn stream_piece(data: &str) -> Option<StreamPiece> {
    let data = data.trim();
    if data == "[DONE]" {
        return Some(StreamPiece::end());
    }
    let v: Value = serde_json::from_str(data).ok()?;
    let text = v
        .get("response")
        .and_then(Value::as_str)
        .or_else(|| v.pointer("/choices/0/delta/content").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    Some(StreamPiece {
        text,
        usage: usage_of(&v),
        finish_reason: finish_reason_of(&v),
        done: false,
        failed: false,
    })
}

/// A whole streamed Workers AI result, already received: server-sent events
/// whose pieces join into the answer, closed by `[DONE]`. Bytes that are not
/// SSE at all are read as the answer's text.
pub fn reply_from_sse(bytes: &[u8]) -> Option<ModelReply> {
    let mut decoder = SseDecoder::new();
    let mut events = decoder.push(bytes);
    events.extend(decoder.finish());
    if events.is_empty() {
        let text = String::from_utf8_lossy(bytes);
        let plain = text.trim();
        return (!plain.is_empty()).then(|| ModelReply {
            response: Value::String(plain.to_string()),
            usage: None,
            finish_reason: None,
        });
    }
    let mut reply = ModelReply {
        response: Value::String(String::new()),
        usage: None,
        finish_reason: None,
    };
    let mut text = String::new();
    for piece in events.iter().filter_map(|e| stream_piece(&e.data)) {
        if piece.done {
            break;
        }
        text.push_str(&piece.text);
        reply.usage = piece.usage.or(reply.usage);
        reply.finish_reason = piece.finish_reason.or(reply.finish_reason);
    }
    reply.response = Value::String(text);
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::llm::catalog::catalog;
    use crate::core::request::options::GenerationOptions;

    #[test]
    fn json_mode_only_where_the_catalog_says_so() {
        let opts = GenerationOptions::default();
        let with = model_input(
            catalog().get("@cf/meta/llama-3.3-70b-instruct-fp8-fast").unwrap(),
            &[],
            &opts,
            true,
        );
        assert_eq!(
            with["response_format"]["json_schema"]["properties"]["action"]["enum"],
            json!(["say", "do"])
        );
        for id in [
            "@cf/meta/llama-3.1-8b-instruct-fast",
            "@cf/meta/llama-4-scout-17b-16e-instruct",
        ] {
            let without = model_input(catalog().get(id).unwrap(), &[], &opts, true);
            assert!(without.get("response_format").is_none(), "{id}");
            assert_eq!(
                without["max_tokens"],
                json!(crate::core::request::options::DEFAULT_MAX_TOKENS)
            );
        }
        let plain = model_input(
            catalog().get("@cf/meta/llama-3.3-70b-instruct-fp8-fast").unwrap(),
            &[],
            &opts,
            false,
        );
        assert!(plain.get("response_format").is_none());
    }

    #[test]
    fn replies_in_every_shape() {
        let obj = reply_from_value(json!({"response": {"action": "do", "content": "Wave"}, "usage": {"prompt_tokens": 1, "completion_tokens": 2}})).unwrap();
        assert_eq!(obj.response["action"], "do");
        let openai = reply_from_value(json!({"choices": [{"message": {"content": "hi", "reasoning_content": "secret thoughts"}, "finish_reason": "stop"}]}))
            .unwrap();
        assert_eq!(
            (openai.response, openai.finish_reason.as_deref()),
            (json!("hi"), Some("stop"))
        );
        assert_eq!(reply_from_value(json!("plain")).unwrap().response, json!("plain"));
        assert!(reply_from_value(json!({"nothing": 1})).is_none());
        assert!(
            reply_from_value(json!({"choices": [{"message": {"reasoning_content": "only thoughts"}}]}))
                .is_none()
        );
        assert!(reply_from_value(json!(3)).is_none());
    }

    #[test]
    fn sse_streams_are_joined() {
        let sse = b"data: {\"response\":\"{\\\"action\\\":\\\"say\\\",\"}\n\ndata: {\"response\":\"\\\"content\\\":\\\"Hi Max\\\"}\"}\n\ndata: {\"response\":\"\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n";
        let r = reply_from_sse(sse).unwrap();
        assert_eq!(r.response, json!("{\"action\":\"say\",\"content\":\"Hi Max\"}"));
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 7
            })
        );
        assert_eq!(reply_from_sse(b"just text").unwrap().response, json!("just text"));
        assert!(reply_from_sse(b"").is_none());
    }
}
