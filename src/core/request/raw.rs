//! The body of `POST /api/generate-prompt` read once from its bytes, before
//! anything is checked: strings borrowed from the body where JSON needs no
//! unescaping, and each value's shape kept loose, so the door can still name
//! the field that is wrong. The room's events, most of a body, never become a
//! `serde_json::Value` (a map and a copy of every string): at 500 events that
//! was most of the door's CPU (scripts/profile).
//!
//! What is read is what `serde_json::from_slice::<Value>` read before: the same
//! syntax, the same numbers (an out-of-range one is refused, even where the
//! field is ignored; serde_json as Cargo.toml has it, without
//! `arbitrary_precision`), the same depth limit, and the last of two equal keys.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The fields read as `serde_json::Value`s: small, and checked by the door
/// as before. Every other field but `context` is skipped.
const VALUE_FIELDS: &[&str] = &[
    "broadcaster",
    "preferences",
    "aimodel",
    "options",
    "stream",
    "recent",
    "reason",
    "pace",
    "sessionKey",
];

/// A JSON value where a string is wanted: absent or `null`, a string, or
/// anything else (read through, then forgotten). A field the door does not
/// read is read as one too: through `deserialize_any`, as `Value` read it, so
/// a number out of range or an invalid escape is still refused there (serde's
/// `IgnoredAny` would skip them unchecked).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Loose<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Other,
}

/// The `context` field: an array of events, a string of lines, absent or
/// `null`, or any other value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RawContext<'a> {
    #[default]
    Missing,
    Events(Vec<RawEvent<'a>>),
    Lines(Cow<'a, str>),
    Other,
}

/// One item of the `context` array: an object's four fields the door reads,
/// or something that is not an object.
#[derive(Debug, Clone, PartialEq)]
pub enum RawEvent<'a> {
    Object {
        text: Loose<'a>,
        kind: Loose<'a>,
        user: Loose<'a>,
        timestamp: Loose<'a>,
    },
    NotObject,
}

/// A body that is a JSON object: its `context`, and the other fields the
/// door reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawBody<'a> {
    context: RawContext<'a>,
    fields: Map<String, Value>,
}

impl<'a> RawBody<'a> {
    /// The body in `bytes`, or `None` when it is JSON but not an object.
    pub fn from_slice(bytes: &'a [u8]) -> serde_json::Result<Option<RawBody<'a>>> {
        serde_json::from_slice::<Top<'a>>(bytes).map(|top| top.0)
    }

    /// The `context` field.
    pub fn context(&self) -> &RawContext<'a> {
        &self.context
    }

    /// A field other than `context`, as JSON (`None` when absent).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }
}

/// A whole body: an object, or not.
struct Top<'a>(Option<RawBody<'a>>);

/// How one kind of value is read from any JSON value: strings as they came,
/// arrays and objects item by item; by default, read through and forgotten.
trait Read<'de>: Sized {
    type Out;
    fn other(self) -> Self::Out;
    fn null(self) -> Self::Out {
        self.other()
    }
    fn string(self, _: Cow<'de, str>) -> Self::Out {
        self.other()
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        while seq.next_element::<Loose>()?.is_some() {}
        Ok(self.other())
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        while map.next_entry::<Loose, Loose>()?.is_some() {}
        Ok(self.other())
    }
}

/// The one visitor: takes any JSON value and hands it to a [`Read`].
struct Any<R>(R);

impl<'de, R: Read<'de>> Visitor<'de> for Any<R> {
    type Value = R::Out;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<R::Out, E> {
        Ok(self.0.null())
    }
    fn visit_bool<E>(self, _: bool) -> Result<R::Out, E> {
        Ok(self.0.other())
    }
    fn visit_i64<E>(self, _: i64) -> Result<R::Out, E> {
        Ok(self.0.other())
    }
    fn visit_u64<E>(self, _: u64) -> Result<R::Out, E> {
        Ok(self.0.other())
    }
    fn visit_f64<E>(self, _: f64) -> Result<R::Out, E> {
        Ok(self.0.other())
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<R::Out, E> {
        Ok(self.0.string(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<R::Out, E> {
        Ok(self.0.string(Cow::Owned(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<R::Out, E> {
        Ok(self.0.string(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<R::Out, A::Error> {
        self.0.seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R::Out, A::Error> {
        self.0.map(map)
    }
}

struct LooseRead;

impl<'de> Read<'de> for LooseRead {
    type Out = Loose<'de>;
    fn null(self) -> Loose<'de> {
        Loose::Missing
    }
    fn other(self) -> Loose<'de> {
        Loose::Other
    }
    fn string(self, s: Cow<'de, str>) -> Loose<'de> {
        Loose::Str(s)
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Any(LooseRead))
    }
}

/// An object's next key, borrowed when it has no escapes.
fn next_key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    Ok(map.next_key::<Loose<'de>>()?.map(|k| match k {
        Loose::Str(s) => s,
        // JSON keys are strings; this is never reached.
        Loose::Missing | Loose::Other => Cow::Borrowed(""),
    }))
}

struct EventRead;

impl<'de> Read<'de> for EventRead {
    type Out = RawEvent<'de>;
    fn other(self) -> RawEvent<'de> {
        RawEvent::NotObject
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent<'de>, A::Error> {
        let (mut text, mut kind, mut user, mut timestamp) = Default::default();
        while let Some(key) = next_key(&mut map)? {
            let slot = match key.as_ref() {
                "text" => &mut text,
                "type" => &mut kind,
                "user" => &mut user,
                "timestamp" => &mut timestamp,
                _ => {
                    map.next_value::<Loose>()?;
                    continue;
                }
            };
            *slot = map.next_value::<Loose<'de>>()?;
        }
        Ok(RawEvent::Object {
            text,
            kind,
            user,
            timestamp,
        })
    }
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Any(EventRead))
    }
}

struct ContextRead;

impl<'de> Read<'de> for ContextRead {
    type Out = RawContext<'de>;
    fn null(self) -> RawContext<'de> {
        RawContext::Missing
    }
    fn other(self) -> RawContext<'de> {
        RawContext::Other
    }
    fn string(self, s: Cow<'de, str>) -> RawContext<'de> {
        RawContext::Lines(s)
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawContext<'de>, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(event) = seq.next_element::<RawEvent<'de>>()? {
            events.push(event);
        }
        Ok(RawContext::Events(events))
    }
}

impl<'de> Deserialize<'de> for RawContext<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Any(ContextRead))
    }
}

struct BodyRead;

impl<'de> Read<'de> for BodyRead {
    type Out = Option<RawBody<'de>>;
    fn other(self) -> Option<RawBody<'de>> {
        None
    }
    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<RawBody<'de>>, A::Error> {
        let mut body = RawBody::default();
        while let Some(key) = next_key(&mut map)? {
            if key == "context" {
                body.context = map.next_value()?;
            } else if VALUE_FIELDS.contains(&key.as_ref()) {
                body.fields.insert(key.into_owned(), map.next_value::<Value>()?);
            } else {
                map.next_value::<Loose>()?;
            }
        }
        Ok(Some(body))
    }
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Any(BodyRead)).map(Top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_of_two_equal_keys_counts_as_in_a_value() {
        let text =
            r#"{"broadcaster":"A","context":"x","broadcaster":"B","context":[{"text":"1","text":"2"}]}"#;
        let body = RawBody::from_slice(text.as_bytes()).unwrap().unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(body.get("broadcaster"), value.get("broadcaster"));
        let RawContext::Events(events) = body.context() else {
            panic!("{:?}", body.context());
        };
        assert!(matches!(&events[0], RawEvent::Object { text: Loose::Str(t), .. } if t == "2"));
    }

    #[test]
    fn strings_are_borrowed_unless_escaped_and_other_fields_are_not_kept() {
        let text =
            r#"{"context":[{"text":"hi","user":"M\u0061x"}],"somethingElse":{"a":[1,2]},"stream":true}"#;
        let body = RawBody::from_slice(text.as_bytes()).unwrap().unwrap();
        let RawContext::Events(events) = body.context() else {
            panic!("{:?}", body.context());
        };
        let RawEvent::Object {
            text,
            user,
            kind,
            timestamp,
        } = &events[0]
        else {
            panic!("{events:?}");
        };
        assert!(matches!(text, Loose::Str(Cow::Borrowed("hi"))));
        assert!(matches!(user, Loose::Str(Cow::Owned(u)) if u == "Max"));
        assert_eq!((kind, timestamp), (&Loose::Missing, &Loose::Missing));
        assert_eq!(body.get("somethingElse"), None);
        assert_eq!(body.get("stream"), Some(&Value::Bool(true)));
        assert_eq!(RawBody::from_slice(b"[1]").unwrap(), None);
    }
}
