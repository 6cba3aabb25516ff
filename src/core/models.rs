//! The model registry: which Workers AI models callers may pick, by id or
//! short alias, and what each supports. `ALLOWED_MODELS` narrows or extends the
//! built-in list.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    pub id: String,
    pub alias: String,
    /// Whether the model can stream its answer (all text-generation models can).
    pub streams: bool,
    /// Whether the model honours Workers AI JSON mode (`response_format`).
    pub json_mode: bool,
}

const BUILT_IN: [(&str, &str, bool); 6] = [
    ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "llama-3.3-70b", true),
    ("@cf/meta/llama-3.1-8b-instruct-fast", "llama-3.1-8b", true),
    ("@cf/meta/llama-4-scout-17b-16e-instruct", "llama-4-scout", true),
    ("@cf/mistral/mistral-7b-instruct-v0.2", "mistral-7b", false),
    ("@hf/mistral/mistral-7b-instruct-v0.2", "mistral-7b-hf", false),
    ("@cf/qwen/qwen1.5-14b-chat-awq", "qwen1.5-14b", false),
];

fn built_in() -> Vec<ModelInfo> {
    BUILT_IN
        .iter()
        .map(|(id, alias, json_mode)| ModelInfo {
            id: (*id).to_string(),
            alias: (*alias).to_string(),
            streams: true,
            json_mode: *json_mode,
        })
        .collect()
}

/// What a model is, for any id, listed or not (fallback models need not be
/// offered to callers).
pub fn describe(id: &str) -> ModelInfo {
    built_in()
        .into_iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| ModelInfo {
            id: id.to_string(),
            alias: default_alias(id),
            streams: true,
            json_mode: false,
        })
}

fn default_alias(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    models: Vec<ModelInfo>,
    /// Index of the default model in `models` (always listed).
    default_index: usize,
}

impl Registry {
    /// `allowed`: the `ALLOWED_MODELS` value, if set. Comma-separated entries:
    /// a built-in id or alias keeps that model, `*` keeps every built-in, and
    /// any other `@cf/...` or `@hf/...` id (optionally `id=alias`) adds a model.
    /// The default model is always callable.
    pub fn new(allowed: Option<&str>, default_id: &str) -> Result<Registry, String> {
        let builtins = built_in();
        let mut models: Vec<ModelInfo> = Vec::new();
        let push = |m: ModelInfo, models: &mut Vec<ModelInfo>| {
            if !models.iter().any(|x| x.id == m.id) {
                models.push(m);
            }
        };
        match allowed.map(str::trim).filter(|s| !s.is_empty()) {
            None => builtins.iter().for_each(|m| push(m.clone(), &mut models)),
            Some(list) => {
                for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    if entry == "*" {
                        builtins.iter().for_each(|m| push(m.clone(), &mut models));
                        continue;
                    }
                    let (id, alias) = match entry.split_once('=') {
                        Some((id, alias)) => (id.trim(), Some(alias.trim())),
                        None => (entry, None),
                    };
                    if let Some(b) = builtins.iter().find(|m| m.id == id || m.alias == id) {
                        let mut m = b.clone();
                        if let Some(a) = alias {
                            m.alias = a.to_string();
                        }
                        push(m, &mut models);
                    } else if id.starts_with("@cf/") || id.starts_with("@hf/") {
                        let mut m = describe(id);
                        if let Some(a) = alias.filter(|a| !a.is_empty()) {
                            m.alias = a.to_string();
                        }
                        push(m, &mut models);
                    } else {
                        return Err(format!(
                            "ALLOWED_MODELS entry \"{entry}\" is neither a built-in model or alias nor an @cf/ or @hf/ model id"
                        ));
                    }
                }
            }
        }
        if !default_id.starts_with("@cf/") && !default_id.starts_with("@hf/") {
            return Err(format!(
                "DEFAULT_MODEL \"{default_id}\" is not an @cf/ or @hf/ model id"
            ));
        }
        push(describe(default_id), &mut models);
        let default_index = models.iter().position(|m| m.id == default_id).unwrap_or(0);
        Ok(Registry {
            models,
            default_index,
        })
    }

    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    pub fn default_model(&self) -> &ModelInfo {
        &self.models[self.default_index]
    }

    /// A listed model by full id or alias (ids case-insensitively).
    pub fn resolve(&self, name: &str) -> Option<&ModelInfo> {
        let name = name.trim();
        self.models
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(name) || m.alias.eq_ignore_ascii_case(name))
    }

    /// The `GET /api/models` body.
    pub fn listing(&self) -> serde_json::Value {
        let models: Vec<serde_json::Value> = self
            .models
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id,
                    "alias": m.alias,
                    "streams": m.streams,
                    "json_mode": m.json_mode,
                    "default": m.id == self.default_model().id,
                })
            })
            .collect();
        serde_json::json!({ "default": self.default_model().id, "models": models })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "@cf/meta/llama-3.1-8b-instruct-fast";

    #[test]
    fn built_ins_resolve_by_id_and_alias() {
        let r = Registry::new(None, DEFAULT).unwrap();
        assert_eq!(r.models().len(), 6);
        assert_eq!(
            r.resolve("llama-3.3-70b").unwrap().id,
            "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
        );
        assert_eq!(
            r.resolve("@hf/mistral/mistral-7b-instruct-v0.2").unwrap().alias,
            "mistral-7b-hf"
        );
        assert!(r.resolve("gpt-4").is_none());
        assert_eq!(r.default_model().id, DEFAULT);
        assert!(r.default_model().json_mode);
        assert!(!r.resolve("qwen1.5-14b").unwrap().json_mode);
    }

    #[test]
    fn allowed_models_narrows_and_extends() {
        let r = Registry::new(Some("llama-3.3-70b, @cf/google/gemma-7b-it=gemma"), DEFAULT).unwrap();
        let ids: Vec<&str> = r.models().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
                "@cf/google/gemma-7b-it",
                DEFAULT
            ]
        );
        assert_eq!(r.resolve("gemma").unwrap().id, "@cf/google/gemma-7b-it");
        assert!(r.resolve("qwen1.5-14b").is_none());
        let all_plus = Registry::new(Some("*,@cf/x/y"), DEFAULT).unwrap();
        assert_eq!(all_plus.models().len(), 7);
    }

    #[test]
    fn bad_configuration_is_reported() {
        assert!(Registry::new(Some("gpt-4"), DEFAULT).is_err());
        assert!(Registry::new(None, "gpt-4").is_err());
    }

    #[test]
    fn listing_marks_the_default() {
        let r = Registry::new(None, DEFAULT).unwrap();
        let l = r.listing();
        let defaults: Vec<_> = l["models"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["default"] == true)
            .collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0]["id"], DEFAULT);
        assert_eq!(l["default"], DEFAULT);
    }
}
