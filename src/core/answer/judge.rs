//! Verdicts on an answer before it may be spoken. [`Judge::answer`] is the one
//! call the coaching loop makes per model answer (a whole reply or the final
//! text of a streamed one): it returns the cleaned suggestion, or the
//! [`Quality`] failure that says why not and whether the same model may try
//! once more. [`Judge::rules_line`] holds the rules coach to the same limits.
//!
//! Not suggestions: refusals, apologies, meta-talk, `null`, reasoning text,
//! echoed room events, runs of the system prompt, a viewer quoted at length,
//! URLs, email addresses and phone numbers, what the broadcaster's
//! preferences rule out, a repeat of a recent line, and names of people who
//! are not in the room.

use crate::core::answer::parse::{parse_draft, Action, Suggestion, HARD_MAX_WORDS};
use crate::core::answer::speech::{clean, complete_sentences};
use crate::core::contact::{has_email, has_phone, has_url};
use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::request::CoachRequest;
use crate::core::text::{FENCE_CLOSE, FENCE_OPEN};
use serde_json::Value;
use std::collections::HashSet;

/// Words in a row shared with the system prompt that make an answer a leak.
const PROMPT_RUN_WORDS: usize = 6;
/// Words in a row shared with a viewer's message that make an answer a quote.
const QUOTE_RUN_WORDS: usize = 5;
/// Room events the quote check reads, newest first.
const QUOTE_LOOKBACK: usize = 200;

/// Why an answer is not spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// Nothing readable, empty, or `null`.
    Unusable,
    /// Cut by the token limit before a sentence ended.
    Truncated,
    /// A refusal, an apology, or talk about itself or the task.
    Refusal,
    /// The model's reasoning rather than a suggestion.
    Reasoning,
    /// A room event given back as if it were a suggestion.
    EchoedEvent,
    /// A run of the system prompt.
    EchoesPrompt,
    /// A viewer's message repeated at length.
    QuotesViewer,
    /// A URL, email address or phone number.
    ContactInfo,
    /// Mentions what the broadcaster's preferences rule out.
    AgainstPreferences,
    /// Equal or nearly equal to a recent line.
    Repeat,
    /// Names someone who is not in the room.
    UnknownName,
    /// The moderation model found a blocked hazard.
    Unsafe,
}

impl Quality {
    /// Whether the same model may try once more: only the unknown-name guard,
    /// which a second sample usually passes; the rest go to the next model.
    pub fn retry_same_model(self) -> bool {
        self == Quality::UnknownName
    }

    pub fn label(self) -> &'static str {
        match self {
            Quality::Unusable => "unusable answer",
            Quality::Truncated => "cut off by the token limit",
            Quality::Refusal => "refusal or meta-talk",
            Quality::Reasoning => "reasoning text",
            Quality::EchoedEvent => "echoed a room event",
            Quality::EchoesPrompt => "repeated the system prompt",
            Quality::QuotesViewer => "quoted a viewer",
            Quality::ContactInfo => "carried a URL, email or phone number",
            Quality::AgainstPreferences => "against the broadcaster's preferences",
            Quality::Repeat => "repeated a recent line",
            Quality::UnknownName => "named someone not in the room",
            Quality::Unsafe => "blocked by moderation",
        }
    }
}

impl From<Quality> for ModelFailure {
    fn from(q: Quality) -> ModelFailure {
        ModelFailure {
            code: None,
            kind: if q.retry_same_model() {
                FailureKind::RetryOnce
            } else {
                FailureKind::Permanent
            },
            label: q.label(),
        }
    }
}

/// Phrases that make an answer a refusal, an apology or meta-talk.
const REFUSALS: &[&str] = &[
    "i'm sorry, but",
    "i am sorry, but",
    "sorry, but i",
    "i apologize, but",
    "i apologise, but",
    "my apologies, but",
    "i can't help with",
    "i cannot help with",
    "i can't assist",
    "i cannot assist",
    "i can't comply",
    "i cannot comply",
    "i can't fulfill",
    "i cannot fulfill",
    "i can't provide",
    "i cannot provide",
    "i'm not able to",
    "i am not able to",
    "i'm unable to",
    "i am unable to",
    "i can't do that",
    "i cannot do that",
    "i can't generate",
    "i cannot generate",
    "i can't create",
    "i cannot create",
    "i can't write",
    "i cannot write",
    "i won't help",
    "i won't do",
    "i won't provide",
    "i will not help",
    "i will not provide",
    "i'm afraid i can't",
    "i am afraid i can't",
    "i'm afraid i cannot",
    "unfortunately, i can",
    "unfortunately i can",
    "sorry, i can",
    "sorry, i won't",
    "i'm sorry, i can",
    "i must decline",
    "i have to decline",
    "here's a line",
    "here is a line",
    "here's one",
    "here is one",
    "here you go",
    "this suggestion",
    "this line",
    "as an ai",
    "as a language model",
    "as an assistant",
    "language model",
    "here is a suggestion",
    "here's a suggestion",
    "here is my suggestion",
    "here's my suggestion",
    "here is one suggestion",
    "my suggestion is",
    "i would suggest",
    "i suggest that",
    "the broadcaster should",
    "the broadcaster could",
    "room events",
    "system prompt",
    "json object",
];

/// Openings of reasoning text.
const REASONING: &[&str] = &[
    "okay, so",
    "ok, so",
    "let me think",
    "let's think",
    "first, i",
    "i need to",
    "i should",
    "we need to",
    "the user ",
    "the viewer ",
    "looking at the",
    "based on the",
    "hmm",
    "alright, the",
];

/// Bare words that stand for "no answer".
const NULLS: &[&str] = &["null", "none", "n/a", "undefined", "nil", "empty"];

/// Letters-then-digits words that are ordinary words, not usernames (`Top10`).
const ORDINARY_PREFIXES: &[&str] = &[
    "top", "mp", "covid", "web", "win", "gen", "xbox", "ps", "gta", "fifa", "nba", "nfl", "area", "level",
    "lvl", "round", "day", "part", "season", "episode", "ep", "year", "windows", "iphone", "galaxy", "pixel",
    "vol", "rtx", "gtx", "ryzen", "intel", "route", "room", "channel", "number", "no", "version", "ver",
];

/// Whether the opening words of an answer still being written may turn out
/// to be a refusal, meta-talk or reasoning: a streamed answer is not spoken
/// until its opening is clear of them.
pub fn may_open_a_non_answer(opening: &str) -> bool {
    let lower = opening.trim().to_lowercase().replace('\u{2019}', "'");
    let bare = lower.trim_matches(|c: char| !c.is_alphanumeric());
    NULLS.contains(&bare)
        || REFUSALS
            .iter()
            .chain(REASONING)
            .any(|p| p.starts_with(lower.as_str()) || lower.contains(p))
}

/// The checks that can judge an answer still being written, word by word:
/// a streamed answer stops being relayed at the first words one of them
/// refuses (the whole answer is judged again at the end). Owns what it
/// needs, so an open stream can keep it.
#[derive(Debug, Clone, Default)]
pub struct Screen {
    avoided: Vec<Vec<String>>,
    viewer_grams: HashSet<String>,
    prompt_grams: HashSet<String>,
}

impl Screen {
    pub fn new(req: &CoachRequest, system_prompt: &str) -> Screen {
        Screen {
            avoided: req
                .preferences()
                .map(|p| avoided_terms(p.as_str()))
                .unwrap_or_default(),
            viewer_grams: viewer_ngrams(req),
            prompt_grams: ngrams(&words(system_prompt), PROMPT_RUN_WORDS),
        }
    }

    /// Whether `opening`, the first words of an answer, may be spoken before
    /// the rest is known: no contact details, nothing the preferences rule
    /// out, no run of the prompt or of a viewer's words, no unknown name, no
    /// refusal.
    pub fn may_say(&self, opening: &str, req: &CoachRequest) -> bool {
        if has_url(opening) || has_email(opening) || has_phone(opening) {
            return false;
        }
        let lower = opening.to_lowercase().replace('\u{2019}', "'");
        let said = words(opening);
        !REFUSALS.iter().any(|p| lower.contains(p))
            && !against(&self.avoided, &said)
            && !shares_run(&said, &self.prompt_grams, PROMPT_RUN_WORDS)
            && !shares_run(&said, &self.viewer_grams, QUOTE_RUN_WORDS)
            && names_are_known(opening, req)
    }
}

/// What the checks need to know about the request and its prompt: the
/// request and the [`Screen`] built from it, which the whole-answer verdict
/// and the word-by-word screen of a stream share.
pub struct Judge<'a> {
    req: &'a CoachRequest,
    max_words: usize,
    screen: Screen,
}

impl<'a> Judge<'a> {
    /// `system_prompt` is the system message the models were sent.
    pub fn new(req: &'a CoachRequest, system_prompt: &str, max_words: usize) -> Judge<'a> {
        Judge::with_screen(req, Screen::new(req, system_prompt), max_words)
    }

    /// A judge for a screen already built from `req` (an open stream keeps one).
    pub fn with_screen(req: &'a CoachRequest, screen: Screen, max_words: usize) -> Judge<'a> {
        Judge {
            req,
            max_words,
            screen,
        }
    }

    pub fn request(&self) -> &'a CoachRequest {
        self.req
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// Gives the screen back, for a stream that outlives this judge.
    pub fn into_screen(self) -> Screen {
        self.screen
    }

    /// The verdict on a model's answer: its `response` (a string or, in JSON
    /// mode, an object) and its `finish_reason`.
    pub fn answer(&self, response: &Value, finish_reason: Option<&str>) -> Result<Suggestion, Quality> {
        let parsed = parse_draft(response).ok_or(Quality::Unusable)?;
        if parsed.action() == Action::Wait {
            return Ok(Suggestion::wait());
        }
        let mut content = parsed.content().to_string();
        if finish_reason == Some("length") {
            content = complete_sentences(&content)
                .ok_or(Quality::Truncated)?
                .to_string();
        }
        self.verdict(&content)?;
        let spoken = clean(&content, self.max_words);
        Suggestion::new(parsed.action(), &spoken).ok_or(Quality::Unusable)
    }

    /// The rules coach's line held to the same limits: cleaned, and `wait`
    /// when the preferences rule it out or it was said recently (the rules
    /// coach then tries its next kind of line).
    pub fn rules_line(&self, s: Suggestion) -> Suggestion {
        if s.action() == Action::Wait {
            return s;
        }
        let spoken = clean(s.content(), self.max_words);
        let contact = has_url(&spoken) || has_email(&spoken) || has_phone(&spoken);
        if contact || self.against_preferences(&spoken) || self.req.recent().repeats(&spoken) {
            return Suggestion::wait();
        }
        Suggestion::new(s.action(), &spoken).unwrap_or_else(Suggestion::wait)
    }

    /// `raw` is the answer as the model wrote it: contact details are looked
    /// for there, the rest in its speech-cleaned form.
    fn verdict(&self, raw: &str) -> Result<(), Quality> {
        if has_url(raw) || has_email(raw) || has_phone(raw) {
            return Err(Quality::ContactInfo);
        }
        let cleaned = clean(raw, HARD_MAX_WORDS);
        let content = cleaned.as_str();
        let lower = content.to_lowercase();
        let bare = lower.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
        if bare.is_empty() || NULLS.contains(&bare) {
            return Err(Quality::Unusable);
        }
        let lower = lower.replace('\u{2019}', "'");
        if REFUSALS.iter().any(|p| lower.contains(p)) {
            return Err(Quality::Refusal);
        }
        if REASONING.iter().any(|p| lower.starts_with(p)) || lower.contains("</think>") {
            return Err(Quality::Reasoning);
        }
        if self.echoes_event(raw) || self.echoes_event(content) {
            return Err(Quality::EchoedEvent);
        }
        let said = words(content);
        if shares_run(&said, &self.screen.prompt_grams, PROMPT_RUN_WORDS) {
            return Err(Quality::EchoesPrompt);
        }
        if shares_run(&said, &self.screen.viewer_grams, QUOTE_RUN_WORDS) {
            return Err(Quality::QuotesViewer);
        }
        if self.against_preferences(content) {
            return Err(Quality::AgainstPreferences);
        }
        if self.req.recent().repeats(content) {
            return Err(Quality::Repeat);
        }
        if !names_are_known(raw, self.req) {
            return Err(Quality::UnknownName);
        }
        Ok(())
    }

    /// A room event line given back: a fence marker, `user: message` (with or
    /// without the prompt's `[chat]` tag), or an event's text word for word.
    fn echoes_event(&self, content: &str) -> bool {
        let t = content.trim();
        if t.contains(FENCE_OPEN) || t.contains(FENCE_CLOSE) || t.contains("ROOM_EVENTS") {
            return true;
        }
        let lower = t.to_lowercase();
        if ["[chat", "[tip", "[joined", "[event"]
            .iter()
            .any(|tag| lower.starts_with(tag))
        {
            return true;
        }
        // The head of the line, where an event's tag and `user:` would be.
        let head: String = lower.chars().take(48).collect();
        let said = words(t);
        self.req.context().recent(QUOTE_LOOKBACK).iter().any(|e| {
            let user_prefix = e
                .user()
                .is_some_and(|u| head.contains(&format!("{}:", u.to_lowercase())));
            user_prefix || (!said.is_empty() && words(e.text()) == said)
        })
    }

    fn against_preferences(&self, content: &str) -> bool {
        against(&self.screen.avoided, &words(content))
    }
}

/// Word runs of viewers' messages, for the quote check. Every event counts:
/// a tip's note is a viewer's words as much as a chat line.
fn viewer_ngrams(req: &CoachRequest) -> HashSet<String> {
    let mut set = HashSet::new();
    for e in req.context().recent(QUOTE_LOOKBACK) {
        set.extend(ngrams(&words(e.text()), QUOTE_RUN_WORDS));
    }
    set
}

/// `said` mentions one of the `avoided` terms (a word of four letters or more
/// may carry an ending: "scam" rules out "scams").
fn against(avoided: &[Vec<String>], said: &[String]) -> bool {
    avoided.iter().any(|term| {
        said.windows(term.len()).any(|win| {
            win.iter()
                .zip(term)
                .all(|(w, t)| w == t || (t.len() >= 4 && w.starts_with(t.as_str())))
        })
    })
}

/// Lowercase words of letters, digits and apostrophes.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Words too common to make a shared run a quote ("thank you so much for").
const COMMON: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "to", "of", "in", "on", "at", "for", "with", "from", "by", "is",
    "are", "was", "be", "it", "this", "that", "i", "you", "we", "me", "my", "your", "our", "so", "much",
    "thank", "thanks", "what", "how", "do", "can", "have", "all", "everyone", "chat", "please", "just",
    "really", "very", "here",
];

/// Runs of `n` words with at least three uncommon ones: a shared greeting is
/// not a quote, a shared sentence is.
fn ngrams(words: &[String], n: usize) -> HashSet<String> {
    words
        .windows(n)
        .filter(|w| w.iter().filter(|x| !COMMON.contains(&x.as_str())).count() >= 3)
        .map(|w| w.join(" "))
        .collect()
}

fn shares_run(words: &[String], grams: &HashSet<String>, n: usize) -> bool {
    !grams.is_empty() && words.windows(n).any(|w| grams.contains(&w.join(" ")))
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
                clause
                    .find(lead)
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

/// Words that can only be usernames (`@name`, a word with an underscore, or
/// three or more letters followed by two or more digits such as `User789`)
/// must belong to someone in the room or to the broadcaster: a suggestion
/// about a made-up viewer is worse than none. Ordinary words with digits
/// (`Top10`, `mp3s`, `4K`) are not names.
pub fn names_are_known(content: &str, req: &CoachRequest) -> bool {
    let events = req.context().events();
    let known: HashSet<String> = events
        .iter()
        .filter_map(|e| e.user())
        .chain(std::iter::once(req.broadcaster().as_str()))
        .chain(req.broadcaster().as_str().split_whitespace())
        .map(str::to_lowercase)
        .collect();
    let mut room_text: Option<String> = None;
    content.split_whitespace().all(|word| {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '_');
        let mention = word.starts_with('@');
        let name = word.trim_start_matches('@').to_lowercase();
        if name.is_empty() || !(mention || name.contains('_') || username_shaped(&name)) {
            return true;
        }
        if known.contains(&name) {
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
    use serde_json::json;

    fn request(body: Value) -> CoachRequest {
        CoachRequest::from_json(body.to_string().as_bytes()).unwrap()
    }

    const SYSTEM: &str = "You are a live-stream coach speaking into the earpiece of Luna, a broadcaster who is live right now.";

    fn luna() -> CoachRequest {
        request(json!({
            "broadcaster": "Luna",
            "preferences": "Never mention my ex. No politics, and don't talk about money or taxes.",
            "context": [
                {"text": "Max tipped 40 tokens", "type": "tip"},
                {"text": "troll99: Luna, can you say buy cheap followers at scam dot example?", "type": "chat"}
            ],
            "recent": ["Thank you so much, Max, for the 40 tokens!"]
        }))
    }

    fn verdict(content: &str) -> Result<String, Quality> {
        let req = luna();
        Judge::new(&req, SYSTEM, 15)
            .answer(&json!(content), None)
            .map(|s| s.content().to_string())
    }

    #[test]
    fn a_good_answer_is_cleaned_and_capped() {
        assert_eq!(
            verdict("**Say:** Ask chat about their weekend plans!").unwrap(),
            "Ask chat about their weekend plans!"
        );
        let long =
            "Tell chat one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
        assert_eq!(verdict(long).unwrap().split_whitespace().count(), 15);
    }

    #[test]
    fn each_kind_of_non_suggestion_is_named() {
        let cases = [
            ("I'm sorry, but I can't help with that request.", Quality::Refusal),
            ("As an AI, I suggest thanking people.", Quality::Refusal),
            ("Here is a suggestion for the broadcaster", Quality::Refusal),
            ("null", Quality::Unusable),
            ("Okay, so the user wants a suggestion", Quality::Reasoning),
            ("[chat] troll99: Luna, can you say buy", Quality::EchoedEvent),
            ("[tip 40 tokens] Max: Max tipped 40 tokens", Quality::EchoedEvent),
            ("Max tipped 40 tokens", Quality::EchoedEvent),
            (
                "You are a live-stream coach speaking into the earpiece",
                Quality::EchoesPrompt,
            ),
            ("Say buy cheap followers at scam today", Quality::QuotesViewer),
            ("Check out luna.example.com tonight", Quality::ContactInfo),
            ("Email me at luna@mail.example", Quality::ContactInfo),
            ("Text me at 555 123 4567", Quality::ContactInfo),
            ("Talk about your ex tonight", Quality::AgainstPreferences),
            ("Ask chat about politics", Quality::AgainstPreferences),
            ("Ask chat how they spend their money", Quality::AgainstPreferences),
            ("Thank you so much for the 40 tokens, Max!", Quality::Repeat),
            ("Thank User789 for the tip!", Quality::UnknownName),
            ("Say hi to @Ghost", Quality::UnknownName),
            // Refusals and preambles in other words than the first ones seen.
            ("Sorry, I can't do that.", Quality::Refusal),
            ("I won't help with that.", Quality::Refusal),
            ("Unfortunately, I cannot do that.", Quality::Refusal),
            ("I'm afraid I can't help.", Quality::Refusal),
            ("I can't generate that content.", Quality::Refusal),
            ("Sure! Here's a line: Thanks Max!", Quality::Refusal),
            ("OK, here you go: Thanks Max!", Quality::Refusal),
            // Domains with any ending, hidden or read aloud.
            ("Visit cheapfollowers.shop now", Quality::ContactInfo),
            ("Follow scam.ai for more", Quality::ContactInfo),
            ("Check scam[.]com tonight", Quality::ContactInfo),
            ("Go to scam dot net tonight", Quality::ContactInfo),
        ];
        for (content, quality) in cases {
            assert_eq!(verdict(content), Err(quality), "{content}");
        }
    }

    #[test]
    fn a_cut_answer_ends_at_a_sentence_or_is_not_spoken() {
        let req = luna();
        let judge = Judge::new(&req, SYSTEM, 15);
        let cut = json!(r#"{"action":"say","content":"Welcome back, chat! Tell me what you"#);
        assert_eq!(
            judge.answer(&cut, Some("length")).unwrap().content(),
            "Welcome back, chat!"
        );
        let cut = json!(r#"{"action":"say","content":"Welcome back, chat and tell me"#);
        assert_eq!(judge.answer(&cut, Some("length")), Err(Quality::Truncated));
        assert!(judge.answer(&cut, Some("stop")).is_ok());
    }

    #[test]
    fn a_tip_note_is_a_viewers_words_too() {
        let req = request(json!({
            "broadcaster": "Luna",
            "context": [{"text": "Max tipped 40 tokens: buy cheap followers at scamsite now", "type": "tip"}]
        }));
        let judge = Judge::new(&req, SYSTEM, 15);
        assert_eq!(
            judge.answer(&json!("Tell chat: buy cheap followers at scamsite now!"), None),
            Err(Quality::QuotesViewer)
        );
    }

    #[test]
    fn a_shared_greeting_is_not_a_quote() {
        let req = request(json!({
            "broadcaster": "Luna",
            "context": [
                {"text": "kim: thank you so much for the stream, you are all so kind", "type": "chat"},
                {"text": "kim: my cat knocked the lamp over during the storm", "type": "chat"}
            ]
        }));
        let judge = Judge::new(&req, SYSTEM, 15);
        assert!(judge
            .answer(&json!("Thank you so much for the support, Kim!"), None)
            .is_ok());
        assert_eq!(
            judge.answer(&json!("Tell chat: my cat knocked the lamp over!"), None),
            Err(Quality::QuotesViewer)
        );
    }

    #[test]
    fn only_the_name_guard_lets_the_same_model_try_again() {
        assert!(Quality::UnknownName.retry_same_model());
        assert!(!Quality::Refusal.retry_same_model());
        assert_eq!(
            ModelFailure::from(Quality::UnknownName).kind,
            FailureKind::RetryOnce
        );
        assert_eq!(ModelFailure::from(Quality::Repeat).kind, FailureKind::Permanent);
    }

    #[test]
    fn ordinary_words_with_digits_are_not_names() {
        let req = request(json!({"broadcaster": "DJ Max99", "context": "Tip: Max tipped 40 tokens"}));
        assert!(names_are_known("Thanks Max for the 40 tokens!", &req));
        assert!(names_are_known("Play your Top10 mp3s in 4K, 3D style", &req));
        assert!(names_are_known("Max99, say hi to chat!", &req));
        assert!(!names_are_known("Thanks User789 for the tip!", &req));
        assert!(!names_are_known("Thanks cool_guy for the tip!", &req));
    }

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
    }

    #[test]
    fn the_rules_coach_is_held_to_the_same_limits() {
        let req = luna();
        let judge = Judge::new(&req, SYSTEM, 15);
        let said = Suggestion::new(Action::Say, "Thank you so much, Max, for the 40 tokens!").unwrap();
        assert_eq!(judge.rules_line(said).action(), Action::Wait);
        let money = Suggestion::new(Action::Say, "Ask chat about money!").unwrap();
        assert_eq!(judge.rules_line(money).action(), Action::Wait);
        let advert = Suggestion::new(Action::Say, "Thank you, Scam Dot Com!").unwrap();
        assert_eq!(
            judge.rules_line(advert).action(),
            Action::Wait,
            "no address is read out"
        );
        let fine = Suggestion::new(Action::Say, "*smiles* Welcome in! \u{1F389}").unwrap();
        assert_eq!(judge.rules_line(fine).content(), "Welcome in!");
    }
}
