//! The model registry: which catalogued models callers may pick (by id or
//! short alias), the default, the fallback chain, and what a retired id is
//! served by. Built from `DEFAULT_MODEL`, `ALLOWED_MODELS`, `FALLBACK_MODELS`
//! and `MODEL_SUCCESSORS` checked against the [`catalog`]: an entry the
//! catalog does not know, or knows as retired, is reported as a problem and
//! never called. Models of the configured OpenAI-compatible providers
//! (`TOGETHER_MODELS`, ...) are offered under their prefixed ids
//! (`together:<model>`) and may stand anywhere a Workers AI id may.

use crate::core::error::ApiError;
use crate::core::llm::catalog::{catalog, Entry};
use crate::core::llm::protocol::chat_completions;
use crate::core::llm::protocol::Protocol;
use crate::core::llm::providers::{Endpoints, Provider};
use crate::core::request::options::GenerationOptions;
use crate::core::text::comma_list;
use crate::core::time::EpochMillis;
use serde_json::{json, Value};
use std::borrow::Cow;

/// The default when `DEFAULT_MODEL` is unset or unusable. Why this one: see
/// docs/models.md "The default and the fallback": the fast 8B class, the
/// cheapest answer per call among the general chat models that stay active,
/// one call (prompt format, no JSON mode, which this model lacks).
pub const BUILT_IN_DEFAULT: &str = "@cf/meta/llama-3.1-8b-instruct-fast";

/// The models offered when `ALLOWED_MODELS` is empty, with their aliases:
/// current general chat models whose answer shape the Worker reads.
pub const BUILT_IN: [(&str, &str); 8] = [
    ("@cf/meta/llama-3.1-8b-instruct-fast", "llama-3.1-8b"),
    ("@cf/meta/llama-3.2-3b-instruct", "llama-3.2-3b"),
    ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "llama-3.3-70b"),
    ("@cf/meta/llama-4-scout-17b-16e-instruct", "llama-4-scout"),
    (
        "@cf/mistralai/mistral-small-3.1-24b-instruct",
        "mistral-small-3.1",
    ),
    ("@cf/qwen/qwen3-30b-a3b-fp8", "qwen3-30b"),
    ("@cf/zai-org/glm-4.7-flash", "glm-4.7-flash"),
    ("@cf/google/gemma-4-26b-a4b-it", "gemma-4-26b"),
];

/// Aliases earlier versions of this API offered for models since retired,
/// so a frontend that still sends them is served by a successor.
const RETIRED_ALIASES: [(&str, &str); 2] = [
    ("mistral-7b-hf", "@hf/mistral/mistral-7b-instruct-v0.2"),
    ("qwen1.5-14b", "@cf/qwen/qwen1.5-14b-chat-awq"),
];

/// A model the Worker can call: a catalogued, active Workers AI model, or a
/// model of a configured remote provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    entry: Cow<'static, Entry>,
    alias: String,
    provider: Provider,
}

impl Model {
    fn new(entry: Cow<'static, Entry>, alias: String) -> Model {
        let provider = Provider::of(&entry.id).0;
        Model {
            entry,
            alias,
            provider,
        }
    }
    /// The id callers use (prefixed for a remote provider).
    pub fn id(&self) -> &str {
        &self.entry.id
    }
    pub fn alias(&self) -> &str {
        &self.alias
    }
    pub fn entry(&self) -> &Entry {
        &self.entry
    }
    pub fn provider(&self) -> Provider {
        self.provider
    }
    /// The caller's options checked against this model: a Workers AI model
    /// refuses one its schema lacks; an OpenAI-compatible one leaves out what
    /// the protocol lacks. Values out of range are refused either way.
    pub fn check_options(&self, options: &GenerationOptions) -> Result<(), ApiError> {
        match self.provider.protocol() {
            Protocol::WorkersAi => options.check_for(&*self.entry),
            Protocol::ChatCompletions => options.check_ranges_for(&*self.entry),
        }
    }

    /// Its name at its provider (the id without the provider prefix).
    pub fn wire_name(&self) -> &str {
        Provider::of(&self.entry.id).1
    }
}

/// What a requested name resolved to.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution<'a> {
    pub model: &'a Model,
    /// The retired id the caller asked for, when a successor serves it.
    pub retired: Option<&'static str>,
}

/// The model settings as the operator wrote them.
#[derive(Debug, Clone, Default)]
pub struct ModelSettings {
    pub default_model: Option<String>,
    pub allowed: Option<String>,
    pub fallbacks: Option<String>,
    pub successors: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registry {
    offered: Vec<Model>,
    default_index: usize,
    fallbacks: Vec<Model>,
    /// Configured successors: (retired id, offered model index).
    successors: Vec<(String, usize)>,
    problems: Vec<String>,
    now: EpochMillis,
}

fn built_in_alias(id: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(i, _)| *i == id).map(|(_, a)| *a)
}

fn default_alias(id: &str) -> String {
    built_in_alias(id)
        .map(str::to_string)
        .unwrap_or_else(|| id.rsplit('/').next().unwrap_or(id).to_string())
}

/// A catalogued entry's id, for as long as the catalog lives.
fn entry_id(entry: &'static Entry) -> &'static str {
    &entry.id
}

/// A catalog entry by id (case-insensitively) or by a built-in or retired alias.
fn lookup(name: &str) -> Option<&'static Entry> {
    let name = name.trim();
    let id = BUILT_IN
        .iter()
        .find(|(_, a)| a.eq_ignore_ascii_case(name))
        .map(|(i, _)| *i)
        .or_else(|| {
            RETIRED_ALIASES
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(name))
                .map(|(_, i)| *i)
        })
        .unwrap_or(name);
    catalog().models.iter().find(|m| m.id.eq_ignore_ascii_case(id))
}

impl Registry {
    /// Never fails: each unusable entry becomes a [`problem`](Self::problems)
    /// and is left out, so a typo in one var cannot take the service down.
    pub fn new(settings: &ModelSettings, endpoints: &Endpoints, now: EpochMillis) -> Registry {
        let setting = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let mut b = Builder {
            endpoints,
            now,
            problems: endpoints.problems().to_vec(),
            offered: Vec::new(),
        };
        b.offer_allowed(setting(&settings.allowed).as_deref());
        b.offer_provider_models();
        let default_index = b.default_index(setting(&settings.default_model).as_deref());
        let fallbacks = b.fallbacks(settings.fallbacks.as_deref().unwrap_or_default());
        let successors = b.successors(settings.successors.as_deref().unwrap_or_default());
        Registry {
            offered: b.offered,
            default_index,
            fallbacks,
            successors,
            problems: b.problems,
            now,
        }
    }

    pub fn models(&self) -> &[Model] {
        &self.offered
    }

    pub fn default_model(&self) -> Option<&Model> {
        self.offered.get(self.default_index)
    }

    /// Configuration entries that could not be used, for the log and
    /// `GET /api/models`.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    fn offered_by_name(&self, name: &str) -> Option<&Model> {
        self.offered
            .iter()
            .find(|m| m.entry.id.eq_ignore_ascii_case(name) || m.alias.eq_ignore_ascii_case(name))
    }

    /// The model a request names (`None`: the default). A retired id is
    /// served by its configured successor, else its published successor if
    /// offered, else the default, without ever calling the retired id.
    pub fn resolve(&self, name: Option<&str>) -> Result<Resolution<'_>, ApiError> {
        let unknown = || ApiError::UnknownModel(name.unwrap_or_default().to_string());
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            let model = self.default_model().ok_or(ApiError::ModelUnavailable)?;
            return Ok(Resolution { model, retired: None });
        };
        if let Some(model) = self.offered_by_name(name) {
            return Ok(Resolution { model, retired: None });
        }
        let entry = lookup(name)
            .filter(|e| e.is_retired(self.now))
            .ok_or_else(unknown)?;
        let configured = self
            .successors
            .iter()
            .find(|(old, _)| old.eq_ignore_ascii_case(&entry.id))
            .and_then(|(_, i)| self.offered.get(*i));
        let published = entry.successor.and_then(|s| self.offered_by_name(s));
        let model = configured
            .or(published)
            .or_else(|| self.default_model())
            .ok_or(ApiError::ModelUnavailable)?;
        Ok(Resolution {
            model,
            retired: Some(entry_id(entry)),
        })
    }

    /// The models that may answer a request for `first`, in order: it, then
    /// the fallbacks: catalogued, active Workers AI models and models of
    /// configured providers.
    pub fn chain<'a>(&'a self, first: &'a Model) -> Vec<&'a Model> {
        let mut chain = vec![first];
        for m in &self.fallbacks {
            if !chain.iter().any(|c| c.entry.id == m.entry.id) {
                chain.push(m);
            }
        }
        chain
    }

    /// The `GET /api/get-models` body, in the coach frontend's shape
    /// (`src/modelLoader.js`): `[{id, name, description, provider}]`, the
    /// default first, since the app takes the first entry as its default.
    pub fn menu(&self) -> Value {
        let default = self.default_model();
        let rest = self.offered.iter().filter(|m| Some(*m) != default);
        let models: Vec<Value> = default
            .into_iter()
            .chain(rest)
            .map(|m| {
                let e = &m.entry;
                let mut about = vec![m.provider.name().to_string()];
                if Some(m) == default {
                    about.insert(0, "default".to_string());
                }
                if let Some(window) = e.context_window {
                    about.push(format!("{}K context", window / 1000));
                }
                if let Some(day) = e.retires_on {
                    about.push(format!("retires {day}"));
                }
                json!({
                    "id": e.id,
                    "name": m.alias,
                    "description": about.join(", "),
                    "provider": m.provider.name(),
                })
            })
            .collect();
        Value::Array(models)
    }

    /// The `GET /api/models` body.
    pub fn listing(&self) -> Value {
        let default_id = self.default_model().map(|m| m.id());
        let models: Vec<Value> = self
            .offered
            .iter()
            .map(|m| {
                let e = &m.entry;
                let options: serde_json::Map<String, Value> = e
                    .options
                    .iter()
                    .map(|(k, r)| (k.to_string(), json!({"min": r.min, "max": r.max})))
                    .collect();
                json!({
                    "id": e.id,
                    "alias": m.alias,
                    "provider": m.provider.name(),
                    "default": Some(&*e.id) == default_id,
                    "json_mode": e.json_mode,
                    "streams": e.streams,
                    "context_window": e.context_window,
                    "retires_on": e.retires_on,
                    "options": options,
                })
            })
            .collect();
        let c = catalog();
        json!({
            "default": default_id,
            "models": models,
            "fallbacks": self.fallbacks.iter().map(Model::id).collect::<Vec<_>>(),
            "problems": self.problems,
            "catalog": {
                "models": c.source.models,
                "json_mode": c.source.json_mode,
                "retirements": c.source.retirements,
                "read_on": c.source.read_on,
            },
        })
    }
}

/// A registry being built: each step offers models or reads a setting, and
/// writes what it could not use into `problems`.
struct Builder<'a> {
    endpoints: &'a Endpoints,
    now: EpochMillis,
    problems: Vec<String>,
    offered: Vec<Model>,
}

impl Builder<'_> {
    /// The entry `name` of setting `var` if the Worker can call it: a
    /// catalogued, active model in a shape the Worker reads, or a model of a
    /// configured remote provider. Otherwise a problem, and `None`.
    fn usable(&mut self, var: &str, name: &str) -> Option<Cow<'static, Entry>> {
        let (provider, wire) = Provider::of(name.trim());
        let refused = if provider != Provider::WorkersAi {
            match self.endpoints.get(provider) {
                Some(e) if !wire.is_empty() => {
                    return Some(Cow::Owned(chat_completions::entry(name.trim(), e.json_mode)))
                }
                _ => format!("needs the {} provider, which is not configured", provider.name()),
            }
        } else {
            match lookup(name) {
                None => "is not a Workers AI text-generation model in the catalog".to_string(),
                Some(e) if e.is_retired(self.now) => {
                    format!("was retired ({})", e.retires_on.unwrap_or("already"))
                }
                Some(e) if !e.is_callable() => "answers in a shape this Worker does not read".to_string(),
                Some(e) => return Some(Cow::Borrowed(e)),
            }
        };
        self.problems
            .push(format!("{var} entry \"{name}\" {refused}; it is not called"));
        None
    }

    /// Offers `entry` once, under `alias` or its default alias.
    fn offer(&mut self, entry: Cow<'static, Entry>, alias: Option<&str>) {
        if !self.offered.iter().any(|m| m.entry.id == entry.id) {
            let alias = alias
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| default_alias(&entry.id));
            self.offered.push(Model::new(entry, alias));
        }
    }

    fn offer_built_ins(&mut self) {
        for (id, alias) in BUILT_IN {
            if let Some(e) = self.usable("built-in model list", id) {
                self.offer(e, Some(alias));
            }
        }
    }

    /// `ALLOWED_MODELS` (`id` or `id=alias`, `*` for the built-ins), or the
    /// built-in list when unset.
    fn offer_allowed(&mut self, allowed: Option<&str>) {
        let Some(list) = allowed else {
            return self.offer_built_ins();
        };
        for entry in comma_list(list) {
            if entry == "*" {
                self.offer_built_ins();
                continue;
            }
            let (name, alias) = match entry.split_once('=') {
                Some((id, alias)) => (id.trim(), Some(alias.trim())),
                None => (entry, None),
            };
            if let Some(e) = self.usable("ALLOWED_MODELS", name) {
                self.offer(e, alias);
            }
        }
    }

    /// Every configured provider's models, under their prefixed ids.
    fn offer_provider_models(&mut self) {
        let endpoints = self.endpoints;
        for endpoint in endpoints.all() {
            for name in &endpoint.models {
                let id = format!("{}:{name}", endpoint.provider.prefix());
                self.offer(
                    Cow::Owned(chat_completions::entry(&id, endpoint.json_mode)),
                    Some(&id),
                );
            }
        }
    }

    /// `DEFAULT_MODEL` if usable, else the built-in default; offered too.
    fn default_index(&mut self, default: Option<&str>) -> usize {
        let entry = default
            .and_then(|name| self.usable("DEFAULT_MODEL", name))
            .or_else(|| lookup(BUILT_IN_DEFAULT).map(Cow::Borrowed));
        let Some(entry) = entry else { return 0 };
        let id = entry.id.clone();
        self.offer(entry, None);
        self.offered.iter().position(|m| m.entry.id == id).unwrap_or(0)
    }

    /// `FALLBACK_MODELS`, each once, in order.
    fn fallbacks(&mut self, list: &str) -> Vec<Model> {
        let mut fallbacks: Vec<Model> = Vec::new();
        for name in comma_list(list) {
            if let Some(e) = self.usable("FALLBACK_MODELS", name) {
                if !fallbacks.iter().any(|m| m.entry.id == e.id) {
                    let alias = default_alias(&e.id);
                    fallbacks.push(Model::new(e, alias));
                }
            }
        }
        fallbacks
    }

    /// `MODEL_SUCCESSORS` (`retired-id=successor`), each successor an offered model.
    fn successors(&mut self, list: &str) -> Vec<(String, usize)> {
        let mut successors = Vec::new();
        for pair in comma_list(list) {
            let Some((old, new)) = pair.split_once('=').map(|(a, b)| (a.trim(), b.trim())) else {
                self.problems.push(format!(
                    "MODEL_SUCCESSORS entry \"{pair}\" must be retired-id=successor; it is ignored"
                ));
                continue;
            };
            let offered = self
                .offered
                .iter()
                .position(|m| m.entry.id.eq_ignore_ascii_case(new) || m.alias.eq_ignore_ascii_case(new));
            match offered {
                Some(index) => successors.push((old.to_string(), index)),
                None => self.problems.push(format!(
                    "MODEL_SUCCESSORS successor \"{new}\" is not an offered model (GET /api/models); \"{old}\" is served by the default"
                )),
            }
        }
        successors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::time::parse_rfc3339;

    fn now() -> EpochMillis {
        parse_rfc3339("2026-11-21T12:00:00Z").unwrap()
    }

    fn registry(default: Option<&str>, allowed: Option<&str>, fallbacks: Option<&str>) -> Registry {
        Registry::new(
            &ModelSettings {
                default_model: default.map(str::to_string),
                allowed: allowed.map(str::to_string),
                fallbacks: fallbacks.map(str::to_string),
                successors: None,
            },
            &Endpoints::default(),
            now(),
        )
    }

    #[test]
    fn every_built_in_is_catalogued_active_and_readable() {
        for (id, alias) in BUILT_IN {
            let e = catalog().get(id).unwrap_or_else(|| panic!("{id} not catalogued"));
            assert!(!e.is_retired(now()), "{id} retired");
            assert!(e.is_callable(), "{id} answer shape");
            let r = registry(None, None, None);
            assert_eq!(r.resolve(Some(alias)).unwrap().model.id(), id);
        }
        let r = registry(None, None, None);
        assert!(r.problems().is_empty(), "{:?}", r.problems());
        assert_eq!(r.models().len(), BUILT_IN.len());
        assert_eq!(r.default_model().unwrap().id(), BUILT_IN_DEFAULT);
    }

    #[test]
    fn retired_ids_are_served_by_a_successor() {
        let r = registry(None, None, None);
        for name in [
            "@hf/mistral/mistral-7b-instruct-v0.2",
            "mistral-7b-hf",
            "@cf/qwen/qwen1.5-14b-chat-awq",
            "@cf/meta/llama-3.1-8b-instruct",
        ] {
            let res = r.resolve(Some(name)).unwrap();
            assert_eq!(res.model.id(), BUILT_IN_DEFAULT, "{name}");
            assert!(res.retired.is_some(), "{name}");
        }
        let configured = Registry::new(
            &ModelSettings {
                successors: Some("@hf/mistral/mistral-7b-instruct-v0.2=mistral-small-3.1".into()),
                ..Default::default()
            },
            &Endpoints::default(),
            now(),
        );
        let res = configured
            .resolve(Some("@hf/mistral/mistral-7b-instruct-v0.2"))
            .unwrap();
        assert_eq!(res.model.id(), "@cf/mistralai/mistral-small-3.1-24b-instruct");
        assert_eq!(res.retired, Some("@hf/mistral/mistral-7b-instruct-v0.2"));
    }

    #[test]
    fn unknown_and_not_offered_names_are_unknown_model() {
        let r = registry(None, Some("llama-3.3-70b"), None);
        for name in [
            "gpt-4",
            "@cf/mistral/mistral-7b-instruct-v0.2",
            "@cf/meta/llama-3.2-3b-instruct",
        ] {
            assert!(
                matches!(r.resolve(Some(name)), Err(ApiError::UnknownModel(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn unusable_configuration_is_reported_and_never_called() {
        let r = registry(
            Some("@hf/mistral/mistral-7b-instruct-v0.2"),
            Some("llama-3.3-70b, gpt-4, @cf/qwen/qwen1.5-14b-chat-awq"),
            Some("@cf/meta/llama-3.3-70b-instruct-fp8-fast,@cf/mistral/mistral-7b-instruct-v0.2"),
        );
        let problems = r.problems().join("\n");
        assert!(
            problems.contains("DEFAULT_MODEL entry \"@hf/mistral"),
            "{problems}"
        );
        assert!(problems.contains("\"gpt-4\""), "{problems}");
        assert!(
            problems.contains("qwen1.5-14b-chat-awq\" was retired"),
            "{problems}"
        );
        assert!(problems.contains("FALLBACK_MODELS entry \"@cf/mistral/mistral-7b-instruct-v0.2\""));
        // The unusable default falls back to the built-in one.
        assert_eq!(r.default_model().unwrap().id(), BUILT_IN_DEFAULT);
        let first = r.default_model().unwrap();
        let chain: Vec<&str> = r.chain(first).iter().map(|m| m.id()).collect();
        assert_eq!(
            chain,
            [BUILT_IN_DEFAULT, "@cf/meta/llama-3.3-70b-instruct-fp8-fast"]
        );
        for m in r.chain(first) {
            assert!(!m.entry().is_retired(now()));
        }
    }

    #[test]
    fn listing_marks_the_default_and_shows_problems_and_sources() {
        let r = registry(None, None, Some("gpt-4"));
        let l = r.listing();
        let defaults: Vec<_> = l["models"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["default"] == true)
            .collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(l["default"], BUILT_IN_DEFAULT);
        assert_eq!(l["problems"].as_array().unwrap().len(), 1);
        assert!(l["catalog"]["json_mode"]
            .as_str()
            .unwrap()
            .contains("json-mode.mdx"));
        let hf = &l["models"].as_array().unwrap()[0]["options"];
        assert!(hf.is_object());
    }

    #[test]
    fn remote_models_are_offered_under_their_prefix_and_check_options_by_protocol() {
        let vars: std::collections::HashMap<&str, &str> = [
            ("OPENAI_COMPAT_BASE_URL", "http://127.0.0.1:8080/v1"),
            ("OPENAI_COMPAT_MODELS", "local"),
        ]
        .into_iter()
        .collect();
        let endpoints = Endpoints::from_lookup(&|k| vars.get(k).map(|v| v.to_string())).unwrap();
        let r = Registry::new(
            &ModelSettings {
                fallbacks: Some("openai:local, together:x".into()),
                ..Default::default()
            },
            &endpoints,
            now(),
        );
        let local = r.resolve(Some("openai:local")).unwrap().model;
        assert_eq!(
            (local.provider(), local.wire_name()),
            (Provider::OpenAiCompat, "local")
        );
        assert_eq!(
            r.chain(r.default_model().unwrap()).last().unwrap().id(),
            "openai:local"
        );
        assert!(
            r.problems().iter().any(|p| p.contains("together:x")),
            "{:?}",
            r.problems()
        );
        assert!(r.resolve(Some("together:x")).is_err());
        let opts = |v: Value| GenerationOptions::parse(Some(&v)).unwrap();
        assert!(
            local.check_options(&opts(json!({"top_k": 5}))).is_ok(),
            "left out, not refused"
        );
        assert!(local.check_options(&opts(json!({"temperature": 3}))).is_err());
        let workers = r.default_model().unwrap();
        assert!(workers.check_options(&opts(json!({"temperature": 3}))).is_ok());
        let glm = r.resolve(Some("glm-4.7-flash")).unwrap().model;
        assert!(
            glm.check_options(&opts(json!({"top_k": 5}))).is_err(),
            "a Workers AI schema still refuses"
        );
        assert_eq!(
            r.listing()["models"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["provider"] == "openai")
                .count(),
            1
        );
    }
}
