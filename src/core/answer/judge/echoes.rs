//! Echoes: an answer that gives back what the model was given or what was
//! said before. Refuses:
//! - a line of our prompt played back or paraphrased (a run of
//!   [`PROMPT_RUN_WORDS`] words of the system message; three words in a row
//!   of one of our lines, two of them telling; most of what a line says; a
//!   line word for word): SmolLM2 plays back "The room has gone quiet:
//!   re-engage everyone…", which is an instruction, not words to say;
//! - a room event given back ("Max tipped 40 tokens", `user: message`, the
//!   plain prompt's "Max came in."): news to nobody;
//! - a viewer's message quoted at length ([`QUOTE_RUN_WORDS`] words in a row
//!   with three uncommon ones): a stranger's words, spam or an attack,
//!   would be read out as the broadcaster's;
//! - a line equal or nearly equal to one said recently: the earpiece does
//!   not repeat itself.
//!
//! A shared greeting ("thank you so much for") is no quote, and the room's
//! names are the room's, not the prompt's: "Thank you, Tommy!" echoes no
//! instruction to thank Tommy.

use super::names::People;
use super::words::{is_function_word, word_iter, words, WordList};
use crate::core::order::sort;
use crate::core::prompt::{plain_event, plain_marker, scaffold_lines, steer_lines, MAX_SUGGESTION_WORDS};
use crate::core::request::CoachRequest;
use crate::core::text::{FENCE_CLOSE, FENCE_OPEN};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// Words in a row shared with the system prompt that make an answer a leak.
const PROMPT_RUN_WORDS: usize = 6;
/// Words in a row shared with a viewer's message that make an answer a quote.
const QUOTE_RUN_WORDS: usize = 5;
/// Room events the quote check reads, newest first.
const QUOTE_LOOKBACK: usize = 200;

/// Our prompt as the echo checks read it: the system message's runs, the
/// words of every line of ours, and the lines that say what to do now.
#[derive(Debug, Clone, Default)]
pub(super) struct Prompt {
    runs: Arc<PromptRuns>,
    /// The words of every line of the prompts that is ours, not a viewer's.
    lines: Arc<PromptLines>,
    /// The words of the lines that say what to do now, whose names an answer repeats.
    steers: Vec<Vec<String>>,
}

impl Prompt {
    pub(super) fn of(req: &CoachRequest, system_prompt: &str) -> Prompt {
        Prompt {
            runs: remembered(&PROMPT_GRAMS, vec![system_prompt.to_string()], |key| {
                let mut runs = Runs::new();
                ngrams(word_iter(&key[0]), PROMPT_RUN_WORDS, &mut runs);
                PromptRuns {
                    runs,
                    text: key[0].clone(),
                }
            }),
            lines: prompt_lines(system_prompt, req),
            steers: steer_lines(req).iter().map(|l| words(l)).collect(),
        }
    }

    /// A run of [`PROMPT_RUN_WORDS`] words of the system prompt in `said`.
    pub(super) fn shares_prompt_run(&self, said: &[String]) -> bool {
        let prompt = &self.runs;
        shares_run(said, &prompt.runs, PROMPT_RUN_WORDS, |run| {
            has_run(&prompt.text, run)
        })
    }

    /// A line of our prompt played back or paraphrased: a run of three words
    /// with two that matter, or most of what it says found in one line.
    pub(super) fn paraphrases_prompt(&self, content: &str, people: &People) -> bool {
        // The whole answer, and each of its sentences alone: a sentence that
        // is the whole answer is looked at once.
        std::iter::once(content)
            .chain(
                content
                    .split_inclusive(['.', '!', '?'])
                    .filter(|part| *part != content),
            )
            .any(|part| self.paraphrases_a_line(part, false, people))
    }

    /// `every_line`: look at every line, not only those the words index
    /// finds (the tests check both agree).
    fn paraphrases_a_line(&self, content: &str, every_line: bool, people: &People) -> bool {
        // Names are the room's, not the prompt's: "Thank you, Tommy!" echoes no
        // instruction to thank Tommy; "Max's" is a name too.
        let named = |w: &String| {
            let names = &people.name_words;
            names.contains(w) || w.strip_suffix("'s").is_some_and(|b| names.contains(b))
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
        // its runs of three words with two telling ones (for the lines saying
        // what to do now, two telling ones but names: "Thank you Sara, Tom and
        // Max!" does what "Thank Sara, Tom and Max for the tips" asks), and its
        // words but names.
        let telling: Vec<&[String]> = said
            .windows(3)
            .filter(|win| win.iter().filter(|w| !is_function_word(w)).count() >= 2)
            .collect();
        let telling_unnamed: Vec<&[String]> = telling
            .iter()
            .copied()
            .filter(|win| win.iter().filter(|w| !is_function_word(w) && !named(w)).count() >= 2)
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
        let lines = &self.lines.lines;
        let looked_at = if every_line {
            (0..lines.len()).collect()
        } else {
            self.lines.holding(keys)
        };
        looked_at.into_iter().map(|i| &lines[i]).any(|line| {
            // Three words in a row of ours, two of them telling: the line saying
            // what to do too ("Ask the viewers a fun question." played back as
            // "What's a fun question?"), though its names are the room's.
            let runs = if self.steers.contains(line) {
                &telling_unnamed
            } else {
                &telling
            };
            let run = runs.iter().any(|win| line.windows(3).any(|l| l == *win));
            // A line of ours word for word is ours, however short, whoever it names.
            let copied = may_be_copied && unnamed(line, &named).eq(said_unnamed.iter().copied());
            let shared = meant.iter().filter(|w| line.contains(w)).count();
            let most = (shared >= 3 && shared * 4 >= meant.len() * 3)
                || (shared >= 4 && shared * 5 >= meant.len() * 3);
            copied || run || most
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

/// A room event line given back: a fence marker, `user: message` (with or
/// without the prompt's `[chat]` tag), or an event's text word for word.
pub(super) fn echoes_event(content: &str, req: &CoachRequest) -> bool {
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
    req.context().recent(QUOTE_LOOKBACK).iter().any(|e| {
        let user_prefix = labelled
            && e.user()
                .is_some_and(|u| head.contains(&format!("{}:", u.to_lowercase())));
        // As the plain prompt wrote it: `Max tipped 50 tokens.` (only written
        // out when the answer has the word every such sentence has).
        let plain = || {
            plain_marker(e.kind()).is_none_or(|m| said.iter().any(|w| w == m))
                && words(&plain_event(e, req)) == said
        };
        user_prefix || (!said.is_empty() && (same_words(e.text(), &said) || plain()))
    })
}

/// A run of [`QUOTE_RUN_WORDS`] words, three of them uncommon, of a recent
/// viewer event in `said`. The events are read for the answer's own runs
/// instead of into a set of all of theirs (at 500 events that set was most
/// of building the judge). An event
/// word that is not a word of the answer cannot be in a shared run, so only
/// a streak of the answer's words is compared with its runs.
pub(super) fn quotes_a_viewer(said: &[String], req: &CoachRequest) -> bool {
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

/// A line equal or nearly equal to one said recently (the same words in any
/// order, or three quarters of them shared).
pub(super) fn repeats_what_was_said(content: &str, req: &CoachRequest) -> bool {
    req.recent().repeats(content)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn request(body: Value) -> CoachRequest {
        CoachRequest::from_json(body.to_string().as_bytes()).unwrap()
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

    /// The obvious way to find a quote, to check [`quotes_a_viewer`] against:
    /// a set of every quotable run of the recent events, and the answer's
    /// runs looked up in it.
    fn quoted_by_set(said: &[String], req: &CoachRequest) -> bool {
        let mut set = Runs::new();
        for e in req.context().recent(QUOTE_LOOKBACK) {
            ngrams(word_iter(e.text()), QUOTE_RUN_WORDS, &mut set);
        }
        shares_run(said, &set, QUOTE_RUN_WORDS, |run| {
            req.context()
                .recent(QUOTE_LOOKBACK)
                .iter()
                .any(|e| has_run(e.text(), run))
        })
    }

    #[test]
    fn the_quote_check_finds_what_a_set_of_every_run_finds() {
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
            let by_set = quoted_by_set(&said, &req);
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
            let (prompt, people) = (Prompt::of(&req, &system), People::of(&req));
            // Answers cut from our own lines and the room's names, so many match.
            let pool: Vec<&String> = prompt.lines.lines.iter().flatten().collect();
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
                let indexed = prompt.paraphrases_a_line(&answer, false, &people);
                assert_eq!(
                    indexed,
                    prompt.paraphrases_a_line(&answer, true, &people),
                    "{answer}"
                );
                found += usize::from(indexed);
            }
        }
        assert!(found > 200, "{found}");
    }

    #[test]
    fn a_line_of_function_words_copied_is_found_through_its_first_word() {
        // No telling word to look it up by: only the answer's first word but names finds it.
        let req = smollm_room("Zoe", "tip");
        let people = People::of(&req);
        let mut prompt = Prompt::of(&req, "");
        prompt.lines = Arc::new(PromptLines::new(vec![words("you are so here")]));
        assert!(prompt.paraphrases_a_line("You are so here!", true, &people));
        assert!(prompt.paraphrases_a_line("You are so here!", false, &people));
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
}
