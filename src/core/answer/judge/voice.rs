//! The voice of a line: whether it is words to say at all. Refuses:
//! - refusals, apologies and the model talking about itself ("I'm sorry,
//!   but…", "As an AI…"): nothing a broadcaster would say to a room;
//! - talk about the task instead of doing it ("Here is a suggestion", "Zoe
//!   should say…", "the user's message"): the earpiece would read out the
//!   coach's workings;
//! - reasoning text ("Okay, so the user wants…"), and `null`-like words;
//! - narration about the room ("Zoe smiles and waves", "Max tipped 50
//!   tokens.", "The chat is quiet"): it tells what happened and says
//!   nothing to anyone;
//! - a question about "that" or "this" ("What's that in the corner?"): it
//!   points at something neither the room nor the coach has seen.

use super::names::People;
use super::words::{words, WordList};
use crate::core::text::Phrases;

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
    // Advice about a line, and talk of editing text, instead of the line.
    "how about asking",
    "asking the question",
    "grammar",
    "edited for",
    "rephrase",
    "reworded",
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

/// A refusal, an apology, meta-talk, or talk about the task in `lower` (the
/// answer lowercase, typographic apostrophes made plain).
pub(super) fn refuses(lower: &str, content: &str, people: &People) -> bool {
    REFUSALS.in_text(lower) || talks_about_the_task(content, people)
}

/// Reasoning text: its common openings, or a reasoning block's end.
pub(super) fn reasons(lower: &str) -> bool {
    REASONING.iter().any(|p| lower.starts_with(p)) || lower.contains("</think>")
}

/// A bare word that stands for no answer (`null`, `n/a`).
pub(super) fn is_null(bare: &str) -> bool {
    NULLS.contains(&bare)
}

/// "Zoe should say something", "Would you like to answer a question to the
/// viewers?": the task talked about, or the viewers talked about ("the
/// viewers", "a viewer": a line to the room calls them "you", "chat",
/// "everyone"), not words for her to say to them.
fn talks_about_the_task(content: &str, people: &People) -> bool {
    let said = words(content);
    let about_the_viewers = said.windows(2).any(|w| {
        matches!(
            w[0].as_str(),
            "a" | "an" | "the" | "your" | "my" | "our" | "every" | "each" | "any" | "other"
        ) && matches!(w[1].as_str(), "viewer" | "viewers" | "audience")
    });
    if about_the_viewers {
        return true;
    }
    said.windows(3).any(|w| {
        people.is_broadcaster(&w[0])
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

/// First words of a clause spoken to someone: an instruction, a greeting, a question.
static COACHING_LEADS: WordList = WordList::new(
    "\
    thank thanks welcome say ask tell give answer greet shout let's let try show wave smile blow \
    check keep invite compliment play sing dance spin hi hello hey hiya wow congrats congratulations \
    what how who where why when do are is can have would will enjoy stay come join",
);

/// Narration about the room (`Zoe smiles`, `Max tipped 50 tokens.`, `The
/// chat is quiet`) that says nothing to anyone: no clause opens with words
/// for someone, and no one is spoken to. Words to `say` must also speak to
/// someone; a `do` is an action, and needs no one to speak to.
pub(super) fn narrates(content: &str, people: &People, to_say: bool) -> bool {
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
    let after_actor = people
        .names
        .iter()
        .flat_map(|(u, n)| [words(u), words(n)])
        .filter(|name| !name.is_empty() && said.starts_with(name))
        .map(|name| name.len())
        .max()
        .or_else(|| people.actors.contains(&said[0]).then_some(1));
    let acts = after_actor.is_some_and(|at| said.get(at).is_some_and(|w| ACTS.has(w)));
    if tells_an_event || acts {
        return true;
    }
    // Nor is the broadcaster speaking (no first person), nor asking or
    // exclaiming to the room, nor calling a viewer: the line is about the
    // room, to no one ("The next day, Ana Banana is the one to thank.").
    static FIRST_PERSON: WordList =
        WordList::new("i i'm i've i'll i'd me my mine we we're we'll us our let's");
    let first_person = said.iter().any(|w| FIRST_PERSON.has(w));
    to_say && !(first_person || content.contains(['?', '!']) || people.calls_a_viewer(content))
}

/// A question pointing at something unseen: a clause opening "What's
/// that", "Who is this", "What was that": the broadcaster would be asking
/// her viewers about a thing no one in the room has named.
pub(super) fn points_at_nothing(content: &str) -> bool {
    content.split(['.', '!', '?', ',', ';', ':']).any(|sentence| {
        let said = words(sentence);
        let asks = |w: &str| matches!(w, "what" | "who" | "what's" | "who's" | "whats" | "whos");
        match said.as_slice() {
            [q, this, ..] if q.ends_with("'s") && asks(q) => matches!(this.as_str(), "that" | "this"),
            [q, is, this, ..] if asks(q) => {
                matches!(is.as_str(), "is" | "was") && matches!(this.as_str(), "that" | "this")
            }
            _ => false,
        }
    })
}
