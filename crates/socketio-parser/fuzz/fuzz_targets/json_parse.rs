//! Differential: the payload JSON parser must accept exactly what serde_json accepts and give
//! the same value (floats may differ in the last places: serde_json's default parsing is
//! not correctly rounded, it can be a few units off); what it accepts must round-trip through serde_json's writer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_socketio_parser::{parse_json, Value};

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
            x.len() == y.len() && x.iter().zip(y).all(|((ka, a), (kb, b))| ka == kb && alike(a, b))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_json(text);
    let theirs = serde_json::from_str::<Value>(text);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert!(alike(a, b), "{a:?} != {b:?}"),
        (Err(_), Err(_)) => {}
        // serde_json stops at its own recursion limit a level or so before ours.
        (Ok(_), Err(e)) if e.to_string().contains("recursion limit") => {}
        _ => panic!("disagree on {text:?}: {ours:?} vs {theirs:?}"),
    }
    if let Ok(value) = ours {
        let written = serde_json::to_string(&value).expect("values serialize");
        assert_eq!(parse_json(&written).ok(), Some(value), "round trip of {written:?}");
    }
});
