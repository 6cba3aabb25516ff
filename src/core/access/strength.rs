//! Whether a configured secret may guard this Worker: `SESSION_SECRET`
//! (and `SESSION_SECRET_PREVIOUS`), `ADMIN_TOKEN` and each of `API_TOKENS`.
//!
//! A secret is refused when it is one of the values this repository ships
//! as examples (anyone can read them, so a deployment that copied one is
//! open to anyone), or when it is shorter than its minimum. Local mode
//! (`LOCAL_DEV = true`, which only `./scripts/dev` sets, on wrangler's
//! command line) accepts the shipped values, so `.dev.vars` as
//! `scripts/setup` copies it from `.dev.vars.example` keeps working there.
//! The mode is read from the Worker's vars alone, never from a request.

use super::auth::TokenDigest;

/// Shortest `SESSION_SECRET`: 32 characters (128 bits or more of randomness
/// from `openssl rand -hex 32`, which gives 64).
pub const MIN_SESSION_SECRET_CHARS: usize = 32;
/// Shortest `ADMIN_TOKEN` and `API_TOKENS` entry: 24 characters (96 bits as
/// hex, beyond guessing under the failed-authentication budget; `openssl
/// rand -hex 32` gives 64).
pub const MIN_TOKEN_CHARS: usize = 24;

/// The secrets' values this repository shows as examples: `.dev.vars.example`
/// (which `scripts/setup` copies to `.dev.vars`), and the README and docs,
/// which use the same ones. A test keeps this list equal to the file's values.
const SHIPPED: [&str; 3] = [
    "dev-token-change-me",
    "dev-admin-token-change-me",
    "dev-session-secret-change-me-0123456789abcdef",
];

/// Where the Worker runs, as `LOCAL_DEV` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Anything but `./scripts/dev`: the shipped examples are refused.
    Deployed,
    /// `wrangler dev` on the developer's machine, with `--var LOCAL_DEV:true`.
    Local,
}

/// Why a secret is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// One of the example values this repository ships.
    Shipped,
    /// Fewer characters than `min`.
    Short { min: usize },
}

impl Weakness {
    /// What is wrong, after the variable's name; never the value.
    pub fn problem(self) -> String {
        match self {
            Weakness::Shipped => "is an example value shipped with this project (.dev.vars.example, the docs), which anyone can read; a deployed Worker refuses it (only ./scripts/dev accepts it). Make a new one with openssl rand -hex 32".to_string(),
            Weakness::Short { min } => format!("must be at least {min} characters (openssl rand -hex 32)"),
        }
    }
}

/// Checks a trimmed secret against the shipped examples (as digests, in
/// constant time, like every other comparison of a secret here) and its
/// minimum length.
pub fn check(value: &str, min_chars: usize, mode: Mode) -> Result<(), Weakness> {
    let digest = TokenDigest::of(value);
    let shipped = SHIPPED
        .iter()
        .fold(false, |found, s| found | TokenDigest::of(s).matches(&digest));
    match (shipped, mode) {
        (true, Mode::Local) => Ok(()),
        (true, Mode::Deployed) => Err(Weakness::Shipped),
        (false, _) if value.chars().count() < min_chars => Err(Weakness::Short { min: min_chars }),
        (false, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NAME=value` lines of `.dev.vars.example` that set a secret.
    fn example_secrets() -> Vec<(String, String)> {
        include_str!("../../../.dev.vars.example")
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(name, _)| ["API_TOKENS", "ADMIN_TOKEN", "SESSION_SECRET"].contains(name))
            .flat_map(|(name, value)| {
                value
                    .split(',')
                    .map(|v| (name.to_string(), v.trim().to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_example_secret_is_refused_when_deployed_and_accepted_locally() {
        let examples = example_secrets();
        assert_eq!(examples.len(), 3, "{examples:?}");
        for (name, value) in examples {
            assert_eq!(
                check(&value, MIN_TOKEN_CHARS, Mode::Deployed),
                Err(Weakness::Shipped),
                "{name}"
            );
            assert_eq!(
                check(&value, MIN_SESSION_SECRET_CHARS, Mode::Local),
                Ok(()),
                "{name}"
            );
        }
    }

    #[test]
    fn short_values_are_refused_in_either_mode() {
        for mode in [Mode::Deployed, Mode::Local] {
            assert_eq!(
                check(&"x".repeat(23), MIN_TOKEN_CHARS, mode),
                Err(Weakness::Short { min: 24 })
            );
            assert_eq!(check(&"x".repeat(24), MIN_TOKEN_CHARS, mode), Ok(()));
        }
        // Characters, not bytes.
        assert_eq!(
            check(&"\u{e9}".repeat(12), 24, Mode::Deployed),
            Err(Weakness::Short { min: 24 })
        );
    }

    #[test]
    fn a_value_close_to_an_example_is_its_own() {
        let near = "dev-session-secret-change-me-0123456789abcdeF";
        assert_eq!(check(near, MIN_SESSION_SECRET_CHARS, Mode::Deployed), Ok(()));
    }

    #[test]
    fn the_problem_never_carries_the_value() {
        assert!(Weakness::Shipped.problem().contains("example"));
        assert!(Weakness::Short { min: 32 }
            .problem()
            .contains("at least 32 characters"));
    }
}
