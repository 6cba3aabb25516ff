//! Where a model runs: Workers AI (the `AI` binding) or an OpenAI-compatible
//! API reached over `fetch` (Together AI, OpenRouter, any server that speaks
//! chat completions, such as llama.cpp's `llama-server` or Ollama). A model
//! id's prefix names its provider (`together:<model>`); each provider is
//! configured by a base-URL var and an API-key secret, and one that is not
//! configured is unavailable. Also the protocol each provider speaks, so the
//! coach builds the right input and reads the right stream.
//!
//! A base URL is `https://`: the API key and the room's chat travel with every
//! call. `http://` is taken only for a loopback host (a llama.cpp or Ollama
//! server on the same machine) or a host the operator names in the provider's
//! `*_ALLOW_HTTP_HOSTS`; any other `http://` URL is refused at configuration.

use crate::core::llm::protocol::Protocol;
use crate::core::text::comma_list;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    WorkersAi,
    Together,
    OpenRouter,
    /// Any OpenAI-compatible server (`openai:`).
    OpenAiCompat,
}

/// The providers reached over `fetch`, in the order `GET /api/models` lists them.
pub const REMOTE: [Provider; 3] = [Provider::Together, Provider::OpenRouter, Provider::OpenAiCompat];

impl Provider {
    /// The provider of a model id, and the model's own name at that provider.
    pub fn of(id: &str) -> (Provider, &str) {
        for p in REMOTE {
            if let Some(name) = id.strip_prefix(p.prefix()).and_then(|r| r.strip_prefix(':')) {
                return (p, name);
            }
        }
        (Provider::WorkersAi, id)
    }

    /// The id prefix (before `:`); Workers AI ids have none.
    pub fn prefix(self) -> &'static str {
        match self {
            Provider::WorkersAi => "",
            Provider::Together => "together",
            Provider::OpenRouter => "openrouter",
            Provider::OpenAiCompat => "openai",
        }
    }

    /// Its name in `GET /api/models` and the logs.
    pub fn name(self) -> &'static str {
        match self {
            Provider::WorkersAi => "workers-ai",
            p => p.prefix(),
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Provider::WorkersAi => Protocol::WorkersAi,
            _ => Protocol::ChatCompletions,
        }
    }

    /// The vars that configure it: base URL, API key (a secret), models
    /// (and `<models var without _MODELS>_JSON_MODE`).
    pub fn vars(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Provider::WorkersAi => ("", "", ""),
            Provider::Together => ("TOGETHER_BASE_URL", "TOGETHER_API_KEY", "TOGETHER_MODELS"),
            Provider::OpenRouter => ("OPENROUTER_BASE_URL", "OPENROUTER_API_KEY", "OPENROUTER_MODELS"),
            Provider::OpenAiCompat => (
                "OPENAI_COMPAT_BASE_URL",
                "OPENAI_COMPAT_API_KEY",
                "OPENAI_COMPAT_MODELS",
            ),
        }
    }

    /// The var naming the hosts this provider may reach over `http://`
    /// besides loopback: comma-separated host names or IP addresses (an IPv6
    /// address in brackets), without scheme or port.
    pub fn allow_http_var(self) -> &'static str {
        match self {
            Provider::WorkersAi => "",
            Provider::Together => "TOGETHER_ALLOW_HTTP_HOSTS",
            Provider::OpenRouter => "OPENROUTER_ALLOW_HTTP_HOSTS",
            Provider::OpenAiCompat => "OPENAI_COMPAT_ALLOW_HTTP_HOSTS",
        }
    }

    /// The base URL used when its var is unset: the provider's published API
    /// root. A generic OpenAI-compatible server has none.
    fn default_base_url(self) -> Option<&'static str> {
        match self {
            Provider::Together => Some("https://api.together.xyz/v1"),
            Provider::OpenRouter => Some("https://openrouter.ai/api/v1"),
            _ => None,
        }
    }
}

/// An API key: never printed, not even in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A configured remote provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub provider: Provider,
    /// Without a trailing `/`; `chat/completions` is appended.
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    /// Model names at the provider, from `*_MODELS`.
    pub models: Vec<String>,
    /// Its models take `response_format: {"type": "json_object"}` (`*_JSON_MODE`).
    pub json_mode: bool,
}

impl Endpoint {
    pub fn chat_completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }
}

/// The remote providers this deployment can call, and the settings that
/// could not be used (reported like the model settings, never fatal; a
/// setting the Worker must not start with is [`Refused`] instead).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    endpoints: Vec<Endpoint>,
    problems: Vec<String>,
}

/// A provider setting the Worker refuses to start with: `var` and what is
/// wrong with it. The configuration turns it into its `ConfigError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub var: &'static str,
    pub problem: String,
}

/// The hosts one provider may reach over `http://`: loopback, and the ones
/// its `*_ALLOW_HTTP_HOSTS` names (lowercased).
struct HttpHosts {
    var: &'static str,
    named: Vec<String>,
}

impl HttpHosts {
    /// Reads `var`; an entry that is not a bare host (a scheme, a path, a
    /// port, user info) is refused, since it would never match.
    fn read(var: &'static str, value: Option<&str>) -> Result<HttpHosts, Refused> {
        let mut named = Vec::new();
        for entry in comma_list(value.unwrap_or_default()) {
            let bracketed = entry.starts_with('[') && entry.ends_with(']');
            let bare = !entry.contains(['/', '\\', '@', '?', '#'])
                && (bracketed || !entry.contains(':'))
                && entry.chars().all(|c| c.is_ascii_graphic());
            if !bare {
                return Err(Refused {
                    var,
                    problem: format!(
                        "must be comma-separated host names or IP addresses without scheme or port (an IPv6 address in brackets), not \"{entry}\""
                    ),
                });
            }
            named.push(entry.to_ascii_lowercase());
        }
        Ok(HttpHosts { var, named })
    }

    /// Refuses an `http://` `url` whose host is neither loopback nor named.
    fn check(&self, url_var: &'static str, url: &str) -> Result<(), Refused> {
        let Some(host) = http_host(url) else {
            return Ok(());
        };
        if is_loopback(&host) || self.named.contains(&host) {
            return Ok(());
        }
        Err(Refused {
            var: url_var,
            problem: format!(
                "must be an https:// URL for the host {host}: over http:// the API key and the room's chat would travel in clear text. http:// is taken only for loopback (127.0.0.0/8, ::1, localhost) or a host named in {}",
                self.var
            ),
        })
    }
}

/// The host an `http://` URL reaches, lowercased, without user info or port
/// (an IPv6 address keeps its brackets); `None` for any other scheme. The
/// authority ends at the first `/`, `\`, `?` or `#`, as the URL standard
/// reads an http URL, so `http://evil.example\@127.0.0.1/` is evil.example.
fn http_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => &host_port[..v6.find(']').map_or(host_port.len(), |i| i + 2)],
        None => host_port.split(':').next().unwrap_or_default(),
    };
    Some(host.to_ascii_lowercase())
}

/// `localhost`, an IPv4 address in 127.0.0.0/8 written as four decimal parts
/// (a form such as `0127.0.0.1`, which a URL parser reads as octal, is not
/// taken), or `[::1]`.
fn is_loopback(host: &str) -> bool {
    let v6 = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    host == "localhost"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || v6
            .and_then(|h| h.parse::<Ipv6Addr>().ok())
            .is_some_and(|ip| ip.is_loopback())
}

fn base_url(raw: &str) -> Option<String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    let printable = url.chars().all(|c| c.is_ascii_graphic());
    (!host.is_empty() && printable).then(|| url.to_string())
}

impl Endpoints {
    /// Reads every provider's vars. Together and OpenRouter need their key;
    /// an OpenAI-compatible server needs only its base URL (a local server
    /// may take no key). A base URL that is not a URL is a problem (that
    /// provider is left out); an `http://` one to a remote host, or an
    /// `*_ALLOW_HTTP_HOSTS` that is not a list of hosts, is [`Refused`].
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Endpoints, Refused> {
        let mut out = Endpoints::default();
        for provider in REMOTE {
            let (url_var, key_var, models_var) = provider.vars();
            let set = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            let http_hosts = HttpHosts::read(
                provider.allow_http_var(),
                set(provider.allow_http_var()).as_deref(),
            )?;
            let key = set(key_var).map(ApiKey);
            let models: Vec<String> = comma_list(&set(models_var).unwrap_or_default())
                .map(str::to_string)
                .collect();
            let json_var = format!("{}_JSON_MODE", &models_var[..models_var.len() - "_MODELS".len()]);
            let json_mode = match set(&json_var).as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => {
                    out.problems
                        .push(format!("{json_var} must be true or false; JSON mode stays off"));
                    false
                }
            };
            let url = match (set(url_var), provider.default_base_url()) {
                (Some(raw), _) => match base_url(&raw) {
                    Some(url) => {
                        http_hosts.check(url_var, &url)?;
                        Some(url)
                    }
                    None => {
                        out.problems.push(format!(
                            "{url_var} must be an http:// or https:// URL; {} models are not offered",
                            provider.name()
                        ));
                        continue;
                    }
                },
                (None, default) => default.map(str::to_string),
            };
            let needs_key = provider != Provider::OpenAiCompat;
            let configured = url.is_some() && (key.is_some() || !needs_key);
            match (configured, url) {
                (true, Some(base_url)) => out.endpoints.push(Endpoint {
                    provider,
                    base_url,
                    api_key: key,
                    models,
                    json_mode,
                }),
                _ if !models.is_empty() => out.problems.push(format!(
                    "{models_var} is set but {} is not; those models are not offered",
                    if needs_key { key_var } else { url_var }
                )),
                _ => {}
            }
        }
        Ok(out)
    }

    pub fn get(&self, provider: Provider) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.provider == provider)
    }

    pub fn all(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn endpoints(vars: &[(&str, &str)]) -> Endpoints {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        Endpoints::from_lookup(&|k| vars.get(k).map(|v| v.to_string())).unwrap()
    }

    fn refused(vars: &[(&str, &str)]) -> Refused {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        Endpoints::from_lookup(&|k| vars.get(k).map(|v| v.to_string())).unwrap_err()
    }

    #[test]
    fn prefixes_name_the_provider() {
        assert_eq!(
            Provider::of("together:meta-llama/Llama-3.3-70B-Instruct-Turbo"),
            (Provider::Together, "meta-llama/Llama-3.3-70B-Instruct-Turbo")
        );
        assert_eq!(
            Provider::of("openrouter:openai/gpt-4o-mini").0,
            Provider::OpenRouter
        );
        assert_eq!(Provider::of("openai:llama3.2").1, "llama3.2");
        assert_eq!(
            Provider::of("@cf/meta/llama-3.1-8b-instruct-fast"),
            (Provider::WorkersAi, "@cf/meta/llama-3.1-8b-instruct-fast")
        );
        assert_eq!(Provider::of("openaix:y").0, Provider::WorkersAi);
    }

    #[test]
    fn a_provider_is_available_only_when_configured() {
        assert!(endpoints(&[]).all().is_empty());
        let e = endpoints(&[("TOGETHER_API_KEY", "tk"), ("TOGETHER_MODELS", "a, b")]);
        let t = e.get(Provider::Together).unwrap();
        assert_eq!(
            t.chat_completions_url(),
            "https://api.together.xyz/v1/chat/completions"
        );
        assert_eq!(t.models, ["a", "b"]);
        assert!(e.get(Provider::OpenRouter).is_none());
        let local = endpoints(&[("OPENAI_COMPAT_BASE_URL", "http://localhost:8080/v1/")]);
        let l = local.get(Provider::OpenAiCompat).unwrap();
        assert_eq!(
            l.chat_completions_url(),
            "http://localhost:8080/v1/chat/completions"
        );
        assert!(l.api_key.is_none());
    }

    #[test]
    fn unusable_settings_are_problems_not_errors() {
        let e = endpoints(&[
            ("OPENROUTER_MODELS", "x"),
            ("OPENAI_COMPAT_BASE_URL", "ftp://nope"),
        ]);
        assert!(e.all().is_empty());
        assert_eq!(e.problems().len(), 2, "{:?}", e.problems());
        assert!(e.problems()[0].contains("OPENROUTER_API_KEY"));
        assert!(e.problems()[1].contains("OPENAI_COMPAT_BASE_URL"));
    }

    #[test]
    fn a_remote_base_url_must_be_https() {
        let r = refused(&[("OPENAI_COMPAT_BASE_URL", "http://provider.example")]);
        assert_eq!(r.var, "OPENAI_COMPAT_BASE_URL");
        assert!(r.problem.contains("https://"), "{}", r.problem);
        assert!(r.problem.contains("provider.example"), "{}", r.problem);
        assert!(
            r.problem.contains("OPENAI_COMPAT_ALLOW_HTTP_HOSTS"),
            "{}",
            r.problem
        );
        // Every provider's base URL, whether or not its key is set.
        for var in ["TOGETHER_BASE_URL", "OPENROUTER_BASE_URL"] {
            assert_eq!(refused(&[(var, "http://proxy.example/v1")]).var, var);
        }
        let https = endpoints(&[("OPENAI_COMPAT_BASE_URL", "https://x")]);
        assert_eq!(
            https.get(Provider::OpenAiCompat).unwrap().chat_completions_url(),
            "https://x/chat/completions"
        );
    }

    #[test]
    fn http_is_taken_for_loopback() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/v1",
            "http://127.4.5.6/v1",
            "http://localhost:11434/v1",
            "http://LOCALHOST/v1",
            "http://[::1]:8080/v1",
            "http://user@127.0.0.1:8080/v1",
        ] {
            let e = endpoints(&[("OPENAI_COMPAT_BASE_URL", url)]);
            assert!(e.get(Provider::OpenAiCompat).is_some(), "{url}");
        }
    }

    #[test]
    fn http_to_a_host_that_only_looks_local_is_refused() {
        for url in [
            // The host is after the user info, and a backslash ends the authority.
            "http://127.0.0.1@provider.example/v1",
            "http://provider.example\\@127.0.0.1/v1",
            "http://127.0.0.1.provider.example/v1",
            "http://localhost.provider.example/v1",
            // A URL parser reads 0127 as octal: 87.0.0.1.
            "http://0127.0.0.1/v1",
            "http://[::ffff:7f00:1]/v1",
            "http://10.0.0.5:8080/v1",
        ] {
            let r = refused(&[("OPENAI_COMPAT_BASE_URL", url)]);
            assert_eq!(r.var, "OPENAI_COMPAT_BASE_URL", "{url}");
        }
    }

    #[test]
    fn http_is_taken_for_a_host_the_operator_names() {
        let e = endpoints(&[
            ("OPENAI_COMPAT_BASE_URL", "http://LLM.internal:8000/v1"),
            (
                "OPENAI_COMPAT_ALLOW_HTTP_HOSTS",
                "gpu-box, llm.internal, [fd00::1]",
            ),
        ]);
        assert_eq!(
            e.get(Provider::OpenAiCompat).unwrap().base_url,
            "http://LLM.internal:8000/v1"
        );
        let v6 = endpoints(&[
            ("OPENAI_COMPAT_BASE_URL", "http://[fd00::1]:8000/v1"),
            ("OPENAI_COMPAT_ALLOW_HTTP_HOSTS", "[fd00::1]"),
        ]);
        assert!(v6.get(Provider::OpenAiCompat).is_some());
        // A name allows that host only, and only for its own provider.
        let other = refused(&[
            ("OPENAI_COMPAT_BASE_URL", "http://llm.internal.example/v1"),
            ("OPENAI_COMPAT_ALLOW_HTTP_HOSTS", "llm.internal"),
        ]);
        assert_eq!(other.var, "OPENAI_COMPAT_BASE_URL");
        let together = refused(&[
            ("TOGETHER_BASE_URL", "http://llm.internal/v1"),
            ("OPENAI_COMPAT_ALLOW_HTTP_HOSTS", "llm.internal"),
        ]);
        assert_eq!(together.var, "TOGETHER_BASE_URL");
    }

    #[test]
    fn an_allowed_host_is_a_bare_host() {
        for entry in [
            "http://llm.internal",
            "llm.internal:8000",
            "llm.internal/v1",
            "me@llm.internal",
        ] {
            let r = refused(&[("OPENAI_COMPAT_ALLOW_HTTP_HOSTS", entry)]);
            assert_eq!(r.var, "OPENAI_COMPAT_ALLOW_HTTP_HOSTS", "{entry}");
            assert!(r.problem.contains(entry), "{}", r.problem);
        }
    }

    #[test]
    fn keys_never_print() {
        let e = endpoints(&[("TOGETHER_API_KEY", "sk-secret-123")]);
        assert!(!format!("{e:?}").contains("sk-secret-123"));
    }
}
