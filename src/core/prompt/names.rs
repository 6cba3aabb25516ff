//! Spoken names: a username as a person would say it through an earpiece.
//! `xXDarkAngelXx` is "Dark Angel", `mr_south` "Mister South", `Mary1999TX`
//! "Mary". Both the prompt (the model is told the spoken form) and the rules
//! coach use [`spoken_name`], so the broadcaster hears one name per viewer.

/// Said when nothing speakable is left of a username (`12345`, `___`, `User456`).
pub const NEUTRAL_NAME: &str = "friend";
/// Words of a spoken name at most: a nickname, not a sentence.
const MAX_NAME_WORDS: usize = 3;

/// Honorifics as they are said, only in first position (`mr_south`).
const HONORIFICS: &[(&str, &str)] = &[
    ("mr", "Mister"),
    ("mister", "Mister"),
    ("mrs", "Missus"),
    ("ms", "Miz"),
    ("miss", "Miss"),
    ("dr", "Doctor"),
    ("doc", "Doc"),
    ("sir", "Sir"),
    ("lady", "Lady"),
    ("lord", "Lord"),
    ("prof", "Professor"),
    ("capt", "Captain"),
    ("cpt", "Captain"),
    ("sgt", "Sergeant"),
    ("lt", "Lieutenant"),
    ("rev", "Reverend"),
    ("st", "Saint"),
];

/// Placeholder words that name nobody: `User456` is a friend, not "User".
const PLACEHOLDERS: &[&str] = &[
    "user",
    "guest",
    "anon",
    "anonymous",
    "viewer",
    "member",
    "player",
    "account",
    "unknown",
];

/// Two-letter state and province codes that trail names (`Mary1999TX`).
const REGION_CODES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
    "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
    "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC",
    "UK", "US", "USA", "ON", "BC", "QC",
];

/// Common given names: `john_doe` is called John, as a host would.
const GIVEN_NAMES: &[&str] = &[
    "aaron", "adam", "alex", "alice", "amanda", "amy", "andrew", "anna", "anne", "ashley", "ben", "beth",
    "bill", "bob", "brian", "carl", "carol", "chris", "dan", "daniel", "dave", "david", "emily", "emma",
    "eric", "frank", "george", "grace", "greg", "hannah", "jack", "jake", "james", "jane", "jason", "jen",
    "jenny", "jessica", "jim", "joe", "john", "jon", "josh", "julia", "kate", "kevin", "kim", "laura",
    "linda", "lisa", "lucy", "luke", "maria", "mark", "mary", "matt", "max", "mia", "mike", "nick", "olivia",
    "paul", "peter", "rachel", "rob", "ryan", "sam", "sarah", "sophia", "steve", "susan", "tom", "tony",
    "will",
];

/// A username as a voice should say it: separators and camel case split it,
/// digits and decoration (`xX…Xx`, trailing years and state codes, random
/// suffixes) go, honorifics are expanded, a given name stands alone, every
/// word is title-cased. [`NEUTRAL_NAME`] when nothing speakable is left.
pub fn spoken_name(user: &str) -> String {
    // The same viewers come back request after request: an isolate works out
    // each name once (and forgets them all past MAX_REMEMBERED_NAMES).
    SPOKEN.with(|names| {
        if let Some(spoken) = names.borrow().get(user) {
            return spoken.clone();
        }
        let spoken = say(user);
        let mut names = names.borrow_mut();
        if names.len() >= MAX_REMEMBERED_NAMES {
            names.clear();
        }
        names.insert(user.to_string(), spoken.clone());
        spoken
    })
}

/// Usernames an isolate remembers the spoken names of.
const MAX_REMEMBERED_NAMES: usize = 1_024;

thread_local! {
    static SPOKEN: std::cell::RefCell<std::collections::HashMap<String, String>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// [`spoken_name`], worked out.
fn say(user: &str) -> String {
    // A name that is a web address or an email is an advert, not a name.
    let as_address = user.replace('_', "-");
    if crate::core::contact::has_url(&as_address) || crate::core::contact::has_email(user) {
        return NEUTRAL_NAME.to_string();
    }
    let words = split_words(&strip_decoration(user));
    let mut words: Vec<String> = words
        .into_iter()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .collect();
    // Trailing region codes and one-letter leftovers of random suffixes.
    while words.len() > 1 {
        let last = words.last().map(String::as_str).unwrap_or("");
        let region = REGION_CODES.contains(&last) && last.chars().all(|c| c.is_ascii_uppercase());
        if region || last.chars().count() == 1 || looks_random(last) {
            words.pop();
        } else {
            break;
        }
    }
    // One-letter leftovers go when a real word remains; "The" leads nothing.
    if words.iter().any(|w| w.chars().count() > 1) {
        words.retain(|w| w.chars().count() > 1);
    }
    if words.len() > 1 && words[0].eq_ignore_ascii_case("the") {
        words.remove(0);
    }
    let Some(first) = words.first().map(|w| w.to_lowercase()) else {
        return NEUTRAL_NAME.to_string();
    };
    if PLACEHOLDERS.contains(&first.as_str()) && words.len() == 1 {
        return NEUTRAL_NAME.to_string();
    }
    let mut spoken: Vec<String> = Vec::new();
    let mut rest = &words[..];
    if let Some((_, said)) = HONORIFICS.iter().find(|(h, _)| *h == first) {
        if words.len() > 1 {
            spoken.push((*said).to_string());
            rest = &words[1..];
        }
    } else if GIVEN_NAMES.contains(&first.as_str()) {
        rest = &words[..1];
    }
    spoken.extend(rest.iter().take(MAX_NAME_WORDS).map(|w| title_case(w)));
    spoken.truncate(MAX_NAME_WORDS);
    let spoken = spoken.join(" ");
    // A lone letter is an initial, not a name to call someone by.
    if spoken.chars().count() < 2 {
        return NEUTRAL_NAME.to_string();
    }
    spoken
}

/// A run of consonants no one would say (`qzx`, `kjh`): a random suffix.
fn looks_random(word: &str) -> bool {
    let lower = word.to_lowercase();
    lower.chars().count() >= 3
        && lower.chars().all(|c| c.is_ascii_alphabetic())
        && !lower.chars().any(|c| "aeiouy".contains(c))
}

/// Without `xX…Xx`-style wrapping: a leading run of two or more x's before a
/// capital or separator, and a trailing mixed-case run after a letter.
fn strip_decoration(user: &str) -> String {
    let chars: Vec<char> = user.trim().chars().collect();
    let mut start = 0;
    while start < chars.len() && matches!(chars[start], 'x' | 'X') {
        start += 1;
    }
    let leading_ok = start >= 2
        && chars
            .get(start)
            .is_some_and(|c| c.is_uppercase() || !c.is_alphanumeric());
    let start = if leading_ok { start } else { 0 };
    let mut end = chars.len();
    while end > start && matches!(chars[end - 1], 'x' | 'X') {
        end -= 1;
    }
    let run = &chars[end..];
    let mixed = run.contains(&'x') && run.contains(&'X');
    let before_is_break = end == start || !chars[end - 1].is_alphanumeric();
    let trailing_ok = run.len() >= 2 && (mixed || before_is_break || leading_ok) && end > start;
    let end = if trailing_ok { end } else { chars.len() };
    chars[start..end].iter().collect()
}

/// Words of a username: split at separators, lower-to-upper case changes,
/// the end of an acronym (`DJMax` → DJ, Max) and letter/digit boundaries.
fn split_words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if let Some(&p) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next_lower)
                || (p.is_alphabetic() && c.is_numeric())
                || (p.is_numeric() && c.is_alphabetic());
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `south` → South, `DJ` stays DJ (a short acronym), `BIGBOSS` → Bigboss.
fn title_case(word: &str) -> String {
    let n = word.chars().count();
    if (2..=3).contains(&n) && word.chars().all(|c| c.is_uppercase()) {
        return word.to_string();
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_become_names_a_person_would_say() {
        let table = [
            ("john_doe", "John"),
            ("Mary1999TX", "Mary"),
            ("mr_south", "Mister South"),
            ("CoolGuy_88", "Cool Guy"),
            ("xXDarkAngelXx", "Dark Angel"),
            ("dr.feelgood", "Doctor Feelgood"),
            ("www.cheapfollowers.shop", "friend"),
            ("buy_at_scam.com", "friend"),
            ("Bob8812", "Bob"),
            ("BigSpender2000", "Big Spender"),
            ("SweetPeaLover", "Sweet Pea Lover"),
            ("dark_knight_1987", "Dark Knight"),
            ("Sam_99", "Sam"),
            ("User456", NEUTRAL_NAME),
            ("User123", NEUTRAL_NAME),
            ("guest_4821", NEUTRAL_NAME),
            ("12345", NEUTRAL_NAME),
            ("___", NEUTRAL_NAME),
            ("", NEUTRAL_NAME),
            ("xx__xx", NEUTRAL_NAME),
            ("Max", "Max"),
            ("max", "Max"),
            ("Alexx", "Alexx"),
            ("Luna", "Luna"),
            ("mrs_robinson", "Missus Robinson"),
            ("Ms.Marvel", "Miz Marvel"),
            ("sir_lancelot77", "Sir Lancelot"),
            ("DrDisrespect", "Doctor Disrespect"),
            ("prof_oak", "Professor Oak"),
            ("mr", "Mr"),
            ("DJMax99", "DJ Max"),
            ("NightOwl_TX", "Night Owl"),
            ("sunny-side-up", "Sunny Side Up"),
            ("the.real.slim.shady", "Real Slim Shady"),
            ("FreshFace", "Fresh Face"),
            ("xxSniperxx", "Sniper"),
            ("XxShadowXx", "Shadow"),
            ("gamer_kjh", "Gamer"),
            ("tom_x7k2", "Tom"),
            ("RocketRaccoon_2024", "Rocket Raccoon"),
            ("Newbie7", "Newbie"),
            ("Small_Fry", "Small Fry"),
            ("jessica.jones", "Jessica"),
            ("KATE_NY", "Kate"),
            ("ZoeQ", "Zoe"),
            ("Ren\u{e9}e_92", "Ren\u{e9}e"),
            ("M\u{fc}llerFan", "M\u{fc}ller Fan"),
            ("a", NEUTRAL_NAME),
            ("u0", NEUTRAL_NAME),
            ("QueenBee1999", "Queen Bee"),
        ];
        assert!(table.len() >= 40);
        for (user, spoken) in table {
            assert_eq!(spoken_name(user), spoken, "{user}");
        }
    }

    #[test]
    fn never_empty_and_never_long() {
        for user in ["!!!", "\u{1F600}", "x", "A_B_C_D_E_F_G", &"Long".repeat(40)] {
            let s = spoken_name(user);
            assert!(!s.is_empty(), "{user}");
            assert!(s.split_whitespace().count() <= MAX_NAME_WORDS, "{user}: {s}");
        }
    }
}
