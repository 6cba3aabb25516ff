//! CORS for the browser frontend: which headers a response to a given
//! `Origin` carries, for preflights and for every other response (errors
//! included, or the page sees an opaque network error instead of our JSON).

/// `ALLOWED_ORIGINS`: the browser origins that may read answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    Any,
    List(Vec<String>),
}

impl Origins {
    /// `*`, or a comma-separated list of exact origins (`https://host[:port]`).
    pub fn parse(value: Option<&str>) -> Result<Origins, String> {
        if value == Some("*") {
            return Ok(Origins::Any);
        }
        let origins: Vec<String> = crate::core::text::comma_list(value.unwrap_or_default())
            .map(str::to_string)
            .collect();
        let bad = origins.iter().find(|o| {
            !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/') || *o == "*"
        });
        match bad {
            Some(bad) => Err(format!(
                "entry \"{bad}\" must be an exact origin such as https://coach.example.com (or the whole value \"*\")"
            )),
            None => Ok(Origins::List(origins)),
        }
    }

    /// The value for `Access-Control-Allow-Origin`, if `origin` may call.
    pub fn allow(&self, origin: &str) -> Option<String> {
        match self {
            Origins::Any => Some("*".to_string()),
            Origins::List(list) => list.iter().find(|o| o.as_str() == origin).cloned(),
        }
    }
}

pub const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Request-Id";
pub const MAX_AGE_SECS: &str = "86400";
/// Headers the page's script may read.
pub const EXPOSE_HEADERS: &str =
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id";

/// Headers for a response to `origin`; `preflight` adds the preflight set.
/// A disallowed or absent origin gets no `Access-Control-Allow-Origin`.
pub fn headers(origin: Option<&str>, origins: &Origins, preflight: bool) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if matches!(origins, Origins::List(_)) {
        // The answer depends on the Origin header, so caches must key on it.
        out.push(("Vary", "Origin".to_string()));
    }
    let Some(allowed) = origin.and_then(|o| origins.allow(o)) else {
        return out;
    };
    out.push(("Access-Control-Allow-Origin", allowed));
    if preflight {
        out.push(("Access-Control-Allow-Methods", ALLOW_METHODS.to_string()));
        out.push(("Access-Control-Allow-Headers", ALLOW_HEADERS.to_string()));
        out.push(("Access-Control-Max-Age", MAX_AGE_SECS.to_string()));
    } else {
        out.push(("Access-Control-Expose-Headers", EXPOSE_HEADERS.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Origins {
        Origins::List(vec!["https://coach.example.com".to_string()])
    }

    fn get<'a>(h: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn preflight_from_an_allowed_origin() {
        let h = headers(Some("https://coach.example.com"), &list(), true);
        assert_eq!(
            get(&h, "Access-Control-Allow-Origin"),
            Some("https://coach.example.com")
        );
        assert!(get(&h, "Access-Control-Allow-Methods").unwrap().contains("POST"));
        assert!(get(&h, "Access-Control-Allow-Headers")
            .unwrap()
            .contains("Authorization"));
        assert_eq!(get(&h, "Access-Control-Max-Age"), Some("86400"));
        assert_eq!(get(&h, "Vary"), Some("Origin"));
    }

    #[test]
    fn disallowed_and_missing_origins_get_no_allow_origin() {
        for origin in [
            Some("https://evil.example"),
            Some("https://coach.example.com.evil.example"),
            None,
        ] {
            let h = headers(origin, &list(), true);
            assert_eq!(get(&h, "Access-Control-Allow-Origin"), None);
            assert_eq!(get(&h, "Vary"), Some("Origin"));
        }
    }

    #[test]
    fn wildcard_only_when_configured() {
        let h = headers(Some("https://any.example"), &Origins::Any, false);
        assert_eq!(get(&h, "Access-Control-Allow-Origin"), Some("*"));
        assert!(get(&h, "Access-Control-Expose-Headers")
            .unwrap()
            .contains("Retry-After"));
        assert!(get(&h, "Access-Control-Expose-Headers")
            .unwrap()
            .contains("X-Request-Id"));
    }
}
