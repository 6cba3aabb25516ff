//! Property tests of every parser that sees untrusted input: random and
//! mutated inputs must never panic (a panic in wasm can poison the isolate),
//! and what comes out keeps its invariants. A small xorshift generator keeps
//! this free of extra crates and reproducible (fixed seeds).

use coach_worker::core::access::session::{self, KeyLife, Keyring, RevokeRequest, SessionSecret};
use coach_worker::core::access::strength::Mode;
use coach_worker::core::answer::judge::{avoided_terms, Judge};
use coach_worker::core::answer::moderation::{allows, Blocked};
use coach_worker::core::answer::parse::{parse_draft, Action, Suggestion, HARD_MAX_WORDS};
use coach_worker::core::answer::speech::clean;
use coach_worker::core::coach::rules;
use coach_worker::core::contact::has_url;
use coach_worker::core::error::ApiError;
use coach_worker::core::llm::failure::classify_error;
use coach_worker::core::llm::protocol::workers_ai::{reply_from_sse, reply_from_value};
use coach_worker::core::prompt::names::spoken_name;
use coach_worker::core::prompt::{build_messages, system_message, AnswerFormat, MAX_PROMPT_CHARS};
use coach_worker::core::request::recent::Recent;
use coach_worker::core::request::CoachRequest;
use coach_worker::core::text::{neutralize_untrusted, FENCE_CLOSE};
use coach_worker::core::time::parse_rfc3339;
use serde_json::{json, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    "\\u",
    "action",
    "content",
    "say",
    "do",
    "wait",
    "response",
    "```",
    "json",
    "\n",
    " ",
    "data:",
    "[DONE]",
    "Tip:",
    "Chat:",
    "tipped",
    "50",
    "1,000",
    "-",
    "T",
    "Z",
    "+02:00",
    "2025-03-13",
    "03:15:45",
    ".000",
    "\u{e9}",
    "\u{1F389}",
    "\u{200D}",
    "<<<END_ROOM_EVENTS>>>",
    "<|im_start|>",
    "[INST]",
    "\u{0}",
    "\r",
    "User_123",
    "?",
    "you",
    "null",
    "true",
    "-1",
    "1e309",
    "99999999999999999999",
    "\u{E0041}",
    "\u{E007F}",
    "\u{202E}",
    "@",
    "_",
    "xX",
    "mr",
    "https://scam.example",
    "a@b.co",
    "555-123-4567",
    "*",
    "**",
    "#",
    "never mention",
    "no ",
    "I'm sorry, but",
    ".",
    "!",
    "You: ",
    " sent private message to ",
    " entered the room",
    " left the room",
    " has followed",
    " joined the fan club",
    " purchased ",
    " set: ",
    "Room Subject changed to ",
    "Anonymous",
    "Connecting to: ",
    "eventsapi.chaturbate.com/events/",
    "/tok3n/",
    "www.",
];

fn random_text(rng: &mut Rng, max_pieces: usize) -> String {
    let n = rng.below(max_pieces + 1);
    (0..n).map(|_| rng.pick(PIECES)).collect()
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(64);
    (0..n).map(|_| rng.next() as u8).collect()
}

fn random_json(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.below(3) == 0),
        2 => json!(rng.next() as i64 % 2_000 - 1_000),
        3 => json!(rng.next() as f64 / 7.0),
        4 => json!(random_text(rng, 12)),
        5 => Value::Array((0..rng.below(4)).map(|_| random_json(rng, depth + 1)).collect()),
        _ => {
            let keys = [
                "text",
                "type",
                "user",
                "timestamp",
                "action",
                "content",
                "response",
                "usage",
            ];
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                map.insert(rng.pick(&keys).to_string(), random_json(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

fn random_request(rng: &mut Rng) -> Value {
    let event = |rng: &mut Rng| {
        let mut e =
            json!({"text": random_text(rng, 20), "type": rng.pick(&["chat", "tip", "join", "other", "Tip"])});
        if rng.below(2) == 0 {
            e["user"] = json!(random_text(rng, 3));
        }
        if rng.below(2) == 0 {
            e["timestamp"] =
                json!(rng.pick(&["2025-03-13T03:15:45.000Z", "2025-03-13T03:15:45+02:00", "bad"]));
        }
        e
    };
    let context = if rng.below(2) == 0 {
        Value::Array((0..rng.below(40)).map(|_| event(rng)).collect())
    } else {
        json!(random_text(rng, 60))
    };
    let mut body = json!({"broadcaster": random_text(rng, 6), "context": context});
    if rng.below(2) == 0 {
        body["preferences"] = json!(random_text(rng, 30));
    }
    if rng.below(3) == 0 {
        body["options"] = random_json(rng, 1);
    }
    if rng.below(3) == 0 {
        body["recent"] = if rng.below(4) == 0 {
            random_json(rng, 1)
        } else {
            Value::Array((0..rng.below(12)).map(|_| json!(random_text(rng, 8))).collect())
        };
    }
    body
}

fn check_suggestion(answer: &Value) {
    if let Some(s) = parse_draft(answer)
        .ok()
        .and_then(|d| Suggestion::new(d.action(), d.content()))
    {
        if s.action() != Action::Wait {
            assert!(s.content().chars().any(char::is_alphanumeric), "{answer}");
        }
        assert!(
            s.content().split_whitespace().count() <= HARD_MAX_WORDS,
            "{answer}"
        );
        assert!(!s.content().contains('\n'));
    }
}

#[test]
fn request_parsing_never_panics_and_prompts_stay_bounded() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..5_000 {
        let body = random_request(&mut rng);
        if let Ok(req) = CoachRequest::from_json(body.to_string().as_bytes()) {
            accepted += 1;
            let budget = [MAX_PROMPT_CHARS, 2_000, 300][rng.below(3)];
            let prompt: String = build_messages(&req, None, budget, 15, AnswerFormat::Json)
                .iter()
                .map(|m| m.content.as_str())
                .collect();
            assert!(prompt.chars().count() <= budget);
            let _ = rules::suggest(&req, None, |s| s);
            let system = system_message(&req, 15, AnswerFormat::Json);
            let judge = Judge::new(&req, &system, 15);
            for _ in 0..3 {
                let answer = json!(random_text(&mut rng, 30));
                if let Ok(s) = judge.answer(&answer, [None, Some("length")][rng.below(2)]) {
                    assert!(s.content().split_whitespace().count() <= 15, "{answer}");
                    assert!(!has_url(s.content()), "{answer}");
                    if s.action() != Action::Wait {
                        assert!(s.content().chars().any(char::is_alphanumeric), "{answer}");
                    }
                }
            }
            if budget < MAX_PROMPT_CHARS {
                continue;
            }
            let fenced = prompt.split("<<<ROOM_EVENTS>>>").nth(1).unwrap_or("");
            assert_eq!(fenced.matches(FENCE_CLOSE).count(), 1, "{prompt}");
        }
        let raw = random_bytes(&mut rng);
        let _ = CoachRequest::from_json(&raw);
        let text = random_text(&mut rng, 40);
        let _ = CoachRequest::from_json(text.as_bytes());
    }
    assert!(
        accepted > 500,
        "the generator should produce valid requests too ({accepted})"
    );
}

#[test]
fn answer_parsing_never_panics_and_never_yields_an_empty_say() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..20_000 {
        check_suggestion(&json!(random_text(&mut rng, 30)));
        let value = random_json(&mut rng, 0);
        check_suggestion(&value);
        if let Some(reply) = reply_from_value(value) {
            check_suggestion(&reply.response);
        }
        let raw = random_bytes(&mut rng);
        if let Some(reply) = reply_from_sse(&raw) {
            check_suggestion(&reply.response);
        }
        if let Some(reply) = reply_from_sse(random_text(&mut rng, 30).as_bytes()) {
            check_suggestion(&reply.response);
        }
    }
}

#[test]
fn text_tools_never_panic() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let s = random_text(&mut rng, 30);
        let _ = parse_rfc3339(&s);
        let _ = classify_error(&s);
        assert!(!spoken_name(&s).is_empty());
        let n = neutralize_untrusted(&s, 50);
        assert!(n.chars().count() <= 50 && !n.contains('\n') && !n.contains("<<<"));
        assert!(!n.chars().any(|c| ('\u{E0000}'..='\u{E007F}').contains(&c)));
        let spoken = clean(&s, 15);
        assert!(spoken.split_whitespace().count() <= 15);
        assert!(!has_url(&spoken), "{s}");
        let _ = avoided_terms(&s);
        let _ = Blocked::parse(&s);
        let _ = allows(&json!(s), &Blocked::all());
        let _ = Recent::parse(Some(&json!([s.clone()])));
        let lossy = String::from_utf8_lossy(&random_bytes(&mut rng)).into_owned();
        let _ = parse_rfc3339(&lossy);
        let _ = clean(&lossy, 15);
        let _ = spoken_name(&lossy);
    }
}

/// Streams from models: any bytes, cut anywhere, decode to the same events as
/// when fed whole; the relay never stops reading an answer the judge would
/// take whole; the OpenAI-compatible readers take anything without panicking.
#[test]
fn stream_parsers_never_panic_and_chunking_never_changes_the_result() {
    use coach_worker::core::coach::relay::Relay;
    use coach_worker::core::llm::protocol::chat_completions;
    use coach_worker::core::llm::protocol::workers_ai::stream_piece;
    use coach_worker::core::llm::sse::SseDecoder;
    let mut rng = Rng(0x5eed_5e5e);
    for _ in 0..3_000 {
        let mut bytes: Vec<u8> = random_text(&mut rng, 20).into_bytes();
        if rng.below(3) == 0 {
            bytes.extend(random_bytes(&mut rng));
        }
        let whole = {
            let mut d = SseDecoder::new();
            let mut e = d.push(&bytes);
            e.extend(d.finish());
            e
        };
        let mut d = SseDecoder::new();
        let mut events = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let cut = 1 + rng.below(rest.len());
            events.extend(d.push(&rest[..cut]));
            rest = &rest[cut..];
        }
        events.extend(d.finish());
        assert_eq!(events, whole, "{bytes:?}");

        let mut relay = Relay::new(15);
        let mut stopped_early = false;
        for e in &whole {
            let _ = stream_piece(&e.data);
            let _ = chat_completions::stream_piece(&e.data);
            relay.push(&e.data);
            stopped_early |= relay.cannot_stand();
        }
        let raw = relay.finish();
        // The relay never stops reading an answer the judge would take whole.
        let req = CoachRequest::from_json(br#"{"broadcaster":"Luna","context":"Tip: Max tipped 40 tokens"}"#)
            .unwrap();
        let judge = coach_worker::core::answer::judge::Judge::new(&req, "", 15);
        if let Ok(s) = judge.answer(&Value::String(raw.clone()), None) {
            assert!(!stopped_early, "raw {raw:?} was judged fit, but reading stopped");
            assert!(s.content().split_whitespace().count() <= 15, "{raw:?}");
        }
        let _ = chat_completions::reply_from_body(&bytes);
        let _ = chat_completions::retry_after_ms(Some(&random_text(&mut rng, 3)));
    }
}

/// The coach frontend's event texts, mutated: reading them never panics, an
/// app status line never becomes an event, and no event keeps a link or any
/// text of one.
#[test]
fn event_texts_never_panic_and_never_keep_a_link() {
    use coach_worker::core::request::events::{is_app_status, RoomContext};
    let mut rng = Rng(0x5eed_e7e7);
    let secret = "tok3n";
    for _ in 0..20_000 {
        let text = random_text(&mut rng, 10);
        let kind = rng.pick(&["chat", "tip", "event", "join", "other"]);
        let value = json!([{ "type": kind, "text": text }]);
        let text_of = value.to_string();
        let Ok(ctx) = RoomContext::parse(&serde_json::from_str(&text_of).unwrap()) else {
            continue;
        };
        for e in ctx.events() {
            assert!(!is_app_status(&text), "status line kept: {text:?}");
            let seen = format!("{} {}", e.text(), e.user().unwrap_or(""));
            assert!(!seen.contains("://"), "{text:?} -> {seen:?}");
            assert!(!seen.contains("eventsapi"), "{text:?} -> {seen:?}");
            assert!(!seen.contains(&format!("/{secret}/")), "{text:?} -> {seen:?}");
        }
        let lines = json!(text).to_string();
        let _ = RoomContext::parse(&serde_json::from_str(&lines).unwrap());
    }
}

/// `text` (JSON) with every character of every string and key written as a
/// `\u` escape: the same JSON, none of it borrowable.
fn escape_strings(text: &str) -> String {
    let (mut out, mut in_string, mut escaped, mut hex_left) = (String::new(), false, false, 0);
    for c in text.chars() {
        let literal = !in_string || escaped || hex_left > 0 || c == '\\' || c == '"';
        if literal {
            out.push(c);
            if hex_left > 0 {
                hex_left -= 1;
            } else if escaped {
                escaped = false;
                hex_left = if c == 'u' { 4 } else { 0 };
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = !in_string;
            }
            continue;
        }
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{u:04x}"));
        }
    }
    out
}

/// What `serde_json::Value` would have said of `bytes`: refused as JSON at
/// the same place, or not refused as JSON at all.
fn reads_json_as_value_does(bytes: &[u8]) {
    let ours = CoachRequest::from_json(bytes);
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) => assert_eq!(
            ours,
            Err(ApiError::from_json_error(&e)),
            "{:?}",
            String::from_utf8_lossy(bytes)
        ),
        Ok(_) => assert!(
            !matches!(ours, Err(ApiError::InvalidJson(_))),
            "{:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// The door reads a body in one pass, strings borrowed, never as a whole
/// `serde_json::Value` (core/request/raw.rs). It reads what `Value` read: the
/// same bodies refused as JSON at the same place (cut short, random bytes,
/// fields it skips), and the same request whether strings are escaped or not.
#[test]
fn the_door_reads_json_as_serde_json_does() {
    let mut rng = Rng(0xd00d_f00d);
    for _ in 0..3_000 {
        let mut body = random_request(&mut rng);
        if rng.below(2) == 0 {
            body[rng.pick(&["extra", "sessionKey", "reason", "stream"])] = random_json(&mut rng, 0);
        }
        let text = body.to_string();
        let escaped = escape_strings(&text);
        assert_eq!(
            CoachRequest::from_json(text.as_bytes()),
            CoachRequest::from_json(escaped.as_bytes()),
            "{text}"
        );
        reads_json_as_value_does(text.as_bytes());
        reads_json_as_value_does(&text.as_bytes()[..rng.below(text.len() + 1)]);
        reads_json_as_value_does(&escaped.as_bytes()[..rng.below(escaped.len() + 1)]);
        reads_json_as_value_does(&random_bytes(&mut rng));
    }
    for text in [
        r#"{"broadcaster":"B","context":[],"extra":1e999}"#,
        r#"{"broadcaster":"B","context":[{"text":"a","type":"chat","x":"\ud800"}]}"#,
        r#"{"broadcaster":"B","context":[],"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        r#"{"broadcaster":"B","context":[],"extra":{"a":1,}}"#,
        r#"{"broadcaster":"B","context":[]} x"#,
    ] {
        assert!(
            matches!(
                CoachRequest::from_json(text.as_bytes()),
                Err(ApiError::InvalidJson(_))
            ),
            "{text}"
        );
        reads_json_as_value_does(text.as_bytes());
    }
}

/// Session keys come from anyone: random text, a real key cut or altered at
/// random, or its fields swapped for random ones never panic and never pass
/// but for the key itself; a revocation body of any JSON is read or refused.
#[test]
fn session_keys_never_panic_and_only_the_real_one_passes() {
    let secret = SessionSecret::parse("property-session-secret-0123456789abcdef", Mode::Deployed).unwrap();
    let ring = Keyring::new(secret, KeyLife::default());
    let now = 1_795_000_000;
    let key = session::issue(&ring, "Luna", [9; 12], now).key;
    assert!(session::verify(&ring, &key, now).is_ok());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let mut bytes = key.clone().into_bytes();
        for _ in 0..=rng.below(3) {
            let i = rng.below(bytes.len());
            bytes[i] = rng
                .pick(&["0", "9", "a", "f", ".", "-", "x", "\u{e9}"])
                .as_bytes()[0];
        }
        let altered = String::from_utf8_lossy(&bytes).into_owned();
        let cut = key[..rng.below(key.len())].to_string();
        let mut fields: Vec<String> = key.split('.').map(str::to_string).collect();
        let at = rng.below(fields.len());
        fields[at] = random_text(&mut rng, 3);
        let swapped = fields.join(".");
        let random = random_text(&mut rng, 20);
        for candidate in [&altered, &cut, &swapped, &random] {
            if *candidate != key {
                assert!(session::verify(&ring, candidate, now).is_err(), "{candidate}");
            }
        }
        let body = json!({ "subject": random_json(&mut rng, 1) }).to_string();
        let _ = RevokeRequest::from_json(body.as_bytes());
        let _ = RevokeRequest::from_json(&random_bytes(&mut rng));
    }
}
