//! Who a line names. Refuses:
//! - a word that can only be a username (`@Ghost`, `cool_guy`, `User789`)
//!   when nobody in the room is called so: a suggestion about a made-up
//!   viewer is worse than none;
//! - a greeting that greets no one ("Greet My hair."), and a viewer's name
//!   after "a" ("a big spender paid a small spender"): a small model takes a
//!   viewer's words for a name, and a name for words;
//! - a line that names people of the room but not the one the request was
//!   for (a newcomer, the latest tipper or chatter), when the pacing chose
//!   no one: "Dance with Max." for Mister South's entrance.
//!
//! (A capitalised word used as a name, a thank-you said twice and a line
//! that leaves out whom the pacing chose it for are
//! [`crate::core::answer::people`]'s, which the pacing shares.)
//!
//! It also knows the room's people ([`People`]): each username with the
//! name a person would say (`mr_south` is Mister South), which the other
//! checks read, and which a line says instead of a username: the one change
//! made to a model's words, since it changes how a name sounds, not what
//! the line says.

use super::words::{words, WordList};
use crate::core::answer::people;
use crate::core::prompt::broadcaster_name;
use crate::core::prompt::names::{spoken_name, NEUTRAL_NAME};
use crate::core::request::events::EventKind;
use crate::core::request::{CoachRequest, Reason};
use std::borrow::Cow;
use std::collections::HashSet;

/// Letters-then-digits words that are ordinary words, not usernames (`Top10`).
const ORDINARY_PREFIXES: &[&str] = &[
    "top", "mp", "covid", "web", "win", "gen", "xbox", "ps", "gta", "fifa", "nba", "nfl", "area", "level",
    "lvl", "round", "day", "part", "season", "episode", "ep", "year", "windows", "iphone", "galaxy", "pixel",
    "vol", "rtx", "gtx", "ryzen", "intel", "route", "room", "channel", "number", "no", "version", "ver",
];

/// The people of a request: each room username with its spoken name, and the
/// broadcaster's names, for the checks that need to know who is who.
#[derive(Debug, Clone, Default)]
pub(super) struct People {
    /// (username, spoken name) of each viewer and of the broadcaster.
    pub(super) names: Vec<(String, String)>,
    /// Lowercase words of the broadcaster's names.
    broadcaster: Vec<String>,
    /// Lowercase words of everyone's names, usernames and spoken.
    pub(super) name_words: HashSet<String>,
    /// Lowercase first words of every actor a narration could start with.
    pub(super) actors: HashSet<String>,
}

impl People {
    pub(super) fn of(req: &CoachRequest) -> People {
        let b = req.broadcaster().as_str();
        let mut names: Vec<(String, String)> = vec![(b.to_string(), broadcaster_name(req))];
        // Each name once, as ASCII case sees it: a set, not a search per event.
        let mut seen: HashSet<String> = HashSet::from([b.to_ascii_lowercase()]);
        for e in req.context().events() {
            if let Some(u) = e.user() {
                if seen.insert(u.to_ascii_lowercase()) {
                    names.push((u.to_string(), spoken_name(u)));
                }
            }
        }
        let broadcaster: Vec<String> = words(b)
            .into_iter()
            .chain(words(&broadcaster_name(req)))
            .collect();
        let name_words: HashSet<String> = names
            .iter()
            .flat_map(|(u, n)| words(u).into_iter().chain(words(n)))
            .collect();
        let mut actors: HashSet<String> = names
            .iter()
            .flat_map(|(u, n)| [u.to_lowercase(), words(n).into_iter().next().unwrap_or_default()])
            .filter(|w| !w.is_empty() && w != "friend")
            .collect();
        actors.extend(
            [
                "he",
                "she",
                "they",
                "someone",
                "somebody",
                "everyone",
                "everybody",
                "nobody",
                "the",
                "a",
            ]
            .map(String::from),
        );
        People {
            names,
            broadcaster,
            name_words,
            actors,
        }
    }

    /// `w` is (part of) the broadcaster's name: `rose` of `MiaRose` too.
    pub(super) fn is_broadcaster(&self, w: &str) -> bool {
        self.broadcaster
            .iter()
            .any(|b| b == w || (w.len() >= 3 && b.contains(w)))
    }

    /// The spoken name of `word` when it is a room username said otherwise.
    fn spoken_for(&self, word: &str) -> Option<&str> {
        self.names
            .iter()
            // A username with nothing speakable in it (`User456`) stays as written:
            // "friend" would not tell the broadcaster whom to thank.
            .find(|(u, n)| {
                !u.is_empty()
                    && n != NEUTRAL_NAME
                    && !u.eq_ignore_ascii_case(n)
                    && u.eq_ignore_ascii_case(word)
            })
            .map(|(_, n)| n.as_str())
    }

    /// Room usernames replaced by their spoken names, `@` and all; the text
    /// itself, not a copy, when it says none.
    pub(super) fn speakable<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let named = |tok: &str| token_core(tok).is_some_and(|(a, b)| self.spoken_for(&tok[a..b]).is_some());
        if !text.split(' ').any(named) {
            return Cow::Borrowed(text);
        }
        let said: Vec<String> = text
            .split(' ')
            .map(|tok| match token_core(tok) {
                Some((a, b)) => match self.spoken_for(&tok[a..b]) {
                    Some(spoken) => format!("{}{spoken}{}", tok[..a].trim_end_matches('@'), &tok[b..]),
                    None => tok.to_string(),
                },
                None => tok.to_string(),
            })
            .collect();
        Cow::Owned(said.join(" "))
    }

    /// Whether every word of `head` is a word of someone's name.
    pub(super) fn all_named(&self, head: &str) -> bool {
        let head = words(head);
        !head.is_empty() && head.iter().all(|w| self.name_words.contains(w))
    }

    /// Whether the line calls a viewer by name: a clause of viewers' names
    /// alone (`Kim, …`, `…, Max and Kim!`). The broadcaster does not call
    /// herself.
    pub(super) fn calls_a_viewer(&self, content: &str) -> bool {
        content.split([',', '!', '?', '.', ';', ':']).any(|clause| {
            let called: Vec<String> = words(clause).into_iter().filter(|w| w != "and").collect();
            !called.is_empty()
                && called
                    .iter()
                    .all(|w| self.name_words.contains(w) && !self.broadcaster.contains(w))
        })
    }

    /// A viewer's name taken for words: a name of two words or more after
    /// "a" or "an" ("how much money a big spender paid" with Big Spender in
    /// the room). A name takes no article; the line means no one by it.
    pub(super) fn takes_a_name_for_words(&self, content: &str) -> bool {
        let said = words(content);
        self.names.iter().skip(1).any(|(_, spoken)| {
            let name = words(spoken);
            name.len() >= 2
                && said
                    .windows(name.len() + 1)
                    .any(|w| matches!(w[0].as_str(), "a" | "an") && w[1..] == name[..])
        })
    }

    /// A greeting that greets no one: a sentence opening with `Greet` whose
    /// next words name no one ("Greet My hair."), or with `Welcome` followed
    /// by neither someone nor a greeting's own words ("back", "in", "to").
    pub(super) fn greets_no_one(&self, content: &str) -> bool {
        static PEOPLE: WordList = WordList::new(
            "everyone everybody all chat them him her you y'all guys friend friends folks viewer viewers \
             newcomer newcomers newbie newbies fans fan fam team crew room people someone somebody",
        );
        static WELCOME_WORDS: WordList = WordList::new("back in to aboard home");
        let someone = |w: &String| self.name_words.contains(w) || PEOPLE.has(w);
        content.split(['.', '!', '?', ';']).any(|sentence| {
            let said = words(sentence);
            match said.first().map(String::as_str) {
                Some("greet") => said.len() > 1 && !said[1..said.len().min(4)].iter().any(someone),
                Some("welcome") => said.get(1).is_some_and(|w| !someone(w) && !WELCOME_WORDS.has(w)),
                _ => false,
            }
        })
    }
}

/// Whom the request asks a line for when the pacing chose no one: the latest
/// tipper of a tip, the newcomer of an entrance, the latest chatter of a chat
/// message (what the prompt's last line names); `None` for a quiet room.
pub(super) fn asked_for(req: &CoachRequest) -> Option<&str> {
    let kind = match req.reason()? {
        Reason::Tip => EventKind::Tip,
        Reason::Entrance => EventKind::Join,
        Reason::Chat => EventKind::Chat,
        Reason::Inactivity => return None,
    };
    let b = req.broadcaster().as_str();
    req.context()
        .events()
        .iter()
        .rev()
        .find(|e| e.kind() == kind)
        .and_then(|e| e.user())
        .filter(|u| !u.eq_ignore_ascii_case(b))
}

impl People {
    /// Whether `content` names viewers of the room but not `user`, whom it
    /// was asked for: a line for a newcomer that talks to someone else misses them.
    pub(super) fn misses(&self, content: &str, user: &str) -> bool {
        let said = people::words(content);
        // The first name is the broadcaster's.
        let named_others = self
            .names
            .iter()
            .skip(1)
            .any(|(u, _)| !u.eq_ignore_ascii_case(user) && people::names(&said, u));
        named_others && !people::names(&said, user)
    }
}

/// The name-like core of a token (`@Max,` is `Max`, `dr.feelgood!` is
/// `dr.feelgood`) and where it sits in the token.
fn token_core(tok: &str) -> Option<(usize, usize)> {
    let inner = |c: char| c.is_alphanumeric() || c == '_';
    let start = tok.find(inner)?;
    let last = tok.rfind(inner)?;
    let end = last + tok[last..].chars().next().map_or(1, char::len_utf8);
    Some((start, end))
}

/// Words that can only be usernames (`@name`, a word with an underscore, or
/// three or more letters followed by two or more digits such as `User789`)
/// must belong to someone in the room or to the broadcaster: a suggestion
/// about a made-up viewer is worse than none. Ordinary words with digits
/// (`Top10`, `mp3s`, `4K`) are not names.
pub fn names_are_known(content: &str, req: &CoachRequest) -> bool {
    let events = req.context().events();
    let b = req.broadcaster().as_str();
    // Whether someone in the room is called `name` (lowercase), compared in
    // place: most answers name nobody shaped like a username, and a set of
    // every event's user, lowercased, was most of a judged answer's time.
    let known = |name: &str| {
        std::iter::once(b)
            .chain(b.split_whitespace())
            .chain(events.iter().filter_map(|e| e.user()))
            .any(|u| {
                if u.is_ascii() {
                    // `name` is lowercase: ASCII case aside, the same bytes.
                    u.eq_ignore_ascii_case(name)
                } else {
                    u.to_lowercase() == name
                }
            })
    };
    let mut room_text: Option<String> = None;
    content.split_whitespace().all(|word| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '_');
        let mention = word.starts_with('@');
        let name = word.trim_start_matches('@').to_lowercase();
        if name.is_empty() || !(mention || name.contains('_') || username_shaped(&name)) {
            return true;
        }
        if known(&name) {
            return true;
        }
        let text = room_text.get_or_insert_with(|| {
            events
                .iter()
                .map(|e| e.text().to_lowercase())
                .collect::<Vec<_>>()
                .join(" ")
        });
        text.contains(&name)
    })
}

/// Three or more letters then two or more digits, whole word, not an
/// ordinary word such as `top10`.
fn username_shaped(word: &str) -> bool {
    let letters: String = word.chars().take_while(|c| c.is_alphabetic()).collect();
    let rest = &word[letters.len()..];
    letters.chars().count() >= 3
        && rest.len() >= 2
        && rest.chars().all(|c| c.is_ascii_digit())
        && !ORDINARY_PREFIXES.contains(&letters.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn request(body: Value) -> CoachRequest {
        CoachRequest::from_json(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn ordinary_words_with_digits_are_not_names() {
        let req = request(json!({"broadcaster": "DJ Max99", "context": "Tip: Max tipped 40 tokens"}));
        assert!(names_are_known("Thanks Max for the 40 tokens!", &req));
        assert!(names_are_known("Play your Top10 mp3s in 4K, 3D style", &req));
        assert!(names_are_known("Max99, say hi to chat!", &req));
        assert!(!names_are_known("Thanks User789 for the tip!", &req));
        assert!(!names_are_known("Thanks cool_guy for the tip!", &req));
        // Usernames of the room in any case, ASCII or not, and the broadcaster's words.
        let room = request(json!({"broadcaster": "DJ Max99", "context": [
            {"text": "hi", "type": "chat", "user": "\u{c4}nna_K22"},
            {"text": "hey", "type": "chat", "user": "COOL_guy"}
        ]}));
        assert!(names_are_known("Thanks \u{e4}NNA_k22 and cool_GUY!", &room));
        assert!(names_are_known("Go dj, @max99!", &room));
        assert!(!names_are_known("Thanks anna_k22!", &room));
    }

    #[test]
    fn usernames_are_said_by_their_spoken_names() {
        let req = request(json!({"broadcaster": "Zoe", "context": [
            {"text": "mr_south entered the room", "type": "event"},
            {"text": "xXDarkAngelXx: love your hair", "type": "chat"},
            {"text": "User456: hi", "type": "chat"}
        ]}));
        let people = People::of(&req);
        assert_eq!(
            people.speakable("Thank you so much, mr_south!"),
            "Thank you so much, Mister South!"
        );
        assert_eq!(
            people.speakable("Welcome in, @xXDarkAngelXx, love the vibe!"),
            "Welcome in, Dark Angel, love the vibe!"
        );
        assert!(matches!(people.speakable("Thanks User456!"), Cow::Borrowed(_)));
        assert!(people.all_named("Mister South"));
        assert!(!people.all_named("Mister Ghost"));
    }
}
