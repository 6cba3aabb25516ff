//! Where a model runs: Workers AI (the `AI` binding) or an OpenAI-compatible
//! API reached over `fetch` (Together AI, OpenRouter, any server that speaks
//! chat completions, such as llama.cpp's `llama-server` or Ollama). A model
//! id's prefix names its provider (`together:<model>`); each provider is
//! configured by a base-URL var and an API-key secret, and one that is not
//! configured is unavailable. Also the protocol each provider speaks, so the
//! coach builds the right input and reads the right stream.

use crate::core::llm::protocol::Protocol;
use crate::core::text::comma_list;
use std::fmt;

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
/// could not be used (reported like the model settings, never fatal).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    endpoints: Vec<Endpoint>,
    problems: Vec<String>,
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
    /// may take no key).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Endpoints {
        let mut out = Endpoints::default();
        for provider in REMOTE {
            let (url_var, key_var, models_var) = provider.vars();
            let set = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
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
                    Some(url) => Some(url),
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
        out
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
        Endpoints::from_lookup(&|k| vars.get(k).map(|v| v.to_string()))
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
    fn keys_never_print() {
        let e = endpoints(&[("TOGETHER_API_KEY", "sk-secret-123")]);
        assert!(!format!("{e:?}").contains("sk-secret-123"));
    }
}
