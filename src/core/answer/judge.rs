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
use crate::core::answer::people::{addresses_focus, names_a_stranger, repeats_recent_act};
use crate::core::answer::speech::{clean, complete_sentences};
use crate::core::contact::{has_email, has_phone, has_url};
use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::order::sort;
use crate::core::prompt::names::{spoken_name, NEUTRAL_NAME};
use crate::core::prompt::{
    broadcaster_name, plain_event, plain_marker, scaffold_lines, steer_lines, MAX_SUGGESTION_WORDS,
};
use crate::core::request::CoachRequest;
use crate::core::text::{find_str, Phrases, FENCE_CLOSE, FENCE_OPEN};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};

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
    /// A line of the prompt played back, or paraphrased.
    EchoesPrompt,
    /// Markup of the prompt (`<<<ROOM_EVENTS>>>`, `[event 137s ago]`) or of
    /// the model's chat template (`<|im_end|>`, `[/INST]`), or what cleaning left of it.
    Markup,
    /// A speaker label (`Zoe:`, `luna_star:`, `Assistant:`): a script, not words to say.
    SpeakerLabel,
    /// Not a whole sentence: a lone word, an unclosed quote, a sentence that
    /// stops mid-way, no verb.
    Fragment,
    /// Narration about the room (`Zoe smiles and waves`, `The chat is quiet`).
    Narration,
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
    /// Thanks or welcomes again someone a recent line already did.
    RepeatsAct,
    /// Leaves out the people the pacing chose the line to be about.
    OffFocus,
    /// Says there is nothing to say, when the coach chose to speak.
    Silent,
    /// The moderation model found a blocked hazard.
    Unsafe,
}

impl Quality {
    /// Whether the same model may try once more: a made-up name, a fragment,
    /// a speaker label, narration or a line of the prompt are slips of one
    /// sample that a second usually avoids (a small model makes them often:
    /// docs/evaluation.md); the rest go to the next model.
    pub fn retry_same_model(self) -> bool {
        matches!(
            self,
            Quality::UnknownName
                | Quality::RepeatsAct
                | Quality::OffFocus
                | Quality::Silent
                | Quality::Fragment
                | Quality::SpeakerLabel
                | Quality::Narration
                | Quality::EchoesPrompt
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Quality::Unusable => "unusable answer",
            Quality::Truncated => "cut off by the token limit",
            Quality::Refusal => "refusal or meta-talk",
            Quality::Reasoning => "reasoning text",
            Quality::EchoedEvent => "echoed a room event",
            Quality::EchoesPrompt => "repeated the prompt",
            Quality::Markup => "prompt markup or template tokens",
            Quality::SpeakerLabel => "a speaker label",
            Quality::Fragment => "not a whole sentence",
            Quality::Narration => "narration about the room",
            Quality::QuotesViewer => "quoted a viewer",
            Quality::ContactInfo => "carried a URL, email or phone number",
            Quality::AgainstPreferences => "against the broadcaster's preferences",
            Quality::Repeat => "repeated a recent line",
            Quality::UnknownName => "named someone not in the room",
            Quality::RepeatsAct => "thanked or welcomed someone again",
            Quality::OffFocus => "not about whom it was asked to address",
            Quality::Silent => "said there was nothing to say",
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
                FailureKind::Refused
            },
            label: q.label(),
        }
    }
}

/// Phrases that make an answer a refusal, an apology or meta-talk.
static REFUSALS: Phrases = Phrases::new(&[
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
    // Apologies in any form, and the model talking about itself.
    "sorry",
    "apologi",
    "my apologies",
    "forgive me",
    "i regret",
    "i don't have",
    "i do not have",
    "i'm not sure",
    "i am not sure",
    "i don't know",
    "i do not know",
    "not able to",
    "unable to",
    "i can't answer",
    "i cannot answer",
    "i can't say",
    "i cannot say",
    "i can't tell",
    "i cannot tell",
    "i can't share",
    "i can't see",
    "i can't access",
    "i'm an ai",
    "i am an ai",
    "an ai ",
    "ai assistant",
    "chatbot",
    "i'm just a",
    "i am just a",
    "how can i help",
    "how can i assist",
    "assist you",
    "no response",
    // Talk about the task instead of words to say.
    "the user",
    "user's",
    "suggestion",
    "earpiece",
    "broadcaster",
    "the prompt",
    "instruction",
    "preferences",
    "the message is",
    "say or do",
    "something new",
    "respond with",
    "reply with",
    "the answer is",
    "live-stream coach",
    "the coach",
    "as a coach",
    "json",
    "spoken name",
    "room lines",
    "response",
    "same meaning",
]);

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
    // Said already (found in the opening), or maybe still to come (the
    // opening is a phrase's start).
    NULLS.contains(&bare)
        || REFUSALS.in_text(&lower)
        || REASONING.iter().any(|p| lower.contains(p))
        || REFUSALS
            .list()
            .iter()
            .chain(REASONING)
            .any(|p| p.starts_with(lower.as_str()))
}

/// The checks that can judge an answer still being written, word by word:
/// a streamed answer stops being relayed at the first words one of them
/// refuses (the whole answer is judged again at the end). Owns what it
/// needs, so an open stream can keep it.
#[derive(Debug, Clone, Default)]
pub struct Screen {
    avoided: Vec<Vec<String>>,
    /// The recent viewer events' runs, built at a stream's first look (see
    /// [`Screen::shares_viewer_run`]); a whole answer reads the events instead.
    viewer_grams: OnceCell<Runs>,
    prompt_grams: Arc<PromptRuns>,
    /// The words of every line of the prompts that is ours, not a viewer's.
    prompt_lines: Arc<PromptLines>,
    /// The words of the lines that say what to do now, which an answer may echo in part.
    steers: Vec<Vec<String>>,
    /// The room's people: who they are, as they could be named.
    people: People,
}

impl Screen {
    pub fn new(req: &CoachRequest, system_prompt: &str) -> Screen {
        Screen {
            avoided: req
                .preferences()
                .map(|p| avoided_terms(p.as_str()))
                .unwrap_or_default(),
            viewer_grams: OnceCell::new(),
            prompt_grams: remembered(&PROMPT_GRAMS, vec![system_prompt.to_string()], |key| {
                let mut runs = Runs::new();
                ngrams(word_iter(&key[0]), PROMPT_RUN_WORDS, &mut runs);
                PromptRuns {
                    runs,
                    text: key[0].clone(),
                }
            }),
            prompt_lines: prompt_lines(system_prompt, req),
            steers: steer_lines(req).iter().map(|l| words(l)).collect(),
            people: People::of(req),
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
        let cleaned = clean(opening, HARD_MAX_WORDS);
        self.people.opens_a_suggestion(&cleaned)
            && !REFUSALS.in_text(&lower)
            && !has_markup(opening)
            && !against(&self.avoided, &said)
            && !self.shares_prompt_run(&said)
            && !self.paraphrases_prompt(&cleaned)
            && !self.shares_viewer_run(&said, req)
            && names_are_known(opening, req)
            // A username the answer will say by its spoken name is held until
            // the whole answer is known, so what was streamed stays its start.
            && !self.people.has_raw_username(opening)
            && !speaker_label(&cleaned)
            && !self.people.narrates(&cleaned)
            && !self.talks_about_the_task(&cleaned)
    }

    /// A run of [`PROMPT_RUN_WORDS`] words of the system prompt in `said`.
    fn shares_prompt_run(&self, said: &[String]) -> bool {
        let prompt = &self.prompt_grams;
        shares_run(said, &prompt.runs, PROMPT_RUN_WORDS, |run| {
            has_run(&prompt.text, run)
        })
    }

    /// A run of [`QUOTE_RUN_WORDS`] words of a recent viewer event in `said`,
    /// through a set of every such run of the events: a stream asks at each
    /// new word, so the events are read once per stream, not once per word.
    fn shares_viewer_run(&self, said: &[String], req: &CoachRequest) -> bool {
        let grams = self.viewer_grams.get_or_init(|| viewer_ngrams(req));
        shares_run(said, grams, QUOTE_RUN_WORDS, |run| {
            req.context()
                .recent(QUOTE_LOOKBACK)
                .iter()
                .any(|e| has_run(e.text(), run))
        })
    }

    /// Whether `said` quotes a recent viewer event, by whichever way is at
    /// hand: a stream's set of the events' runs once it is built, else a
    /// read of the events for the answer's own runs (the two agree).
    fn has_viewer_quote(&self, said: &[String], req: &CoachRequest) -> bool {
        match self.viewer_grams.get() {
            Some(_) => self.shares_viewer_run(said, req),
            None => quotes_a_viewer(said, req),
        }
    }

    /// A line of our prompt played back or paraphrased: a run of three words
    /// with two that matter, or most of what it says found in one line.
    fn paraphrases_prompt(&self, content: &str) -> bool {
        // The whole answer, and each of its sentences alone: a sentence that
        // is the whole answer is looked at once.
        std::iter::once(content)
            .chain(
                content
                    .split_inclusive(['.', '!', '?'])
                    .filter(|part| *part != content),
            )
            .any(|part| self.paraphrases_a_line(part, false))
    }

    /// `every_line`: look at every line, not only those the words index
    /// finds (the tests check both agree).
    fn paraphrases_a_line(&self, content: &str, every_line: bool) -> bool {
        // Names are the room's, not the prompt's: "Thank you, Tommy!" echoes no
        // instruction to thank Tommy; "Max's" is a name too.
        let named = |w: &String| {
            let people = &self.people.name_words;
            people.contains(w) || w.strip_suffix("'s").is_some_and(|b| people.contains(b))
        };
        fn unnamed<'w>(
            ws: &'w [String],
            named: &'w impl Fn(&String) -> bool,
        ) -> impl Iterator<Item = &'w String> {
            ws.iter().filter(|w| !named(w))
        }
        let said = words(content);
        let mut meant: Vec<&String> = said
            .iter()
            .filter(|w| !is_function_word(w) && !named(w))
            .collect();
        sort(&mut meant);
        meant.dedup();
        // What depends on the answer alone, worked out once for all the lines:
        // its runs of three words with two telling ones, and its words but names.
        let telling: Vec<&[String]> = said
            .windows(3)
            .filter(|win| win.iter().filter(|w| !is_function_word(w)).count() >= 2)
            .collect();
        let said_unnamed: Vec<&String> = unnamed(&said, &named).collect();
        let may_be_copied = said.len() >= 2 && !said_unnamed.is_empty();
        // A line can match only if it holds a telling word of the answer (a run
        // or most of it), or its first word but names (word for word): the
        // other lines are not looked at.
        let keys = said
            .iter()
            .filter(|w| !is_function_word(w))
            .chain(said_unnamed.first().copied());
        let lines = &self.prompt_lines.lines;
        let looked_at = if every_line {
            (0..lines.len()).collect()
        } else {
            self.prompt_lines.holding(keys)
        };
        looked_at.into_iter().map(|i| &lines[i]).any(|line| {
            // Three words in a row of ours, two of them telling; not of the line
            // saying what to do, whose words a good answer uses ("a fun question").
            let run = !telling.is_empty()
                && !self.steers.contains(line)
                && telling.iter().any(|win| line.windows(3).any(|l| l == *win));
            // A line of ours word for word is ours, however short, whoever it names.
            let copied = may_be_copied && unnamed(line, &named).eq(said_unnamed.iter().copied());
            let shared = meant.iter().filter(|w| line.contains(w)).count();
            let most = (shared >= 3 && shared * 4 >= meant.len() * 3)
                || (shared >= 4 && shared * 5 >= meant.len() * 3);
            copied || run || most
        })
    }

    /// "Zoe should say something": the task talked about, not done.
    fn talks_about_the_task(&self, content: &str) -> bool {
        let said = words(content);
        said.windows(3).any(|w| {
            self.people.is_broadcaster(&w[0])
                && matches!(
                    w[1].as_str(),
                    "should" | "could" | "might" | "must" | "can" | "will" | "needs"
                )
                && matches!(
                    w[2].as_str(),
                    "say"
                        | "do"
                        | "respond"
                        | "reply"
                        | "answer"
                        | "wait"
                        | "thank"
                        | "ask"
                        | "tell"
                        | "write"
                        | "greet"
                        | "welcome"
                        | "be"
                        | "to"
                )
        })
    }
}

/// The words of every line of the prompts that is ours (`system_prompt`'s
/// and [`scaffold_lines`]), each line whole and each of its sentences alone;
/// a line or sentence said twice (the system message is among the scaffold
/// lines too) is kept once.
fn prompt_lines(system_prompt: &str, req: &CoachRequest) -> Arc<PromptLines> {
    // The key is the two texts as they are: comparing them is cheaper than
    // splitting and sorting their lines, which a remembered prompt skips.
    // Scaffold lines hold no line break, so joined by one they split back.
    let key = vec![
        system_prompt.to_string(),
        scaffold_lines(req, MAX_SUGGESTION_WORDS).join("\n"),
    ];
    remembered(&PROMPT_LINES, key, |key| {
        let mut lines: Vec<&str> = key[0]
            .lines()
            .chain(key[1].split('\n'))
            .flat_map(|line| std::iter::once(line).chain(line.split(['.', '!', '?', ';', ':'])))
            .collect();
        sort(&mut lines);
        lines.dedup();
        PromptLines::new(lines.iter().map(|l| words(l)).filter(|w| w.len() >= 2).collect())
    })
}

/// Our prompt's lines as words, and which lines each word is in.
#[derive(Debug, Default)]
struct PromptLines {
    lines: Vec<Vec<String>>,
    lines_with: HashMap<String, Vec<usize>>,
}

impl PromptLines {
    fn new(lines: Vec<Vec<String>>) -> PromptLines {
        let mut lines_with: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, line) in lines.iter().enumerate() {
            for w in line {
                let with = lines_with.entry(w.clone()).or_default();
                if with.last() != Some(&i) {
                    with.push(i);
                }
            }
        }
        PromptLines { lines, lines_with }
    }

    /// The indices of the lines that hold one of `words`, each once, in order.
    fn holding<'w>(&self, words: impl Iterator<Item = &'w String>) -> Vec<usize> {
        let mut found: Vec<usize> = words
            .filter_map(|w| self.lines_with.get(w))
            .flatten()
            .copied()
            .collect();
        sort(&mut found);
        found.dedup();
        found
    }
}

/// What was worked out from a prompt's own lines lately, by the prompt's
/// texts: the same broadcaster, preferences, reason and latest viewer named
/// in the steer give the same texts, so an isolate works their words out once for
/// the newest 16 such prompts (first in, first out). A value depends only on
/// its key: one request cannot get another's. It holds the prompts' own text
/// (broadcaster, preferences, a spoken name), never the room's chat.
type Remembered<V> = RefCell<Vec<(Vec<String>, Arc<V>)>>;

/// How many prompts an isolate remembers the words of.
const REMEMBERED_PROMPTS: usize = 16;

thread_local! {
    static PROMPT_LINES: Remembered<PromptLines> = const { RefCell::new(Vec::new()) };
    static PROMPT_GRAMS: Remembered<PromptRuns> = const { RefCell::new(Vec::new()) };
}

/// `make(key)`, or what it gave for the same key lately (the newest
/// [`REMEMBERED_PROMPTS`] keys are kept).
fn remembered<V>(
    memory: &'static std::thread::LocalKey<Remembered<V>>,
    key: Vec<String>,
    make: impl FnOnce(&[String]) -> V,
) -> Arc<V> {
    memory.with(|m| {
        let mut m = m.borrow_mut();
        if let Some((_, v)) = m.iter().find(|(k, _)| *k == key) {
            return Arc::clone(v);
        }
        let v = Arc::new(make(&key));
        if m.len() == REMEMBERED_PROMPTS {
            m.remove(0);
        }
        m.push((key, Arc::clone(&v)));
        v
    })
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
        // The coach asks a model only when it has chosen to speak: a `wait`
        // would put nothing in the earpiece where a line was due.
        if parsed.action() == Action::Wait {
            return Err(Quality::Silent);
        }
        let mut content = parsed.content().to_string();
        // A first line that ended before the token limit did was not cut by it.
        if finish_reason == Some("length") && !parsed.line_ended() {
            content = complete_sentences(&content)
                .ok_or(Quality::Truncated)?
                .to_string();
        }
        let content = self.without_own_label(&content);
        self.verdict(content)?;
        // Usernames are said as names; and a cap that cut a sentence mid-way is no answer.
        let spoken = clean(&self.screen.people.speakable(content), self.max_words);
        if is_fragment(&spoken) {
            return Err(Quality::Fragment);
        }
        Suggestion::new(parsed.action(), &spoken).ok_or(Quality::Unusable)
    }

    /// The answer without the broadcaster's own name as its speaker label
    /// (`Zoe: Hi all!` is what Zoe says); any other label stays, to be refused.
    fn without_own_label<'c>(&self, content: &'c str) -> &'c str {
        let t = content.trim_start_matches(|c: char| c.is_whitespace() || c == '*');
        let Some((head, rest)) = t.split_once(':') else {
            return content;
        };
        let head = head.trim().trim_end_matches(" says").trim_end_matches(" said");
        // `Mia Rose:`, `miarose:` and `MiaRose:` all name MiaRose.
        let letters = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let own = [
            self.req.broadcaster().as_str().to_string(),
            broadcaster_name(self.req),
        ]
        .iter()
        .any(|n| !letters(n).is_empty() && letters(n) == letters(head));
        if own && !rest.trim().is_empty() {
            rest.trim_start()
        } else {
            content
        }
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
        if has_markup(raw) {
            return Err(Quality::Markup);
        }
        let cleaned = clean(raw, HARD_MAX_WORDS);
        let content = cleaned.as_str();
        let lower = content.to_lowercase();
        let bare = lower.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
        if bare.is_empty() || NULLS.contains(&bare) {
            return Err(Quality::Unusable);
        }
        let lower = lower.replace('\u{2019}', "'");
        if REASONING.iter().any(|p| lower.starts_with(p)) || lower.contains("</think>") {
            return Err(Quality::Reasoning);
        }
        if REFUSALS.in_text(&lower) || self.screen.talks_about_the_task(content) {
            return Err(Quality::Refusal);
        }
        // The check trims what it is given: cleaning that changed nothing
        // needs no second look.
        if self.echoes_event(raw) || (content.trim() != raw.trim() && self.echoes_event(content)) {
            return Err(Quality::EchoedEvent);
        }
        if speaker_label(content) {
            return Err(Quality::SpeakerLabel);
        }
        let said = words(content);
        if self.screen.shares_prompt_run(&said) || self.screen.paraphrases_prompt(content) {
            return Err(Quality::EchoesPrompt);
        }
        if self.screen.has_viewer_quote(&said, self.req) {
            return Err(Quality::QuotesViewer);
        }
        if self.screen.people.narrates(content) {
            return Err(Quality::Narration);
        }
        if is_fragment(content) {
            return Err(Quality::Fragment);
        }
        if self.against_preferences(content) {
            return Err(Quality::AgainstPreferences);
        }
        if self.req.recent().repeats(content) {
            return Err(Quality::Repeat);
        }
        if !names_are_known(raw, self.req) || names_a_stranger(content, self.req) {
            return Err(Quality::UnknownName);
        }
        if let Some(focus) = self.req.focus() {
            if !addresses_focus(content, focus) {
                return Err(Quality::OffFocus);
            }
        }
        if repeats_recent_act(content, self.req) {
            return Err(Quality::RepeatsAct);
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
        let labelled = head.contains(':');
        self.req.context().recent(QUOTE_LOOKBACK).iter().any(|e| {
            let user_prefix = labelled
                && e.user()
                    .is_some_and(|u| head.contains(&format!("{}:", u.to_lowercase())));
            // As the plain prompt wrote it: `Max tipped 50 tokens.` (only written
            // out when the answer has the word every such sentence has).
            let plain = || {
                plain_marker(e.kind()).is_none_or(|m| said.iter().any(|w| w == m))
                    && words(&plain_event(e, self.req)) == said
            };
            user_prefix || (!said.is_empty() && (same_words(e.text(), &said) || plain()))
        })
    }

    fn against_preferences(&self, content: &str) -> bool {
        against(&self.screen.avoided, &words(content))
    }
}

/// Markup of our prompt or of a chat template, in the answer as written
/// (or what cleaning left of it: `im_end`, `INST`).
fn has_markup(raw: &str) -> bool {
    static MARKS: Phrases = Phrases::new(&[
        "<<<",
        ">>>",
        "room_events",
        "[chat",
        "[tip",
        "[joined",
        "[left",
        "[event",
        "[followed",
        "[unfollowed",
        "[fan club",
        "[room subject",
        "[private",
        "[purchase",
        "s ago]",
        "(say \"",
        "\"action\"",
        "\"content\"",
        "<|",
        "|>",
        "<<sys>>",
        "<</sys>>",
        "[inst]",
        "[/inst]",
        "<s>",
        "</s>",
        "<start_of_turn>",
        "<end_of_turn>",
        "im_start",
        "im_end",
        "eot_id",
        "start_header_id",
        "end_header_id",
        "begin_of_text",
        "end_of_text",
        "endoftext",
        "{",
        "}",
        "`",
    ]);
    MARKS.in_text(&raw.to_lowercase())
        || raw
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| matches!(w, "INST" | "SYS" | "EOS" | "BOS"))
}

/// Who speaks next in a script: `Zoe:`, `Mia Rose:`, `luna_star:`, `Assistant:`
/// at the start of a sentence, or `X says:`.
fn speaker_label(content: &str) -> bool {
    let labelled = content.split_inclusive(['.', '!', '?']).any(|sentence| {
        let Some((before, _)) = sentence.trim_start().split_once(':') else {
            return false;
        };
        let head: Vec<&str> = before.split_whitespace().collect();
        let named = !head.is_empty()
            && head.len() <= 3
            && head.iter().all(|w| {
                w.chars().next().is_some_and(char::is_uppercase)
                    || w.contains(['_', '.', '@'])
                    || w.chars().any(|c| c.is_ascii_digit())
            });
        let says = head.len() >= 2
            && matches!(
                head[head.len() - 1].to_lowercase().as_str(),
                "says" | "said" | "wrote" | "writes" | "asks" | "asked" | "replies" | "replied" | "responds"
            );
        named || says
    });
    static ROLES: Phrases = Phrases::new(&[
        "assistant:",
        "user:",
        "system:",
        "coach:",
        "viewer:",
        "broadcaster:",
        "model:",
        "bot:",
    ]);
    labelled || ROLES.in_text(&content.to_lowercase())
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

/// A list of space-separated words, split and sorted once per isolate at its
/// first use, then searched by halves: the judge asks these lists for nearly
/// every word of every answer (a scan of the text was a twelfth of the
/// judge's native time, `cargo bench --bench core`).
struct WordList {
    text: &'static str,
    sorted: OnceLock<Vec<&'static str>>,
}

impl WordList {
    const fn new(text: &'static str) -> WordList {
        WordList {
            text,
            sorted: OnceLock::new(),
        }
    }

    /// `w` is one of the list's words.
    fn has(&self, w: &str) -> bool {
        let sorted = self.sorted.get_or_init(|| {
            // The lists are ASCII, so their bytes split as well as their characters.
            let mut words: Vec<&'static str> = self.text.split_ascii_whitespace().collect();
            sort(&mut words);
            words
        });
        sorted.binary_search(&w).is_ok()
    }
}

/// Function words, which say little about whose sentence it is.
fn is_function_word(w: &str) -> bool {
    static FUNCTION: WordList = WordList::new(
        "\
    a an the and or but to of in on at for with from by is are was be it this that i you we me my \
    your our so do does can have has all just really very here there what how who they them he she \
    his her its if as not no up out about now right will would should could let lets get got",
    );
    w.len() < 2 || FUNCTION.has(w)
}

/// Words that carry a sentence (verbs, and the greetings and thanks that
/// stand for one): a line without any is a fragment.
static VERBS: WordList = WordList::new(
    "\
    say tell ask thank thanks welcome give show smile wave keep try share play sing dance spin blow \
    laugh look love enjoy make take go come be been am is are was were do does did have has had can \
    could will would should shall may might must let hope need want like feel know think see hear \
    call check start stop stay sit stand turn put read talk answer reply mention greet celebrate \
    appreciate miss join remember tip shout cheer hi hello hey hiya howdy glad got get find found \
    bring brought wish congrats congratulations welcomes bye goodnight rock rocks rule rules made \
    went came said told gave took saw heard felt knew thought left kept sent put tried loved liked \
    wanted needed let's lets drop follow stick hang chill relax vote pick choose guess wonder bet \
    mean means agree believe care cares count matter matters means owe adore treat spoil dig win won \
    hug kiss cheers",
);

/// Whether `w` works as a verb here: listed, or formed like one.
fn is_verb(w: &str) -> bool {
    let base = w
        .strip_suffix("es")
        .filter(|b| VERBS.has(b))
        .or_else(|| w.strip_suffix('s'));
    VERBS.has(w)
        || base.is_some_and(|b| VERBS.has(b))
        || (w.len() > 4 && w.ends_with("ing"))
        || (w.len() > 3 && w.ends_with("ed"))
        || w.ends_with("n't")
        || ["'re", "'ll", "'m", "'ve", "'d"].iter().any(|e| w.ends_with(e))
        // "'s" is "is" or "has" after these; after a name it is a possessive (`Santa's limit`).
        || w.strip_suffix("'s").is_some_and(|b| BEFORE_APOSTROPHE_S.has(b))
}

/// Words after which `'s` is "is" or "has".
static BEFORE_APOSTROPHE_S: WordList = WordList::new(
    "it that he she what there here who where how let everyone everybody this one today tonight",
);

/// Not a sentence a person would say: a lone word, an unclosed quote or
/// bracket, a stop mid-way (a dangling word or comma at the end), or bare
/// names with no verb.
pub fn is_fragment(content: &str) -> bool {
    let said = words(content);
    if said.len() < 2 {
        return true;
    }
    if content.matches('"').count() % 2 == 1 || content.matches('(').count() != content.matches(')').count() {
        return true;
    }
    let t = content.trim_end();
    let ended = t.trim_end_matches(['"', '\'', ')']).ends_with(['.', '!', '?']);
    let last = said.last().map(String::as_str).unwrap_or("");
    const DANGLING: &[&str] = &[
        "a", "an", "the", "and", "or", "but", "to", "of", "for", "with", "my", "your", "our", "their", "is",
        "are", "at", "that", "so", "if", "as", "from", "by",
    ];
    if t.ends_with([',', ';', ':', '-', '\u{2013}', '\u{2014}']) || (!ended && DANGLING.contains(&last)) {
        return true;
    }
    // A line of bare names (`Big Tipper`, `Mr. South`) says nothing to do. (Other
    // lines without a verb, "Slow but fine", "Backup here", are spoken: no word list
    // knows every verb, and such short lines are often just right.)
    let bare_names = content.split_whitespace().all(|w| {
        w.chars()
            .find(|c| c.is_alphanumeric())
            .is_some_and(char::is_uppercase)
    });
    bare_names && !said.iter().any(|w| is_verb(w))
}

/// First words of a clause spoken to someone: an instruction, a greeting, a question.
static COACHING_LEADS: WordList = WordList::new(
    "\
    thank thanks welcome say ask tell give answer greet shout let's let try show wave smile blow \
    check keep invite compliment play sing dance spin hi hello hey hiya wow congrats congratulations \
    what how who where why when do are is can have would will enjoy stay come join",
);

/// The people of a request: each room username with its spoken name, and the
/// broadcaster's names, for the checks that need to know who is who.
#[derive(Debug, Clone, Default)]
struct People {
    /// (username, spoken name) of each viewer and of the broadcaster.
    names: Vec<(String, String)>,
    /// Lowercase words of the broadcaster's names.
    broadcaster: Vec<String>,
    /// Lowercase words of everyone's names, usernames and spoken.
    name_words: HashSet<String>,
    /// Lowercase first words of every actor a narration could start with.
    actors: HashSet<String>,
}

impl People {
    fn of(req: &CoachRequest) -> People {
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
    fn is_broadcaster(&self, w: &str) -> bool {
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

    /// A room username the answer should say by its spoken name instead.
    fn has_raw_username(&self, text: &str) -> bool {
        text.split_whitespace()
            .filter_map(|tok| token_core(tok).map(|(a, b)| &tok[a..b]))
            .any(|core| self.spoken_for(core).is_some())
    }

    /// Room usernames replaced by their spoken names, `@` and all.
    fn speakable(&self, text: &str) -> String {
        text.split(' ')
            .map(|tok| match token_core(tok) {
                Some((a, b)) => match self.spoken_for(&tok[a..b]) {
                    Some(spoken) => format!("{}{spoken}{}", tok[..a].trim_end_matches('@'), &tok[b..]),
                    None => tok.to_string(),
                },
                None => tok.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether the first words of a streamed answer open the way a suggestion
    /// does (`Thank you...`, `Welcome in...`, `Hi Max...`, `Max, ...`): only
    /// then are words sent before the whole line is judged. Any other opening
    /// waits for the whole answer, since what follows decides whether it is a
    /// sentence at all, and spoken words cannot be taken back.
    fn opens_a_suggestion(&self, opening: &str) -> bool {
        static OPENERS: WordList = WordList::new(
            "thank thanks welcome hi hello hey hiya congrats congratulations wow aww yay \
                               ask tell say give show answer greet shout let's",
        );
        let first = words(opening).into_iter().next().unwrap_or_default();
        let called = opening.split_once([',', '!']).is_some_and(|(head, _)| {
            let head = words(head);
            !head.is_empty() && head.iter().all(|w| self.name_words.contains(w))
        });
        OPENERS.has(&first) || called
    }

    /// Narration about the room (`Zoe smiles`, `Max tipped 50 tokens.`, `The
    /// chat is quiet`) that says nothing to anyone: no clause opens with words
    /// for someone, and no one is spoken to.
    fn narrates(&self, content: &str) -> bool {
        static ACTS: WordList = WordList::new(
            "\
    smiles smiled laughs laughed nods nodded waves waved looks looked walks walked sits sat giggles \
    giggled grins grinned blushes blushed says said asks asked replies replied responds responded \
    writes wrote tipped tips entered enters left leaves joined joins followed follows sends sent \
    comes came goes went is was were are has had have just seems seemed feels felt turns turned \
    takes took gives gave thanks thanked loves loved wants wanted gets got makes made starts started \
    stops stopped keeps kept room chat stream audience viewers viewer crowd music broadcaster \
    streamer user",
        );
        let said = words(content);
        if said.len() < 2 {
            return false;
        }
        let spoken_to = said.iter().any(|w| {
            matches!(
                w.as_str(),
                "you" | "your" | "you're" | "yourself" | "yours" | "y'all" | "u"
            )
        });
        let coaching = content
            .split(['.', '!', '?', ',', ';', ':'])
            .filter_map(|clause| words(clause).into_iter().next())
            .any(|w| COACHING_LEADS.has(&w));
        if spoken_to || coaching {
            return false;
        }
        static EVENTS: Phrases = Phrases::new(&[
            "tipped",
            "came in",
            "entered the room",
            "left the room",
            "has followed",
            "started following",
            "joined the fan club",
            "private message",
            " wrote",
        ]);
        let tells_an_event = EVENTS.in_text(&content.to_lowercase());
        // The actor may be a name of several words: skip to the word after it.
        let after_actor = self
            .names
            .iter()
            .flat_map(|(u, n)| [words(u), words(n)])
            .filter(|name| !name.is_empty() && said.starts_with(name))
            .map(|name| name.len())
            .max()
            .or_else(|| self.actors.contains(&said[0]).then_some(1));
        let acts = after_actor.is_some_and(|at| said.get(at).is_some_and(|w| ACTS.has(w)));
        tells_an_event || acts
    }
}

/// Word runs of viewers' messages, for the quote check. Every event counts:
/// a tip's note is a viewer's words as much as a chat line.
fn viewer_ngrams(req: &CoachRequest) -> Runs {
    let mut set = Runs::new();
    for e in req.context().recent(QUOTE_LOOKBACK) {
        ngrams(word_iter(e.text()), QUOTE_RUN_WORDS, &mut set);
    }
    set
}

/// What [`Screen::shares_viewer_run`] finds, without its set: the events are
/// read for the answer's own runs instead of into a set of all of theirs (at
/// 500 events that set was most of building the judge). An event
/// word that is not a word of the answer cannot be in a shared run, so only
/// a streak of the answer's words is compared with its runs.
fn quotes_a_viewer(said: &[String], req: &CoachRequest) -> bool {
    let n = QUOTE_RUN_WORDS;
    // The runs that would make a quote: three uncommon words or more.
    let runs: Vec<&[String]> = said.windows(n).filter(|run| quotable(run)).collect();
    if runs.is_empty() {
        return false;
    }
    let mut vocabulary: Vec<&str> = said.iter().map(String::as_str).collect();
    sort(&mut vocabulary);
    vocabulary.dedup();
    req.context().recent(QUOTE_LOOKBACK).iter().any(|e| {
        let mut streak: Vec<Cow<str>> = Vec::with_capacity(n);
        word_iter(e.text()).any(|w| {
            if vocabulary.binary_search(&w.as_ref()).is_err() {
                streak.clear();
                return false;
            }
            if streak.len() == n {
                streak.remove(0);
            }
            streak.push(w);
            streak.len() == n
                && runs
                    .iter()
                    .any(|run| run.iter().zip(&streak).all(|(a, b)| a == b))
        })
    })
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
    word_iter(s).map(Cow::into_owned).collect()
}

/// The [`words`] of `s` one by one, borrowed when already lowercase.
fn word_iter(s: &str) -> impl Iterator<Item = Cow<'_, str>> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        // ASCII lowercases the same either way, the ASCII way without Unicode's tables.
        .map(|w| {
            if !w.is_ascii() {
                Cow::Owned(w.to_lowercase())
            } else if w.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(w.to_ascii_lowercase())
            } else {
                Cow::Borrowed(w)
            }
        })
}

/// Whether the [`words`] of `text` are `said`, compared as they come: no
/// copy of a text that differs at its first word.
fn same_words(text: &str, said: &[String]) -> bool {
    let mut said = said.iter();
    let all_same = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .all(|w| {
            said.next().is_some_and(|s| {
                if w.is_ascii() {
                    w.len() == s.len() && w.eq_ignore_ascii_case(s)
                } else {
                    w.to_lowercase() == *s
                }
            })
        });
    all_same && said.next().is_none()
}

/// Words too common to make a shared run a quote ("thank you so much for").
static COMMON: WordList = WordList::new(
    "a an the and or but to of in on at for with from by is are was be it this that i you we me my your our \
     so much thank thanks what how do can have all everyone chat please just really very here",
);

/// A run with three uncommon words or more: shared, it is a quote or a leak,
/// not a greeting everyone says.
fn quotable(run: &[String]) -> bool {
    run.iter().filter(|w| !COMMON.has(w)).count() >= 3
}

/// Adds to `runs` the runs of `n` words with at least three uncommon ones: a shared greeting is
/// not a quote, a shared sentence is.
fn ngrams<W: AsRef<str>>(words: impl Iterator<Item = W>, n: usize, runs: &mut Runs) {
    let (mut keys, mut uncommon) = (Vec::new(), Vec::new());
    for w in words {
        keys.push(hash_of(w.as_ref()));
        // Each word looked up in the list once, not once per run it is in.
        uncommon.push(!COMMON.has(w.as_ref()));
    }
    runs.extend(
        keys.windows(n)
            .zip(uncommon.windows(n))
            .filter(|(_, u)| u.iter().filter(|&&x| x).count() >= 3)
            .map(|(run, _)| run_hash(run)),
    );
}

/// Runs of words, each kept as the hash of its words' hashes rather than as
/// its text: no string is built per run. Two runs can share a hash, so a
/// hash found is confirmed on the words themselves ([`shares_run`]).
type Runs = HashSet<u64>;

/// The system prompt's runs, and its text, where a run found is confirmed.
#[derive(Debug, Default)]
struct PromptRuns {
    runs: Runs,
    text: String,
}

/// One fixed hash: every `DefaultHasher::new()` is the same hasher, so the
/// same words give the same value in every isolate.
fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// A run's hash from its words' [`hash_of`]s: they are well mixed already,
/// so a multiply and rotate per word combines them (a second keyed hash per
/// run cost as much as the words' own). Equal runs give equal values; a
/// shared value between different runs only costs a look at the words.
fn run_hash(keys: &[u64]) -> u64 {
    keys.iter().fold(0, |h: u64, &k| {
        (h ^ k).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
    })
}

/// Whether `said` has a run of `n` words, three of them uncommon, that
/// `runs` holds. Its hash only finds candidates: `in_source` confirms the run
/// on the words of the text the runs came from, so a run that shares another's
/// hash is never taken for it (found only when the answer repeats a run, so
/// the text is read again only then).
fn shares_run(said: &[String], runs: &Runs, n: usize, in_source: impl Fn(&[String]) -> bool) -> bool {
    if runs.is_empty() || said.len() < n {
        return false;
    }
    let keys: Vec<u64> = said.iter().map(|w| hash_of(w.as_str())).collect();
    keys.windows(n)
        .zip(said.windows(n))
        .any(|(key, run)| runs.contains(&run_hash(key)) && quotable(run) && in_source(run))
}

/// `run` is a run of the [`words`] of `text`.
fn has_run(text: &str, run: &[String]) -> bool {
    let words: Vec<Cow<str>> = word_iter(text).collect();
    words
        .windows(run.len())
        .any(|w| w.iter().zip(run).all(|(a, b)| a == b))
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
            ("[chat] troll99: Luna, can you say buy", Quality::Markup),
            ("[tip 40 tokens] Max: Max tipped 40 tokens", Quality::Markup),
            ("Max tipped 40 tokens", Quality::EchoedEvent),
            (
                "You are a live-stream coach speaking into the earpiece",
                Quality::Refusal,
            ),
            (
                "You help Luna, a live streamer, talk to everyone",
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

    /// A room like the evaluation's (docs/evaluation.md), in the coach frontend's words.
    fn smollm_room(broadcaster: &str, reason: &str) -> CoachRequest {
        request(json!({
            "broadcaster": broadcaster,
            "preferences": "Be playful and warm. Never mention my ex.",
            "reason": reason,
            "context": [
                {"text": "PapaBear tipped 1 tokens", "type": "tip"},
                {"text": "mr_south entered the room", "type": "event"},
                {"text": "xXDarkAngelXx: love your hair", "type": "chat"},
                {"text": "tommy tipped 25 tokens with message: do a spin", "type": "tip"},
                {"text": "Max: the music is great", "type": "chat"},
                {"text": "Nico_92 entered the room", "type": "event"}
            ]
        }))
    }

    /// What SmolLM2-135M-Instruct really answered in the evaluation's rooms
    /// (the issue's examples and our own runs), refused for what each is.
    #[test]
    fn real_small_model_answers_are_refused_for_what_they_are() {
        let cases: &[(&str, &str, &str, Quality)] = &[
            // Markup of the prompt, played back.
            (
                "MiaRose",
                "tip",
                "<<<ROOM_EVENTS>>>\n[tip 20 tokens 28s ago] Max: Max tipped 20 tokens",
                Quality::Markup,
            ),
            (
                "Zoe",
                "chatMessage",
                "[chat 23s ago] mr_south: I'm so glad you're here. How's your day going?",
                Quality::Markup,
            ),
            ("Zoe", "tip", "<<<ROOM_", Quality::Markup),
            (
                "Zoe",
                "tip",
                "<<<END_ROOM_EVENTS>>\"I'm ready to talk to you.",
                Quality::Markup,
            ),
            // The chat template's tokens, and what cleaning leaves of them.
            (
                "Zoe",
                "tip",
                "Thanks for the tip, Tommy!<|im_end|>",
                Quality::Markup,
            ),
            ("Zoe", "tip", "im_end", Quality::Markup),
            // The prompt's own lines, or a paraphrase of them.
            (
                "JT",
                "inactivity",
                "The room has gone quiet: re-engage everyone with one open question.",
                Quality::EchoesPrompt,
            ),
            (
                "JT",
                "tip",
                "It's always a pleasure to help Max with his craft. Always respect Max's limits.",
                Quality::EchoesPrompt,
            ),
            (
                "JT",
                "inactivity",
                "What should JT say or do right now? \"Say Hello to everyone\"",
                Quality::Refusal,
            ),
            // Talk about the task.
            (
                "Zoe",
                "chatMessage",
                "The user's message is \"11:45, JT. Zoe should say something new or wait.",
                Quality::Refusal,
            ),
            (
                "MiaRose",
                "userEnter",
                "Mia Rose should say, in about 15 words, \"Welcome to Mia Rose's new show.\"",
                Quality::Refusal,
            ),
            // Speaker labels of anyone but the broadcaster.
            ("Zoe", "chatMessage", "Nico: Welcome!", Quality::SpeakerLabel),
            (
                "Zoe",
                "chatMessage",
                "Kim Chi: love you, Jenna. I like to eat my food, it's the best.",
                Quality::SpeakerLabel,
            ),
            (
                "Zoe",
                "tip",
                "Sender: Thank you for the tip, John Doe!",
                Quality::SpeakerLabel,
            ),
            (
                "Zoe",
                "tip",
                "Same as the previous response, but with a different emphasis.",
                Quality::Refusal,
            ),
            // Apologies and refusals.
            (
                "JT",
                "tip",
                "JJT, I'm sorry for the misunderstanding. I'm just a busy guy trying to get",
                Quality::Refusal,
            ),
            (
                "Zoe",
                "tip",
                "I'm sorry, but I'm afraid I'm unable to provide the requested information.",
                Quality::Refusal,
            ),
            (
                "Zoe",
                "tip",
                "I'm sorry for your loss. I'll just have to find someone else to chat with.",
                Quality::Refusal,
            ),
            // Fragments: a lone name, an unclosed quote, a stop mid-way.
            ("Zoe", "userEnter", "Mr. South", Quality::Fragment),
            (
                "lunastar",
                "tip",
                "lunastar: \"I'm sorry, I don't have the most recent video from 2014.",
                Quality::Refusal,
            ),
            ("MiaRose", "userEnter", "Hi Mia Rose,", Quality::Fragment),
            ("Zoe", "tip", "Zoe: \"Big Tipper", Quality::Fragment),
            // Narration about the room.
            (
                "Zoe",
                "tip",
                "The room is filled with the likes of Max and his favorite music.",
                Quality::Narration,
            ),
            ("Zoe", "tip", "Tommy tips Max.", Quality::Narration),
            (
                "Zoe",
                "chatMessage",
                "Mister South is waiting for an answer.",
                Quality::Narration,
            ),
        ];
        // The broadcaster's limits, played back.
        let bella = request(
            json!({"broadcaster": "Bella", "preferences": "Avoid talking about my location.",
            "context": [{"text": "Max entered the room", "type": "event"}]}),
        );
        let system =
            crate::core::prompt::system_message(&bella, 15, crate::core::prompt::AnswerFormat::Plain);
        assert_eq!(
            Judge::new(&bella, &system, 15).answer(
                &json!("Bella's wishes: Avoid talking about Bella's location."),
                None
            ),
            Err(Quality::EchoesPrompt)
        );
        for (broadcaster, reason, answer, quality) in cases {
            let req = smollm_room(broadcaster, reason);
            let system =
                crate::core::prompt::system_message(&req, 15, crate::core::prompt::AnswerFormat::Json);
            let judge = Judge::new(&req, &system, 15);
            assert_eq!(judge.answer(&json!(answer), None), Err(*quality), "{answer}");
        }
    }

    #[test]
    fn a_whole_answer_finds_the_quotes_a_streams_set_finds() {
        let pool = "cat Lamp storm the you so knocked over it's 'tis \u{c9}t\u{e9} MAX's \
                    dog rain song wheel spin dance blue red green fast slow moon";
        let pool: Vec<&str> = pool.split_whitespace().collect();
        let gaps = [" ", ", ", "! ", " - "];
        let mut next = crate::core::testing::draws(0x2b99_2ddf_a232_49d6_u64);
        let mut quotes = 0;
        for case in 0..2_000 {
            // Past the quote check's lookback now and then.
            let count = if case % 20 == 0 {
                QUOTE_LOOKBACK + next(4)
            } else {
                next(10)
            };
            let texts: Vec<String> = (0..count)
                .map(|_| {
                    let words: Vec<&str> = (0..next(12)).map(|_| pool[next(pool.len())]).collect();
                    words
                        .iter()
                        .fold(String::new(), |t, w| t + w + gaps[next(gaps.len())])
                })
                .collect();
            let context: Vec<Value> = texts
                .iter()
                .map(|t| json!({"text": format!("u{}: {t}", next(3)), "type": "chat"}))
                .collect();
            let req = request(json!({"broadcaster": "Luna", "context": context}));
            // Two answers in three are cut from an event, in another case; in
            // a long room, half of those from one just past the lookback.
            let pick = match count.checked_sub(QUOTE_LOOKBACK) {
                Some(past) if next(2) == 0 => next(past + 2),
                _ => next(count.max(1)),
            };
            let answer = match texts.get(pick) {
                Some(t) if next(3) > 0 => {
                    let mut from: Vec<&str> = t.split(' ').collect();
                    let start = next(from.len());
                    // Now and then with a word left out: a run with a gap is no quote.
                    if next(3) == 0 && start + 3 < from.len() {
                        from.remove(start + 2);
                    }
                    from[start..(start + 3 + next(6)).min(from.len())]
                        .join(" ")
                        .to_uppercase()
                }
                _ => (0..next(14))
                    .map(|_| pool[next(pool.len())])
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            let said = words(&answer);
            let by_set = Screen::new(&req, SYSTEM).shares_viewer_run(&said, &req);
            assert_eq!(quotes_a_viewer(&said, &req), by_set, "{answer:?} in {texts:?}");
            quotes += usize::from(by_set);
        }
        assert!(quotes > 100, "{quotes}");
    }

    #[test]
    fn the_words_index_finds_every_line_a_paraphrase_is_of() {
        use crate::core::prompt::{system_message, AnswerFormat};
        let mut next = crate::core::testing::draws(0x9e37_79b9_7f4a_7c15_u64);
        let mut found = 0;
        for (format, reason) in [(AnswerFormat::Json, "tip"), (AnswerFormat::Plain, "chatMessage")] {
            let req = smollm_room("Zoe", reason);
            let system = system_message(&req, 15, format);
            let judge = Judge::new(&req, &system, 15);
            let screen = judge.screen();
            // Answers cut from our own lines and the room's names, so many match.
            let pool: Vec<&String> = screen.prompt_lines.lines.iter().flatten().collect();
            let extra = [
                "tommy", "max", "thanks", "for", "the", "spin", "you", "'s", "nico_92", ".",
            ];
            for _ in 0..3_000 {
                let answer: Vec<&str> = (0..1 + next(12))
                    .map(|_| match next(3) {
                        0 => extra[next(extra.len())],
                        _ => pool[next(pool.len())].as_str(),
                    })
                    .collect();
                let answer = answer.join(" ");
                let indexed = screen.paraphrases_a_line(&answer, false);
                assert_eq!(indexed, screen.paraphrases_a_line(&answer, true), "{answer}");
                found += usize::from(indexed);
            }
        }
        assert!(found > 200, "{found}");
    }

    #[test]
    fn a_line_of_function_words_copied_is_found_through_its_first_word() {
        // No telling word to look it up by: only the answer's first word but names finds it.
        let req = smollm_room("Zoe", "tip");
        let mut screen = Screen::new(&req, "");
        screen.prompt_lines = Arc::new(PromptLines::new(vec![words("you are so here")]));
        assert!(screen.paraphrases_a_line("You are so here!", true));
        assert!(screen.paraphrases_a_line("You are so here!", false));
    }

    #[test]
    fn a_run_whose_hash_is_held_counts_only_when_its_words_are_found() {
        let said = words("spin the big wheel for chat tonight");
        let mut runs = Runs::new();
        let keys: Vec<u64> = said.iter().map(|w| hash_of(w.as_str())).collect();
        runs.insert(run_hash(&keys[0..5]));
        assert!(shares_run(&said, &runs, 5, |_| true));
        // The same hash, from a run the text does not have (two runs that share a hash).
        assert!(!shares_run(&said, &runs, 5, |_| false));
        assert!(has_run("Spin the BIG wheel, for chat!", &said[0..5]));
        assert!(!has_run("spin the big wheel", &said[0..5]));
    }

    #[test]
    fn usernames_are_said_by_their_spoken_names_and_the_broadcasters_own_label_goes() {
        let req = smollm_room("MiaRose", "tip");
        let judge = Judge::new(&req, "", 15);
        let said = |a: &str| judge.answer(&json!(a), None).map(|s| s.content().to_string());
        assert_eq!(
            said("Thank you so much, mr_south!").unwrap(),
            "Thank you so much, Mister South!"
        );
        assert_eq!(
            said("Welcome in, @xXDarkAngelXx, love the vibe!").unwrap(),
            "Welcome in, Dark Angel, love the vibe!"
        );
        assert_eq!(
            said("MiaRose: Thank you for the tip, Tommy!").unwrap(),
            "Thank you for the tip, Tommy!"
        );
        assert_eq!(
            said("Mia Rose: Hey, Nico, I'm happy to have you here tonight.").unwrap(),
            "Hey, Nico, I'm happy to have you here tonight."
        );
        let luna = smollm_room("lunastar", "tip");
        assert_eq!(
            Judge::new(&luna, "", 15)
                .answer(&json!("Lunastar: \"Lets give you a gift! "), None)
                .map(|s| s.content().to_string()),
            Ok("Lets give you a gift!".to_string()),
            "her own label and a stray quote go"
        );
        // Good answers the small model gave pass as they are.

        assert_eq!(
            said("Thanks, Tommy! Spinning just for you.").unwrap(),
            "Thanks, Tommy! Spinning just for you."
        );
        // A stream holds a raw username back: the final answer says it otherwise.
        assert!(!judge.screen().may_say("Thanks so much mr_south", &req));
        assert!(judge.screen().may_say("Thanks so much Tommy", &req));
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
    fn a_slip_of_one_sample_lets_the_same_model_try_again() {
        assert!(Quality::UnknownName.retry_same_model());
        assert!(Quality::Fragment.retry_same_model() && Quality::SpeakerLabel.retry_same_model());
        assert!(!Quality::Refusal.retry_same_model() && !Quality::Markup.retry_same_model());
        assert_eq!(
            ModelFailure::from(Quality::UnknownName).kind,
            FailureKind::RetryOnce
        );
        assert_eq!(ModelFailure::from(Quality::Repeat).kind, FailureKind::Refused);
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
