//! What a request spent, recorded after the answer went out, in one round
//! trip to the caller's state object, off the response's path: every call
//! it made priced (what it reported, else a call's estimate), its words
//! and, when paced, the line's length and acts. The caller's object settles
//! its allowance and its slice of the deployment's budget, and keeps the
//! usage row until its next report to the deployment's object.

use super::state::{call, day_name, PaceRecord, Record};
use crate::core::access::auth::Caller;
use crate::core::access::usage::{Cost, PriceSource, Spent, USD_PER_NEURON};
use crate::core::answer::people::acts_of;
use crate::core::coach::{Answer, FailedCall};
use crate::core::config::{CallerStore, Config};
use crate::core::llm::catalog::Price;
use crate::core::llm::registry::Model;
use crate::core::llm::Usage;
use serde_json::json;
use worker::Env;

/// What a request set aside and spent, to record once it is answered.
#[derive(Clone)]
pub struct Ledger {
    env: Env,
    caller: String,
    /// Prices of the chain's models, by id, and whether each is assumed.
    prices: Vec<(String, Price, bool)>,
    /// What a call that reports no usage is charged.
    call_estimate: f64,
    /// What was set aside against the caller's allowance (when it has one)
    /// and from its slice of the deployment's budget (when it has one).
    caller_estimate: f64,
    lease_estimate: f64,
    /// The calls that did not give the answer: their model and what they
    /// reported using (an answer judged unfit is paid for all the same).
    failed_calls: Vec<(String, Option<Usage>)>,
    counted: bool,
    report_after_ms: u64,
    /// Set when the request was let speak by its pacing: the room's people,
    /// whose acts the line is read for.
    paced: Option<Vec<String>>,
}

impl Ledger {
    pub fn new(
        env: &Env,
        config: &Config,
        caller: &Caller,
        plan_chain: &[&Model],
        (estimate, call_estimate): (f64, f64),
        (allowance_reserved, reserved): (bool, bool),
    ) -> Ledger {
        Ledger {
            env: env.clone(),
            caller: caller.id.as_str().to_string(),
            prices: plan_chain
                .iter()
                .map(|m| {
                    let (price, source) = config.spending.prices.price(m.id(), m.entry().price.as_ref());
                    (m.id().to_string(), price.clone(), source == PriceSource::Assumed)
                })
                .collect(),
            call_estimate,
            caller_estimate: if allowance_reserved { estimate } else { 0.0 },
            lease_estimate: if reserved { estimate } else { 0.0 },
            failed_calls: Vec::new(),
            counted: config.spending.store == CallerStore::DurableObject,
            report_after_ms: config.spending.report_after_ms,
            paced: None,
        }
    }

    /// The ledger of a request its pacing let speak, in a room of `people`.
    pub fn paced(mut self, people: Vec<String>) -> Ledger {
        self.paced = Some(people);
        self
    }

    /// The ledger once the model calls are done: `failures` did not give the answer.
    pub fn after(mut self, failures: &[FailedCall]) -> Ledger {
        self.failed_calls = failures
            .iter()
            .map(|f| (f.model.clone(), f.usage.clone()))
            .collect();
        self
    }

    /// The cost of one call of `model`: what it reported at the model's
    /// price, else the estimate of a call; and whether the price was assumed.
    fn call_cost(&self, model: &str, usage: Option<&Usage>) -> (Cost, bool) {
        let priced = self.prices.iter().find(|(id, _, _)| id == model);
        match (priced, usage) {
            (Some((_, price, assumed)), Some(u)) => (
                Cost::of(Some(price), u.prompt_tokens, u.completion_tokens).unwrap_or_default(),
                *assumed,
            ),
            (priced, _) => (
                Cost {
                    neurons: self.call_estimate,
                    usd: self.call_estimate * USD_PER_NEURON,
                },
                priced.is_none_or(|(_, _, assumed)| *assumed),
            ),
        }
    }

    /// What the request cost (every call it made, the answering one and the
    /// failed ones), and the answer's words to remember.
    fn spent(&self, answer: Option<&Answer>, now_ms: u64) -> (Spent, Option<String>) {
        let model = answer.map_or("none", |a| a.model.as_str());
        let by_model = model != "rules" && model != "none";
        let answering = answer
            .filter(|_| by_model)
            .map(|a| (a.model.as_str(), a.usage.as_ref()));
        let calls = self
            .failed_calls
            .iter()
            .map(|(m, u)| (m.as_str(), u.as_ref()))
            .chain(answering);
        let (mut cost, mut assumed, mut prompt, mut completion) = (Cost::default(), 0, 0, 0);
        for (m, u) in calls {
            let (c, by_assumption) = self.call_cost(m, u);
            cost.neurons += c.neurons;
            cost.usd += c.usd;
            assumed += u32::from(by_assumption);
            prompt += u.map_or(0, |u| u.prompt_tokens);
            completion += u.map_or(0, |u| u.completion_tokens);
        }
        let spent = Spent {
            day: day_name(now_ms),
            caller: self.caller.clone(),
            model: model.to_string(),
            model_calls: (self.failed_calls.len() + usize::from(by_model)) as u32,
            fallback: answer.is_some_and(|a| a.fallback),
            prompt_tokens: prompt,
            completion_tokens: completion,
            cost: Some(cost),
            assumed,
        };
        // A wait is spoken too (the coach frontend says every answer).
        let said = answer.map(|a| a.suggestion.content().to_string());
        (spent, said)
    }

    /// Records `answer`, or a request that ended without one (`None`), which
    /// releases what was set aside for it. Errors are logged: the answer has
    /// gone out.
    pub async fn record(self, answer: Option<Answer>) {
        if !self.counted {
            return;
        }
        let now_ms = worker::js_sys::Date::now() as u64;
        let (spent, said) = self.spent(answer.as_ref(), now_ms);
        let pace = self.paced.as_ref().map(|people| {
            let line = said.as_deref().unwrap_or_default();
            PaceRecord {
                words: line.split_whitespace().count() as u64,
                acts: acts_of(line, people, now_ms),
            }
        });
        let record = Record {
            now_ms,
            spent,
            estimate: self.caller_estimate,
            lease_estimate: self.lease_estimate,
            said,
            pace,
            report_after_ms: self.report_after_ms,
        };
        if let Err(e) = call::<_, serde_json::Value>(&self.env, &self.caller, "/record", &record).await {
            worker::console_warn!(
                "{}",
                json!({"event": "state_error", "during": "record", "detail": e.to_string()})
            );
        }
    }
}

/// Gives back what a request refused after its admission set aside: neurons
/// against the caller's allowance, and from its slice of the deployment's
/// budget. Errors are logged: the refusal has gone out.
pub async fn release(env: Env, caller: String, now_ms: u64, (from_allowance, from_slice): (f64, f64)) {
    let record = Record {
        now_ms,
        spent: Spent {
            day: day_name(now_ms),
            ..Spent::default()
        },
        estimate: from_allowance,
        lease_estimate: from_slice,
        said: None,
        pace: None,
        report_after_ms: 0,
    };
    if let Err(e) = call::<_, serde_json::Value>(&env, &caller, "/record", &record).await {
        worker::console_warn!(
            "{}",
            json!({"event": "state_error", "during": "release", "detail": e.to_string()})
        );
    }
}
