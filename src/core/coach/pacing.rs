//! Pacing: whether the coach speaks now, and about what. The coach frontend
//! asks on every tip, chat message and entrance and speaks every answer, so
//! only the Worker can keep the earpiece from running over. The decision is
//! made per caller, over what its state object remembers of the session
//! ([`Session`]), before any model is called: a `wait` costs nothing.
//!
//! The rules, for a paced request (one the client sent on its own):
//! - never start a line while the last one is still being said (a line lasts
//!   its words at [`SPEECH_MS_PER_WORD`], 150 words a minute);
//! - after a line, leave quiet in proportion to it, so the earpiece carries
//!   at most [`PaceSettings::words_per_minute`] on average, whatever happens;
//! - an ordinary line (something open, a welcome) also waits the gap
//!   ([`PaceSettings::gap_ms`]) after the last line;
//! - a pressing moment (a tip, a question for the broadcaster, a newcomer's
//!   first words) does not wait the gap; when the earpiece will be free within
//!   [`HOLD_MAX_MS`], the answer is held until then rather than lost;
//! - moments of one kind are said together ("Thank you Sara, Tom and Max!"),
//!   up to [`MAX_FOCUS_PEOPLE`] people, and a moment is said once.
//!
//! A request that is not paced (asked on purpose) always gets a line, about
//! whatever fits (the rules coach thanks, answers and welcomes in its own
//! order); the acts of that line, once recorded, settle the moments it spoke to. Everything is arithmetic on
//! the given time, tested on a fake clock.

use crate::core::order::sort_by_key;
use crate::core::request::moments::{Act, ActKind, Focus, Moment, MomentKind, MAX_FOCUS_PEOPLE};
use serde::{Deserialize, Serialize};

/// Speech at 150 words a minute.
pub const SPEECH_MS_PER_WORD: u64 = 400;
/// Longest wait for the earpiece to be free that a pressing moment is held for.
pub const HOLD_MAX_MS: u64 = 3_000;
/// While a chosen line is being made (the model is asked), the earpiece
/// counts as taken for this long, past the longest request deadline (14 s)
/// and a long line's words; the answer's record then sets the truth.
pub const CLAIM_MS: u64 = 20_000;
/// Moments remembered per caller, and acts.
pub const MAX_TRACKED: usize = 64;
/// How long an act is remembered: the same thank-you or welcome to the same
/// person is not said again within it.
pub const ACT_KEPT_MS: u64 = 15 * 60_000;

/// How long a moment is still worth a line after it was first seen: a tip is
/// thanked late rather than never; a question a minute old has moved on.
fn stale_after_ms(kind: MomentKind) -> u64 {
    match kind {
        MomentKind::Tip => 180_000,
        MomentKind::Question | MomentKind::FirstWords => 45_000,
        MomentKind::Entrance => 60_000,
    }
}

/// The deployment's pacing (`PACE_GAP_SECONDS`, `PACE_WORDS_PER_MINUTE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaceSettings {
    /// Quiet after a line before an ordinary one.
    pub gap_ms: u64,
    /// The most the earpiece carries on average, in words a minute (below
    /// 150, the speech rate).
    pub words_per_minute: u64,
}

impl PaceSettings {
    /// The quiet a line of `words` needs after it for the average to stay
    /// within `words_per_minute`: its own length times (150 / wpm − 1).
    pub fn quiet_after_ms(&self, words: u64) -> u64 {
        let wpm = self.words_per_minute.clamp(1, 149);
        words * SPEECH_MS_PER_WORD * (150 - wpm) / wpm
    }
}

/// A moment as the state object keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub moment: Moment,
    pub seen_ms: u64,
    pub done: bool,
}

/// What a caller's state object remembers of the session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Session {
    /// When the last line ends (or a line being made is expected to).
    pub speaking_until_ms: u64,
    /// Words of the last line (0: none, or a wait).
    pub last_words: u64,
    pub moments: Vec<Tracked>,
    pub acts: Vec<Act>,
}

/// What the Worker sends with a request's admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaceAsk {
    pub now_ms: u64,
    pub paced: bool,
    pub settings: PaceSettings,
    /// The moments of the request's room.
    pub moments: Vec<Moment>,
}

/// Why a paced request waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitWhy {
    /// The last line is still being said.
    Speaking,
    /// The quiet after the last line is not over.
    Gap,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Speak about `focus`, after holding the answer `hold_ms`.
    Speak {
        focus: Focus,
        hold_ms: u64,
    },
    Wait(WaitWhy),
}

/// What the state object answers: the verdict, and the acts of lines said
/// lately (so a model's line does not do one again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paced {
    pub verdict: Verdict,
    pub acts: Vec<Act>,
}

/// Decides `ask` over `session`; returns the decision and the session to store.
pub fn decide(mut session: Session, ask: &PaceAsk) -> (Paced, Session) {
    let now = ask.now_ms;
    track(&mut session, &ask.moments, now);
    let pending: Vec<&Tracked> = session.moments.iter().filter(|t| !t.done).collect();
    let top = pending.iter().map(|t| t.moment.kind).min();
    let free_at = session.speaking_until_ms;
    let quiet = ask.settings.quiet_after_ms(session.last_words);
    let verdict = if !ask.paced {
        Verdict::Speak {
            focus: Focus::Open,
            hold_ms: 0,
        }
    } else {
        match top {
            Some(kind) if kind.pressing() => {
                let hold_ms = (free_at + quiet).saturating_sub(now);
                if hold_ms <= HOLD_MAX_MS {
                    Verdict::Speak {
                        focus: Focus::Open,
                        hold_ms,
                    }
                } else if now < free_at {
                    Verdict::Wait(WaitWhy::Speaking)
                } else {
                    Verdict::Wait(WaitWhy::Gap)
                }
            }
            _ if now < free_at => Verdict::Wait(WaitWhy::Speaking),
            _ if now < free_at + quiet.max(ask.settings.gap_ms) => Verdict::Wait(WaitWhy::Gap),
            _ => Verdict::Speak {
                focus: Focus::Open,
                hold_ms: 0,
            },
        }
    };
    let verdict = match verdict {
        // Asked on purpose: a line about whatever fits; its acts, once
        // recorded, settle the moments it spoke to.
        Verdict::Speak { hold_ms, .. } if !ask.paced => {
            session.speaking_until_ms = now + hold_ms + CLAIM_MS;
            Verdict::Speak {
                focus: Focus::Open,
                hold_ms,
            }
        }
        Verdict::Speak { hold_ms, .. } => {
            let focus = choose(&mut session, top);
            session.speaking_until_ms = now + hold_ms + CLAIM_MS;
            Verdict::Speak { focus, hold_ms }
        }
        wait => wait,
    };
    let acts = session.acts.clone();
    (Paced { verdict, acts }, session)
}

/// Adds the moments not yet tracked, settles those a line already spoke to
/// (a tip whose tipper was thanked since it was seen; anything else whose
/// person was named since), and forgets stale and old ones.
fn track(session: &mut Session, moments: &[Moment], now: u64) {
    for m in moments {
        if !session.moments.iter().any(|t| t.moment.key == m.key) {
            session.moments.push(Tracked {
                moment: m.clone(),
                seen_ms: now,
                done: false,
            });
        }
    }
    for t in &mut session.moments {
        let person = t.moment.user.to_lowercase();
        let spoken_to = session.acts.iter().any(|a| {
            a.person == person
                && a.at_ms >= t.seen_ms
                && (t.moment.kind != MomentKind::Tip || a.kind == ActKind::Thank)
        });
        if spoken_to || now.saturating_sub(t.seen_ms) > stale_after_ms(t.moment.kind) {
            t.done = true;
        }
    }
    // Done moments are kept (their keys stop a later request bringing them
    // back) until there are too many; then the oldest go.
    sort_by_key(&mut session.moments, |t| t.seen_ms);
    let extra = session.moments.len().saturating_sub(MAX_TRACKED);
    session.moments.drain(..extra);
    session.acts.retain(|a| now.saturating_sub(a.at_ms) < ACT_KEPT_MS);
}

/// The focus of a line about moments of `kind` (the most pressing pending
/// kind; `None`: an open line): up to [`MAX_FOCUS_PEOPLE`] people, oldest
/// first, with all their pending moments of that kind, marked done. Anyone
/// the line names has their other pending moments but tips done too: they
/// were spoken to.
fn choose(session: &mut Session, kind: Option<MomentKind>) -> Focus {
    let Some(kind) = kind else {
        return Focus::Open;
    };
    let mut people: Vec<String> = Vec::new();
    for t in session
        .moments
        .iter()
        .filter(|t| !t.done && t.moment.kind == kind)
    {
        if !people.contains(&t.moment.user) && people.len() < MAX_FOCUS_PEOPLE {
            people.push(t.moment.user.clone());
        }
    }
    let mut chosen = Vec::new();
    for t in session
        .moments
        .iter_mut()
        .filter(|t| !t.done && people.contains(&t.moment.user))
    {
        if t.moment.kind == kind {
            chosen.push(t.moment.clone());
            t.done = true;
        } else if t.moment.kind != MomentKind::Tip {
            t.done = true;
        }
    }
    Focus::of(chosen)
}

/// The session once the answer went out at `now_ms`: a line of `words`
/// (0 for a wait or no answer) takes the earpiece until it is said; `acts`
/// are remembered.
pub fn record(mut session: Session, now_ms: u64, words: u64, acts: Vec<Act>) -> Session {
    session.speaking_until_ms = now_ms + words * SPEECH_MS_PER_WORD;
    session.last_words = words;
    session.acts.extend(acts);
    let extra = session.acts.len().saturating_sub(MAX_TRACKED);
    session.acts.drain(..extra);
    session
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;
    const SETTINGS: PaceSettings = PaceSettings {
        gap_ms: 20_000,
        words_per_minute: 40,
    };

    fn moment(kind: MomentKind, user: &str, key: &str) -> Moment {
        Moment {
            kind,
            user: user.to_string(),
            amount: (kind == MomentKind::Tip).then_some(50),
            key: key.to_string(),
        }
    }

    fn ask(now_ms: u64, moments: Vec<Moment>) -> PaceAsk {
        PaceAsk {
            now_ms,
            paced: true,
            settings: SETTINGS,
            moments,
        }
    }

    /// A session whose last line of `words` ended at `end`.
    fn after_line(end: u64, words: u64) -> Session {
        record(
            Session::default(),
            end - words * SPEECH_MS_PER_WORD,
            words,
            vec![],
        )
    }

    fn people(p: &Paced) -> Vec<&str> {
        match &p.verdict {
            Verdict::Speak { focus, .. } => focus.people(),
            Verdict::Wait(_) => vec![],
        }
    }

    #[test]
    fn a_line_still_being_said_is_never_talked_over() {
        let s = record(Session::default(), T0, 10, vec![]);
        // 10 words last 4 s; a tip 1 s in waits.
        let tip = vec![moment(MomentKind::Tip, "sara", "t1")];
        let (p, s) = decide(s, &ask(T0 + 1_000, tip.clone()));
        assert_eq!(p.verdict, Verdict::Wait(WaitWhy::Speaking));
        // Still pending when the line is over and the quiet after it too.
        let quiet = SETTINGS.quiet_after_ms(10);
        assert_eq!(quiet, 11_000);
        let (p, _) = decide(s, &ask(T0 + 4_000 + quiet, tip));
        assert_eq!(people(&p), ["sara"]);
    }

    #[test]
    fn an_ordinary_line_waits_the_gap_a_pressing_one_only_the_quiet() {
        let s = after_line(T0, 5);
        let quiet = SETTINGS.quiet_after_ms(5);
        assert!(quiet < SETTINGS.gap_ms);
        let (p, s) = decide(s, &ask(T0 + quiet, vec![]));
        assert_eq!(p.verdict, Verdict::Wait(WaitWhy::Gap));
        let (p, s) = decide(
            s,
            &ask(T0 + quiet, vec![moment(MomentKind::Question, "max", "q1")]),
        );
        assert_eq!(people(&p), ["max"]);
        // The question's line takes the earpiece while it is made.
        let (p, _) = decide(s, &ask(T0 + quiet + 1, vec![]));
        assert_eq!(p.verdict, Verdict::Wait(WaitWhy::Speaking));
        let s = after_line(T0, 5);
        let (p, _) = decide(s, &ask(T0 + SETTINGS.gap_ms, vec![]));
        assert_eq!(
            p.verdict,
            Verdict::Speak {
                focus: Focus::Open,
                hold_ms: 0
            }
        );
    }

    #[test]
    fn a_pressing_moment_is_held_until_the_earpiece_is_free_when_that_is_soon() {
        let s = after_line(T0, 4);
        let ready = T0 + SETTINGS.quiet_after_ms(4);
        let (p, _) = decide(
            s.clone(),
            &ask(ready - 2_000, vec![moment(MomentKind::Tip, "sara", "t1")]),
        );
        assert!(
            matches!(p.verdict, Verdict::Speak { hold_ms: 2_000, .. }),
            "{p:?}"
        );
        let (p, _) = decide(
            s,
            &ask(
                ready - HOLD_MAX_MS - 1,
                vec![moment(MomentKind::Tip, "sara", "t1")],
            ),
        );
        assert_eq!(p.verdict, Verdict::Wait(WaitWhy::Gap));
    }

    #[test]
    fn tips_of_a_gap_are_thanked_together_and_once() {
        let s = after_line(T0, 10);
        let (_, s) = decide(s, &ask(T0 + 1_000, vec![moment(MomentKind::Tip, "sara", "t1")]));
        let tips = vec![
            moment(MomentKind::Tip, "sara", "t1"),
            moment(MomentKind::Tip, "tom", "t2"),
            moment(MomentKind::Question, "kim", "q1"),
            moment(MomentKind::Tip, "max", "t3"),
            moment(MomentKind::Tip, "tom", "t4"),
        ];
        let (_, s) = decide(s, &ask(T0 + 2_000, tips.clone()));
        // The question first: it goes stale sooner.
        let (p, s) = decide(s, &ask(T0 + 12_000, tips.clone()));
        assert_eq!(people(&p), ["kim"]);
        let s = record(s, T0 + 12_000, 6, vec![]);
        let (p, s) = decide(s, &ask(T0 + 30_000, tips.clone()));
        match &p.verdict {
            Verdict::Speak {
                focus: Focus::Thanks(m),
                ..
            } => {
                assert_eq!(m.len(), 4, "both of Tom's tips");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(people(&p), ["sara", "tom", "max"]);
        let s = record(s, T0 + 31_000, 6, vec![]);
        // The same moments again: nothing pressing is left, no tip twice.
        let (p, _) = decide(s, &ask(T0 + 41_000, tips));
        assert_eq!(p.verdict, Verdict::Wait(WaitWhy::Gap));
    }

    #[test]
    fn at_most_three_people_a_line_the_rest_next() {
        let tips: Vec<Moment> = ["a1", "b2", "c3", "d4"]
            .iter()
            .map(|u| moment(MomentKind::Tip, u, u))
            .collect();
        let (p, s) = decide(Session::default(), &ask(T0, tips.clone()));
        assert_eq!(people(&p), ["a1", "b2", "c3"]);
        let s = record(s, T0, 5, vec![]);
        let (p, _) = decide(s, &ask(T0 + 60_000, tips));
        assert_eq!(people(&p), ["d4"]);
    }

    #[test]
    fn stale_questions_are_dropped_tips_are_not() {
        let s = after_line(T0, 15);
        let m = vec![
            moment(MomentKind::Question, "kim", "q1"),
            moment(MomentKind::Tip, "sara", "t1"),
        ];
        let (_, s) = decide(s, &ask(T0 - 60_000, m.clone()));
        let (p, s) = decide(s, &ask(T0 + 120_000, m.clone()));
        assert_eq!(people(&p), ["sara"]);
        let s = record(s, T0 + 120_000, 5, vec![]);
        let (p, _) = decide(s, &ask(T0 + 200_000, m));
        assert_eq!(
            p.verdict,
            Verdict::Speak {
                focus: Focus::Open,
                hold_ms: 0
            }
        );
    }

    #[test]
    fn a_request_asked_on_purpose_always_speaks_and_its_acts_settle_moments() {
        let s = record(Session::default(), T0, 15, vec![]);
        let tip = vec![
            moment(MomentKind::Tip, "kim", "t1"),
            moment(MomentKind::Question, "bo", "q1"),
        ];
        let mut a = ask(T0 + 10, tip.clone());
        a.paced = false;
        let (p, s) = decide(s, &a);
        assert_eq!(
            p.verdict,
            Verdict::Speak {
                focus: Focus::Open,
                hold_ms: 0
            }
        );
        // Its line thanked Kim: her tip is not brought up again; Bo's question is.
        let thanked = Act {
            at_ms: T0 + 500,
            kind: ActKind::Thank,
            person: "kim".to_string(),
        };
        let s = record(s, T0 + 500, 5, vec![thanked]);
        let (p, _) = decide(s, &ask(T0 + 30_000, tip));
        assert_eq!(people(&p), ["bo"]);
    }

    #[test]
    fn the_average_stays_within_the_words_a_minute_however_pressing() {
        // A tip every 2 s for ten minutes; every line 12 words, said as soon as allowed.
        let mut s = Session::default();
        let (mut words, mut now) = (0, T0);
        for i in 0..300u64 {
            now = T0 + i * 2_000;
            let tip = vec![moment(MomentKind::Tip, &format!("v{i}"), &format!("t{i}"))];
            let (p, next) = decide(s, &ask(now, tip));
            s = match p.verdict {
                Verdict::Speak { hold_ms, .. } => {
                    words += 12;
                    record(next, now + hold_ms, 12, vec![])
                }
                Verdict::Wait(_) => next,
            };
        }
        let minutes = (now - T0) as f64 / 60_000.0;
        assert!(
            words as f64 / minutes <= 41.0,
            "{} words a minute",
            words as f64 / minutes
        );
    }

    #[test]
    fn acts_are_kept_a_while() {
        let act = Act {
            at_ms: T0,
            kind: ActKind::Thank,
            person: "sara".to_string(),
        };
        let s = record(Session::default(), T0, 5, vec![act]);
        let (p, s) = decide(s, &ask(T0 + 60_000, vec![]));
        assert_eq!(p.acts.len(), 1);
        let (p, _) = decide(s, &ask(T0 + ACT_KEPT_MS, vec![]));
        assert!(p.acts.is_empty());
    }
}
