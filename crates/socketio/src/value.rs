//! Event data: JSON values that may hold binary (sent as attachments), and serde
//! conversions. The type and its conversions live in `switchboard-socketio-parser`:
//! `bytes::Bytes` and `serde_bytes` fields become [`Value::Binary`] and travel as binary
//! (a `Buffer`/`ArrayBuffer` on the JavaScript side); objects keep their key order.

pub use switchboard_socketio_parser::{
    from_value, to_value, Map, Number, Value, ValueError as Error,
};

/// From a JSON value (no binary).
pub fn from_json(json: serde_json::Value) -> Value {
    Value::from(json)
}

/// To a JSON value; binary becomes an array of byte values.
pub fn into_json(value: Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(b),
        Value::Number(n) => serde_json::Value::Number(n),
        Value::String(s) => serde_json::Value::String(s),
        Value::Array(items) => serde_json::Value::Array(items.into_iter().map(into_json).collect()),
        Value::Object(map) => {
            serde_json::Value::Object(map.into_iter().map(|(k, v)| (k, into_json(v))).collect())
        }
        Value::Binary(bytes) => {
            serde_json::Value::Array(bytes.iter().map(|b| serde_json::Value::from(*b)).collect())
        }
    }
}
