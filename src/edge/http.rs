//! HTTP in and out: the body gate (size, media type), the only places that
//! build responses, JSON bodies and error bodies alike, and the `POST`
//! requests the Worker sends (to providers and to its state objects).

use crate::core::error::ApiError;
use serde::Serialize;
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{self, ReadableStreamDefaultReader, RequestInit};
use worker::{Request, Response};

/// A `POST` of `body` to `url` with `headers`, as `Request::new_with_init`
/// with a `RequestInit` of that method, headers and body would build it, but
/// on the runtime's `RequestInit` directly: workers-rs' own carries
/// Cloudflare's `cf` options, whose conversion (about 10 KB of wasm) these
/// requests never use.
pub fn post_request(url: &str, headers: Option<&worker::Headers>, body: &JsValue) -> worker::Result<Request> {
    let init = RequestInit::new();
    init.set_method("POST");
    if let Some(headers) = headers {
        init.set_headers(headers.as_ref());
    }
    init.set_body(body);
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|e| {
            worker::Error::JsError(
                e.as_string()
                    .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
            )
        })
}

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON response with the headers every response of ours carries.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    let mut resp = Response::from_json(body)
        .map_err(|e| ApiError::internal("response body", e))?
        .with_status(status);
    let h = resp.headers_mut();
    h.set("Content-Type", "application/json; charset=utf-8")
        .and_then(|_| h.set("Cache-Control", "no-store"))
        .and_then(|_| h.set("X-Content-Type-Options", "nosniff"))
        .map_err(|e| ApiError::internal("response headers", e))?;
    Ok(resp)
}

/// The OpenAPI document (or any checked-in JSON text) as it is.
pub fn static_json(text: &'static str) -> Result<Response, ApiError> {
    let mut resp = Response::ok(text).map_err(|e| ApiError::internal("response body", e))?;
    let h = resp.headers_mut();
    h.set("Content-Type", "application/json; charset=utf-8")
        .and_then(|_| h.set("Cache-Control", "public, max-age=300"))
        .and_then(|_| h.set("X-Content-Type-Options", "nosniff"))
        .map_err(|e| ApiError::internal("response headers", e))?;
    Ok(resp)
}

/// Sets `headers` on a finished response (the ones every response carries).
pub fn set_headers(resp: &mut Response, headers: &[(&str, String)]) -> worker::Result<()> {
    let h = resp.headers_mut();
    for (name, value) in headers {
        h.set(name, value)?;
    }
    Ok(())
}

/// The response for an error: its status, its headers, its JSON body.
pub fn error(e: &ApiError) -> worker::Result<Response> {
    let mut resp = match json(e.status(), &e.body()) {
        Ok(r) => r,
        Err(_) => return Response::error("internal_error", 500),
    };
    for (name, value) in e.headers() {
        resp.headers_mut().set(name, &value)?;
    }
    Ok(resp)
}

/// A `text/event-stream` response whose body is `events`, sent as it is
/// produced: no caching, and no buffering by proxies on the way.
pub fn event_stream<S>(events: S) -> Result<Response, ApiError>
where
    S: futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static,
{
    let mut resp = Response::from_stream(events).map_err(|e| ApiError::internal("event stream", e))?;
    let h = resp.headers_mut();
    h.set("Content-Type", "text/event-stream; charset=utf-8")
        .and_then(|_| h.set("Cache-Control", "no-cache"))
        .and_then(|_| h.set("X-Accel-Buffering", "no"))
        .and_then(|_| h.set("X-Content-Type-Options", "nosniff"))
        .map_err(|e| ApiError::internal("event stream headers", e))?;
    Ok(resp)
}

/// An empty response (preflight answers, HEAD-like replies).
pub fn empty(status: u16) -> Result<Response, ApiError> {
    Response::empty()
        .map(|r| r.with_status(status))
        .map_err(|e| ApiError::internal("empty response", e))
}

fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The request body, if it is JSON and at most [`MAX_BODY_BYTES`]. A declared
/// `Content-Length` over the limit is refused before reading; otherwise the
/// body is read chunk by chunk and reading stops at the first byte past the
/// limit, so a body without `Content-Length` (chunked) or with a false one is
/// never held whole.
pub async fn json_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit_bytes: MAX_BODY_BYTES,
    };
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let content_type = req
        .headers()
        .get("Content-Type")
        .ok()
        .flatten()
        .unwrap_or_default();
    if !is_json_media_type(&content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream
        .get_reader()
        .dyn_into()
        .map_err(|e| ApiError::internal("body reader", e))?;
    let mut body = Vec::new();
    loop {
        let step = JsFuture::from(reader.read())
            .await
            .map_err(|e| ApiError::internal("body read", e))?;
        let done = Reflect::get(&step, &JsValue::from_str("done"))
            .map(|d| d.is_truthy())
            .unwrap_or(true);
        if done {
            return Ok(body);
        }
        let chunk: Uint8Array = Reflect::get(&step, &JsValue::from_str("value"))
            .and_then(|v| v.dyn_into())
            .map_err(|e| ApiError::internal("body chunk", e))?;
        // Copy no more than one byte past the limit out of the chunk.
        let room = (MAX_BODY_BYTES + 1 - body.len()) as u32;
        let take = chunk.length().min(room);
        body.extend_from_slice(&chunk.subarray(0, take).to_vec());
        if body.len() > MAX_BODY_BYTES {
            // Stop the upload: nothing more is read.
            let _ = reader.cancel();
            return Err(too_large);
        }
    }
}

/// A response's whole body, in one call to the runtime (`arrayBuffer()`):
/// workers-rs' `Response::bytes` reads it chunk by chunk through a stream
/// reader, a round of promises per chunk, which cost a state object's call
/// more CPU than the rest of it (scripts/profile).
pub async fn body_bytes(resp: Response) -> worker::Result<Vec<u8>> {
    let resp: worker::web_sys::Response = resp.into();
    let buffer = JsFuture::from(resp.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
