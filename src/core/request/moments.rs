//! What in the room calls for a line, and what a spoken line did.
//!
//! A *moment* is something in the room the broadcaster should hear about: a
//! tip, a question addressed to them, a newcomer's first words, an entrance.
//! Each has a key that stays the same however many requests carry its event
//! (the coach frontend sends its last ten activity items every time), so the
//! caller's state object can tell a new moment from one already handled
//! ([`crate::core::coach::pacing`] decides when to speak about which).
//!
//! An *act* is what a spoken line did to a person (thanked, welcomed,
//! addressed); the state object remembers acts a while, so the same act for
//! the same person is not said twice in other words
//! ([`crate::core::answer::people`] reads them off a line).

use crate::core::request::events::{Event, EventKind, RoomContext};
use serde::{Deserialize, Serialize};

/// Most moments one request reports (its newest).
pub const MAX_MOMENTS: usize = 16;
/// Most people one line is about: "Thank you Sara, Tom and Max!".
pub const MAX_FOCUS_PEOPLE: usize = 3;

/// What kind of moment, most pressing first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MomentKind {
    Tip,
    Question,
    FirstWords,
    Entrance,
}

impl MomentKind {
    /// Whether it may cut the gap short (an entrance waits its turn).
    pub fn pressing(self) -> bool {
        self != MomentKind::Entrance
    }
}

/// One moment of the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moment {
    pub kind: MomentKind,
    /// The username, as the room has it.
    pub user: String,
    /// Tokens, for a tip that states them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    /// Stable across requests that carry the same event.
    pub key: String,
}

/// The moments in `context`, oldest first, at most [`MAX_MOMENTS`]: tips by
/// a named viewer, chat questions for `broadcaster`, each viewer's first chat
/// line in the context, and entrances.
pub fn moments(context: &RoomContext, broadcaster: &str) -> Vec<Moment> {
    let events = context.events();
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Some(user) = e.user().filter(|u| !is_anonymous(u)) else {
            continue;
        };
        let at = stamp(e, i);
        let moment = |kind: MomentKind, key: String| Moment {
            kind,
            user: user.to_string(),
            amount: e.amount(),
            key,
        };
        match e.kind() {
            EventKind::Tip => out.push(moment(
                MomentKind::Tip,
                format!("tip|{user}|{}|{at}", e.amount().unwrap_or(0)),
            )),
            EventKind::Join => out.push(moment(MomentKind::Entrance, format!("join|{user}"))),
            EventKind::Chat => {
                if e.asks(broadcaster) {
                    out.push(moment(MomentKind::Question, format!("ask|{user}|{at}")));
                }
                let first = !events[..i]
                    .iter()
                    .any(|p| p.kind() == EventKind::Chat && p.user() == Some(user));
                if first {
                    out.push(moment(MomentKind::FirstWords, format!("first|{user}")));
                }
            }
            _ => {}
        }
    }
    let extra = out.len().saturating_sub(MAX_MOMENTS);
    out.drain(..extra);
    out
}

/// The coach frontend writes an anonymous tipper as `Anonymous`.
fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous")
}

/// What tells two events of one viewer apart: the timestamp, else the text
/// and place (a context string has no timestamps).
fn stamp(e: &Event, index: usize) -> String {
    match e.at() {
        Some(at) => at.to_string(),
        None => format!("{index}:{}", e.text().len()),
    }
}

/// What a line is for: the moments the coach chose to speak about, all of
/// one kind ([`Focus::Open`]: none; the model says what it sees fit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", content = "moments")]
pub enum Focus {
    #[default]
    Open,
    /// Thank these tippers, together.
    Thanks(Vec<Moment>),
    /// Point the broadcaster to these viewers' questions.
    Questions(Vec<Moment>),
    /// Greet these viewers' first words in chat.
    FirstWords(Vec<Moment>),
    /// Welcome these newcomers.
    Welcome(Vec<Moment>),
}

impl Focus {
    /// A focus on `chosen`, which are all of one kind.
    pub fn of(chosen: Vec<Moment>) -> Focus {
        match chosen.first().map(|m| m.kind) {
            None => Focus::Open,
            Some(MomentKind::Tip) => Focus::Thanks(chosen),
            Some(MomentKind::Question) => Focus::Questions(chosen),
            Some(MomentKind::FirstWords) => Focus::FirstWords(chosen),
            Some(MomentKind::Entrance) => Focus::Welcome(chosen),
        }
    }

    pub fn moments(&self) -> &[Moment] {
        match self {
            Focus::Open => &[],
            Focus::Thanks(m) | Focus::Questions(m) | Focus::FirstWords(m) | Focus::Welcome(m) => m,
        }
    }

    /// The people the line is about, each once, in order.
    pub fn people(&self) -> Vec<&str> {
        let mut people: Vec<&str> = Vec::new();
        for m in self.moments() {
            if !people.contains(&m.user.as_str()) {
                people.push(&m.user);
            }
        }
        people
    }
}

/// What a line did to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActKind {
    Thank,
    Welcome,
    /// Named them otherwise (pointed to a question, replied).
    Address,
}

/// One act of a spoken line, remembered by the caller's state object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    pub at_ms: u64,
    pub kind: ActKind,
    /// The username, lowercase.
    pub person: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::request::CoachRequest;
    use serde_json::json;

    fn room(context: serde_json::Value) -> CoachRequest {
        CoachRequest::from_json(
            json!({"broadcaster": "zoe", "context": context})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    fn ev(text: &str, kind: &str, at: &str) -> serde_json::Value {
        json!({"text": text, "type": kind, "timestamp": at})
    }

    #[test]
    fn tips_questions_first_words_and_entrances_are_moments_with_stable_keys() {
        let ctx = json!([
            ev("kiki_v entered the room", "event", "2026-12-07T10:00:00Z"),
            ev("kiki_v: first time here", "chat", "2026-12-07T10:00:02Z"),
            ev("sara_k: can you say hi to me?", "chat", "2026-12-07T10:00:03Z"),
            ev("kiki_v: lol", "chat", "2026-12-07T10:00:04Z"),
            ev("lulu_b tipped 100 tokens", "tip", "2026-12-07T10:00:05Z"),
            ev("Anonymous tipped 5 tokens", "tip", "2026-12-07T10:00:06Z"),
        ]);
        let req = room(ctx);
        let found = moments(req.context(), "zoe");
        let kinds: Vec<(MomentKind, &str)> = found.iter().map(|m| (m.kind, m.user.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (MomentKind::Entrance, "kiki_v"),
                (MomentKind::FirstWords, "kiki_v"),
                (MomentKind::Question, "sara_k"),
                (MomentKind::FirstWords, "sara_k"),
                (MomentKind::Tip, "lulu_b"),
            ]
        );
        assert_eq!(found[4].amount, Some(100));
        // The same event in a later request has the same key.
        let later = room(json!([
            ev("sara_k: can you say hi to me?", "chat", "2026-12-07T10:00:03Z"),
            ev("lulu_b tipped 100 tokens", "tip", "2026-12-07T10:00:05Z"),
        ]));
        let again = moments(later.context(), "zoe");
        assert_eq!(again[0].key, found[2].key);
        assert_eq!(again[2].key, found[4].key);
    }

    #[test]
    fn a_second_tip_of_the_same_amount_is_a_new_moment() {
        let req = room(json!([
            ev("lulu_b tipped 50 tokens", "tip", "2026-12-07T10:00:05Z"),
            ev("lulu_b tipped 50 tokens", "tip", "2026-12-07T10:01:05Z"),
        ]));
        let found = moments(req.context(), "zoe");
        assert_eq!(found.len(), 2);
        assert_ne!(found[0].key, found[1].key);
    }

    #[test]
    fn a_focus_lists_its_people_once() {
        let m = |user: &str, key: &str| Moment {
            kind: MomentKind::Tip,
            user: user.to_string(),
            amount: None,
            key: key.to_string(),
        };
        let f = Focus::of(vec![m("sara", "1"), m("tom", "2"), m("sara", "3")]);
        assert!(matches!(f, Focus::Thanks(_)));
        assert_eq!(f.people(), ["sara", "tom"]);
        assert_eq!(Focus::of(vec![]), Focus::Open);
    }
}
