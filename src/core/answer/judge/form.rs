//! The form of a line: whether it is one whole suggestion, as written.
//! Refuses:
//! - markup: our prompt's (`<<<ROOM_EVENTS>>>`, `[chat 23s ago]`, `(say
//!   "…")`), a chat template's (`<|im_end|>`, `[/INST]`), and anything a
//!   voice would read wrongly that cleaning would have to take out from
//!   inside the line (markdown, emoji, `*stage directions*`, hashtags,
//!   `@`): the line is spoken as it was written or not at all;
//! - a speaker label (`Zoe:`, `Assistant:`, `Max says:`), and a `Say:` or
//!   `Do:` label after other words (`Sure! Say: …`): a script, or a
//!   suggestion inside a preamble, would have to be cut out;
//! - a fragment: a lone word, an unclosed quote or bracket, a stop mid-way
//!   (a dangling word or comma), bare names with no verb;
//! - a line too long for the earpiece: more than `MAX_WORDS` words, or more
//!   than two sentences. It is refused, never shortened: a cut at the word
//!   limit made "…and I'm going to tell you one" (docs/evaluation.md).

use super::names::People;
use super::words::{words, WordList};
use crate::core::answer::speech::speakable_as_written;
use crate::core::text::Phrases;

/// Sentences a suggestion has at most.
const MAX_SENTENCES: usize = 2;

/// A `Say:` or `Do:` label after words of the line: what follows it was
/// meant as the suggestion, and what comes before is a preamble.
pub(super) fn label_inside(content: &str) -> bool {
    let lower = content.to_ascii_lowercase();
    ["say:", "do:"].iter().any(|label| {
        lower.match_indices(label).any(|(at, _)| {
            let before = &lower.as_bytes()[..at];
            before.iter().any(u8::is_ascii_alphanumeric)
                && before.last().is_some_and(|b| !b.is_ascii_alphanumeric())
        })
    })
}

/// Whether `spoken` (the line as the earpiece will say it) is as a voice
/// can say it and short enough: `Err` names why not.
pub(super) fn fits_the_earpiece(spoken: &str, max_words: usize) -> Result<(), Misfit> {
    if !speakable_as_written(spoken) {
        return Err(Misfit::Markup);
    }
    if spoken.split_whitespace().count() > max_words || sentences(spoken) > MAX_SENTENCES {
        return Err(Misfit::TooLong);
    }
    Ok(())
}

/// Why a line does not fit the earpiece as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Misfit {
    Markup,
    TooLong,
}

/// The sentences of `text`: each end (`.`, `!`, `?`, or a run of them)
/// followed by more words closes one, and the words after the last end make
/// one more. An honorific's dot (`Mr. South`) and a number's (`2.5`) end none.
pub(super) fn sentences(text: &str) -> usize {
    const TITLES: &[&str] = &["mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc"];
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let ends = |w: &str| {
        let bare = w.trim_end_matches(['"', '\'', ')']);
        let title = TITLES.contains(&bare.trim_end_matches('.').to_ascii_lowercase().as_str());
        bare.ends_with(['.', '!', '?']) && !(bare.ends_with('.') && title)
    };
    let closed = tokens[..tokens.len().saturating_sub(1)]
        .iter()
        .filter(|w| ends(w))
        .count();
    closed + usize::from(!tokens.is_empty())
}

/// Markup of our prompt or of a chat template, in the answer as written
/// (or what cleaning left of it: `im_end`, `INST`).
pub(super) fn has_markup(raw: &str) -> bool {
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

/// Who speaks next in a script: `Zoe:`, `Mia Rose:`, `luna_star:`,
/// `lunastar:` (a name of the room, in any case), `Assistant:` at the start
/// of a sentence, or `X says:`. The broadcaster's own name is a label too:
/// `Zoe: Hi all!` is a line of a script, not the words alone.
pub(super) fn speaker_label(content: &str, people: &People) -> bool {
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
            })
            || people.all_named(before);
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
pub(super) fn is_fragment(content: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_counted_at_their_ends() {
        for (text, n) in [
            ("Hi all", 1),
            ("Hi all!", 1),
            ("Hi all! Welcome in.", 2),
            ("Hi all!! Welcome in... Grab a drink?!", 3),
            ("Ask Mr. South how Dr. Who went, 2.5 hours in!", 1),
            ("\"Hi!\" she said. Wave back.", 3),
            ("", 0),
        ] {
            assert_eq!(sentences(text), n, "{text}");
        }
    }

    #[test]
    fn a_label_after_words_is_a_preamble_and_one_at_the_start_is_not() {
        assert!(label_inside("Sure! Say: Thanks Max!"));
        assert!(label_inside("Good idea. Do: wave"));
        assert!(!label_inside("**Say:** Thanks Max!"));
        assert!(!label_inside("Thanks Max, essay: great!"));
    }
}
