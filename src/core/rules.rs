//! The rules coach: a deterministic coach in plain Rust. It answers when no
//! model is bound (local development) and as the last resort when every model
//! fails. In order of priority it thanks the biggest (then latest) recent
//! tipper, acknowledges a question aimed at the broadcaster, welcomes a
//! newcomer, or suggests an engagement line when the room is quiet.

use super::events::{Event, EventKind, RoomContext};
use super::output::{Action, Suggestion};
use super::request::Broadcaster;
use super::text::{neutralize_untrusted, spoken_name, truncate_chars};
use super::time::EpochMillis;

/// Events the rules coach looks back over.
const LOOKBACK: usize = 15;
/// With no chat or tip for this long, the room counts as quiet.
const QUIET_AFTER_MS: i64 = 60_000;

pub fn suggest(ctx: &RoomContext, broadcaster: &Broadcaster, now: Option<EpochMillis>) -> Suggestion {
    let recent = ctx.recent(LOOKBACK);
    thank_tipper(recent)
        .or_else(|| answer_question(recent, broadcaster))
        .or_else(|| welcome_newcomer(recent))
        .or_else(|| engage_quiet_room(ctx, now))
        .unwrap_or_else(Suggestion::wait)
}

/// A stable pick among phrasings, so the same room gives the same answer but
/// different people hear different lines.
fn pick<'a>(variants: &[&'a str], key: &str) -> &'a str {
    let h = key.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    variants[h as usize % variants.len()]
}

fn thank_tipper(recent: &[Event]) -> Option<Suggestion> {
    // Biggest amount wins; among equals (or unknown amounts) the latest.
    let tip = recent
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventKind::Tip && e.user.is_some())
        .max_by_key(|(i, e)| (e.amount.unwrap_or(0), *i))?
        .1;
    let name = spoken_name(tip.user.as_deref()?);
    let line = match tip.amount {
        Some(n) => pick(
            &[
                "Thank you so much, {name}, for the {n} tokens!",
                "{name}, thank you for the {n} tokens, you're amazing!",
                "Wow, {n} tokens! Thank you, {name}!",
            ],
            &name,
        )
        .replace("{n}", &n.to_string()),
        None => pick(
            &[
                "Thank you so much for the tip, {name}!",
                "{name}, thank you for the tip!",
            ],
            &name,
        )
        .to_string(),
    };
    Suggestion::new(Action::Say, &line.replace("{name}", &name))
}

fn answer_question(recent: &[Event], broadcaster: &Broadcaster) -> Option<Suggestion> {
    let own = broadcaster.as_str().to_lowercase();
    let q = recent.iter().rev().find(|e| {
        if e.kind != EventKind::Chat || !e.text.contains('?') {
            return false;
        }
        let lower = e.text.to_lowercase();
        let mentions_broadcaster = lower.contains(&own) || lower.contains('@');
        let second_person = lower
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .any(|w| matches!(w, "you" | "your" | "you're" | "u" | "ur" | "youre"));
        mentions_broadcaster || second_person
    })?;
    let who = q.user.as_deref().map(spoken_name);
    let question = truncate_chars(&neutralize_untrusted(q.text.trim(), 200), 60);
    let line = match who {
        Some(name) => format!("Answer {name}'s question: {question}"),
        None => format!("Answer the question in chat: {question}"),
    };
    Suggestion::new(Action::Do, &line)
}

fn welcome_newcomer(recent: &[Event]) -> Option<Suggestion> {
    let join = recent
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Join && e.user.is_some())?;
    let name = spoken_name(join.user.as_deref()?);
    let line = pick(
        &[
            "Welcome to the room, {name}! Glad you're here.",
            "Hey {name}, welcome in! How's your day going?",
            "{name}, welcome! Make yourself at home.",
        ],
        &name,
    );
    Suggestion::new(Action::Say, &line.replace("{name}", &name))
}

fn engage_quiet_room(ctx: &RoomContext, now: Option<EpochMillis>) -> Option<Suggestion> {
    let last_activity = ctx
        .events()
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::Chat | EventKind::Tip));
    let quiet = match last_activity {
        None => true,
        Some(e) => matches!((now, e.at), (Some(now), Some(at)) if now - at > QUIET_AFTER_MS),
    };
    if !quiet {
        return None;
    }
    let key = ctx.events().len().to_string();
    let line = pick(
        &[
            "What's everyone up to tonight? Tell me in chat!",
            "Say hi in chat and tell me where you're watching from!",
            "Quick question for chat: what should I do next?",
        ],
        &key,
    );
    Suggestion::new(Action::Say, line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::request::CoachRequest;
    use serde_json::json;

    fn run(context: serde_json::Value, now: Option<&str>) -> Suggestion {
        let req = CoachRequest::from_json(
            json!({"broadcaster": "Luna", "context": context})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        suggest(
            &req.context,
            &req.broadcaster,
            now.and_then(crate::core::time::parse_rfc3339),
        )
    }

    #[test]
    fn thanks_the_biggest_recent_tipper_by_spoken_name() {
        let s = run(
            json!("Tip: Small_Fry tipped 5 tokens\nTip: BigSpender2000 tipped 500 tokens\nChat: x: hi\nTip: Latest1 tipped 10 tokens"),
            None,
        );
        assert_eq!(s.action(), Action::Say);
        assert!(s.content().contains("Big Spender"), "{}", s.content());
        assert!(s.content().contains("500 tokens"));
        assert!(!s.content().contains("2000"));
    }

    #[test]
    fn latest_tipper_wins_a_tie() {
        let s = run(
            json!("Tip: Anna tipped 20 tokens\nTip: Bert tipped 20 tokens"),
            None,
        );
        assert!(s.content().contains("Bert"), "{}", s.content());
    }

    #[test]
    fn acknowledges_a_question_for_the_broadcaster() {
        let s = run(
            json!([{"text": "Sam_99: where are you from?", "type": "chat"}, {"text": "Kim: lol", "type": "chat"}]),
            None,
        );
        assert_eq!(s.action(), Action::Do);
        assert!(s.content().contains("Sam 99"), "{}", s.content());
        assert!(s.content().contains("where are you from?"));
    }

    #[test]
    fn a_question_between_viewers_is_not_for_the_broadcaster() {
        let s = run(
            json!([{"text": "Kim: is it raining there?", "type": "chat"}]),
            None,
        );
        assert_eq!(s.action(), Action::Wait);
    }

    #[test]
    fn welcomes_a_newcomer() {
        let s = run(json!("Chat: a: nice\nJoin: FreshFace"), None);
        assert_eq!(s.action(), Action::Say);
        assert!(s.content().contains("Fresh Face"), "{}", s.content());
    }

    #[test]
    fn quiet_room_gets_an_engagement_line() {
        let empty = run(json!([]), None);
        assert_eq!(empty.action(), Action::Say);
        assert!(!empty.content().is_empty());
        let stale = run(
            json!([{"text": "a: hey", "type": "chat", "timestamp": "2025-03-13T03:00:00Z"}]),
            Some("2025-03-13T03:05:00Z"),
        );
        assert_eq!(stale.action(), Action::Say);
    }

    #[test]
    fn busy_room_without_anything_specific_waits() {
        let s = run(
            json!([{"text": "a: hey", "type": "chat", "timestamp": "2025-03-13T03:00:00Z"}]),
            Some("2025-03-13T03:00:10Z"),
        );
        assert_eq!(s.action(), Action::Wait);
    }

    #[test]
    fn deterministic() {
        let ctx = json!("Tip: Max tipped 3 tokens");
        assert_eq!(run(ctx.clone(), None), run(ctx, None));
    }
}
