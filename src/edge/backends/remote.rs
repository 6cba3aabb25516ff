//! OpenAI-compatible providers over `fetch`: sends the body the core built to
//! `{base}/chat/completions` with the provider's key, and hands the status,
//! `Retry-After` and body back to the core's [`openai`] module to read. The
//! key and the upstream body never reach a log line or the caller: a failed
//! call is logged with the provider, the model and the status only.

use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::llm::protocol::chat_completions;
use crate::core::llm::providers::{Endpoints, Provider};
use crate::core::llm::ModelReply;
use crate::core::llm::{Chunk, ModelStream};
use crate::edge::clock::with_timeout;
use crate::edge::http;
use futures_util::StreamExt;
use serde_json::{json, Value};
use worker::wasm_bindgen::JsValue;
use worker::{console_warn, AbortController, ByteStream, Fetch, Headers, Response};

pub struct Remote {
    endpoints: Endpoints,
}

fn unreachable_provider() -> ModelFailure {
    ModelFailure {
        code: None,
        kind: FailureKind::Transient,
        label: "provider unreachable",
    }
}

fn log_failure(model: &str, failure: &ModelFailure) {
    console_warn!(
        "{}",
        json!({"event": "provider_error", "provider": Provider::of(model).0.name(), "model": model, "status": failure.code, "kind": failure.label})
    );
}

impl Remote {
    pub fn new(endpoints: Endpoints) -> Remote {
        Remote { endpoints }
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.all().is_empty()
    }

    /// Sends one call; `Ok` only for a 2xx response.
    async fn send(
        &self,
        model: &str,
        body: &Value,
        stream: bool,
        abort: &AbortController,
    ) -> Result<Response, ModelFailure> {
        let endpoint = self
            .endpoints
            .get(Provider::of(model).0)
            .ok_or_else(ModelFailure::unusable)?;
        let headers = Headers::new();
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let set = headers
            .set("Content-Type", "application/json")
            .and_then(|_| headers.set("Accept", accept));
        let auth = match &endpoint.api_key {
            Some(key) => headers.set("Authorization", &format!("Bearer {}", key.expose())),
            None => Ok(()),
        };
        set.and(auth).map_err(|_| ModelFailure::unusable())?;
        let sent = JsValue::from_str(&body.to_string());
        let request = http::post_request(&endpoint.chat_completions_url(), Some(&headers), &sent)
            .map_err(|_| ModelFailure::unusable())?;
        let response = Fetch::Request(request)
            .send_with_signal(&abort.signal())
            .await
            .map_err(|_| {
                let failure = unreachable_provider();
                log_failure(model, &failure);
                failure
            })?;
        let status = response.status_code();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let retry_after = response.headers().get("Retry-After").ok().flatten();
        let sent_json_mode = body.get("response_format").is_some();
        let failure = chat_completions::failure_for_status(status, retry_after.as_deref(), sent_json_mode);
        log_failure(model, &failure);
        Err(failure)
    }

    pub async fn run(&self, model: &str, body: &Value, timeout_ms: u64) -> Result<ModelReply, ModelFailure> {
        let abort = AbortController::default();
        let call = async {
            let response = self.send(model, body, false, &abort).await?;
            let bytes = http::body_bytes(response)
                .await
                .map_err(|_| unreachable_provider())?;
            chat_completions::reply_from_body(&bytes).ok_or_else(|| {
                let failure = ModelFailure::unusable();
                log_failure(model, &failure);
                failure
            })
        };
        match with_timeout(call, timeout_ms).await {
            Some(result) => result,
            None => {
                abort.abort();
                Err(ModelFailure::timeout())
            }
        }
    }

    pub async fn stream(
        &self,
        model: &str,
        body: &Value,
        timeout_ms: u64,
    ) -> Result<RemoteStream, ModelFailure> {
        let abort = AbortController::default();
        // Everything up to the first byte of the stream (or the whole body of
        // a server that ignored `stream`) is within the timeout.
        let start = async {
            let mut response = self.send(model, body, true, &abort).await?;
            let content_type = response
                .headers()
                .get("Content-Type")
                .ok()
                .flatten()
                .unwrap_or_default();
            if content_type.contains("text/event-stream") {
                let stream = response.stream().map_err(|_| ModelFailure::unusable())?;
                return Ok((Some(stream), None));
            }
            let bytes = http::body_bytes(response)
                .await
                .map_err(|_| unreachable_provider())?;
            let reply = chat_completions::reply_from_body(&bytes).ok_or_else(ModelFailure::unusable)?;
            Ok((None, Some(reply)))
        };
        match with_timeout(start, timeout_ms).await {
            Some(Ok((body, whole))) => Ok(RemoteStream {
                abort: body.is_some().then_some(abort),
                body,
                whole,
            }),
            Some(Err(failure)) => Err(failure),
            None => {
                abort.abort();
                Err(ModelFailure::timeout())
            }
        }
    }
}

/// A streamed answer being read. Dropped before its end, it aborts the
/// request, which closes the connection to the provider.
pub struct RemoteStream {
    body: Option<ByteStream>,
    whole: Option<ModelReply>,
    abort: Option<AbortController>,
}

impl ModelStream for RemoteStream {
    async fn next(&mut self, timeout_ms: u64) -> Result<Option<Chunk>, ModelFailure> {
        if let Some(reply) = self.whole.take() {
            return Ok(Some(Chunk::Whole(reply)));
        }
        let Some(body) = &mut self.body else {
            return Ok(None);
        };
        match with_timeout(body.next(), timeout_ms).await {
            None => Err(ModelFailure::timeout()),
            Some(None) => {
                self.body = None;
                Ok(None)
            }
            Some(Some(Ok(bytes))) => Ok(Some(Chunk::Bytes(bytes))),
            Some(Some(Err(_))) => Err(unreachable_provider()),
        }
    }
}

impl Drop for RemoteStream {
    fn drop(&mut self) {
        if let (Some(_), Some(abort)) = (&self.body, self.abort.take()) {
            abort.abort();
        }
    }
}
