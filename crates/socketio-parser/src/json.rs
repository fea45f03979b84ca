//! A JSON parser straight into [`Value`], for packet payloads.
//!
//! It accepts exactly what `serde_json::from_str::<Value>` accepts and yields the same value
//! (a fuzz target and the tests compare the two), but skips serde's visitor machinery: strings
//! without escapes are copied in one go, arrays start small, and nothing is parsed twice. It is
//! the hot path of every incoming event: serde's visitor took two thirds of the decoding
//! instructions (callgrind, echo benchmark).
//!
//! Where JSON leaves room, it follows `serde_json`'s choices (and so the server's earlier
//! behaviour): integers that fit are `u64`/`i64`, everything else `f64`, and `-0` is the float
//! `-0.0`; numbers beyond `f64` are refused, as are lone UTF-16 surrogates in `\u` escapes
//! (a Rust `String` cannot hold them). Nesting deeper than [`MAX_DEPTH`] is refused, so a
//! hostile payload cannot exhaust the stack.

use std::borrow::Cow;
use std::fmt;

use crate::value::{Map, Number, Value};
use crate::value_de::MAX_DEPTH;

/// Why a text is not JSON, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the offending input.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON value; only whitespace may follow it.
pub fn parse_json(text: &str) -> Result<Value, JsonError> {
    Parser::whole(text, Parser::value)
}

/// The length of the longest prefix of `bytes` that a JSON string holds as it is: no `"`, no
/// `\`, no control character. Eight bytes at a time (the tests compare it with the plain loop).
pub fn plain_prefix_len(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// High bit set in each byte of `x` that is zero; the lowest set one is exact (borrows only
    /// run upwards), which is all `trailing_zeros` reads.
    fn zero_bytes(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let special = zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')))
            // Bytes below 0x20 (bytes of 0x80 and up never match: `!x` clears their bit).
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len() - at)
}

/// The first element of an array parsed by [`parse_event`]: an event packet's name.
#[derive(Debug, Clone, PartialEq)]
pub enum First<'a> {
    /// A string, borrowed from the text unless it had escapes.
    Str(Cow<'a, str>),
    /// Any other value.
    Other(Value),
}

/// Parses a non-empty array `[first, rest...]`, an event packet's payload, keeping `first`
/// apart: a string there is borrowed from `text` when it has no escapes, since the server
/// only looks handlers up by it. Accepts what [`parse_json`] accepts as a non-empty array.
pub fn parse_event(text: &str) -> Result<(First<'_>, Vec<Value>), JsonError> {
    Parser::whole(text, Parser::event)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    /// The entries of the objects being parsed, innermost last: an object's map is built
    /// once its size is known, allocated once at that size instead of growing (and
    /// rehashing) through 3 and 7 buckets.
    entries: Vec<(String, Value)>,
}

impl<'a> Parser<'a> {
    /// Runs `parse` over `text`, which must hold nothing else but whitespace.
    fn whole<T>(
        text: &'a str,
        parse: impl FnOnce(&mut Self) -> Result<T, JsonError>,
    ) -> Result<T, JsonError> {
        let mut parser = Self {
            text,
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
            entries: Vec::new(),
        };
        let parsed = parse(&mut parser)?;
        parser.skip_whitespace();
        if parser.at < parser.bytes.len() {
            return Err(parser.error("trailing characters"));
        }
        Ok(parsed)
    }

    fn error(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.at,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'"') => self.string().map(|s| Value::String(s.into_owned())),
            Some(b'[') => self.array(),
            Some(b'{') => self.object(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn event(&mut self) -> Result<(First<'a>, Vec<Value>), JsonError> {
        self.skip_whitespace();
        if self.peek() != Some(b'[') {
            return Err(self.error("expected an array"));
        }
        self.enter()?;
        self.skip_whitespace();
        let first = match self.peek() {
            Some(b'"') => First::Str(self.string()?),
            Some(b']') => return Err(self.error("empty array")),
            _ => First::Other(self.value()?),
        };
        let mut rest = Vec::with_capacity(4);
        self.rest_of_array(&mut rest)?;
        Ok((first, rest))
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.at += 1; // the opening bracket
        Ok(())
    }

    fn array(&mut self) -> Result<Value, JsonError> {
        self.enter()?;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Value::Array(Vec::new()));
        }
        // Event packets are short arrays: start at four rather than growing through one.
        let mut items = Vec::with_capacity(4);
        items.push(self.value()?);
        self.rest_of_array(&mut items)?;
        Ok(Value::Array(items))
    }

    /// After an array's first element: the others, through the closing bracket.
    fn rest_of_array(&mut self, items: &mut Vec<Value>) -> Result<(), JsonError> {
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    items.push(self.value()?);
                }
                Some(b']') => break,
                Some(_) => return Err(self.error("expected `,` or `]`")),
                None => return Err(self.error("unexpected end")),
            }
        }
        self.at += 1;
        self.depth -= 1;
        Ok(())
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        self.enter()?;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(Value::Object(Map::new()));
        }
        let first = self.entries.len();
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?.into_owned();
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.at += 1;
            let value = self.value()?;
            self.entries.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => break,
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("unexpected end")),
            }
        }
        self.at += 1;
        self.depth -= 1;
        let count = self.entries.len() - first;
        let mut map = Map::with_capacity(count);
        // A repeated key keeps its first position and takes the last value, as `JSON.parse`
        // does for keys that are not array indices (and `insert` does).
        for (key, value) in self.entries.drain(first..) {
            map.insert(key, value);
        }
        if map.len() < count {
            // Repeats: do not keep room for them (`{"a":0,"a":0,…}` in a 1 MB body would
            // otherwise hold megabytes for one entry).
            map.shrink_to_fit();
        }
        Ok(Value::Object(map))
    }

    /// A string, the cursor on its opening quote; borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.at += 1;
        let start = self.at;
        // The common case: no escapes, taken in one go.
        self.at += plain_prefix_len(&self.bytes[self.at..]);
        if self.peek() == Some(b'"') {
            let s = &self.text[start..self.at];
            self.at += 1;
            return Ok(Cow::Borrowed(s));
        }
        // Escapes: the plain prefix is taken as it is, the rest piece by piece.
        let mut out = String::with_capacity(self.at - start + 16);
        out.push_str(&self.text[start..self.at]);
        loop {
            let run = self.at;
            self.at += plain_prefix_len(&self.bytes[self.at..]);
            out.push_str(&self.text[run..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.error("control character in string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// One escape, the cursor after its backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 1;
                let unit = self.hex4()?;
                let c = match unit {
                    0xd800..=0xdbff => {
                        if !self.bytes[self.at..].starts_with(b"\\u") {
                            return Err(self.error("lone surrogate"));
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(self.error("lone surrogate"));
                        }
                        let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        char::from_u32(code)
                    }
                    0xdc00..=0xdfff => None,
                    _ => char::from_u32(unit),
                }
                .ok_or_else(|| self.error("lone surrogate"))?;
                out.push(c);
                return Ok(());
            }
            Some(_) => return Err(self.error("invalid escape")),
            None => return Err(self.error("unterminated string")),
        };
        self.at += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("unterminated string"))?;
        let mut unit = 0;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            unit = unit * 16 + v;
        }
        self.at += 4;
        Ok(unit)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        match self.digits() {
            0 => return Err(self.error("invalid number")),
            n if n > 1 && self.bytes[int_start] == b'0' => {
                return Err(JsonError {
                    offset: int_start + 1,
                    reason: "invalid number",
                })
            }
            _ => {}
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            integer = false;
        }
        let text = &self.text[start..self.at];
        if integer {
            let number = if negative {
                // `-0` is a float, as serde_json has it.
                text.parse::<i64>()
                    .ok()
                    .filter(|&n| n != 0)
                    .map(Number::from)
            } else {
                text.parse::<u64>().ok().map(Number::from)
            };
            if let Some(n) = number {
                return Ok(Value::Number(n));
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or(JsonError {
                offset: start,
                reason: "number out of range",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(text: &str) -> Option<Value> {
        serde_json::from_str::<Value>(text).ok()
    }

    /// The same result as serde_json, except that floats may differ in the last places:
    /// serde_json's default float parsing is not always correctly rounded, ours is.
    fn same_as_serde(text: &str) {
        let (ours, theirs) = (parse_json(text).ok(), serde(text));
        assert!(
            match (&ours, &theirs) {
                (Some(a), Some(b)) => alike(a, b),
                (None, None) => true,
                _ => false,
            },
            "{text:?}: {ours:?} against serde_json's {theirs:?}"
        );
    }

    fn alike(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x == y || x.to_bits().abs_diff(y.to_bits()) <= 16
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| alike(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((ka, a), (kb, b))| ka == kb && alike(a, b))
            }
            _ => a == b,
        }
    }

    #[test]
    fn parses_what_serde_json_parses_into_the_same_value() {
        for text in [
            r#"["echo","hello"]"#,
            r#" [ "a" , 1 , -2 , 3.5 , true , false , null , [ ] , { } ] "#,
            r#"{"a":1,"b":{"c":[1,2,{"d":null}]},"a":2}"#,
            r#""esc \" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20ac \ud83d\ude00 end""#,
            r#""héllo wörld ✓ 😀""#,
            "0",
            "-0",
            "-0.0",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e308",
            "1e-400",
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "0.1",
            "123456789012345678901234567890",
            "1E+2",
            "1e-2",
            "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]",
        ] {
            assert!(parse_json(text).is_ok(), "{text:?}");
            same_as_serde(text);
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            " ",
            "[",
            "[1,]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "1e400",
            "-1e400",
            "tru",
            "nul",
            "\"unterminated",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"tab\there\"",
            "\"nl\nhere\"",
            "[1] x",
            "{\"a\":1}}",
        ] {
            assert!(parse_json(text).is_err(), "{text:?}");
            same_as_serde(text);
        }
    }

    #[test]
    fn plain_prefix_stops_at_the_first_byte_a_json_string_escapes() {
        let slow = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        let mut text: Vec<u8> = (0x20..=0xff).collect();
        text.extend_from_slice("héllo ✓ 😀".as_bytes());
        for special in [b'"', b'\\', 0, 0x1f, b'\n'] {
            for at in 0..text.len() {
                let mut t = text.clone();
                t.insert(at, special);
                // Also after an earlier special byte of another kind, in the same word.
                for start in 0..t.len().min(24) {
                    assert_eq!(plain_prefix_len(&t[start..]), slow(&t[start..]));
                }
            }
        }
        let plain: Vec<u8> = text
            .iter()
            .copied()
            .filter(|&b| b != b'"' && b != b'\\')
            .collect();
        assert_eq!(plain_prefix_len(&plain), plain.len());
        assert_eq!(plain_prefix_len(b""), 0);
    }

    /// `parse_event` must agree with `parse_json` on every text.
    fn event_as_json(text: &str) {
        let whole = parse_json(text).ok().and_then(|v| match v {
            Value::Array(items) if !items.is_empty() => Some(items),
            _ => None,
        });
        let split = parse_event(text).ok().map(|(first, rest)| {
            let first = match first {
                First::Str(s) => Value::String(s.into_owned()),
                First::Other(v) => v,
            };
            std::iter::once(first).chain(rest).collect::<Vec<_>>()
        });
        assert_eq!(split, whole, "{text:?}");
    }

    #[test]
    fn events_split_off_their_name_without_copying_it() {
        let text = r#"["chat message", {"a": [1]}, "x"]"#;
        let (first, rest) = parse_event(text).unwrap();
        assert!(matches!(first, First::Str(Cow::Borrowed("chat message"))));
        assert_eq!(rest.len(), 2);
        let (first, _) = parse_event(r#"["esc\"aped"]"#).unwrap();
        assert!(matches!(first, First::Str(Cow::Owned(ref s)) if s == "esc\"aped"));
        let (first, rest) = parse_event("[42]").unwrap();
        assert_eq!((first, rest), (First::Other(Value::from(42)), vec![]));
        for text in [
            r#"["a"]"#,
            r#" [ "a" , 1 ] "#,
            "[]",
            "{}",
            "\"a\"",
            "[1,]",
            r#"["a"] x"#,
            "[",
            r#"["a""#,
            r#"[["a"],"b"]"#,
            "[null]",
        ] {
            event_as_json(text);
        }
    }

    #[test]
    fn repeated_keys_keep_their_first_place_and_last_value() {
        let parsed = parse_json(r#"{"a":{"a":1,"b":2},"b":3,"a":4}"#).unwrap();
        let Value::Object(map) = parsed else {
            panic!("an object: {parsed:?}")
        };
        let entries: Vec<_> = map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        assert_eq!(
            entries,
            [("a", Value::from(4u64)), ("b", Value::from(3u64))]
        );
        let repeats = format!("{{{}\"z\":1}}", r#""a":0,"#.repeat(1000));
        let Value::Object(map) = parse_json(&repeats).unwrap() else {
            panic!("an object")
        };
        assert_eq!(map.len(), 2);
        assert!(
            map.capacity() < 100,
            "room kept for repeats: {}",
            map.capacity()
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_json(&deep(MAX_DEPTH)).is_ok());
        assert_eq!(
            parse_json(&deep(MAX_DEPTH + 1)).map_err(|e| e.reason),
            Err("nested too deeply")
        );
        // Far too deep for the stack if it were not bounded.
        assert!(parse_json(&deep(1_000_000)).is_err());
        let objects = "{\"a\":".repeat(100_000);
        assert!(parse_json(&objects).is_err());
    }

    #[test]
    fn errors_say_where() {
        let e = parse_json("[1,2,x]").unwrap_err();
        assert_eq!((e.offset, e.reason), (5, "expected a value"));
        assert_eq!(e.to_string(), "expected a value at byte 5");
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_serde_json_on_any_text(text in "[\\[\\]{}\",:0-9eE.+\\-tfnrul\\\\ a-z\u{e9}\u{1F600}]{0,40}") {
            same_as_serde(&text);
            event_as_json(&text);
        }

        #[test]
        fn agrees_with_serde_json_on_generated_values(value in arb_json()) {
            let text = serde_json::to_string(&value).unwrap();
            same_as_serde(&text);
            event_as_json(&text);
            // Exactly the value written, floats included (as `JSON.parse` gives back).
            proptest::prop_assert_eq!(parse_json(&text).ok(), Some(Value::from(value.clone())));
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            same_as_serde(&pretty);
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
            ]
        })
    }
}
