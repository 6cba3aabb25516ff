//! What the operator pays for, counted: each answered request's model calls
//! and tokens, priced in Workers AI neurons and US dollars from the published
//! per-model prices, and the daily budgets that stop spending. Pure
//! arithmetic; the caller's and the deployment's state objects (the edge's
//! `state` module) keep the numbers.
//!
//! Workers AI bills $0.011 per 1,000 neurons, with 10,000 neurons a day free
//! on both plans, reset at 00:00 UTC (source and date in data/SOURCES.md).
//! The catalog gives each model's price in dollars per million input and
//! output tokens; neurons are that price divided by the neuron's price. A
//! model without a published price (a remote provider's, or one the catalog
//! does not price) is priced as the operator sets it (`MODEL_PRICES`), else
//! at an assumed price ([`PriceBook`]) that is never zero: every call the
//! deployment can make is counted against its budget.

use crate::core::error::ApiError;
use crate::core::llm::catalog::{catalog, Price};
use crate::core::prompt::{MAX_PROMPT_CHARS, PROMPT_EVENTS, PROMPT_EVENT_CHARS};
use crate::core::request::CoachRequest;
use crate::core::time::{format_rfc3339, parse_date};
use serde::{Deserialize, Serialize};

/// Dollars per neuron: $0.011 per 1,000.
pub const USD_PER_NEURON: f64 = 0.011 / 1000.0;
/// The neurons Workers AI gives every account each UTC day: the default
/// deployment budget.
pub const FREE_NEURONS_PER_DAY: f64 = 10_000.0;

/// The estimated cost of some tokens on one model.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Cost {
    pub neurons: f64,
    pub usd: f64,
}

impl Cost {
    /// `None` when the model has no published price for both directions.
    pub fn of(price: Option<&Price>, prompt_tokens: u64, completion_tokens: u64) -> Option<Cost> {
        let price = price?;
        let (input, output) = (price.input_per_m?, price.output_per_m?);
        let usd = (prompt_tokens as f64 * input + completion_tokens as f64 * output) / 1_000_000.0;
        Some(Cost {
            neurons: usd / USD_PER_NEURON,
            usd,
        })
    }
}

/// Where a model's price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// The catalog's published price.
    Published,
    /// `MODEL_PRICES`, set by the operator.
    Operator,
    /// No price is known: the assumed price (`ASSUMED_MODEL_PRICE`).
    Assumed,
}

/// Every model's price: the published one, else the operator's
/// (`MODEL_PRICES = "id=in/out,..."`, dollars per million input and output
/// tokens), else the assumed price (`ASSUMED_MODEL_PRICE = "in/out"`, by
/// default the dearest published input and output prices of the catalog).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceBook {
    set: Vec<(String, Price)>,
    pub assumed: Price,
}

/// `in/out` in dollars per million tokens, both positive.
fn parse_price(text: &str) -> Option<Price> {
    let (i, o) = text.trim().split_once('/')?;
    let (i, o) = (
        crate::core::text::decimal(i.trim())?,
        crate::core::text::decimal(o.trim())?,
    );
    (i.is_finite() && o.is_finite() && i > 0.0 && o > 0.0).then_some(Price {
        input_per_m: Some(i),
        output_per_m: Some(o),
    })
}

/// The dearest published input and output prices of the catalog.
pub fn dearest_published() -> Price {
    let prices = catalog().models.iter().filter_map(|m| m.price.as_ref());
    let (mut i, mut o) = (0.0f64, 0.0f64);
    for p in prices {
        i = i.max(p.input_per_m.unwrap_or(0.0));
        o = o.max(p.output_per_m.unwrap_or(0.0));
    }
    Price {
        input_per_m: Some(i),
        output_per_m: Some(o),
    }
}

impl PriceBook {
    /// From `MODEL_PRICES` and `ASSUMED_MODEL_PRICE`; the error says what is wrong.
    pub fn parse(model_prices: Option<&str>, assumed: Option<&str>) -> Result<PriceBook, String> {
        let mut set = Vec::new();
        for item in model_prices
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (id, price) = item
                .rsplit_once('=')
                .and_then(|(id, p)| Some((id.trim(), parse_price(p)?)))
                .filter(|(id, _)| !id.is_empty())
                .ok_or_else(|| {
                    format!("must be model=input/output pairs in dollars per million tokens, both above 0, not \"{item}\"")
                })?;
            set.push((id.to_string(), price));
        }
        let assumed = match assumed {
            None => dearest_published(),
            Some(text) => parse_price(text).ok_or_else(|| {
                format!("must be input/output in dollars per million tokens, both above 0, not \"{text}\"")
            })?,
        };
        Ok(PriceBook { set, assumed })
    }

    /// The price `id` is counted at, and where it comes from.
    pub fn price<'a>(&'a self, id: &str, published: Option<&'a Price>) -> (&'a Price, PriceSource) {
        if let Some(p) = published.filter(|p| p.input_per_m.is_some() && p.output_per_m.is_some()) {
            return (p, PriceSource::Published);
        }
        match self.set.iter().find(|(m, _)| m == id) {
            Some((_, p)) => (p, PriceSource::Operator),
            None => (&self.assumed, PriceSource::Assumed),
        }
    }
}

impl Default for PriceBook {
    fn default() -> PriceBook {
        PriceBook {
            set: Vec::new(),
            assumed: dearest_published(),
        }
    }
}

/// Each of `models` (id and published price) with the price its calls are
/// counted at and where that comes from; the assumed price last.
pub fn price_list(book: &PriceBook, models: &[(&str, Option<&Price>)]) -> serde_json::Value {
    use serde_json::json;
    let row = |p: &Price| json!({"input_per_m": p.input_per_m, "output_per_m": p.output_per_m});
    let mut list: Vec<serde_json::Value> = models
        .iter()
        .map(|(id, published)| {
            let (price, source) = book.price(id, *published);
            json!({"model": id, "usd_per_m": row(price), "source": source})
        })
        .collect();
    list.push(json!({"model": "*", "usd_per_m": row(&book.assumed), "source": PriceSource::Assumed}));
    json!(list)
}

/// The most calls one request can make of one model of its chain: once,
/// again up to `retries` times (after an error, or once after an answer
/// judged unfit), and once more without JSON mode when it has JSON mode.
/// What a request sets aside is this many calls of each model of its chain,
/// each at its own price.
pub fn max_calls(retries: u32, json_mode: bool) -> u32 {
    1 + retries.max(1) + u32::from(json_mode)
}

/// One answered request, as the state objects record it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Spent {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The caller's public id (`TokenId`).
    pub caller: String,
    /// The model that answered, or `rules`.
    pub model: String,
    /// Model calls made, failed ones included.
    pub model_calls: u32,
    /// A fallback (another model, or the rules coach) answered.
    pub fallback: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// What the request's calls cost, every call counted.
    pub cost: Option<Cost>,
    /// Calls priced at the assumed price.
    #[serde(default)]
    pub assumed: u32,
}

/// A daily allowance in neurons, and what is spent and set aside of it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Budget {
    pub limit: f64,
    pub spent: f64,
    /// Set aside by requests still running (their estimated cost).
    pub reserved: f64,
}

impl Budget {
    /// Whether a request estimated at `estimate` neurons may start: only
    /// when what is spent, set aside and estimated stays within the limit.
    /// Counted this way in one object, a day's spending passes the limit by
    /// at most what one request costs beyond its estimate.
    pub fn admits(&self, estimate: f64) -> bool {
        self.spent + self.reserved + estimate <= self.limit
    }

    pub fn left(&self) -> f64 {
        (self.limit - self.spent - self.reserved).max(0.0)
    }
}

/// A bound on the characters of the prompt `req` will be sent: the fixed
/// instructions, the preferences, the room's latest lines as the prompt shows
/// them (at most [`PROMPT_EVENTS`], each cut to [`PROMPT_EVENT_CHARS`] plus
/// its tag), and what was said lately; never above [`MAX_PROMPT_CHARS`].
pub fn prompt_chars_bound(req: &CoachRequest) -> usize {
    const INSTRUCTIONS: usize = 1_500;
    const TAG: usize = 60;
    let events: usize = req
        .context()
        .recent(PROMPT_EVENTS)
        .iter()
        .map(|e| e.text().chars().count().min(PROMPT_EVENT_CHARS) + TAG)
        .sum();
    let said: usize = req
        .recent()
        .lines()
        .iter()
        .rev()
        .take(10)
        .map(|l| l.chars().count() + 3)
        .sum();
    let prefs = req.preferences().map_or(0, |p| p.as_str().chars().count());
    (INSTRUCTIONS + prefs + events + said).min(MAX_PROMPT_CHARS)
}

/// The cost set aside for a request before its model answers: the prompt's
/// characters at three a token (the prompt builder's own reckoning) and the
/// whole answer allowance, on the dearest model of the chain, once per call
/// the chain may make.
pub fn estimate(prices: &[Option<&Price>], prompt_chars: usize, max_tokens: u32, calls: u32) -> f64 {
    let prompt_tokens = (prompt_chars / 3) as u64 + 1;
    prices
        .iter()
        .filter_map(|p| Cost::of(*p, prompt_tokens, u64::from(max_tokens)))
        .map(|c| c.neurons)
        .fold(0.0, f64::max)
        * f64::from(calls.max(1))
}

/// One row of the deployment's usage table: a caller's requests to one model
/// on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub day: String,
    pub caller: String,
    pub model: String,
    pub requests: f64,
    pub model_calls: f64,
    pub fallbacks: f64,
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    pub neurons: f64,
    pub usd: f64,
    /// Calls counted at the assumed price (no published or operator's price).
    pub unpriced: f64,
}

/// The deployment's spend of one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaySpend {
    pub day: String,
    pub neurons: f64,
    /// Set aside by requests still running when it was read.
    pub reserved: f64,
}

/// The longest period `GET /admin/usage` reports at once, in days.
pub const MAX_USAGE_DAYS: i64 = 31;

/// The days `GET /admin/usage` reports: `day` alone (it wins over `from`
/// and `to`), or `from` to `to`, today when neither is given. A period given
/// backwards is read forwards, and one longer than [`MAX_USAGE_DAYS`] ends
/// that many days after it starts; the report says the period it covers.
pub fn period(
    day: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    today: &str,
) -> Result<(String, String), ApiError> {
    let date = |name: &str, v: &str| -> Result<i64, ApiError> {
        parse_date(v).ok_or_else(|| ApiError::invalid(name, "must be a date such as 2026-11-30"))
    };
    // Each date given is checked, even one that `day` overrides.
    for (name, v) in [("day", day), ("from", from), ("to", to)] {
        if let Some(v) = v {
            date(name, v)?;
        }
    }
    if let Some(day) = day {
        return Ok((day.to_string(), day.to_string()));
    }
    let (from, to) = (from.unwrap_or(today), to.or(from).unwrap_or(today));
    let (mut a, mut b) = (date("from", from)?, date("to", to)?);
    if b < a {
        std::mem::swap(&mut a, &mut b);
    }
    b = b.min(a + MAX_USAGE_DAYS - 1);
    let name = |days: i64| format_rfc3339(days * 86_400_000)[..10].to_string();
    Ok((name(a), name(b)))
}

/// The `GET /admin/usage` body: each row, totals per caller and per model,
/// each day's spend against the deployment's budget, and what each caller
/// has left of its allowance today.
pub fn report(
    rows: &[UsageRow],
    days: &[DaySpend],
    (budget, allowance): (Option<f64>, Option<f64>),
    prices: serde_json::Value,
    today: &str,
) -> serde_json::Value {
    use serde_json::json;
    use std::collections::BTreeMap;
    let mut by_caller: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    let mut by_model: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    for r in rows {
        for (map, key) in [
            (&mut by_caller, r.caller.as_str()),
            (&mut by_model, r.model.as_str()),
        ] {
            let t = map.entry(key).or_default();
            *t = (t.0 + r.requests, t.1 + r.neurons, t.2 + r.usd);
        }
    }
    let caller_left = |caller: &str| {
        let today_spent: f64 = rows
            .iter()
            .filter(|r| r.caller == caller && r.day == today)
            .map(|r| r.neurons)
            .sum();
        allowance.map(|a| (a - today_spent).max(0.0))
    };
    let totals = |m: &BTreeMap<&str, (f64, f64, f64)>, name: &str| -> Vec<serde_json::Value> {
        m.iter()
            .map(|(k, (requests, neurons, usd))| json!({name: k, "requests": requests, "neurons": neurons, "usd": usd}))
            .collect()
    };
    let mut callers = totals(&by_caller, "caller");
    for c in &mut callers {
        let left = caller_left(c["caller"].as_str().unwrap_or_default());
        c["allowance_left_today"] = json!(left);
    }
    json!({
        "rows": rows,
        "callers": callers,
        "models": totals(&by_model, "model"),
        "days": days.iter().map(|d| json!({
            "day": d.day,
            "neurons": d.neurons,
            "usd": d.neurons * USD_PER_NEURON,
            "budget": budget,
            "left": budget.map(|b| (b - d.neurons - d.reserved).max(0.0)),
        })).collect::<Vec<_>>(),
        "budget": {"deployment_daily_neurons": budget, "caller_daily_neurons": allowance},
        "pricing": {"usd_per_neuron": USD_PER_NEURON, "source": "data/SOURCES.md", "models": prices},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: f64, output: f64) -> Price {
        Price {
            input_per_m: Some(input),
            output_per_m: Some(output),
        }
    }

    #[test]
    fn cost_in_neurons_and_dollars() {
        // @cf/meta/llama-3.2-1b-instruct: $0.027 / $0.201 per million tokens,
        // which the pricing page gives as 2457 / 18252 neurons per million.
        let c = Cost::of(Some(&price(0.027, 0.201)), 1_000_000, 0).unwrap();
        assert!((c.neurons - 2454.5).abs() < 1.0, "{c:?}");
        let c = Cost::of(Some(&price(0.027, 0.201)), 400, 20).unwrap();
        assert!((c.usd - (400.0 * 0.027 + 20.0 * 0.201) / 1e6).abs() < 1e-12);
        assert_eq!(Cost::of(None, 400, 20), None);
        let half = Price {
            input_per_m: Some(0.1),
            output_per_m: None,
        };
        assert_eq!(Cost::of(Some(&half), 400, 20), None, "unpriced, not guessed");
    }

    #[test]
    fn a_budget_admits_only_what_fits_with_what_is_set_aside() {
        let b = Budget {
            limit: 100.0,
            spent: 60.0,
            reserved: 30.0,
        };
        assert!(b.admits(10.0));
        assert!(!b.admits(10.5));
        assert_eq!(b.left(), 10.0);
    }

    #[test]
    fn the_period_of_a_usage_report() {
        let today = "2026-11-30";
        assert_eq!(
            period(None, None, None, today).unwrap(),
            (today.into(), today.into())
        );
        assert_eq!(
            period(Some("2026-11-01"), None, None, today).unwrap().1,
            "2026-11-01"
        );
        assert_eq!(
            period(None, Some("2026-11-01"), Some("2026-11-30"), today).unwrap(),
            ("2026-11-01".into(), "2026-11-30".into())
        );
        let span = |f, t| period(None, Some(f), Some(t), today).unwrap();
        assert_eq!(
            span("2026-11-30", "2026-11-01"),
            ("2026-11-01".into(), "2026-11-30".into())
        );
        assert_eq!(
            span("2026-10-01", "2026-12-30"),
            ("2026-10-01".into(), "2026-10-31".into())
        );
        assert_eq!(
            period(Some("2026-11-02"), Some("2026-01-01"), None, today)
                .unwrap()
                .0,
            "2026-11-02"
        );
        assert!(period(None, Some("yesterday"), None, today).is_err());
        assert!(period(Some("2026-13-01"), None, None, today).is_err());
        assert!(period(Some("2026-11-01"), Some(""), None, today).is_err());
        assert_eq!(
            period(None, Some("0000-01-01"), None, today).unwrap().0,
            "0000-01-01"
        );
        assert_eq!(
            period(None, Some("9999-12-31"), Some("9999-12-31"), today)
                .unwrap()
                .1,
            "9999-12-31"
        );
    }

    #[test]
    fn a_report_totals_callers_and_models_and_what_is_left() {
        let row = |caller: &str, model: &str, neurons: f64| UsageRow {
            day: "2026-11-30".into(),
            caller: caller.into(),
            model: model.into(),
            requests: 2.0,
            model_calls: 2.0,
            fallbacks: 0.0,
            prompt_tokens: 800.0,
            completion_tokens: 40.0,
            neurons,
            usd: neurons * USD_PER_NEURON,
            unpriced: 0.0,
        };
        let rows = [row("a", "m1", 3.0), row("a", "m2", 4.0), row("b", "m1", 1.0)];
        let days = [DaySpend {
            day: "2026-11-30".into(),
            neurons: 8.0,
            reserved: 1.0,
        }];
        let r = report(
            &rows,
            &days,
            (Some(10.0), Some(5.0)),
            serde_json::json!([]),
            "2026-11-30",
        );
        assert_eq!(r["callers"][0]["neurons"], serde_json::json!(7.0));
        assert_eq!(r["callers"][0]["allowance_left_today"], serde_json::json!(0.0));
        assert_eq!(r["callers"][1]["allowance_left_today"], serde_json::json!(4.0));
        assert_eq!(r["models"][0]["requests"], serde_json::json!(4.0));
        assert_eq!(r["days"][0]["left"], serde_json::json!(1.0));
    }

    #[test]
    fn the_estimate_takes_the_dearest_model_per_call() {
        let cheap = price(0.027, 0.201);
        let dear = price(0.282, 0.827);
        let one = estimate(&[Some(&cheap), Some(&dear), None], 1200, 96, 1);
        assert_eq!(one, Cost::of(Some(&dear), 401, 96).unwrap().neurons);
        assert_eq!(
            estimate(&[Some(&cheap)], 1200, 96, 3),
            3.0 * estimate(&[Some(&cheap)], 1200, 96, 1)
        );
        assert_eq!(estimate(&[None], 1200, 96, 3), 0.0);
    }
}
