//! Verdicts on a model's answer before it may be spoken. [`Judge::answer`] is
//! the one call the coaching loop makes per model answer (a whole reply, or
//! the whole text of a streamed one): it returns the suggestion, or the
//! [`Quality`] failure that says why not and whether the same model may try
//! once more. [`Judge::rules_line`] holds the rules coach to the same limits.
//!
//! An answer is taken whole or not at all: [`crate::core::answer::parse`]
//! takes off only what plainly wraps it, and the line left is judged as the
//! model wrote it. Nothing is cut out of it, cleaned from inside it or cut at
//! the word limit; the one change is a room username said by its spoken name.
//! The checks are kept by family, each file saying what it refuses and why:
//! [`form`] (markup, labels, fragments, length), [`voice`] (refusals, talk
//! about the task, reasoning, narration), [`names`] (usernames nobody has;
//! the room's people), [`echoes`] (the prompt, room events, viewers' words,
//! what was said before), [`limits`] (contact details, the broadcaster's
//! preferences), with [`crate::core::answer::people`] for strangers' names,
//! repeated thank-yous and the pacing's focus. A hand-labelled set of the
//! real model's answers (tests/fixtures/labelled-answers.json) is judged in
//! the tests: no answer labelled unfit may pass.

mod echoes;
mod form;
mod limits;
mod names;
mod voice;
mod words;

pub use limits::avoided_terms;
pub use names::names_are_known;

use crate::core::answer::parse::{parse_draft, Action, Misshapen, Suggestion};
use crate::core::answer::people::{addresses_focus, names_a_stranger, repeats_recent_act};
use crate::core::answer::speech::clean;
use crate::core::llm::failure::{FailureKind, ModelFailure};
use crate::core::request::CoachRequest;
use echoes::Prompt;
use form::Misfit;
use names::People;
use serde_json::Value;
use words::words;

/// Why an answer is not spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// Nothing readable, empty, or `null`.
    Unusable,
    /// Cut off by the token limit: what the model meant to say is not all there.
    Truncated,
    /// The suggestion sits inside other text (a preamble, more lines, prose
    /// around its JSON): it would have to be cut out.
    NotWhole,
    /// Longer than a suggestion: over `MAX_WORDS` words, or more than two sentences.
    TooLong,
    /// A refusal, an apology, or talk about itself or the task.
    Refusal,
    /// The model's reasoning rather than a suggestion.
    Reasoning,
    /// A room event given back as if it were a suggestion.
    EchoedEvent,
    /// A line of the prompt played back, or paraphrased.
    EchoesPrompt,
    /// Markup of the prompt (`<<<ROOM_EVENTS>>>`, `[event 137s ago]`), of the
    /// model's chat template (`<|im_end|>`, `[/INST]`), or any a voice would
    /// read wrongly (markdown, emoji, stage directions).
    Markup,
    /// A speaker label (`Zoe:`, `luna_star:`, `Assistant:`): a script, not words to say.
    SpeakerLabel,
    /// Not a whole sentence: a lone word, an unclosed quote, a sentence that
    /// stops mid-way, no verb.
    Fragment,
    /// Narration about the room (`Zoe smiles and waves`, `The chat is quiet`).
    Narration,
    /// A question about something no one has named ("What's that in the corner?").
    Unfounded,
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
    /// Every verdict, so a failed call can be told for one by its label.
    pub const ALL: [Quality; 22] = [
        Quality::Unusable,
        Quality::Truncated,
        Quality::NotWhole,
        Quality::TooLong,
        Quality::Refusal,
        Quality::Reasoning,
        Quality::EchoedEvent,
        Quality::EchoesPrompt,
        Quality::Markup,
        Quality::SpeakerLabel,
        Quality::Fragment,
        Quality::Narration,
        Quality::QuotesViewer,
        Quality::ContactInfo,
        Quality::AgainstPreferences,
        Quality::Repeat,
        Quality::UnknownName,
        Quality::RepeatsAct,
        Quality::OffFocus,
        Quality::Silent,
        Quality::Unfounded,
        Quality::Unsafe,
    ];

    /// The verdict a failed call carries, when the judge (or the moderation
    /// model) refused what the model said rather than the call failing.
    pub fn of_failure(failure: &ModelFailure) -> Option<Quality> {
        let label = failure.label;
        failure
            .code
            .is_none()
            .then(|| Quality::ALL.into_iter().find(|q| q.label() == label))
            .flatten()
    }

    /// Whether the same model may try once more: a slip of one sample that a
    /// second usually avoids (a small model makes them often:
    /// docs/evaluation.md), such as an answer that was not whole or ran on;
    /// a refusal, a leak or a quote go to the next model. A request takes
    /// at most two refused answers either way
    /// ([`crate::core::coach::MAX_REFUSED_ANSWERS`]).
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
                | Quality::Unfounded
                | Quality::EchoesPrompt
                | Quality::Truncated
                | Quality::NotWhole
                | Quality::TooLong
                | Quality::Markup
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Quality::Unusable => "unusable answer",
            Quality::Truncated => "cut off by the token limit",
            Quality::NotWhole => "needed a piece cut out",
            Quality::TooLong => "over the word or sentence limit",
            Quality::Refusal => "refusal or meta-talk",
            Quality::Reasoning => "reasoning text",
            Quality::EchoedEvent => "echoed a room event",
            Quality::EchoesPrompt => "repeated the prompt",
            Quality::Markup => "markup or template tokens",
            Quality::SpeakerLabel => "a speaker label",
            Quality::Fragment => "not a whole sentence",
            Quality::Narration => "narration about the room",
            Quality::Unfounded => "asked about something no one named",
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

impl From<Misshapen> for Quality {
    fn from(m: Misshapen) -> Quality {
        match m {
            Misshapen::Empty => Quality::Unusable,
            Misshapen::Surrounded => Quality::NotWhole,
            Misshapen::Cut => Quality::Truncated,
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

/// What the checks need to know about the request and its prompt, worked
/// out once per request: what the preferences rule out, our prompt's lines
/// and runs, and the room's people.
pub struct Judge<'a> {
    req: &'a CoachRequest,
    max_words: usize,
    avoided: Vec<Vec<String>>,
    prompt: Prompt,
    people: People,
}

impl<'a> Judge<'a> {
    /// `system_prompt` is the system message the models were sent.
    pub fn new(req: &'a CoachRequest, system_prompt: &str, max_words: usize) -> Judge<'a> {
        Judge {
            req,
            max_words,
            avoided: req
                .preferences()
                .map(|p| avoided_terms(p.as_str()))
                .unwrap_or_default(),
            prompt: Prompt::of(req, system_prompt),
            people: People::of(req),
        }
    }

    pub fn request(&self) -> &'a CoachRequest {
        self.req
    }

    /// The verdict on a model's answer: its `response` (a string or, in JSON
    /// mode, an object) and its `finish_reason`.
    pub fn answer(&self, response: &Value, finish_reason: Option<&str>) -> Result<Suggestion, Quality> {
        // Cut off by the token limit, an answer is not whole, whatever it says
        // so far: `max_tokens` leaves room for a whole suggestion.
        if finish_reason == Some("length") {
            return Err(Quality::Truncated);
        }
        let draft = parse_draft(response)?;
        // The coach asks a model only when it has chosen to speak: a `wait`
        // would put nothing in the earpiece where a line was due.
        if draft.action() == Action::Wait {
            return Err(Quality::Silent);
        }
        let content = draft.content();
        // A room username is said by its spoken name: the line the earpiece
        // would say is judged as well as the line the model wrote.
        let spoken = self.people.speakable(content);
        self.verdict(content, &spoken, draft.action())?;
        Suggestion::new(draft.action(), &spoken).ok_or(Quality::Unusable)
    }

    /// The rules coach's line held to the same limits: cleaned, and `wait`
    /// when the preferences rule it out or it was said recently (the rules
    /// coach then tries its next kind of line).
    pub fn rules_line(&self, s: Suggestion) -> Suggestion {
        if s.action() == Action::Wait {
            return s;
        }
        let spoken = clean(s.content(), self.max_words);
        if limits::has_contact(&spoken)
            || self.against_preferences(&spoken)
            || echoes::repeats_what_was_said(&spoken, self.req)
        {
            return Suggestion::wait();
        }
        Suggestion::new(s.action(), &spoken).unwrap_or_else(Suggestion::wait)
    }

    /// The checks on `content`, the answer as the model wrote it, and
    /// `spoken`, the same with usernames said by name (`action` says whether
    /// they are words to say or an action to take), in order: what it
    /// carries (contact details, markup), its form as the earpiece would say
    /// it, what it is (a refusal, an echo, a script, narration, a fragment),
    /// and whom it names.
    fn verdict(&self, content: &str, spoken: &str, action: Action) -> Result<(), Quality> {
        if limits::has_contact(content) {
            return Err(Quality::ContactInfo);
        }
        if form::has_markup(content) {
            return Err(Quality::Markup);
        }
        if !names_are_known(content, self.req) {
            return Err(Quality::UnknownName);
        }
        form::fits_the_earpiece(spoken, self.max_words).map_err(|m| match m {
            Misfit::Markup => Quality::Markup,
            Misfit::TooLong => Quality::TooLong,
        })?;
        let lower = content.to_lowercase().replace('\u{2019}', "'");
        let bare = lower.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
        if bare.is_empty() || voice::is_null(bare) {
            return Err(Quality::Unusable);
        }
        if voice::reasons(&lower) {
            return Err(Quality::Reasoning);
        }
        if voice::refuses(&lower, content, &self.people) {
            return Err(Quality::Refusal);
        }
        if form::label_inside(content) {
            return Err(Quality::NotWhole);
        }
        if echoes::echoes_event(content, self.req) {
            return Err(Quality::EchoedEvent);
        }
        if form::speaker_label(content, &self.people) {
            return Err(Quality::SpeakerLabel);
        }
        let said = words(content);
        if self.prompt.shares_prompt_run(&said) || self.prompt.paraphrases_prompt(content, &self.people) {
            return Err(Quality::EchoesPrompt);
        }
        if echoes::quotes_a_viewer(&said, self.req) {
            return Err(Quality::QuotesViewer);
        }
        if voice::narrates(content, &self.people, action == Action::Say) {
            return Err(Quality::Narration);
        }
        if voice::points_at_nothing(content) {
            return Err(Quality::Unfounded);
        }
        if form::is_fragment(content) {
            return Err(Quality::Fragment);
        }
        if limits::against(&self.avoided, &said) {
            return Err(Quality::AgainstPreferences);
        }
        if echoes::repeats_what_was_said(content, self.req) {
            return Err(Quality::Repeat);
        }
        if names_a_stranger(content, self.req) {
            return Err(Quality::UnknownName);
        }
        if self.people.greets_no_one(content) || self.people.takes_a_name_for_words(content) {
            return Err(Quality::UnknownName);
        }
        let off_focus = match self.req.focus() {
            Some(focus) => !addresses_focus(content, focus),
            None => names::asked_for(self.req).is_some_and(|user| self.people.misses(content, user)),
        };
        if off_focus {
            return Err(Quality::OffFocus);
        }
        if repeats_recent_act(content, self.req) {
            return Err(Quality::RepeatsAct);
        }
        Ok(())
    }

    fn against_preferences(&self, content: &str) -> bool {
        limits::against(&self.avoided, &words(content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> CoachRequest {
        CoachRequest::from_json(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_failed_call_is_a_verdict_only_when_the_judge_made_it() {
        for q in Quality::ALL {
            // Exhaustive: a new verdict does not compile here until it is also in `ALL`.
            match q {
                Quality::Unusable
                | Quality::Truncated
                | Quality::NotWhole
                | Quality::TooLong
                | Quality::Refusal
                | Quality::Reasoning
                | Quality::EchoedEvent
                | Quality::EchoesPrompt
                | Quality::Markup
                | Quality::SpeakerLabel
                | Quality::Fragment
                | Quality::Narration
                | Quality::QuotesViewer
                | Quality::ContactInfo
                | Quality::AgainstPreferences
                | Quality::Repeat
                | Quality::UnknownName
                | Quality::RepeatsAct
                | Quality::OffFocus
                | Quality::Silent
                | Quality::Unfounded
                | Quality::Unsafe => {}
            }
            assert_eq!(Quality::of_failure(&q.into()), Some(q), "{q:?}");
        }
        let labels: std::collections::HashSet<_> = Quality::ALL.iter().map(|q| q.label()).collect();
        assert_eq!(labels.len(), Quality::ALL.len(), "one label per verdict");
        assert_eq!(Quality::of_failure(&ModelFailure::timeout()), None);
        let status = crate::core::llm::protocol::chat_completions::failure_for_status(500, None, false);
        assert_eq!(Quality::of_failure(&status), None);
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
    fn a_good_answer_is_spoken_as_written() {
        assert_eq!(
            verdict("Say: \"Ask chat about their weekend plans!\"").unwrap(),
            "Ask chat about their weekend plans!"
        );
        assert_eq!(
            verdict(r#"{"action": "say", "content": "Hi all, how is your night going?"}"#).unwrap(),
            "Hi all, how is your night going?"
        );
    }

    #[test]
    fn nothing_is_cut_out_cleaned_out_or_cut_short() {
        let cases = [
            // Markup from inside the line would have to go.
            ("**Say:** Ask chat about their weekend plans!", Quality::Markup),
            ("*waves* Hi all, welcome in!", Quality::Markup),
            ("Hi all, welcome in! \u{1F389}", Quality::Markup),
            ("Welcome in, @Max, good to see you!", Quality::Markup),
            // A suggestion inside other text would have to be cut out.
            ("Here you are:\nAsk chat about their plans!", Quality::NotWhole),
            (
                "Ask chat about their plans!\nThey will love it.",
                Quality::NotWhole,
            ),
            ("Good idea. Do: wave at the camera", Quality::NotWhole),
            // Too long: refused, never shortened.
            (
                "Tell chat one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
                Quality::TooLong,
            ),
            ("Hi all! Welcome in! Grab a drink!", Quality::TooLong),
        ];
        for (content, quality) in cases {
            assert_eq!(verdict(content), Err(quality), "{content}");
        }
        assert!(
            verdict("Hi all! Welcome in, grab a drink.").is_ok(),
            "two sentences"
        );
        assert!(
            verdict("Ask chat if the 2.5 hours flew by for them too!").is_ok(),
            "one sentence"
        );
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
                Quality::NotWhole,
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
            // The broadcaster's own name as a label: a line of a script.
            ("Zoe", "tip", "Zoe: \"Big Tipper", Quality::SpeakerLabel),
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
    fn usernames_are_said_by_their_spoken_names_and_labels_are_refused() {
        let req = smollm_room("MiaRose", "tip");
        let judge = Judge::new(&req, "", 15);
        let said = |a: &str| judge.answer(&json!(a), None).map(|s| s.content().to_string());
        let quiet = smollm_room("MiaRose", "inactivity");
        assert_eq!(
            Judge::new(&quiet, "", 15)
                .answer(&json!("Thank you so much, mr_south!"), None)
                .map(|s| s.content().to_string()),
            Ok("Thank you so much, Mister South!".to_string())
        );
        assert_eq!(
            said("Thanks, Tommy! Spinning just for you.").unwrap(),
            "Thanks, Tommy! Spinning just for you."
        );
        // The broadcaster's own name as a label, in any of its forms: a script.
        for labelled in [
            "MiaRose: Thank you for the tip, Tommy!",
            "Mia Rose: Hey, Nico, I'm happy to have you here tonight.",
            "miarose: Thank you for the tip, Tommy!",
        ] {
            assert_eq!(said(labelled), Err(Quality::SpeakerLabel), "{labelled}");
        }
        let luna = smollm_room("lunastar", "tip");
        assert_eq!(
            Judge::new(&luna, "", 15)
                .answer(&json!("Lunastar: \"Lets give you a gift! "), None)
                .map(|s| s.content().to_string()),
            Err(Quality::SpeakerLabel)
        );
    }

    #[test]
    fn a_line_must_speak_to_someone_about_the_one_it_was_asked_for() {
        let entrance = smollm_room("MiaRose", "userEnter");
        let judge = Judge::new(&entrance, "", 15);
        let verdict = |a: &str| judge.answer(&json!(a), None).map(|s| s.content().to_string());
        // Nico came in last: a line naming someone else misses him.
        assert_eq!(verdict("Dance with Max."), Err(Quality::OffFocus));
        assert!(verdict("Welcome in, Nico, make yourself at home!").is_ok());
        assert!(verdict("Welcome back, everyone!").is_ok());
        assert_eq!(verdict("Greet My hair."), Err(Quality::UnknownName));
        let spender = request(json!({"broadcaster": "Jade", "reason": "inactivity",
            "context": [{"text": "BigSpender2000 tipped 100 tokens", "type": "tip"}]}));
        let judge = Judge::new(&spender, "", 15);
        assert_eq!(
            judge.answer(
                &json!("You want to know how much money a big spender paid a small spender?"),
                None
            ),
            Err(Quality::UnknownName)
        );
        assert!(judge.answer(&json!("Big Spender, you are a star!"), None).is_ok());
        for narration in [
            "The next day, Nico is the one to thank.",
            "Max and Mia Rose, both are happy to share tips with Mia Rose.",
        ] {
            assert_eq!(verdict(narration), Err(Quality::Narration), "{narration}");
        }
        // The broadcaster speaking, asking, exclaiming, or calling a viewer by name.
        assert_eq!(verdict("What's that in the corner?"), Err(Quality::Unfounded));
        assert_eq!(verdict("Nico, who is that with you?"), Err(Quality::Unfounded));
        for spoken in [
            "I love having you all here tonight.",
            "Who wants a song next?",
            "What a night it has been!",
            "Nico, good to see you.",
        ] {
            assert!(verdict(spoken).is_ok(), "{spoken}");
        }
        for about_them in [
            "Would you like to answer a question to the viewers?",
            "You've got a good question. What's the most fun question you've ever asked a viewer?",
        ] {
            assert_eq!(verdict(about_them), Err(Quality::Refusal), "{about_them}");
        }
        assert!(verdict("Welcome in, new viewers, make yourselves at home!").is_ok());
    }

    #[test]
    fn the_line_saying_what_to_do_is_done_not_played_back() {
        use crate::core::prompt::{system_message, AnswerFormat};
        use crate::core::request::moments::{Focus, Moment, MomentKind};
        let quiet = smollm_room("JT", "inactivity");
        let system = system_message(&quiet, 15, AnswerFormat::Plain);
        let judge = Judge::new(&quiet, &system, 15);
        // "Ask the viewers a fun question." talked about instead of asked.
        for played_back in [
            "What's a fun question?",
            "You asked a fun question, and the answer was a fun question.",
        ] {
            assert_eq!(
                judge.answer(&json!(played_back), None),
                Err(Quality::EchoesPrompt),
                "{played_back}"
            );
        }
        assert!(judge
            .answer(
                &json!("Quick one, chat: what's the best snack for a night in?"),
                None
            )
            .is_ok());
        // A thank-you to the tippers the pacing chose names them as its line does.
        let mut tips = smollm_room("JT", "tip");
        let tip = |u: &str| Moment {
            kind: MomentKind::Tip,
            user: u.to_string(),
            amount: Some(5),
            key: u.to_string(),
        };
        tips.set_pace(
            Focus::of(vec![tip("PapaBear"), tip("tommy"), tip("Max")]),
            Vec::new(),
        );
        let system = system_message(&tips, 15, AnswerFormat::Plain);
        assert_eq!(
            Judge::new(&tips, &system, 15)
                .answer(&json!("Thank you Papa Bear, tommy and Max for the tips!"), None)
                .map(|s| s.content().to_string()),
            Ok("Thank you Papa Bear, tommy and Max for the tips!".to_string())
        );
    }

    #[test]
    fn an_answer_the_token_limit_cut_is_not_spoken() {
        let req = luna();
        let judge = Judge::new(&req, SYSTEM, 15);
        let cut = json!(r#"{"action":"say","content":"Welcome back, chat! Tell me what you"#);
        assert_eq!(judge.answer(&cut, Some("length")), Err(Quality::Truncated));
        assert_eq!(judge.answer(&cut, Some("stop")), Err(Quality::Truncated));
        let whole = json!(r#"{"action":"say","content":"Welcome back, chat!"}"#);
        assert_eq!(judge.answer(&whole, Some("length")), Err(Quality::Truncated));
        assert!(judge.answer(&whole, Some("stop")).is_ok());
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
        assert!(Quality::NotWhole.retry_same_model() && Quality::TooLong.retry_same_model());
        assert!(Quality::Markup.retry_same_model() && Quality::Truncated.retry_same_model());
        assert!(!Quality::Refusal.retry_same_model() && !Quality::QuotesViewer.retry_same_model());
        assert_eq!(
            ModelFailure::from(Quality::UnknownName).kind,
            FailureKind::RetryOnce
        );
        assert_eq!(ModelFailure::from(Quality::Repeat).kind, FailureKind::Refused);
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
        // The rules coach's own lines are cleaned, as ever.
        let fine = Suggestion::new(Action::Say, "*smiles* Welcome in! \u{1F389}").unwrap();
        assert_eq!(judge.rules_line(fine).content(), "Welcome in!");
    }
}
