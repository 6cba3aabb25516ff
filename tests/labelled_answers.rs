//! The judge against answers the real small model gave, labelled by hand
//! (tests/fixtures/labelled-answers.json; how they were collected and read:
//! tests/fixtures/labelled-answers.md). No answer a person labelled unfit may
//! be accepted; the share of fit answers accepted is printed, and may not
//! fall below what the fixture's README reports.
//!
//! Each answer is judged as the Worker judged it: in its room as the coach
//! frontend sent it, against the system message of its format (JSON for a
//! whole answer, plain for a streamed one), with the default `MAX_WORDS`.
//! The pacing's focus is not rebuilt here: it only ever refuses more.

use coach_worker::core::answer::judge::Judge;
use coach_worker::core::prompt::{system_message, AnswerFormat, MAX_SUGGESTION_WORDS};
use coach_worker::core::request::CoachRequest;
use serde_json::Value;

/// The share of fit answers the judge accepts, at least, in percent
/// (tests/fixtures/labelled-answers.md gives the figure).
const FIT_ACCEPTED_PERCENT_AT_LEAST: usize = 100;

#[test]
fn the_judge_accepts_no_answer_labelled_unfit() {
    let text = std::fs::read_to_string("tests/fixtures/labelled-answers.json").expect("the labelled set");
    let doc: Value = serde_json::from_str(&text).expect("the labelled set is JSON");
    let answers = doc["answers"].as_array().expect("answers");
    assert!(answers.len() >= 150, "{} answers", answers.len());
    let (mut fit, mut fit_accepted) = (0, 0);
    let mut unfit_accepted = Vec::new();
    // What the judge refused the unfit answers as, for docs/evaluation.md.
    let mut refused_as: std::collections::BTreeMap<&str, usize> = Default::default();
    for a in answers {
        let id = a["id"].as_str().unwrap_or("?");
        let req = CoachRequest::from_json(a["request"].to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{id}: the request does not parse: {e:?}"));
        let format = match a["format"].as_str() {
            Some("plain") => AnswerFormat::Plain,
            _ => AnswerFormat::Json,
        };
        let system = system_message(&req, MAX_SUGGESTION_WORDS, format);
        let verdict = Judge::new(&req, &system, MAX_SUGGESTION_WORDS).answer(&a["raw"], a["finish"].as_str());
        match (a["label"].as_str(), verdict) {
            (Some("fit"), v) => {
                fit += 1;
                match v {
                    Ok(_) => fit_accepted += 1,
                    Err(q) => println!("fit, refused as {}: {id} {:?}", q.label(), a["raw"]),
                }
            }
            (Some("unfit"), Ok(s)) => {
                unfit_accepted.push(format!("{id}: {:?} as {:?}", a["raw"], s.content()))
            }
            (Some("unfit"), Err(q)) => *refused_as.entry(q.label()).or_default() += 1,
            (other, _) => panic!("{id}: label {other:?}"),
        }
    }
    println!(
        "{} answers: {fit} fit, {} unfit; fit accepted {fit_accepted} of {fit}",
        answers.len(),
        answers.len() - fit
    );
    for (label, n) in &refused_as {
        println!("  unfit, refused as {label}: {n}");
    }
    assert!(
        unfit_accepted.is_empty(),
        "unfit answers accepted:\n{}",
        unfit_accepted.join("\n")
    );
    assert!(
        fit_accepted * 100 >= FIT_ACCEPTED_PERCENT_AT_LEAST * fit,
        "fit accepted: {fit_accepted} of {fit}"
    );
}
