//! The rules coach: a deterministic coach in plain Rust. It answers when no
//! model is bound (local development) and as the last resort when every model
//! fails. In order of priority it thanks the biggest (then latest) recent
//! tipper, points the broadcaster to a question aimed at them, welcomes a
//! newcomer, or suggests an engagement line when the room is quiet.
//!
//! When the pacing chose what the line is about (a focus), that comes first:
//! the tippers of a gap thanked together, the viewers who asked something,
//! the newcomers. Otherwise, past its usual lines, it replies to the latest
//! chatter: it answers `wait` only when the room has nothing at all.
//!
//! It never reads a viewer's words aloud: it says who asked and, in its own
//! words, what about. With the request's `recent` lines it does not thank a
//! tip or welcome a viewer twice, and picks a line it has not said lately.

use crate::core::answer::parse::{Action, Suggestion};
use crate::core::order::sort_by_key;
use crate::core::prompt::names::spoken_name;
use crate::core::request::events::{Event, EventKind, RoomContext};
use crate::core::request::moments::{Focus, Moment};
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
    if let Some(line) = req.focus().and_then(|f| focus_line(f, req)).map(&hold) {
        if line.action() != Action::Wait {
            return line;
        }
    }
    let lines: [&dyn Fn() -> Option<Suggestion>; 5] = [
        &|| thank_tipper(recent_events, said),
        &|| point_to_question(recent_events, req.broadcaster().as_str(), said),
        &|| welcome_newcomer(recent_events, said),
        &|| engage_quiet_room(ctx, now, quiet, said),
        &|| reply_to_chatter(recent_events, req.broadcaster().as_str(), said),
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

/// "Sara", "Sara and Tom", "Sara, Tom and Max".
fn listed(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The line for what the pacing chose: every person of the focus, by spoken
/// name, in one line. `None` for an open focus.
fn focus_line(focus: &Focus, req: &CoachRequest) -> Option<Suggestion> {
    let names: Vec<String> = focus.people().iter().map(|u| spoken_name(u)).collect();
    let who = listed(&names);
    let said = req.recent();
    let key = who.as_str();
    let (action, line) = match focus {
        Focus::Open => return None,
        Focus::Thanks(tips) => (Action::Say, thanks_line(tips, &names, said)?),
        Focus::Questions(asks) if asks.len() == 1 => {
            let asked = req
                .context()
                .events()
                .iter()
                .rev()
                .find(|e| e.kind() == EventKind::Chat && e.user() == Some(asks[0].user.as_str()));
            let about = asked.map_or("", |e| topic(e.text()));
            let line = vary(
                &[
                    "{who} asks you something in chat{about}.",
                    "Answer {who}'s question in chat{about}.",
                    "Check chat: {who} asked you something{about}.",
                ],
                key,
                said,
                |v| v.replace("{who}", &who).replace("{about}", about),
            )?;
            (Action::Do, line)
        }
        Focus::Questions(_) => (
            Action::Do,
            vary(
                &[
                    "{who} have questions for you in chat.",
                    "Check chat: {who} asked you something.",
                ],
                key,
                said,
                |v| v.replace("{who}", &who),
            )?,
        ),
        Focus::FirstWords(_) => (
            Action::Say,
            vary(
                &[
                    "Hi {who}, lovely to hear from you!",
                    "Hey {who}, great to see you in chat!",
                    "{who}, so glad you said hello!",
                ],
                key,
                said,
                |v| v.replace("{who}", &who),
            )?,
        ),
        Focus::Welcome(_) => (
            Action::Say,
            vary(
                &[
                    "Welcome to the room, {who}!",
                    "Hey {who}, welcome in!",
                    "{who}, welcome! Make yourself at home.",
                ],
                key,
                said,
                |v| v.replace("{who}", &who),
            )?,
        ),
    };
    Suggestion::new(action, &line)
}

/// Thanks to the tippers of a gap: one tipper with the amount, several together.
fn thanks_line(tips: &[Moment], names: &[String], said: &Recent) -> Option<String> {
    let who = listed(names);
    let single = names.len() == 1;
    let total: Option<u64> = tips
        .iter()
        .try_fold(0u64, |sum, t| t.amount.and_then(|n| sum.checked_add(n)));
    match total {
        Some(n) if single => vary(
            &[
                "Thank you so much, {who}, for the {n} tokens!",
                "{who}, thank you for the {n} tokens, you're amazing!",
                "Wow, {n} tokens! Thank you, {who}!",
            ],
            &who,
            said,
            |v| v.replace("{n}", &n.to_string()).replace("{who}", &who),
        ),
        _ if single => vary(
            &[
                "Thank you so much for the tip, {who}!",
                "{who}, thank you for the tip!",
            ],
            &who,
            said,
            |v| v.replace("{who}", &who),
        ),
        _ => vary(
            &[
                "Thank you {who} for the tips!",
                "Thank you so much, {who}!",
                "{who}, thank you all for the tips!",
            ],
            &who,
            said,
            |v| v.replace("{who}", &who),
        ),
    }
}

/// A reply to the latest viewer who chatted and was not named lately: a
/// busy room always has someone to talk to.
fn reply_to_chatter(recent: &[Event], broadcaster: &str, said: &Recent) -> Option<Suggestion> {
    let name = recent
        .iter()
        .rev()
        .filter(|e| e.kind() == EventKind::Chat)
        .filter_map(Event::user)
        .filter(|u| !u.eq_ignore_ascii_case(broadcaster))
        .map(spoken_name)
        .find(|name| !said.mentions(name, None))?;
    let line = vary(
        &[
            "Say something back to {name} in chat.",
            "{name} is chatting with you; reply in chat!",
            "Give {name} a quick reply in chat.",
        ],
        &name,
        said,
        |v| v.replace("{name}", &name),
    )?;
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
        assert!(
            !s.content().contains("question") && !s.content().contains("asked"),
            "{}",
            s.content()
        );
        assert!(
            s.content().contains("Kim"),
            "a reply to the chatter: {}",
            s.content()
        );
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
    fn a_busy_room_with_nothing_specific_gets_a_reply_to_its_chatter_then_waits() {
        let room = json!([
            {"text": "Ann_1: hey", "type": "chat", "timestamp": "2025-03-13T03:00:00Z"},
            {"text": "bo: lol", "type": "chat", "timestamp": "2025-03-13T03:00:05Z"}
        ]);
        let now = Some("2025-03-13T03:00:10Z");
        let first = run_with(room.clone(), now, &[]);
        assert_eq!(first.action(), Action::Do);
        assert!(
            first.content().contains("Bo"),
            "the latest chatter: {}",
            first.content()
        );
        let second = run_with(room.clone(), now, &[first.content()]);
        assert!(second.content().contains("Ann"), "{}", second.content());
        // Everyone has been answered: the room needs nothing, and a wait is silent.
        let third = run_with(room, now, &[first.content(), second.content()]);
        assert_eq!((third.action(), third.content()), (Action::Wait, ""));
    }

    fn focused(context: serde_json::Value, focus: Focus) -> Suggestion {
        let mut req = CoachRequest::from_json(
            json!({"broadcaster": "Luna", "context": context})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        req.set_pace(focus, vec![]);
        suggest(&req, None, |s| s)
    }

    fn moment(kind: crate::core::request::moments::MomentKind, user: &str, amount: Option<u64>) -> Moment {
        Moment {
            kind,
            user: user.to_string(),
            amount,
            key: user.to_string(),
        }
    }

    #[test]
    fn the_tippers_of_a_gap_are_thanked_together() {
        use crate::core::request::moments::MomentKind::Tip;
        let tips = vec![
            moment(Tip, "sara_k", Some(5)),
            moment(Tip, "tom", Some(10)),
            moment(Tip, "max_power", None),
        ];
        let s = focused(json!("Tip: sara_k tipped 5 tokens"), Focus::of(tips));
        assert_eq!(s.action(), Action::Say);
        assert!(s.content().contains("Sara, Tom and Max"), "{}", s.content());
        let one = focused(json!([]), Focus::of(vec![moment(Tip, "lulu_b", Some(100))]));
        assert!(
            one.content().contains("Lulu") && one.content().contains("100"),
            "{}",
            one.content()
        );
    }

    #[test]
    fn a_question_for_the_broadcaster_is_surfaced_with_its_topic() {
        use crate::core::request::moments::MomentKind::Question;
        let s = focused(
            json!([{"text": "max_power: what music is this?", "type": "chat"}]),
            Focus::of(vec![moment(Question, "max_power", None)]),
        );
        assert_eq!(s.action(), Action::Do);
        assert!(
            s.content().contains("Max asks") && s.content().contains("music"),
            "{}",
            s.content()
        );
        let two = focused(
            json!([]),
            Focus::of(vec![
                moment(Question, "sara_k", None),
                moment(Question, "pete_42", None),
            ]),
        );
        assert!(two.content().contains("Sara and Pete"), "{}", two.content());
    }

    #[test]
    fn first_words_and_newcomers_are_greeted_by_name() {
        use crate::core::request::moments::MomentKind::{Entrance, FirstWords};
        let s = focused(json!([]), Focus::of(vec![moment(FirstWords, "pete_42", None)]));
        assert!(s.content().contains("Pete"), "{}", s.content());
        let s = focused(
            json!([]),
            Focus::of(vec![
                moment(Entrance, "kiki_v", None),
                moment(Entrance, "zed", None),
            ]),
        );
        assert!(
            s.content().contains("welcome") || s.content().contains("Welcome"),
            "{}",
            s.content()
        );
        assert!(s.content().contains("Zed"), "{}", s.content());
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
