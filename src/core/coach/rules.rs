//! The rules coach: a deterministic coach in plain Rust. It answers when no
//! model is bound (local development) and as the last resort when every model
//! fails. In order of priority it thanks the biggest (then latest) recent
//! tipper, points the broadcaster to a question aimed at them, welcomes a
//! newcomer, or suggests an engagement line when the room is quiet.
//!
//! It never reads a viewer's words aloud: it says who asked and, in its own
//! words, what about. With the request's `recent` lines it does not thank a
//! tip or welcome a viewer twice, and picks a line it has not said lately.

use crate::core::answer::parse::{Action, Suggestion};
use crate::core::order::sort_by_key;
use crate::core::prompt::names::spoken_name;
use crate::core::request::events::{Event, EventKind, RoomContext};
use crate::core::request::recent::Recent;
use crate::core::request::{CoachRequest, Reason};
use crate::core::time::EpochMillis;

/// Events the rules coach looks back over.
const LOOKBACK: usize = 15;
/// With no chat or tip for this long, the room counts as quiet.
const QUIET_AFTER_MS: i64 = 60_000;

/// The first line, in order of priority, that `hold` lets through: `hold`
/// applies the limits every answer keeps (preferences, repeats, cleaning) and
/// turns a line it refuses into `wait`, so the next kind of line is tried.
pub fn suggest(
    req: &CoachRequest,
    now: Option<EpochMillis>,
    hold: impl Fn(Suggestion) -> Suggestion,
) -> Suggestion {
    let ctx = req.context();
    let recent_events = ctx.recent(LOOKBACK);
    let said = req.recent();
    let quiet = req.reason() == Some(Reason::Inactivity);
    let lines: [&dyn Fn() -> Option<Suggestion>; 4] = [
        &|| thank_tipper(recent_events, said),
        &|| point_to_question(recent_events, req.broadcaster().as_str(), said),
        &|| welcome_newcomer(recent_events, said),
        &|| engage_quiet_room(ctx, now, quiet, said),
    ];
    // The reason the frontend asked puts its kind of line first.
    let first = match req.reason() {
        None | Some(Reason::Tip) => 0,
        Some(Reason::Chat) => 1,
        Some(Reason::Entrance) => 2,
        Some(Reason::Inactivity) => 3,
    };
    let order = std::iter::once(first).chain((0..lines.len()).filter(|&i| i != first));
    order
        .map(|i| lines[i])
        .filter_map(|line| line())
        .map(hold)
        .find(|s| s.action() != Action::Wait)
        .unwrap_or_else(Suggestion::wait)
}

/// The first of `variants` (from a stable start picked by `key`) that, with
/// `fill` applied, was not said recently: the same room gives the same
/// answer, different people hear different lines, and no line repeats.
fn vary(variants: &[&str], key: &str, said: &Recent, fill: impl Fn(&str) -> String) -> Option<String> {
    let h = key.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    let start = h as usize % variants.len();
    (0..variants.len())
        .map(|i| capitalized(&fill(variants[(start + i) % variants.len()])))
        .find(|line| !said.repeats(line))
}

/// "friend, thank you" -> "Friend, thank you": a name may open the line.
fn capitalized(line: &str) -> String {
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn thank_tipper(recent: &[Event], said: &Recent) -> Option<Suggestion> {
    // Biggest amount first; among equals (or unknown amounts) the latest. A
    // tip a recent line already thanked is skipped.
    let mut tips: Vec<(usize, &Event)> = recent
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind() == EventKind::Tip && e.user().is_some())
        .collect();
    sort_by_key(&mut tips, |(i, e)| {
        std::cmp::Reverse((e.amount().unwrap_or(0), *i))
    });
    tips.into_iter().find_map(|(_, tip)| {
        let name = spoken_name(tip.user()?);
        if said.mentions(&name, tip.amount()) {
            return None;
        }
        let line = match tip.amount() {
            Some(n) => vary(
                &[
                    "Thank you so much, {name}, for the {n} tokens!",
                    "{name}, thank you for the {n} tokens, you're amazing!",
                    "Wow, {n} tokens! Thank you, {name}!",
                    "{n} tokens from {name}! Thank you so much!",
                ],
                &name,
                said,
                |v| v.replace("{n}", &n.to_string()).replace("{name}", &name),
            ),
            None => vary(
                &[
                    "Thank you so much for the tip, {name}!",
                    "{name}, thank you for the tip!",
                    "Thanks for the tip, {name}, you're the best!",
                ],
                &name,
                said,
                |v| v.replace("{name}", &name),
            ),
        }?;
        Suggestion::new(Action::Say, &line)
    })
}

/// What a question is about, in the coach's own words; never the viewer's.
fn topic(question: &str) -> &'static str {
    let q = question.to_lowercase();
    let has = |w: &str| q.split(|c: char| !c.is_alphanumeric()).any(|x| x == w);
    if has("where") && (has("from") || has("live") || has("located")) {
        " about where you're from"
    } else if q.contains("how old") || has("age") {
        " about your age"
    } else if q.contains("how are you") || q.contains("your day") || q.contains("how's it going") {
        " about how you're doing"
    } else if has("song") || has("music") || has("playlist") {
        " about the music"
    } else if has("game") || has("playing") {
        " about the game"
    } else {
        ""
    }
}

fn point_to_question(recent: &[Event], broadcaster: &str, said: &Recent) -> Option<Suggestion> {
    let q = recent
        .iter()
        .rev()
        .find(|e| e.asks(broadcaster) && !e.user().is_some_and(|u| said.mentions(&spoken_name(u), None)))?;
    let name = q.user().map(spoken_name);
    let about = topic(q.text());
    let line = match &name {
        Some(name) => vary(
            &[
                "Answer {name}'s question in chat{about}.",
                "{name} has a question for you in chat{about}.",
                "Check chat: {name} asked you something{about}.",
            ],
            name,
            said,
            |v| v.replace("{name}", name).replace("{about}", about),
        ),
        None => vary(
            &[
                "Someone in chat asked you a question{about}.",
                "Check chat for a question{about}.",
            ],
            about,
            said,
            |v| v.replace("{about}", about),
        ),
    }?;
    Suggestion::new(Action::Do, &line)
}

fn welcome_newcomer(recent: &[Event], said: &Recent) -> Option<Suggestion> {
    let name = recent
        .iter()
        .rev()
        .filter(|e| e.kind() == EventKind::Join)
        .filter_map(|e| e.user().map(spoken_name))
        .find(|name| !said.mentions(name, None))?;
    let line = vary(
        &[
            "Welcome to the room, {name}! Glad you're here.",
            "Hey {name}, welcome in! How's your day going?",
            "{name}, welcome! Make yourself at home.",
        ],
        &name,
        said,
        |v| v.replace("{name}", &name),
    )?;
    Suggestion::new(Action::Say, &line)
}

/// A line for a quiet room; `quiet` when the frontend said so (`inactivity`).
fn engage_quiet_room(
    ctx: &RoomContext,
    now: Option<EpochMillis>,
    quiet: bool,
    said: &Recent,
) -> Option<Suggestion> {
    let last_activity = ctx
        .events()
        .iter()
        .rev()
        .find(|e| matches!(e.kind(), EventKind::Chat | EventKind::Tip));
    let quiet = quiet
        || match last_activity {
            None => true,
            Some(e) => matches!((now, e.at()), (Some(now), Some(at)) if now - at > QUIET_AFTER_MS),
        };
    if !quiet {
        return None;
    }
    let key = ctx.events().len().to_string();
    let line = vary(
        &[
            "What's everyone up to tonight? Tell me in chat!",
            "Say hi in chat and tell me where you're watching from!",
            "Quick question for chat: what should I do next?",
            "Who's new here tonight? Say hello in chat!",
        ],
        &key,
        said,
        str::to_string,
    )?;
    Suggestion::new(Action::Say, &line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_with(context: serde_json::Value, now: Option<&str>, recent: &[&str]) -> Suggestion {
        let req = CoachRequest::from_json(
            json!({"broadcaster": "Luna", "context": context, "recent": recent})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        suggest(&req, now.and_then(crate::core::time::parse_rfc3339), |s| s)
    }

    fn run(context: serde_json::Value, now: Option<&str>) -> Suggestion {
        run_with(context, now, &[])
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
    fn the_same_room_asked_twice_does_not_thank_the_same_tip_twice() {
        let room = json!("Join: FreshFace\nTip: Anna tipped 20 tokens\nTip: Bert tipped 50 tokens");
        let first = run(room.clone(), None);
        assert!(first.content().contains("Bert"), "{}", first.content());
        let second = run_with(room.clone(), None, &[first.content()]);
        assert!(second.content().contains("Anna"), "{}", second.content());
        let third = run_with(room.clone(), None, &[first.content(), second.content()]);
        assert!(third.content().contains("Fresh Face"), "{}", third.content());
        let fourth = run_with(room, None, &[first.content(), second.content(), third.content()]);
        assert_eq!(fourth.action(), Action::Wait, "{}", fourth.content());
    }

    #[test]
    fn a_new_tip_from_the_same_viewer_gets_a_different_line() {
        let said = run(json!("Tip: Bert tipped 50 tokens"), None);
        let again = run_with(
            json!("Tip: Bert tipped 50 tokens\nTip: Bert tipped 60 tokens"),
            None,
            &[said.content()],
        );
        assert!(again.content().contains("60"), "{}", again.content());
        assert!(!crate::core::request::recent::nearly_equal(
            said.content(),
            again.content()
        ));
    }

    #[test]
    fn points_to_a_question_without_reading_it_aloud() {
        let s = run(
            json!([{"text": "Sam_99: Luna, can you say buy cheap followers at scam dot example?", "type": "chat"},
                   {"text": "Kim: lol", "type": "chat"}]),
            None,
        );
        assert_eq!(s.action(), Action::Do);
        assert!(s.content().contains("Sam"), "{}", s.content());
        for word in ["buy", "followers", "scam", "example"] {
            assert!(!s.content().to_lowercase().contains(word), "{}", s.content());
        }
        let from = run(
            json!([{"text": "Marco: where are you from?", "type": "chat"}]),
            None,
        );
        assert!(
            from.content().contains("Marco") && from.content().contains("where you're from"),
            "{}",
            from.content()
        );
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
    fn quiet_room_gets_an_engagement_line_that_varies() {
        let empty = run(json!([]), None);
        assert_eq!(empty.action(), Action::Say);
        let next = run_with(json!([]), None, &[empty.content()]);
        assert_eq!(next.action(), Action::Say);
        assert_ne!(next.content(), empty.content());
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
    fn a_line_opening_with_a_name_is_capitalized() {
        let s = run(json!("Tip: User456 tipped 50 tokens"), None);
        assert!(s.content().starts_with(char::is_uppercase), "{}", s.content());
    }

    #[test]
    fn deterministic() {
        let ctx = json!("Tip: Max tipped 3 tokens");
        assert_eq!(run(ctx.clone(), None), run(ctx, None));
    }
}
