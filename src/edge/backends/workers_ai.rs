//! The `AI` binding, adapted to the core's [`ModelBackend`]. Reads every shape Workers AI answers with:
//! a string, an object, or a byte stream of server-sent events (whole, or
//! chunk by chunk for a streamed call); turns thrown errors into classified
//! [`ModelFailure`]s: the operator's log gets the code and the kind, never
//! the upstream text (which may quote the prompt), and the caller neither.

use crate::core::llm::failure::{classify_error, ModelFailure};
use crate::core::llm::protocol::workers_ai::{reply_from_sse, reply_from_value};
use crate::core::llm::ModelReply;
use crate::core::llm::{Chunk, ModelBackend, ModelStream};
use crate::edge::clock::with_timeout;
use serde_json::Value;
use worker::js_sys::{self, Function, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_warn, web_sys, AbortController, Env};

pub struct WorkersAi {
    binding: JsValue,
    run: Function,
    /// `AI_GATEWAY_ID`: the AI Gateway every call goes through, if set.
    gateway: Option<String>,
}

impl WorkersAi {
    /// The `AI` binding, if this deployment has one (local mode has none).
    pub fn from_env(env: &Env, gateway: Option<&str>) -> Option<WorkersAi> {
        let ai = env.ai("AI").ok()?;
        let binding: JsValue = ai.into();
        let run = Reflect::get(&binding, &JsValue::from_str("run"))
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        Some(WorkersAi {
            binding,
            run,
            gateway: gateway.map(str::to_string),
        })
    }
}

fn error_message(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    err.as_string()
        .unwrap_or_else(|| "non-Error value thrown".to_string())
}

async fn read_stream(stream: &web_sys::ReadableStream) -> Result<Vec<u8>, JsValue> {
    let response = web_sys::Response::new_with_opt_readable_stream(Some(stream))?;
    let buffer = JsFuture::from(response.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

async fn read_output(output: JsValue) -> Result<ModelReply, ModelFailure> {
    if let Some(s) = output.as_string() {
        return reply_from_value(Value::String(s)).ok_or_else(ModelFailure::unusable);
    }
    if let Some(stream) = output.dyn_ref::<web_sys::ReadableStream>() {
        let bytes = read_stream(stream).await.map_err(|e| {
            let failure = classify_error(&error_message(&e));
            console_warn!(
                "{}",
                serde_json::json!({"event": "model_stream_error", "kind": failure.label, "code": failure.code})
            );
            failure
        })?;
        return reply_from_sse(&bytes).ok_or_else(ModelFailure::unusable);
    }
    let json = js_sys::JSON::stringify(&output)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(ModelFailure::unusable)?;
    let value: Value = serde_json::from_str(&json).map_err(|_| ModelFailure::unusable())?;
    reply_from_value(value).ok_or_else(ModelFailure::unusable)
}

impl WorkersAi {
    /// Calls the binding: its output, or the classified failure (logged).
    /// `abort` is aborted when the call is abandoned at its timeout, so the
    /// runtime can stop the inference instead of letting it run unread: the
    /// binding takes `{ signal }` as its third argument, as Cloudflare's own
    /// workers-ai-provider passes it (cloudflare/ai PR #457, merged 2026-03-22).
    async fn invoke(
        &self,
        model: &str,
        input: &Value,
        abort: &AbortController,
    ) -> Result<JsValue, ModelFailure> {
        let js_input = js_sys::JSON::parse(&input.to_string()).map_err(|_| ModelFailure::unusable())?;
        let options = js_sys::Object::new();
        let _ = Reflect::set(
            &options,
            &JsValue::from_str("signal"),
            &JsValue::from((*abort.signal()).clone()),
        );
        // The binding's `gateway` option (Workers AI docs, AI Gateway): its
        // logs, analytics and caching see every call.
        if let Some(id) = &self.gateway {
            let gateway = js_sys::Object::new();
            let _ = Reflect::set(&gateway, &JsValue::from_str("id"), &JsValue::from_str(id));
            let _ = Reflect::set(&options, &JsValue::from_str("gateway"), &gateway);
        }
        // `call3` catches a synchronous throw; the promise catches the rest.
        let promise = self
            .run
            .call3(&self.binding, &JsValue::from_str(model), &js_input, &options)
            .map(|p| Promise::resolve(&p));
        let output = match promise {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        };
        output.map_err(|e| {
            let message = error_message(&e);
            let failure = classify_error(&message);
            console_warn!(
                "{}",
                serde_json::json!({"event": "model_error", "model": model, "kind": failure.label, "code": failure.code})
            );
            failure
        })
    }
}

fn timed_out(model: &str, timeout_ms: u64) -> ModelFailure {
    console_warn!(
        "{}",
        serde_json::json!({"event": "model_timeout", "model": model, "timeout_ms": timeout_ms})
    );
    ModelFailure::timeout()
}

impl ModelBackend for WorkersAi {
    type Stream = WorkersAiStream;

    async fn run(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<ModelReply, ModelFailure> {
        let abort = AbortController::default();
        let call = async { read_output(self.invoke(model, input, &abort).await?).await };
        match with_timeout(call, timeout_ms).await {
            Some(result) => result,
            None => {
                abort.abort();
                Err(timed_out(model, timeout_ms))
            }
        }
    }

    async fn stream(
        &self,
        model: &str,
        input: &Value,
        timeout_ms: u64,
    ) -> Result<WorkersAiStream, ModelFailure> {
        let abort = AbortController::default();
        let output = match with_timeout(self.invoke(model, input, &abort), timeout_ms).await {
            Some(output) => output?,
            None => {
                abort.abort();
                return Err(timed_out(model, timeout_ms));
            }
        };
        let model = model.to_string();
        if let Some(stream) = output.dyn_ref::<web_sys::ReadableStream>() {
            let reader = stream
                .get_reader()
                .dyn_into::<web_sys::ReadableStreamDefaultReader>()
                .map_err(|_| ModelFailure::unusable())?;
            return Ok(WorkersAiStream {
                model,
                reader: Some(reader),
                whole: None,
            });
        }
        // Answered whole (a model that does not stream).
        let reply = read_output(output).await?;
        Ok(WorkersAiStream {
            model,
            reader: None,
            whole: Some(reply),
        })
    }
}

/// A streamed answer being read. Dropped before its end (the caller left,
/// the deadline passed), it cancels the upstream stream, which is as far as
/// the runtime lets a Worker stop a model call.
pub struct WorkersAiStream {
    model: String,
    reader: Option<web_sys::ReadableStreamDefaultReader>,
    whole: Option<ModelReply>,
}

impl ModelStream for WorkersAiStream {
    async fn next(&mut self, timeout_ms: u64) -> Result<Option<Chunk>, ModelFailure> {
        if let Some(reply) = self.whole.take() {
            return Ok(Some(Chunk::Whole(reply)));
        }
        let Some(reader) = &self.reader else {
            return Ok(None);
        };
        let read = match with_timeout(JsFuture::from(reader.read()), timeout_ms).await {
            Some(r) => r,
            None => return Err(timed_out(&self.model, timeout_ms)),
        };
        let result = read.map_err(|e| {
            let message = error_message(&e);
            let failure = classify_error(&message);
            console_warn!(
                "{}",
                serde_json::json!({"event": "model_stream_error", "model": self.model, "kind": failure.label, "code": failure.code})
            );
            failure
        })?;
        let done = Reflect::get(&result, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            self.reader = None;
            return Ok(None);
        }
        let value =
            Reflect::get(&result, &JsValue::from_str("value")).map_err(|_| ModelFailure::unusable())?;
        let bytes = match value.dyn_ref::<Uint8Array>() {
            Some(array) => array.to_vec(),
            // A stream of strings (not what Workers AI sends, but harmless).
            None => value.as_string().unwrap_or_default().into_bytes(),
        };
        Ok(Some(Chunk::Bytes(bytes)))
    }
}

impl Drop for WorkersAiStream {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            // Fire and forget: the promise settles whether or not anyone waits.
            let _ = reader.cancel();
        }
    }
}
