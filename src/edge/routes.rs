//! The routes of the API, listed once: which path is which route, the name
//! the log gives it, and the methods it answers. A method a route does not
//! list is answered 405 with `Allow`, whatever its name (workers-rs reads an
//! unknown method such as `QUERY` as `GET`, so the raw method is used here).

use worker::Request;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    GeneratePrompt,
    Models,
    /// The coach frontend's model list (public).
    GetModels,
    /// The coach frontend's session keys (public).
    GetSessionKey,
    Healthz,
    OpenApi,
    AdminTokens,
    /// `/admin/tokens/{id}`, with the id as sent.
    AdminToken(String),
    /// Any other `/admin/` path: still behind the admin token.
    AdminOther,
    NotFound,
}

/// The methods the API knows; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Delete,
    Options,
    Other,
}

impl Verb {
    pub fn of(req: &Request) -> Verb {
        match req.inner().method().as_str() {
            "GET" => Verb::Get,
            "POST" => Verb::Post,
            "DELETE" => Verb::Delete,
            "OPTIONS" => Verb::Options,
            _ => Verb::Other,
        }
    }
}

impl Route {
    pub fn of(path: &str) -> Route {
        match path {
            "/api/generate-prompt" => Route::GeneratePrompt,
            "/api/models" => Route::Models,
            "/api/get-models" => Route::GetModels,
            "/api/get-session-key" => Route::GetSessionKey,
            "/healthz" => Route::Healthz,
            "/openapi.json" => Route::OpenApi,
            "/admin/tokens" => Route::AdminTokens,
            p => match p.strip_prefix("/admin/tokens/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Route::AdminToken(id.to_string()),
                _ if p.starts_with("/admin/") => Route::AdminOther,
                _ => Route::NotFound,
            },
        }
    }

    /// The route as the log names it: a template, never the path itself
    /// (it is the caller's text).
    pub fn name(&self) -> &'static str {
        match self {
            Route::GeneratePrompt => "/api/generate-prompt",
            Route::Models => "/api/models",
            Route::GetModels => "/api/get-models",
            Route::GetSessionKey => "/api/get-session-key",
            Route::Healthz => "/healthz",
            Route::OpenApi => "/openapi.json",
            Route::AdminTokens => "/admin/tokens",
            Route::AdminToken(_) => "/admin/tokens/{id}",
            Route::AdminOther | Route::NotFound => "unmatched",
        }
    }

    /// The methods the route answers (besides `OPTIONS` where browsers call).
    pub fn allow(&self) -> &'static str {
        match self {
            Route::GeneratePrompt | Route::GetSessionKey => "POST, OPTIONS",
            Route::Models | Route::GetModels => "GET, OPTIONS",
            Route::Healthz | Route::OpenApi => "GET, OPTIONS",
            Route::AdminTokens => "GET, POST",
            Route::AdminToken(_) => "DELETE",
            Route::AdminOther | Route::NotFound => "",
        }
    }

    /// Whether `verb` is one of [`allow`](Self::allow)'s.
    pub fn answers(&self, verb: Verb) -> bool {
        let name = match verb {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
            Verb::Options => "OPTIONS",
            Verb::Other => return false,
        };
        self.allow().split(", ").any(|m| m == name)
    }
}
