//! The state objects: one SQLite-backed Durable Object class, `CallerState`
//! (binding `CALLER_STATE`). Each caller has one, named by its public id; it
//! decides the caller's windows, keeps what was said to it and what it spent
//! ([`crate::core::access::state`] does the arithmetic), and paces its
//! earpiece: the session of [`crate::core::coach::pacing`], decided in the
//! same round trip as the windows. It also holds a slice of the
//! deployment's daily budget ([`crate::core::access::lease`]): a request's
//! worst case is set aside from it, and only when the slice runs short does
//! the caller's object ask the one named `deployment` for another, reporting
//! what it spent and the usage rows it kept; its alarm reports the rest
//! within [`REPORT_AFTER_MS`] and gives the slice back. The deployment's
//! object holds the day's budget (spend reported, slices outstanding) and
//! the usage table `GET /admin/usage` reads. Each decision runs in one
//! synchronous SQL step, so counts are exact however many requests arrive
//! at once; a slice asked for while another request runs is simply added.
//!
//! The object's routes (internal, reached only through the binding):
//! `POST /admit`, `POST /record`, `POST /deny` (a caller's; the deny list is
//! [`denied`]); `POST /lease`, `POST /usage` (the deployment's). A generate
//! request makes one round trip before its model (`/admit`) and one after
//! (`/record`, off the response's path).

use crate::core::access::lease::{grant, Lease, Report, REPORT_AFTER_MS};
use crate::core::access::ratelimit::Counter;
use crate::core::access::state::{admit, keep_said, Admission, Admit, Windows};
use crate::core::access::usage::{Budget, DaySpend, Spent, UsageRow};
use crate::core::coach::pacing::{self, PaceAsk, Paced, Session, Verdict};
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
CREATE TABLE IF NOT EXISTS pending (day TEXT, caller TEXT, model TEXT, requests INTEGER, model_calls INTEGER,
  fallbacks INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, neurons REAL, usd REAL, unpriced INTEGER,
  PRIMARY KEY (day, caller, model));
CREATE TABLE IF NOT EXISTS lease (day TEXT PRIMARY KEY, free REAL, reserved REAL, unreported REAL);
CREATE TABLE IF NOT EXISTS asks (day TEXT PRIMARY KEY, n INTEGER);
";

/// Adds a usage row into `table` (`usage` or `pending`), summing with the row
/// of the same day, caller and model.
const ADD_ROW: &str =
    "INSERT INTO {table} (day, caller, model, requests, model_calls, fallbacks, prompt_tokens,
   completion_tokens, neurons, usd, unpriced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
 ON CONFLICT(day, caller, model) DO UPDATE SET requests = requests + excluded.requests,
   model_calls = model_calls + excluded.model_calls, fallbacks = fallbacks + excluded.fallbacks,
   prompt_tokens = prompt_tokens + excluded.prompt_tokens,
   completion_tokens = completion_tokens + excluded.completion_tokens,
   neurons = neurons + excluded.neurons, usd = usd + excluded.usd, unpriced = unpriced + excluded.unpriced";

mod denied;
pub use denied::deny;

#[durable_object(alarm)]
pub struct CallerState {
    state: State,
    env: Env,
}

/// What `/record` is sent after an answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub now_ms: u64,
    pub spent: Spent,
    /// What was set aside against the caller's allowance at admission.
    pub estimate: f64,
    /// What was set aside from the deployment's slice at admission.
    #[serde(default)]
    pub lease_estimate: f64,
    /// The suggestion's words, to remember (a caller's object only).
    pub said: Option<String>,
    /// A paced request that was let speak: the line's length and acts.
    #[serde(default)]
    pub pace: Option<PaceRecord>,
    /// When to report the spend to the deployment's object, at the latest.
    #[serde(default)]
    pub report_after_ms: u64,
}

/// What a spoken (or silent) paced line leaves in the caller's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaceRecord {
    pub words: u64,
    pub acts: Vec<Act>,
}

/// What `/admit` is sent: the windows' question, the pacing's when the
/// request has one, and the deployment's daily budget when it has one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdmitAsk {
    #[serde(flatten)]
    pub admit: Admit,
    pub pace: Option<PaceAsk>,
    #[serde(default)]
    pub budget: Option<f64>,
}

/// Whether the deployment's budget lets the request call a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentBudget {
    /// Its worst case is set aside from the caller's slice.
    Within,
    /// The day's budget cannot take it.
    Spent,
    /// The deployment's object could not be asked for a slice.
    Unreachable,
}

/// What `/admit` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdmitAnswer {
    #[serde(flatten)]
    pub admission: Admission,
    pub pace: Option<Paced>,
    /// `None` when the request asked nothing of the deployment's budget.
    #[serde(default)]
    pub budget: Option<DeploymentBudget>,
    /// The caller is on the deny list: refused, nothing counted.
    #[serde(default)]
    pub denied: bool,
}

/// What a caller's object sends the deployment's to ask for a slice, or on
/// its alarm: the report, and the usage rows kept since the last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseAsk {
    pub day: String,
    pub limit: Option<f64>,
    pub report: Report,
    pub rows: Vec<UsageRow>,
}

#[derive(Deserialize)]
struct LeaseRow {
    free: f64,
    reserved: f64,
    unreported: f64,
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

    /// The windows, for an admitted request its pacing, and for one that
    /// will call a model its worst case set aside from the caller's slice of
    /// the deployment's budget: everything a request needs, in one round trip.
    async fn admit_paced(&self, ask: AdmitAsk) -> worker::Result<AdmitAnswer> {
        let now_ms = ask.admit.now_ms;
        let estimate = ask.admit.estimate;
        if self.denied()? {
            return Ok(AdmitAnswer::denied());
        }
        let admission = self.admit(ask.admit)?;
        let admitted = admission.retry_after_secs.is_none();
        let pace = match ask.pace {
            Some(p) if admitted => {
                let (paced, session) = pacing::decide(self.session()?, &p);
                self.put_session(&session)?;
                Some(paced)
            }
            _ => None,
        };
        let waits = matches!(
            pace,
            Some(Paced {
                verdict: Verdict::Wait(_),
                ..
            })
        );
        let budget = match ask.budget {
            Some(limit) if admitted && !waits => Some(self.lease_for(now_ms, limit, estimate).await?),
            _ => None,
        };
        Ok(AdmitAnswer {
            admission,
            pace,
            budget,
            denied: false,
        })
    }

    fn lease(&self, day: &str) -> worker::Result<Lease> {
        let rows: Vec<LeaseRow> = self
            .sql()
            .exec(
                "SELECT free, reserved, unreported FROM lease WHERE day = ?",
                vec![day.into()],
            )?
            .to_array()?;
        Ok(rows.first().map_or(Lease::default(), |r| Lease {
            free: r.free,
            reserved: r.reserved,
            unreported: r.unreported,
        }))
    }

    fn put_lease(&self, day: &str, l: &Lease) -> worker::Result<()> {
        self.sql().exec(
            "INSERT INTO lease (day, free, reserved, unreported) VALUES (?, ?, ?, ?)
             ON CONFLICT(day) DO UPDATE SET free = excluded.free, reserved = excluded.reserved,
             unreported = excluded.unreported",
            vec![day.into(), l.free.into(), l.reserved.into(), l.unreported.into()],
        )?;
        Ok(())
    }

    /// The usage rows kept for `day` since the last report, taken out.
    fn take_pending(&self, day: &str) -> worker::Result<Vec<UsageRow>> {
        let rows: Vec<UsageRow> = self
            .sql()
            .exec("SELECT * FROM pending WHERE day = ?", vec![day.into()])?
            .to_array()?;
        self.sql()
            .exec("DELETE FROM pending WHERE day = ?", vec![day.into()])?;
        Ok(rows)
    }

    fn add_row(&self, table: &str, r: &UsageRow) -> worker::Result<()> {
        self.sql().exec(
            &ADD_ROW.replace("{table}", table),
            vec![
                r.day.as_str().into(),
                r.caller.as_str().into(),
                r.model.as_str().into(),
                r.requests.into(),
                r.model_calls.into(),
                r.fallbacks.into(),
                r.prompt_tokens.into(),
                r.completion_tokens.into(),
                r.neurons.into(),
                r.usd.into(),
                r.unpriced.into(),
            ],
        )?;
        Ok(())
    }

    /// `estimate` set aside from the caller's slice of `limit`; when the
    /// slice cannot cover it, a new one asked of the deployment's object,
    /// with the spend and rows kept since the last report. What is taken
    /// out to send is written back if the ask fails.
    async fn lease_for(&self, now_ms: u64, limit: f64, estimate: f64) -> worker::Result<DeploymentBudget> {
        let day = day_name(now_ms);
        let mut lease = self.lease(&day)?;
        if lease.take(estimate) {
            self.put_lease(&day, &lease)?;
            return Ok(DeploymentBudget::Within);
        }
        // What the slice lacks of this request's worst case; the deployment
        // grants at least that, and a share of what is left when it is more.
        let report = lease.report(estimate - lease.free.max(0.0), false);
        self.put_lease(&day, &lease)?;
        let rows = self.take_pending(&day)?;
        let ask = LeaseAsk {
            day: day.clone(),
            limit: Some(limit),
            report,
            rows,
        };
        let granted: Option<f64> = match call(&self.env, DEPLOYMENT, "/lease", &ask).await {
            Ok(g) => g,
            Err(e) => {
                worker::console_warn!(
                    "{}",
                    json!({"event": "state_error", "during": "lease", "detail": e.to_string()})
                );
                None
            }
        };
        // Other requests may have changed the lease while the ask was out.
        let mut lease = self.lease(&day)?;
        let Some(granted) = granted else {
            lease.unreport(&ask.report);
            self.put_lease(&day, &lease)?;
            for r in &ask.rows {
                self.add_row("pending", r)?;
            }
            return Ok(DeploymentBudget::Unreachable);
        };
        lease.free += granted;
        let within = lease.take(estimate);
        self.put_lease(&day, &lease)?;
        Ok(if within {
            DeploymentBudget::Within
        } else {
            DeploymentBudget::Spent
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

    /// A caller's answered request: its spend settles (against its
    /// allowance and its slice), its usage row waits to be reported (the
    /// alarm is set to report it), and its words are remembered.
    async fn record(&self, r: Record) -> worker::Result<()> {
        self.settle_spend(&r)?;
        let cost = r.spent.cost.map_or(0.0, |c| c.neurons);
        let day = &r.spent.day;
        if r.lease_estimate > 0.0 || cost > 0.0 {
            let mut lease = self.lease(day)?;
            lease.settle(r.lease_estimate, cost);
            self.put_lease(day, &lease)?;
        }
        if !r.spent.model.is_empty() {
            self.add_row("pending", &row_of(&r.spent))?;
            if self.state.storage().get_alarm().await?.is_none() {
                let after = if r.report_after_ms > 0 {
                    r.report_after_ms
                } else {
                    REPORT_AFTER_MS
                };
                self.state.storage().set_alarm(after as i64).await?;
            }
        }
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

    /// The alarm: every day's unreported spend and usage rows go to the
    /// deployment's object, and the slices go back. Tried again a little
    /// later when the deployment cannot be reached.
    async fn report_all(&self) -> worker::Result<()> {
        #[derive(Deserialize)]
        struct Day {
            day: String,
        }
        let days: Vec<Day> = self
            .sql()
            .exec("SELECT day FROM lease UNION SELECT day FROM pending", None)?
            .to_array()?;
        for Day { day } in days {
            let mut lease = self.lease(&day)?;
            let report = lease.report(0.0, true);
            let rows = self.take_pending(&day)?;
            if report.spent == 0.0 && report.returned == 0.0 && rows.is_empty() {
                continue;
            }
            self.put_lease(&day, &lease)?;
            let ask = LeaseAsk {
                day: day.clone(),
                limit: None,
                report,
                rows,
            };
            if let Err(e) = call::<_, f64>(&self.env, DEPLOYMENT, "/lease", &ask).await {
                worker::console_warn!(
                    "{}",
                    json!({"event": "state_error", "during": "report", "detail": e.to_string()})
                );
                let mut lease = self.lease(&day)?;
                lease.unreport(&ask.report);
                self.put_lease(&day, &lease)?;
                for r in &ask.rows {
                    self.add_row("pending", r)?;
                }
                self.state.storage().set_alarm(REPORT_AFTER_MS as i64).await?;
            }
        }
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

    /// The deployment's side of a slice ask or a report: the caller's usage
    /// rows join the table, its report counts against the day's budget, and
    /// a slice is granted when one is wanted (0 when the budget cannot take it).
    fn lease_grant(&self, ask: LeaseAsk) -> worker::Result<f64> {
        // How often callers come here: the operator sees this object's load.
        self.sql().exec(
            "INSERT INTO asks (day, n) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET n = n + 1",
            vec![ask.day.as_str().into()],
        )?;
        for r in &ask.rows {
            self.add_row("usage", r)?;
        }
        let mut budget = Budget {
            limit: ask.limit.unwrap_or(0.0),
            ..self.spend(&ask.day)?
        };
        let granted = grant(&mut budget, &ask.report);
        self.put_spend(&ask.day, budget)?;
        Ok(granted)
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
        #[derive(Serialize, Deserialize)]
        struct Asks {
            day: String,
            n: f64,
        }
        let asks: Vec<Asks> = self
            .sql()
            .exec(
                "SELECT day, n FROM asks WHERE day >= ? AND day <= ? ORDER BY day",
                vec![from.into(), to.into()],
            )?
            .to_array()?;
        Ok(json!({"rows": rows, "days": days, "asks": asks}))
    }
}

async fn body<T: DeserializeOwned>(req: &mut Request) -> worker::Result<T> {
    req.json().await
}

impl DurableObject for CallerState {
    fn new(state: State, env: Env) -> Self {
        let object = CallerState { state, env };
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
            "/admit" => Response::from_json(&self.admit_paced(body(&mut req).await?).await?),
            "/record" => {
                self.record(body(&mut req).await?).await?;
                Response::from_json(&json!({"ok": true}))
            }
            "/deny" => {
                let ask: serde_json::Value = body(&mut req).await?;
                self.deny(ask["now_ms"].as_u64().unwrap_or_default())?;
                Response::from_json(&json!({"ok": true}))
            }
            "/lease" => Response::from_json(&self.lease_grant(body(&mut req).await?)?),
            "/usage" => {
                let (from, to): (String, String) = body(&mut req).await?;
                Response::from_json(&self.usage(&from, &to)?)
            }
            _ => Response::error("no such route", 404),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.report_all().await?;
        Response::ok("reported")
    }
}

/// One request's usage row.
fn row_of(s: &Spent) -> UsageRow {
    let (neurons, usd) = s.cost.map_or((0.0, 0.0), |c| (c.neurons, c.usd));
    UsageRow {
        day: s.day.clone(),
        caller: s.caller.clone(),
        model: s.model.clone(),
        requests: 1.0,
        model_calls: f64::from(s.model_calls),
        fallbacks: f64::from(u8::from(s.fallback)),
        prompt_tokens: s.prompt_tokens as f64,
        completion_tokens: s.completion_tokens as f64,
        neurons,
        usd,
        // Calls counted at the assumed price.
        unpriced: f64::from(s.assumed),
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
