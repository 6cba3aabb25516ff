//! The limits every line keeps, whoever wrote it. Refuses:
//! - contact details (a URL or domain, written, hidden or read aloud; an
//!   email address; a phone number): the earpiece must never read out where
//!   to go or whom to call, whatever a viewer asked for;
//! - what the broadcaster's preferences rule out ("never mention my ex", "no
//!   politics", "don't talk about money"): they are the broadcaster's limits,
//!   and the rules coach keeps them too.

use super::words::words;
use crate::core::contact::{has_email, has_phone, has_url};
use crate::core::text::find_str;

/// A URL, email address or phone number in `text`.
pub(super) fn has_contact(text: &str) -> bool {
    has_url(text) || has_email(text) || has_phone(text)
}

/// `said` mentions one of the `avoided` terms (a word of four letters or more
/// may carry an ending: "scam" rules out "scams").
pub(super) fn against(avoided: &[Vec<String>], said: &[String]) -> bool {
    avoided.iter().any(|term| {
        said.windows(term.len()).any(|win| {
            win.iter()
                .zip(term)
                .all(|(w, t)| w == t || (t.len() >= 4 && w.starts_with(t.as_str())))
        })
    })
}

/// What opens a restriction in a broadcaster's preferences.
const LEADS: &[&str] = &[
    "never mention",
    "don't mention",
    "do not mention",
    "dont mention",
    "never talk about",
    "don't talk about",
    "do not talk about",
    "dont talk about",
    "never say",
    "don't say",
    "do not say",
    "never bring up",
    "don't bring up",
    "do not bring up",
    "never discuss",
    "don't discuss",
    "do not discuss",
    "don't want to talk about",
    "do not want to talk about",
    "don't want to hear about",
    "stay away from",
    "steer clear of",
    "keep away from",
    "leave out",
    "avoid",
    "no",
];
// Words that say how to avoid, not what: "avoid talking about politics"
// rules out politics, not "talking".
const FILLER: &[&str] = &[
    "my",
    "the",
    "any",
    "about",
    "a",
    "an",
    "please",
    "ever",
    "anything",
    "your",
    "talking",
    "talk",
    "discussing",
    "discuss",
    "mentioning",
    "mention",
    "bringing",
    "up",
    "saying",
    "asking",
    "topics",
    "topic",
    "subject",
    "of",
];

/// What the preferences rule out: the words after "never mention", "no",
/// "don't talk about" and the like, up to the end of the clause; "X or Y"
/// gives two terms; "my", "the", "any" are dropped.
pub fn avoided_terms(preferences: &str) -> Vec<Vec<String>> {
    let lower = preferences.to_lowercase().replace('\u{2019}', "'");
    let mut terms = Vec::new();
    for clause in lower.split(['.', ',', ';', '!', '?', '\n', ':', '(', ')']) {
        let clause = clause.trim();
        let clause = clause.strip_prefix("and ").unwrap_or(clause).trim();
        let clause = clause.strip_prefix("please ").unwrap_or(clause).trim();
        for lead in LEADS {
            // "no" only opens a clause ("No politics"); the rest may follow words.
            let rest = if *lead == "no" {
                clause.strip_prefix("no ")
            } else {
                find_str(clause, lead)
                    .filter(|&at| at == 0 || clause.as_bytes()[at - 1] == b' ')
                    .map(|at| &clause[at + lead.len()..])
            };
            let Some(rest) = rest else { continue };
            for part in rest.split(" or ").flat_map(|p| p.split(" and ")) {
                let term: Vec<String> = words(part)
                    .into_iter()
                    .filter(|w| !FILLER.contains(&w.as_str()))
                    .take(4)
                    .collect();
                if term.iter().map(String::len).sum::<usize>() >= 2 {
                    terms.push(term);
                }
            }
            break;
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_name_what_to_avoid() {
        let terms = avoided_terms(
            "Never mention my ex. No politics, and don't talk about money or taxes. Engage more with tips.",
        );
        let terms: Vec<String> = terms.iter().map(|t| t.join(" ")).collect();
        assert_eq!(terms, ["ex", "politics", "money", "taxes"]);
        assert!(avoided_terms("Engage more with tips.").is_empty());
        let more: Vec<String> = avoided_terms(
            "Avoid talking about politics. Never discuss religion. I don't want to talk about my job. Stay away from money.",
        )
        .iter()
        .map(|t| t.join(" "))
        .collect();
        assert_eq!(more, ["politics", "religion", "job", "money"]);
        assert!(against(&avoided_terms("No scam"), &words("no scams here")));
    }
}
