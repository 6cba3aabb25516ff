//! The one error type of the API. Every failure a caller can see is an
//! [`ApiError`]; the edge turns it into `{"error": "<message>", "code":
//! "<code>"}` with its status and headers: `error` is the sentence a person
//! can act on (the coach frontend shows it as it is), `code` is for programs. Messages say what to fix and never carry upstream
//! or runtime internals.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The body is not parseable JSON.
    InvalidJson(String),
    /// The JSON is well formed but a field is missing, mistyped or out of range.
    InvalidRequest {
        field: String,
        problem: String,
    },
    NotFound,
    /// `DELETE /admin/tokens/<id>` named no stored token.
    NoSuchToken,
    MethodNotAllowed {
        allow: &'static str,
    },
    PayloadTooLarge {
        limit_bytes: usize,
    },
    UnsupportedMediaType,
    Unauthorized(&'static str),
    Forbidden(&'static str),
    RateLimited {
        retry_after_secs: u64,
    },
    UnknownModel(String),
    /// Every model failed and the operator turned the rules fallback off.
    ModelUnavailable,
    /// The deployment is missing a binding or has an unusable setting.
    Misconfigured,
    /// A storage backend failed and the fail-closed policy applies.
    StorageUnavailable,
    /// `POST /api/get-session-key` on a deployment with `SESSION_KEYS=off`.
    SessionKeysOff,
    /// The runtime failed us (building a response, reading the body). The
    /// cause goes to the request's log line, never into the response.
    Internal(String),
}

impl ApiError {
    /// A body serde_json could not read, placed for the caller to find.
    pub fn from_json_error(e: &serde_json::Error) -> Self {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "it ends too early",
            serde_json::error::Category::Syntax => "syntax error",
            _ => "unreadable",
        };
        ApiError::InvalidJson(format!("{what} at line {} column {}", e.line(), e.column()))
    }

    /// A runtime failure `during` some step; `cause` is kept for the log.
    pub fn internal(during: &str, cause: impl fmt::Debug) -> Self {
        ApiError::Internal(format!("{during}: {cause:?}"))
    }

    /// What the log line says caused it, for an internal error.
    pub fn cause(&self) -> Option<&str> {
        match self {
            ApiError::Internal(cause) => Some(cause),
            _ => None,
        }
    }

    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidRequest { .. } => 400,
            ApiError::UnknownModel(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) | ApiError::SessionKeysOff => 403,
            ApiError::NotFound | ApiError::NoSuchToken => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::RateLimited { .. } => 429,
            ApiError::Misconfigured | ApiError::Internal(_) => 500,
            ApiError::ModelUnavailable | ApiError::StorageUnavailable => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::NotFound | ApiError::NoSuchToken => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::UnknownModel(_) => "unknown_model",
            ApiError::ModelUnavailable => "model_unavailable",
            ApiError::Misconfigured => "server_misconfigured",
            ApiError::StorageUnavailable => "storage_unavailable",
            ApiError::SessionKeysOff => "session_keys_off",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidJson(detail) => {
                format!("The request body is not valid JSON: {detail}.")
            }
            ApiError::InvalidRequest { field, problem } => format!("`{field}` {problem}."),
            ApiError::NotFound => {
                "No such route. The API is POST /api/generate-prompt and GET /api/models."
                    .to_string()
            }
            ApiError::NoSuchToken => "No token has that id; GET /admin/tokens lists them.".to_string(),
            ApiError::MethodNotAllowed { allow } => {
                format!("This route does not accept that method; use {allow}.")
            }
            ApiError::PayloadTooLarge { limit_bytes } => format!(
                "The request body is larger than {} KiB; send fewer or shorter events.",
                limit_bytes / 1024
            ),
            ApiError::UnsupportedMediaType => {
                "Send the body as JSON with `Content-Type: application/json`.".to_string()
            }
            ApiError::Unauthorized(why) | ApiError::Forbidden(why) => (*why).to_string(),
            ApiError::RateLimited { retry_after_secs } => format!(
                "Too many requests; try again in {retry_after_secs} s (see the Retry-After header)."
            ),
            ApiError::UnknownModel(model) => format!(
                "`aimodel` \"{model}\" is not available here; GET /api/models lists the ids and aliases you can use."
            ),
            ApiError::ModelUnavailable => {
                "No model could produce a suggestion right now; try again in a few seconds."
                    .to_string()
            }
            ApiError::Misconfigured => {
                "The service is misconfigured; the operator has been told in the logs.".to_string()
            }
            ApiError::StorageUnavailable => {
                "The service cannot check access right now; try again in a few seconds."
                    .to_string()
            }
            ApiError::SessionKeysOff => {
                "This service does not issue session keys; ask its operator for an API token and send it as `Authorization: Bearer <token>`."
                    .to_string()
            }
            ApiError::Internal(_) => "Something went wrong on our side; try again.".to_string(),
        }
    }

    /// Extra response headers the status requires (`Allow`, `Retry-After`,
    /// `WWW-Authenticate`).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::MethodNotAllowed { allow } => vec![("Allow", (*allow).to_string())],
            ApiError::Unauthorized(_) => vec![("WWW-Authenticate", "Bearer".to_string())],
            ApiError::RateLimited { retry_after_secs } => {
                vec![("Retry-After", retry_after_secs.to_string())]
            }
            ApiError::ModelUnavailable | ApiError::StorageUnavailable => {
                vec![("Retry-After", "5".to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// The JSON body every error response carries, and the data of a
    /// stream's `error` event: `{"error": message, "code": code}`, with the
    /// `field` to fix for an invalid request.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.message(), "code": self.code() });
        if let ApiError::InvalidRequest { field, .. } = self {
            body["field"] = serde_json::Value::String(field.clone());
        }
        body
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code(), self.status(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_request_message_names_the_field() {
        let e = ApiError::invalid("broadcaster", "must be at most 64 characters");
        assert_eq!(e.status(), 400);
        assert_eq!(e.code(), "invalid_request");
        assert!(e.message().contains("`broadcaster`"));
        assert_eq!(e.body()["code"], serde_json::json!("invalid_request"));
        assert_eq!(e.body()["field"], serde_json::json!("broadcaster"));
        assert_eq!(e.body()["error"], serde_json::json!(e.message()));
    }

    #[test]
    fn statuses_and_required_headers() {
        let allow = ApiError::MethodNotAllowed {
            allow: "POST, OPTIONS",
        };
        assert_eq!(allow.status(), 405);
        assert_eq!(allow.headers(), vec![("Allow", "POST, OPTIONS".to_string())]);
        let limited = ApiError::RateLimited { retry_after_secs: 17 };
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers(), vec![("Retry-After", "17".to_string())]);
        assert!(ApiError::Unauthorized("x")
            .headers()
            .contains(&("WWW-Authenticate", "Bearer".to_string())));
        assert_eq!(ApiError::PayloadTooLarge { limit_bytes: 65536 }.status(), 413);
        assert_eq!(ApiError::UnsupportedMediaType.status(), 415);
        assert!(ApiError::ModelUnavailable.status() >= 500);
    }
}
