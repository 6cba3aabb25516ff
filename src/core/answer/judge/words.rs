//! The word tools the judge's checks share: an answer's words as the checks
//! compare them (lowercase, letters, digits and apostrophes), and fixed word
//! lists searched by halves. Refuses nothing itself.

use crate::core::order::sort;
use std::borrow::Cow;
use std::sync::OnceLock;

/// Lowercase words of letters, digits and apostrophes.
pub(super) fn words(s: &str) -> Vec<String> {
    word_iter(s).map(Cow::into_owned).collect()
}

/// The [`words`] of `s` one by one, borrowed when already lowercase.
pub(super) fn word_iter(s: &str) -> impl Iterator<Item = Cow<'_, str>> {
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

/// A list of space-separated words, split and sorted once per isolate at its
/// first use, then searched by halves: the judge asks these lists for nearly
/// every word of every answer (a scan of the text was a twelfth of the
/// judge's native time, `cargo bench --bench core`).
pub(super) struct WordList {
    text: &'static str,
    sorted: OnceLock<Vec<&'static str>>,
}

impl WordList {
    pub(super) const fn new(text: &'static str) -> WordList {
        WordList {
            text,
            sorted: OnceLock::new(),
        }
    }

    /// `w` is one of the list's words.
    pub(super) fn has(&self, w: &str) -> bool {
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
pub(super) fn is_function_word(w: &str) -> bool {
    static FUNCTION: WordList = WordList::new(
        "\
    a an the and or but to of in on at for with from by is are was be it this that i you we me my \
    your our so do does can have has all just really very here there what how who they them he she \
    his her its if as not no up out about now right will would should could let lets get got",
    );
    w.len() < 2 || FUNCTION.has(w)
}
