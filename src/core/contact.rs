//! Contact details in text: URLs and domains (written, obfuscated or read
//! aloud), email addresses and phone numbers. The door strips links from
//! room events with these, spoken names avoid them, and the checks refuse a
//! suggestion that carries one.

fn is_url(w: &str) -> bool {
    // "scam[.]com" and "scam(.)com" are written to slip past filters.
    let lower = w.to_ascii_lowercase().replace("[.]", ".").replace("(.)", ".");
    if lower.contains("://") || lower.starts_with("www.") {
        return true;
    }
    // A bare domain: a host with a letter, a dot, then a known top-level
    // label (a list, not any word: "dr.feelgood" is a name).
    let Some((host, tld)) = lower.rsplit_once('.') else {
        return false;
    };
    let tld = tld.split('/').next().unwrap_or("");
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && host.chars().any(|c| c.is_ascii_alphabetic())
        && DOMAIN_TLDS.contains(&tld)
}

/// Top-level labels of written domains: the common generic ones, the cheap
/// ones spam favours, and the country codes used as brands.
const DOMAIN_TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "tv", "me", "gg", "ly", "xyz", "info", "biz", "app", "dev", "shop",
    "store", "site", "online", "live", "ai", "ru", "de", "uk", "us", "link", "fans", "club", "example", "to",
    "cc", "fm", "top", "vip", "win", "pro", "tech", "space", "fun", "lol", "page", "blog", "news", "today",
    "world", "one", "cam", "chat", "social", "sex", "xxx", "porn", "tk", "ml", "ga", "cf", "cn", "jp", "fr",
    "es", "it", "nl", "br", "in", "ca", "au", "eu", "ws", "su", "bz", "gl", "sh", "ms", "gd", "sx",
    "onlyfans", "click", "buzz", "icu",
];

/// Top-level labels a domain is read aloud with ("scam dot net").
const SPOKEN_TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "tv", "me", "gg", "xyz", "info", "biz", "app", "dev", "shop", "store",
    "site", "online", "live", "ai", "ru", "de", "uk", "us", "link", "fans", "club", "example",
];

fn is_email(w: &str) -> bool {
    match w.rsplit_once('@') {
        Some((user, domain)) => !user.is_empty() && domain.contains('.') && !domain.ends_with('.'),
        None => false,
    }
}

/// A token that is a phone number by itself (`555-123-4567`, `+15551234567`).
pub fn is_phone_token(w: &str) -> bool {
    let digits = w.chars().filter(char::is_ascii_digit).count();
    digits >= 7 && w.chars().all(|c| c.is_ascii_digit() || "+-().".contains(c))
}

/// Whether `text` carries a URL or a bare domain, written or read aloud.
pub fn has_url(text: &str) -> bool {
    // Every address has a dot, `://` or a spoken "dot": most text has none.
    let b = text.as_bytes();
    if !b.contains(&b'.')
        && !b
            .windows(3)
            .any(|w| w == b"://" || w.eq_ignore_ascii_case(b"dot"))
    {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let spoken = words.windows(2).any(|w| {
        let label = w[1].trim_matches(|c: char| !c.is_ascii_alphanumeric());
        w[0] == "dot" && SPOKEN_TLDS.contains(&label)
    });
    spoken
        || words.iter().any(|w| {
            let w = w
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != ':' && c != ']' && c != ')');
            is_url(w)
        })
}

/// Whether `text` carries an email address.
pub fn has_email(text: &str) -> bool {
    text.split_whitespace()
        .any(|w| is_email(w.trim_matches(|c: char| !c.is_alphanumeric())))
}

/// Whether `text` carries a phone number: seven or more digits in one run of
/// digits, spaces and phone punctuation (`(555) 123 4567`).
pub fn has_phone(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= 7 {
                return true;
            }
        } else if !" +-().".contains(c) {
            digits = 0;
        }
    }
    false
}
