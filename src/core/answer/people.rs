//! People in a line: who it names, what it does to them, and whether it
//! names someone the room does not have.
//!
//! What it refuses, and why:
//! - a line naming someone who is not in this request's room (a capitalised
//!   word used as a name that no viewer, spoken name or room text has): the
//!   model's "Thanks for the tip, Mary!" for someone else's tip must not be
//!   spoken;
//! - a line that does again an act a recent line did (thanked or welcomed the
//!   same person), in other words: seven thank-yous for one tip are one;
//! - a line that leaves out the people the pacing chose it to be about.

use crate::core::prompt::names::spoken_name;
use crate::core::request::moments::{Act, ActKind, Focus};
use crate::core::request::CoachRequest;

/// The acts of `line` towards the room's `people` (usernames): each person it
/// names, as thanked, welcomed, or addressed.
pub fn acts_of(line: &str, people: &[String], at_ms: u64) -> Vec<Act> {
    let lower = words(line);
    let has = |w: &str| lower.iter().any(|x| x.starts_with(w));
    let kind = if has("thank") || has("appreciat") {
        ActKind::Thank
    } else if has("welcome") {
        ActKind::Welcome
    } else {
        ActKind::Address
    };
    let mut acts: Vec<Act> = Vec::new();
    for user in people {
        let person = user.to_lowercase();
        if names(&lower, user) && !acts.iter().any(|a| a.person == person) {
            acts.push(Act { at_ms, kind, person });
        }
    }
    acts
}

/// Whether `line` does again an act in `done` (a thank-you or a welcome to
/// the same person); addressing someone again is not a repeat.
pub fn repeats_act(line: &str, people: &[String], done: &[Act]) -> bool {
    acts_of(line, people, 0)
        .iter()
        .any(|a| a.kind != ActKind::Address && done.iter().any(|d| d.kind == a.kind && d.person == a.person))
}

/// Whether the lowercase `line_words` name `user`: its spoken name's words in
/// a row, or the username itself.
pub fn names(line_words: &[String], user: &str) -> bool {
    let spoken = words(&spoken_name(user));
    let raw = user.to_lowercase();
    line_words.contains(&raw)
        || (!spoken.is_empty()
            && line_words
                .windows(spoken.len())
                .any(|win| win == spoken.as_slice()))
}

/// Lowercase words of letters, digits and underscores.
pub fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '_' && c != '\'')
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Capitalised words that are not names, wherever they stand: the pronoun,
/// days and months, and what a line calls a viewer it does not name.
#[rustfmt::skip]
const NOT_NAMES: &[&str] = &[
    "i", "i'm", "i'll", "i've", "i'd", "ok", "okay", "tv", "dj", "usa", "uk", "english", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december", "christmas", "halloween",
    "newbie", "newcomer", "friend", "friends", "everyone", "everybody", "guys", "folks", "chat", "chatters",
    "viewers", "babe", "honey", "love", "sweetie", "sweetheart", "darling", "buddy", "pal", "dude", "mate",
    "bro", "sis", "king", "queen", "beautiful", "gorgeous", "handsome", "stranger", "fam", "team", "champ",
    "boss", "sir", "madam", "lady", "ladies", "gentlemen", "cutie", "hun", "hon", "y'all", "all",
];

/// Words that open a line before a comma without being a name (`Wow, 50 tokens!`).
#[rustfmt::skip]
const OPENERS: &[&str] = &[
    "wow", "hey", "hi", "hello", "oh", "yes", "no", "yeah", "thanks", "thank", "welcome", "well", "so", "great",
    "awesome", "nice", "amazing", "aww", "haha", "lol", "omg", "guys", "everyone", "friends", "friend", "chat",
    "folks", "babe", "honey", "love", "sweetie", "darling", "sure", "alright", "now", "today", "tonight",
    "okay", "ok", "hmm", "ooh", "yay", "hooray", "cheers", "sorry", "please", "quick", "first", "also", "and",
    "but", "look", "listen", "remember", "psst", "sweet", "cool", "perfect", "right", "honestly", "seriously",
    "wait",
];

/// Words that open a sentence as its subject without being a name.
#[rustfmt::skip]
const SUBJECTS: &[&str] = &[
    "it", "this", "that", "these", "those", "he", "she", "they", "we", "you", "there", "here", "someone",
    "somebody", "everyone", "everybody", "nobody", "anyone", "chat", "the", "a", "an", "your", "my", "our",
    "their", "his", "her", "its", "what", "who", "which", "one", "each", "every", "some", "all", "viewers",
    "how", "why", "where", "when", "so", "and", "but", "then", "now", "today", "tonight", "everything",
    "nothing", "something", "anything", "today's", "tonight's", "that's", "it's", "there's", "here's", "music",
    "time", "life", "nobody's", "everyone's", "someone's", "this's", "no", "yes", "more", "most", "both",
];

/// Words that, right after a sentence's first word, make it the subject of
/// a statement about someone (`Chloe asked…`, `Mary is…`), as an imperative
/// (`Tell…`, `Smile…`) never is.
fn reports_on_subject(next: &str) -> bool {
    let w = next.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    matches!(
        w.as_str(),
        "is" | "was"
            | "has"
            | "had"
            | "will"
            | "would"
            | "can"
            | "could"
            | "wants"
            | "said"
            | "says"
            | "asked"
            | "asks"
            | "tipped"
            | "sent"
            | "loves"
            | "likes"
            | "wanted"
            | "did"
            | "does"
            | "needs"
            | "joined"
            | "left"
            | "came"
    )
}

/// Whether `line` uses as a name a word that nobody in `req`'s room has: a
/// capitalised word inside a sentence, one opening a sentence before a
/// comma, or one opening it as the subject of a statement (`Chloe asked for
/// a dance`), that is not a username, a word of a spoken name, the
/// broadcaster's name, or a word of the room's events or preferences.
pub fn names_a_stranger(line: &str, req: &CoachRequest) -> bool {
    let mut known: Option<Vec<String>> = None;
    let mut starts_sentence = true;
    let words: Vec<&str> = line.split_whitespace().collect();
    for (i, raw) in words.iter().copied().enumerate() {
        let at_start = starts_sentence;
        starts_sentence = raw.ends_with(['.', '!', '?', ':', ';']);
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
        let word = word.strip_suffix("'s").unwrap_or(word).trim_matches('\'');
        let mut chars = word.chars();
        let Some(first) = chars.next() else { continue };
        // A word with digits is a username or an ordinary word (`Top10`), which
        // `names_are_known` in the judge reads.
        if !first.is_uppercase() || word.chars().count() < 2 || word.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        let vocative = at_start && raw.ends_with(',');
        let lower = word.to_lowercase();
        let subject = at_start
            && !vocative
            && !raw.ends_with(['.', '!', '?', ':', ';'])
            && !SUBJECTS.contains(&lower.as_str())
            && !lower.ends_with("ing")
            && words.get(i + 1).is_some_and(|next| reports_on_subject(next));
        if at_start && !vocative && !subject {
            continue;
        }
        if NOT_NAMES.contains(&lower.as_str()) || (vocative && OPENERS.contains(&lower.as_str())) {
            continue;
        }
        let known = known.get_or_insert_with(|| room_words(req));
        if !known.contains(&lower) {
            return true;
        }
    }
    false
}

/// Every word the room gives a line: usernames and their spoken names, the
/// broadcaster's name, and the words of the events and preferences.
fn room_words(req: &CoachRequest) -> Vec<String> {
    let mut out = words(req.broadcaster().as_str());
    out.extend(words(&spoken_name(req.broadcaster().as_str())));
    for user in req.people() {
        out.push(user.to_lowercase());
        out.extend(words(&spoken_name(&user)));
    }
    for e in req.context().events() {
        out.extend(words(e.text()));
    }
    if let Some(p) = req.preferences() {
        out.extend(words(p.as_str()));
    }
    out
}

/// Whether a line for `focus` names its people: every tipper of a thank-you
/// (one left out would not be thanked at all), at least one of the others (an
/// open focus asks nothing).
pub fn addresses_focus(line: &str, focus: &Focus) -> bool {
    let people = focus.people();
    let said = words(line);
    match focus {
        Focus::Open => true,
        Focus::Thanks(_) => people.iter().all(|u| names(&said, u)),
        _ => people.iter().any(|u| names(&said, u)),
    }
}

/// Whether `line` repeats a recent act of `req` towards someone the focus
/// does not bring back (a new tip from a viewer thanked before is thanked again).
pub fn repeats_recent_act(line: &str, req: &CoachRequest) -> bool {
    let focus: Vec<String> = req
        .focus()
        .map(|f| f.people().iter().map(|u| u.to_lowercase()).collect())
        .unwrap_or_default();
    let done: Vec<Act> = req
        .acts()
        .iter()
        .filter(|a| !focus.contains(&a.person))
        .cloned()
        .collect();
    !done.is_empty() && repeats_act(line, &req.people(), &done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(context: serde_json::Value) -> CoachRequest {
        CoachRequest::from_json(
            json!({"broadcaster": "zoe_live", "context": context})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_name_nobody_in_the_room_has_is_a_stranger() {
        let r = req(json!(
            "Tip: lulu_b tipped 100 tokens\nChat: xXDarkAngelXx: I love Netflix"
        ));
        for line in [
            "Thanks for the tip, Mary! What song should I play next?",
            "Mary, thank you so much!",
            "Say hi to Tom and Lulu.",
            "Chloe asked for a dance, stand up and give her one.",
            "Great set! Jessica wants another song.",
        ] {
            assert!(names_a_stranger(line, &r), "{line}");
        }
        for line in [
            "Thanks for the tip, Lulu!",
            "Wow, thank you Dark Angel!",
            "Ask what they watch on Netflix tonight.",
            "Tell chat what you did on Friday, I'm curious.",
            "Zoe, smile at the camera.",
            "Lulu_b, you're amazing!",
            "Welcome in, Newbie!",
            "Ask chat for their Top10 mp3s tonight!",
            "Lulu asked for a song, play her favourite.",
            "Everyone loved that, keep going!",
            "Smile and wave at the camera.",
            "Dark Angel joined us, say hello!",
            "Welcome back, chat! How was your day?",
            "Great vibes! Everything was perfect tonight.",
        ] {
            assert!(!names_a_stranger(line, &r), "{line}");
        }
    }

    #[test]
    fn a_focused_line_must_name_one_of_its_people() {
        use crate::core::request::moments::{Moment, MomentKind};
        let m = |u: &str| Moment {
            kind: MomentKind::Question,
            user: u.to_string(),
            amount: None,
            key: u.to_string(),
        };
        let focus = Focus::of(vec![m("sara_k"), m("max_power")]);
        assert!(addresses_focus("Sara wants a hello, say hi!", &focus));
        assert!(addresses_focus("Tell Max Power what you are drinking.", &focus));
        assert!(!addresses_focus("Smile and keep the music going.", &focus));
        assert!(addresses_focus("Anything at all.", &Focus::Open));
        let tip = |u: &str| Moment {
            kind: MomentKind::Tip,
            user: u.to_string(),
            amount: None,
            key: u.to_string(),
        };
        let thanks = Focus::of(vec![tip("sara_k"), tip("tom")]);
        assert!(addresses_focus("Thank you Sara and Tom!", &thanks));
        assert!(
            !addresses_focus("Thank you Sara!", &thanks),
            "Tom would never be thanked"
        );
    }

    #[test]
    fn acts_name_people_by_spoken_name_or_username() {
        let people = vec![
            "lulu_b".to_string(),
            "xXDarkAngelXx".to_string(),
            "max".to_string(),
        ];
        let acts = acts_of("Thank you Lulu and Dark Angel!", &people, 7);
        assert_eq!(acts.len(), 2);
        assert!(acts.iter().all(|a| a.kind == ActKind::Thank && a.at_ms == 7));
        assert_eq!(acts[1].person, "xxdarkangelxx");
        assert_eq!(acts_of("Welcome in, Max!", &people, 0)[0].kind, ActKind::Welcome);
        assert_eq!(
            acts_of("Ask Max about his day.", &people, 0)[0].kind,
            ActKind::Address
        );
        assert!(acts_of("Maximum fun tonight!", &people, 0).is_empty());
    }

    #[test]
    fn a_thank_you_in_other_words_repeats_the_act_an_address_does_not() {
        let people = vec!["lulu_b".to_string()];
        let done = acts_of("Thank you so much, Lulu, for the 50 tokens!", &people, 1);
        assert!(repeats_act(
            "Lulu, thanks again, you're the best!",
            &people,
            &done
        ));
        assert!(!repeats_act("Ask Lulu what song she wants.", &people, &done));
        assert!(!repeats_act("Thanks everyone for coming!", &people, &done));
    }
}
