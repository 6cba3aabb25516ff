//! Speech-ready text: what a text-to-speech voice may say into an earpiece.
//! [`clean`] strips what a voice would read out wrongly (markdown, asterisked
//! stage directions, emoji, hashtags, URLs, email addresses, phone numbers,
//! wrapping quotes, `Say:` labels) and caps the words, ending cleanly: the
//! rules coach's lines go through it. A model's answer is not cleaned into
//! something else: [`speakable_as_written`] says whether cleaning would take
//! anything out of it, and the judge refuses it when it would (markup removed
//! from inside a line left "mThank you" in the earpiece: docs/evaluation.md).
//! Contact details are found by [`crate::core::contact`], which the checks
//! that refuse such answers share.

use crate::core::contact::{has_email, has_url, is_phone_token};
use crate::core::text::is_invisible;

/// Labels a model puts before its suggestion (`Say: Thanks Max!`), lowercase.
/// The answer parser uses the same list to find where a suggestion starts.
pub const LABELS: &[&str] = &[
    "suggestion:",
    "say:",
    "do:",
    "action:",
    "content:",
    "response:",
    "coach:",
    "answer:",
];

/// Words that cannot end a spoken sentence: a cut before them reads as cut.
const DANGLING: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "to", "for", "with", "of", "in", "on", "at", "by", "from", "your",
    "my", "our", "their", "is", "are", "so", "that", "if", "as",
];

fn is_emoji_or_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF // emoticons, pictographs, transport, flags, symbols
        | 0x2600..=0x27BF // misc symbols, dingbats
        | 0x2300..=0x23FF // technical (hourglass, watch...)
        | 0x2B00..=0x2BFF // arrows, stars
        | 0x20E3          // combining keycap
    )
}

/// `text` made ready for a voice, at most `max_words` words; empty when
/// nothing speakable is left.
pub fn clean(text: &str, max_words: usize) -> String {
    let plain: String = text
        .chars()
        .filter(|c| !is_emoji_or_pictograph(*c) && !is_invisible(*c))
        .map(|c| match c {
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' => '"',
            '\u{2018}' | '\u{2019}' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let plain = without_stage_directions(&plain);
    let words: Vec<String> = plain
        .split_whitespace()
        .filter(|w| !is_unspeakable_token(w))
        .map(|w| w.chars().filter(|c| !is_removed(*c)).collect::<String>())
        // Again once the markup is gone: `{a@b.co` hid an address.
        .filter(|w| !w.is_empty() && !is_unspeakable_token(w))
        .collect();
    let mut text = words.join(" ");
    // A list bullet or heading left at the start ("- Thanks", "1. Thanks").
    let trimmed = text.trim_start_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
    text = trimmed.to_string();
    if let Some((num, rest)) = text.split_once(". ") {
        if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) {
            text = rest.to_string();
        }
    }
    loop {
        let lower = text.to_lowercase();
        match LABELS.iter().find(|l| lower.starts_with(**l)) {
            Some(l) => text = text[l.len()..].trim_start().to_string(),
            None => break,
        }
    }
    let text = strip_wrapping_quotes(&text);
    limit_words(text, max_words)
}

/// A character [`clean`] takes out of a word or a text: markup, emoji,
/// invisible and control characters.
fn is_removed(c: char) -> bool {
    is_emoji_or_pictograph(c)
        || is_invisible(c)
        || (c.is_control() && !c.is_whitespace())
        || matches!(
            c,
            '*' | '_' | '`' | '#' | '~' | '|' | '<' | '>' | '[' | ']' | '{' | '}' | '@'
        )
}

/// Whether `text` is ready for a voice as it was written: [`clean`] would
/// take nothing out of it (no markup, emoji, stage direction, hashtag, link,
/// contact detail, list bullet or leading label), whitespace and typographic
/// quotes aside. Reads the text once, and builds nothing.
pub fn speakable_as_written(text: &str) -> bool {
    let t = text.trim_start();
    let bullet = t.starts_with(['-', '+'])
        || t.split_once(". ")
            .is_some_and(|(num, _)| !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()));
    let labelled = LABELS
        .iter()
        .any(|l| t.get(..l.len()).is_some_and(|head| head.eq_ignore_ascii_case(l)));
    !bullet
        && !labelled
        && !text.chars().any(is_removed)
        && !text.split_whitespace().any(is_unspeakable_token)
        && strip_wrapping_quotes(t.trim_end()) == t.trim_end()
}

/// Without `*waves*`-style stage directions (single asterisks); `**bold**`
/// keeps its words. An unclosed asterisk is left for the markup filter.
fn without_stage_directions(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let single =
            chars[i] == '*' && chars.get(i + 1).is_some_and(|c| *c != '*') && (i == 0 || chars[i - 1] != '*');
        if single {
            let close = (i + 1..chars.len()).find(|&j| chars[j] == '*');
            if let Some(j) = close {
                if chars.get(j + 1) != Some(&'*') {
                    out.push(' ');
                    i = j + 1;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A hashtag, URL, email address or bare domain: nothing a voice should say.
fn is_unspeakable_token(word: &str) -> bool {
    let w =
        word.trim_matches(|c: char| matches!(c, '(' | ')' | '"' | '\'' | ',' | '.' | '!' | '?' | ';' | ':'));
    (w.starts_with('#') && w.len() > 1) || has_url(word) || has_email(word) || is_phone_token(w)
}

fn strip_wrapping_quotes(s: &str) -> &str {
    let t = s.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            let inner = &t[1..t.len() - 1];
            if !inner.contains(q) {
                return inner.trim();
            }
        }
    }
    // A lone opening or closing quote left by a cut; a quote inside the
    // text ("Say \"hi\"") is kept whole.
    if t.matches('"').count() % 2 == 1 {
        return t.trim_matches('"');
    }
    t
}

/// At most `max_words` words, cut at a word boundary and ending cleanly: at
/// the last sentence end inside the limit if it keeps at least half the
/// words, else without trailing punctuation or a dangling word (`and`, `the`).
pub fn limit_words(s: &str, max_words: usize) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.len() <= max_words {
        return words.join(" ");
    }
    let kept = &words[..max_words];
    if let Some(end) = kept.iter().rposition(|w| ends_sentence(w)) {
        if end + 1 >= max_words / 2 {
            return kept[..=end].join(" ");
        }
    }
    let mut kept: Vec<&str> = kept.to_vec();
    while kept.len() > 1 {
        let last = kept[kept.len() - 1]
            .trim_end_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if DANGLING.contains(&last.as_str()) {
            kept.pop();
        } else {
            break;
        }
    }
    let mut out = kept.join(" ");
    while out.ends_with([',', ';', ':', '-', '"']) {
        out.pop();
    }
    out
}

fn ends_sentence(word: &str) -> bool {
    word.trim_end_matches(['"', '\'', ')']).ends_with(['.', '!', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::contact::has_phone;

    #[test]
    fn cleaning_cases() {
        let cases = [
            (
                "**Suggestion:** \"Thanks so much, Mike! \u{1F389}\"",
                "Thanks so much, Mike!",
            ),
            ("Say: `hello`  there\n", "hello there"),
            ("*waves at the camera* Hi Anna!", "Hi Anna!"),
            ("**Thanks Max!**", "Thanks Max!"),
            ("Thanks Max! #blessed #live", "Thanks Max!"),
            ("Follow me at https://scam.example/x now", "Follow me at now"),
            ("Visit www.example.com today", "Visit today"),
            ("Mail me at luna@example.com", "Mail me at"),
            ("Call 555-123-4567", "Call"),
            ("\u{201C}Welcome in, Sam!\u{201D}", "Welcome in, Sam!"),
            ("- Thank the room", "Thank the room"),
            ("1. Thank the room", "Thank the room"),
            ("## Say: hi chat", "hi chat"),
            ("Hey\u{200B} @Max, thanks\u{E0041}!", "Hey Max, thanks!"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input, 15), want, "{input}");
        }
    }

    #[test]
    fn at_most_max_words_ending_cleanly() {
        let s = "Thank you Mike for the tip. You are amazing and I really mean it truly from the heart today";
        assert_eq!(limit_words(s, 10), "Thank you Mike for the tip.");
        let run_on = "one two three four five six seven eight, nine";
        assert_eq!(limit_words(run_on, 8), "one two three four five six seven eight");
        assert_eq!(
            clean("Ask chat what they think about the new song and the", 10),
            "Ask chat what they think about the new song"
        );
        let long = "word ".repeat(40);
        assert_eq!(clean(&long, 15).split_whitespace().count(), 15);
    }

    #[test]
    fn detectors() {
        assert!(has_url("go to scam.example now"));
        assert!(has_url("https://x.y"));
        assert!(has_url("buy cheap followers at scam dot com"));
        assert!(!has_url("Thanks Max. Great stream."));
        assert!(has_email("write to a@b.co"));
        assert!(!has_email("Thanks @Max"));
        assert!(has_phone("call (555) 123 4567"));
        assert!(!has_phone("Thanks for the 5000 tokens"));
    }
}
