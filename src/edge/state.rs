//! The state objects: one SQLite-backed Durable Object class, `CallerState`
//! (binding `CALLER_STATE`). Each caller has one, named by its public id; it
//! decides the caller's windows, keeps what was said to it and what it spent
//! ([`crate::core::access::state`] does the arithmetic), and paces its
//! earpiece: the session of [`crate::core::coach::pacing`], decided in the
//! same round trip as the windows. One more, named
//! `deployment`, holds the deployment's daily budget and the usage table
//! `GET /admin/usage` reads. Each decision runs in one SQL transaction-free
//! step with no await, and an object runs one request at a time, so counts
//! are exact however many requests arrive at once.
//!
//! The object's routes (internal, reached only through the binding):
//! `POST /admit`, `POST /record`, `POST /deny` (a caller's; the deny list is
//! [`denied`]); `POST /reserve`,
//! `POST /settle`, `GET /usage` (the deployment's). Below them, the Worker's
//! side: one small function per route, each one round trip.

use crate::core::access::auth::Caller;
use crate::core::access::ratelimit::Counter;
use crate::core::access::state::{admit, keep_said, Admission, Admit, Windows};
use crate::core::access::usage::{Budget, Cost, DaySpend, Spent, UsageRow};
use crate::core::answer::people::acts_of;
use crate::core::coach::pacing::{self, PaceAsk, Paced, Session};
use crate::core::coach::Answer;
use crate::core::config::{CallerStore, Config};
use crate::core::llm::catalog::Price;
use crate::core::llm::registry::Model;
use crate::core::llm::Usage;
use crate::core::request::moments::Act;
use crate::edge::http;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
// The `durable_object` macro names `wasm_bindgen` unqualified.
use worker::wasm_bindgen;
use worker::wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, SqlStorageValue, State};

/// The binding (`[[durable_objects.bindings]]` in wrangler.toml).
pub const BINDING: &str = "CALLER_STATE";
/// The name of the deployment's object.
pub const DEPLOYMENT: &str = "deployment";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS denied (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER);
CREATE TABLE IF NOT EXISTS windows (id INTEGER PRIMARY KEY CHECK (id = 1), day INTEGER, minute INTEGER, minute_count INTEGER, day_count INTEGER);
CREATE TABLE IF NOT EXISTS said (at INTEGER, line TEXT);
CREATE TABLE IF NOT EXISTS spend (day TEXT PRIMARY KEY, neurons REAL, reserved REAL);
CREATE TABLE IF NOT EXISTS pace (id INTEGER PRIMARY KEY CHECK (id = 1), session TEXT);
CREATE TABLE IF NOT EXISTS usage (day TEXT, caller TEXT, model TEXT, requests INTEGER, model_calls INTEGER,
  fallbacks INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, neurons REAL, usd REAL, unpriced INTEGER,
  PRIMARY KEY (day, caller, model));
";

mod denied;
pub use denied::deny;

#[durable_object(fetch)]
pub struct CallerState {
    state: State,
}

/// What `/record` and `/settle` are sent after an answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub now_ms: u64,
    pub spent: Spent,
    /// What was set aside for the request at admission.
    pub estimate: f64,
    /// The suggestion's words, to remember (a caller's object only).
    pub said: Option<String>,
    /// A paced request that was let speak: the line's length and acts.
    #[serde(default)]
    pub pace: Option<PaceRecord>,
}

/// What a spoken (or silent) paced line leaves in the caller's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaceRecord {
    pub words: u64,
    pub acts: Vec<Act>,
}

/// What `/admit` is sent: the windows' question, and the pacing's when the
/// request has one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdmitAsk {
    #[serde(flatten)]
    pub admit: Admit,
    pub pace: Option<PaceAsk>,
}

/// What `/admit` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdmitAnswer {
    #[serde(flatten)]
    pub admission: Admission,
    pub pace: Option<Paced>,
    /// The caller is on the deny list: refused, nothing counted.
    #[serde(default)]
    pub denied: bool,
}

/// What `/reserve` is sent before a request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Reserve {
    pub limit: f64,
    pub estimate: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Reserved {
    pub admitted: bool,
    pub left: f64,
}

#[derive(Deserialize)]
struct WindowsRow {
    day: f64,
    minute: f64,
    minute_count: f64,
    day_count: f64,
}

#[derive(Deserialize)]
struct SaidRow {
    at: f64,
    line: String,
}

#[derive(Deserialize)]
struct PaceRow {
    session: String,
}

#[derive(Deserialize)]
struct SpendRow {
    neurons: f64,
    reserved: f64,
}

fn int(n: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(n as i64)
}

impl CallerState {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn spend(&self, day: &str) -> worker::Result<Budget> {
        let rows: Vec<SpendRow> = self
            .sql()
            .exec(
                "SELECT neurons, reserved FROM spend WHERE day = ?",
                vec![day.into()],
            )?
            .to_array()?;
        Ok(rows.first().map_or(Budget::default(), |r| Budget {
            limit: 0.0,
            spent: r.neurons,
            reserved: r.reserved,
        }))
    }

    fn put_spend(&self, day: &str, b: Budget) -> worker::Result<()> {
        self.sql().exec(
            "INSERT INTO spend (day, neurons, reserved) VALUES (?, ?, ?)
             ON CONFLICT(day) DO UPDATE SET neurons = excluded.neurons, reserved = excluded.reserved",
            vec![day.into(), b.spent.into(), b.reserved.max(0.0).into()],
        )?;
        Ok(())
    }

    fn said(&self) -> worker::Result<Vec<(u64, String)>> {
        let rows: Vec<SaidRow> = self.sql().exec("SELECT at, line FROM said", None)?.to_array()?;
        Ok(rows.into_iter().map(|r| (r.at as u64, r.line)).collect())
    }

    /// The pacing session (a new one when none is stored or it cannot be read).
    fn session(&self) -> worker::Result<Session> {
        let rows: Vec<PaceRow> = self
            .sql()
            .exec("SELECT session FROM pace WHERE id = 1", None)?
            .to_array()?;
        Ok(rows
            .first()
            .and_then(|r| serde_json::from_str(&r.session).ok())
            .unwrap_or_default())
    }

    fn put_session(&self, session: &Session) -> worker::Result<()> {
        self.sql().exec(
            "INSERT INTO pace (id, session) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET session = excluded.session",
            vec![serde_json::to_string(session)?.into()],
        )?;
        Ok(())
    }

    /// The windows, and for an admitted request its pacing, in one step.
    fn admit_paced(&self, ask: AdmitAsk) -> worker::Result<AdmitAnswer> {
        if self.denied()? {
            return Ok(AdmitAnswer::denied());
        }
        let admission = self.admit(ask.admit)?;
        let pace = match ask.pace {
            Some(p) if admission.retry_after_secs.is_none() => {
                let (paced, session) = pacing::decide(self.session()?, &p);
                self.put_session(&session)?;
                Some(paced)
            }
            _ => None,
        };
        Ok(AdmitAnswer {
            admission,
            pace,
            denied: false,
        })
    }

    fn admit(&self, ask: Admit) -> worker::Result<Admission> {
        let rows: Vec<WindowsRow> = self
            .sql()
            .exec(
                "SELECT day, minute, minute_count, day_count FROM windows WHERE id = 1",
                None,
            )?
            .to_array()?;
        let stored = rows.first().map(|r| Windows {
            day: r.day as u64,
            counter: Counter {
                minute: r.minute as u64,
                minute_count: r.minute_count as u32,
                day_count: r.day_count as u32,
            },
        });
        let day = day_name(ask.now_ms);
        let said = keep_said(self.said()?, ask.now_ms)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let (admission, changes) = admit(stored, self.spend(&day)?, &ask, said);
        if let Some(w) = changes.windows {
            self.sql().exec(
                "INSERT INTO windows (id, day, minute, minute_count, day_count) VALUES (1, ?, ?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET day = excluded.day, minute = excluded.minute,
                 minute_count = excluded.minute_count, day_count = excluded.day_count",
                vec![
                    int(w.day),
                    int(w.counter.minute),
                    int(u64::from(w.counter.minute_count)),
                    int(u64::from(w.counter.day_count)),
                ],
            )?;
        }
        if let Some(spend) = changes.spend {
            self.put_spend(&day, spend)?;
        }
        Ok(admission)
    }

    /// A caller's answered request: its spend settles and its words are remembered.
    fn record(&self, r: Record) -> worker::Result<()> {
        self.settle_spend(&r)?;
        if let Some(p) = &r.pace {
            let session = pacing::record(self.session()?, r.now_ms, p.words, p.acts.clone());
            self.put_session(&session)?;
        }
        if let Some(line) = r.said.filter(|l| !l.is_empty()) {
            self.sql().exec(
                "INSERT INTO said (at, line) VALUES (?, ?)",
                vec![int(r.now_ms), line.into()],
            )?;
        }
        let keep_from = keep_said(self.said()?, r.now_ms)
            .first()
            .map_or(r.now_ms, |(at, _)| *at);
        self.sql()
            .exec("DELETE FROM said WHERE at < ?", vec![int(keep_from)])?;
        Ok(())
    }

    fn settle_spend(&self, r: &Record) -> worker::Result<()> {
        let day = &r.spent.day;
        let b = self.spend(day)?;
        let cost = r.spent.cost.map_or(0.0, |c| c.neurons);
        self.put_spend(
            day,
            Budget {
                spent: b.spent + cost,
                reserved: b.reserved - r.estimate,
                ..b
            },
        )
    }

    fn reserve(&self, day: &str, ask: Reserve) -> worker::Result<Reserved> {
        let b = Budget {
            limit: ask.limit,
            ..self.spend(day)?
        };
        let admitted = b.admits(ask.estimate);
        if admitted {
            self.put_spend(
                day,
                Budget {
                    reserved: b.reserved + ask.estimate,
                    ..b
                },
            )?;
        }
        Ok(Reserved {
            admitted,
            left: b.left(),
        })
    }

    /// The deployment's view of an answered request: its spend and a usage
    /// row (none for a request refused before its model, `model` empty).
    fn settle(&self, r: Record) -> worker::Result<()> {
        self.settle_spend(&r)?;
        let s = &r.spent;
        if s.model.is_empty() {
            return Ok(());
        }
        let (neurons, usd, unpriced) = match s.cost {
            Some(c) => (c.neurons, c.usd, 0),
            None => (0.0, 0.0, u64::from(s.model != "rules")),
        };
        self.sql().exec(
            "INSERT INTO usage (day, caller, model, requests, model_calls, fallbacks, prompt_tokens,
               completion_tokens, neurons, usd, unpriced) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(day, caller, model) DO UPDATE SET requests = requests + 1,
               model_calls = model_calls + excluded.model_calls, fallbacks = fallbacks + excluded.fallbacks,
               prompt_tokens = prompt_tokens + excluded.prompt_tokens,
               completion_tokens = completion_tokens + excluded.completion_tokens,
               neurons = neurons + excluded.neurons, usd = usd + excluded.usd, unpriced = unpriced + excluded.unpriced",
            vec![
                s.day.as_str().into(),
                s.caller.as_str().into(),
                s.model.as_str().into(),
                int(u64::from(s.model_calls)),
                int(u64::from(s.fallback)),
                int(s.prompt_tokens),
                int(s.completion_tokens),
                neurons.into(),
                usd.into(),
                int(unpriced),
            ],
        )?;
        Ok(())
    }

    fn usage(&self, from: &str, to: &str) -> worker::Result<serde_json::Value> {
        let rows: Vec<UsageRow> = self
            .sql()
            .exec(
                "SELECT * FROM usage WHERE day >= ? AND day <= ? ORDER BY day, caller, model",
                vec![from.into(), to.into()],
            )?
            .to_array()?;
        let days: Vec<DaySpend> = self
            .sql()
            .exec(
                "SELECT day, neurons, reserved FROM spend WHERE day >= ? AND day <= ? ORDER BY day",
                vec![from.into(), to.into()],
            )?
            .to_array()?;
        Ok(json!({"rows": rows, "days": days}))
    }
}

async fn body<T: DeserializeOwned>(req: &mut Request) -> worker::Result<T> {
    req.json().await
}

impl DurableObject for CallerState {
    fn new(state: State, _env: Env) -> Self {
        let object = CallerState { state };
        // Creating the tables is idempotent and synchronous, before any request.
        if let Err(e) = object.sql().exec(SCHEMA, None) {
            worker::console_error!(
                "{}",
                json!({"event": "state_schema_error", "detail": e.to_string()})
            );
        }
        object
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        match path.as_str() {
            "/admit" => Response::from_json(&self.admit_paced(body(&mut req).await?)?),
            "/record" => {
                self.record(body(&mut req).await?)?;
                Response::from_json(&json!({"ok": true}))
            }
            "/deny" => {
                let ask: serde_json::Value = body(&mut req).await?;
                self.deny(ask["now_ms"].as_u64().unwrap_or_default())?;
                Response::from_json(&json!({"ok": true}))
            }
            "/reserve" => {
                let (day, ask): (String, Reserve) = body(&mut req).await?;
                Response::from_json(&self.reserve(&day, ask)?)
            }
            "/settle" => {
                self.settle(body(&mut req).await?)?;
                Response::from_json(&json!({"ok": true}))
            }
            "/usage" => {
                let (from, to): (String, String) = body(&mut req).await?;
                Response::from_json(&self.usage(&from, &to)?)
            }
            _ => Response::error("no such route", 404),
        }
    }
}

/// `YYYY-MM-DD` of the UTC day containing `now_ms`.
pub fn day_name(now_ms: u64) -> String {
    crate::core::time::format_rfc3339(now_ms as i64)[..10].to_string()
}

/// The usage table and daily spend of days `from` to `to` (`YYYY-MM-DD`).
pub async fn usage(env: &Env, from: &str, to: &str) -> worker::Result<serde_json::Value> {
    let answer: Option<serde_json::Value> = call(env, DEPLOYMENT, "/usage", &(from, to)).await?;
    Ok(answer.unwrap_or_default())
}

/// One round trip to the object `name`: `route` with `message` as JSON.
pub async fn call<T: Serialize, R: DeserializeOwned>(
    env: &Env,
    name: &str,
    route: &str,
    message: &T,
) -> worker::Result<Option<R>> {
    let stub = env.durable_object(BINDING)?.get_by_name(name)?;
    let body = JsValue::from(serde_json::to_string(message)?);
    let req = http::post_request(&format!("https://state{route}"), None, &body)?;
    let resp = stub.fetch_with_request(req).await?;
    match resp.status_code() {
        200 => Ok(Some(serde_json::from_slice(&http::body_bytes(resp).await?)?)),
        s => Err(worker::Error::RustError(format!("state object answered {s}"))),
    }
}

/// Sets `estimate` neurons aside in the deployment's object against `limit`:
/// `Ok(false)` when the day's budget cannot take it.
pub async fn reserve(env: &Env, now_ms: u64, limit: f64, estimate: f64) -> worker::Result<bool> {
    let ask = (day_name(now_ms), Reserve { limit, estimate });
    let reserved: Option<Reserved> = call(env, DEPLOYMENT, "/reserve", &ask).await?;
    Ok(reserved.is_some_and(|r| r.admitted))
}

/// Gives back to the deployment's budget what a refused request had set aside.
pub async fn release(env: Env, now_ms: u64, estimate: f64) {
    let record = Record {
        now_ms,
        spent: Spent {
            day: day_name(now_ms),
            ..Spent::default()
        },
        estimate,
        said: None,
        pace: None,
    };
    if let Err(e) = call::<_, serde_json::Value>(&env, DEPLOYMENT, "/settle", &record).await {
        worker::console_warn!(
            "{}",
            json!({"event": "state_error", "during": "release", "detail": e.to_string()})
        );
    }
}

/// What a request spent, recorded after the answer went out: in
/// the caller's object (its allowance, and the words said) and in the
/// deployment's (its budget and the usage table). Off the response's path.
#[derive(Clone)]
pub struct Ledger {
    env: Env,
    caller: String,
    /// Prices of the chain's models, by id (`None`: unpriced).
    prices: Vec<(String, Option<Price>)>,
    /// What was set aside in the caller's object (when it has an allowance)
    /// and in the deployment's (when it has a budget).
    caller_estimate: f64,
    deployment_estimate: f64,
    failed_calls: usize,
    counted: bool,
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
        estimate: f64,
        reserved: bool,
    ) -> Ledger {
        Ledger {
            env: env.clone(),
            caller: caller.id.as_str().to_string(),
            prices: plan_chain
                .iter()
                .map(|m| (m.id().to_string(), m.entry().price.clone()))
                .collect(),
            caller_estimate: if config.spending.caller_allowance.is_some() {
                estimate
            } else {
                0.0
            },
            deployment_estimate: if reserved { estimate } else { 0.0 },
            failed_calls: 0,
            counted: config.spending.store == CallerStore::DurableObject,
            paced: None,
        }
    }

    /// The ledger of a request its pacing let speak, in a room of `people`.
    pub fn paced(mut self, people: Vec<String>) -> Ledger {
        self.paced = Some(people);
        self
    }

    /// The ledger once the model calls are done: `failed_calls` did not answer.
    pub fn after(mut self, failed_calls: usize) -> Ledger {
        self.failed_calls = failed_calls;
        self
    }

    /// What `answer` cost, and its words to remember.
    fn spent(&self, answer: Option<&Answer>, now_ms: u64) -> (Spent, Option<String>) {
        let usage = answer.and_then(|a| a.usage.clone()).unwrap_or(Usage {
            prompt_tokens: 0,
            completion_tokens: 0,
        });
        let model = answer.map_or("none", |a| a.model.as_str());
        let by_model = model != "rules" && model != "none";
        let price = self
            .prices
            .iter()
            .find(|(id, _)| id == model)
            .and_then(|(_, p)| p.as_ref());
        let spent = Spent {
            day: day_name(now_ms),
            caller: self.caller.clone(),
            model: model.to_string(),
            model_calls: (self.failed_calls + usize::from(by_model)) as u32,
            fallback: answer.is_some_and(|a| a.fallback),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost: match by_model {
                true => Cost::of(price, usage.prompt_tokens, usage.completion_tokens),
                false => Some(Cost::default()),
            },
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
        let to_caller = Record {
            now_ms,
            spent: spent.clone(),
            estimate: self.caller_estimate,
            said,
            pace,
        };
        let to_deployment = Record {
            now_ms,
            spent,
            estimate: self.deployment_estimate,
            said: None,
            pace: None,
        };
        let (a, b) = futures_util::future::join(
            call::<_, serde_json::Value>(&self.env, &self.caller, "/record", &to_caller),
            call::<_, serde_json::Value>(&self.env, DEPLOYMENT, "/settle", &to_deployment),
        )
        .await;
        for (during, result) in [("record", a), ("settle", b)] {
            if let Err(e) = result {
                worker::console_warn!(
                    "{}",
                    json!({"event": "state_error", "during": during, "detail": e.to_string()})
                );
            }
        }
    }
}
