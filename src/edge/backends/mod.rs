//! The models of one request, wherever they run: each call goes to the `AI`
//! binding or to an OpenAI-compatible provider by its model id's prefix, so
//! one fallback chain can mix providers.

mod remote;
pub mod timed;
mod workers_ai;

use crate::core::config::{Backend, Config};
use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::llm::providers::Provider;
use crate::core::llm::ModelReply;
use crate::core::llm::{Chunk, ModelBackend, ModelStream};
use remote::{Remote, RemoteStream};
use serde_json::Value;
use worker::Env;
use workers_ai::{WorkersAi, WorkersAiStream};

pub struct Backends {
    ai: Option<WorkersAi>,
    remote: Remote,
}

impl Backends {
    /// `None` when nothing can be called (no binding, no provider): the
    /// rules coach answers, and that is not a fallback.
    pub fn from_env(env: &Env, config: &Config) -> Option<Backends> {
        let ai = match config.backend {
            Backend::WorkersAi => WorkersAi::from_env(env, config.ai_gateway.as_deref()),
            Backend::Rules => None,
        };
        let remote = Remote::new(config.endpoints.clone());
        (ai.is_some() || !remote.is_empty()).then_some(Backends { ai, remote })
    }

    fn ai(&self) -> Result<&WorkersAi, ModelFailure> {
        // Like an account refusal: no other Workers AI model can answer either.
        self.ai.as_ref().ok_or(ModelFailure {
            code: None,
            kind: FailureKind::Account,
            label: "no AI binding in this deployment",
        })
    }
}

/// A streamed answer from either kind of provider.
pub enum AnyStream {
    WorkersAi(WorkersAiStream),
    Remote(RemoteStream),
}

impl ModelStream for AnyStream {
    async fn next(&mut self, timeout_ms: u64) -> Result<Option<Chunk>, ModelFailure> {
        match self {
            AnyStream::WorkersAi(s) => s.next(timeout_ms).await,
            AnyStream::Remote(s) => s.next(timeout_ms).await,
        }
    }
}

impl ModelBackend for Backends {
    type Stream = AnyStream;

    async fn run(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<ModelReply, ModelFailure> {
        match Provider::of(model).0 {
            Provider::WorkersAi => self.ai()?.run(model, input, timeout_ms).await,
            _ => self.remote.run(model, input, timeout_ms).await,
        }
    }

    async fn stream(&self, model: &str, input: &Value, timeout_ms: u64) -> Result<AnyStream, ModelFailure> {
        match Provider::of(model).0 {
            Provider::WorkersAi => Ok(AnyStream::WorkersAi(
                self.ai()?.stream(model, input, timeout_ms).await?,
            )),
            _ => Ok(AnyStream::Remote(
                self.remote.stream(model, input, timeout_ms).await?,
            )),
        }
    }
}
