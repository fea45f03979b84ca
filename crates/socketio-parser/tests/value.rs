//! `to_value` / `from_value` with structs, enums, options, tuples and binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchboard_socketio_parser::{
    encode, from_value, to_value, Decoder, Limits, Map, Packet, Value, ValueError, MAX_DEPTH,
};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(f64),
    Line(i32, i32),
    Rect { w: u32, h: u32 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Upload {
    name: String,
    size: Option<u64>,
    missing: Option<String>,
    chunk: Bytes,
    #[serde(with = "serde_bytes")]
    thumb: Vec<u8>,
    plain: Vec<u8>,
    pair: (i64, bool),
    shapes: Vec<Shape>,
    nested: Vec<Inner>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
}

fn sample() -> Upload {
    Upload {
        name: "a.png".into(),
        size: Some(3),
        missing: None,
        chunk: Bytes::from_static(b"abc"),
        thumb: vec![1, 2],
        plain: vec![7, 8],
        pair: (-5, true),
        shapes: vec![
            Shape::Dot,
            Shape::Circle(1.5),
            Shape::Line(1, -2),
            Shape::Rect { w: 3, h: 4 },
        ],
        nested: vec![Inner { blob: vec![9] }],
    }
}

#[test]
fn struct_to_value_shape() {
    let v = to_value(&sample()).unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(o["chunk"], Value::Binary(Bytes::from_static(b"abc")));
    assert_eq!(o["thumb"], Value::Binary(Bytes::from_static(&[1, 2])));
    // A plain Vec<u8> is a sequence in serde: an array of numbers.
    assert_eq!(o["plain"], Value::Array(vec![7.into(), 8.into()]));
    assert_eq!(o["missing"], Value::Null);
    assert_eq!(o["pair"], Value::Array(vec![(-5).into(), true.into()]));
    let shapes = o["shapes"].as_array().unwrap();
    assert_eq!(shapes[0], Value::from("Dot"));
    let circle: Map = [("Circle".to_owned(), Value::from(1.5))]
        .into_iter()
        .collect();
    assert_eq!(shapes[1], Value::Object(circle));
    assert!(v.has_binary());
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    assert_eq!(keys[..3], ["name", "size", "missing"]);
}

#[test]
fn struct_round_trip_through_the_wire() {
    let v = to_value(&sample()).unwrap();
    let p = Packet::event("/", "upload", vec![v], Some(1));
    let e = encode(&p);
    assert_eq!(e.attachments.len(), 3);
    let mut d = Decoder::new(Limits::default());
    assert!(d.decode_text(e.text_str()).unwrap().is_none());
    assert!(d.decode_binary(e.attachments[0].clone()).unwrap().is_none());
    assert!(d.decode_binary(e.attachments[1].clone()).unwrap().is_none());
    let back = d.decode_binary(e.attachments[2].clone()).unwrap().unwrap();
    let arg = back.args().unwrap()[0].clone();
    assert_eq!(from_value::<Upload>(arg).unwrap(), sample());
}

#[test]
fn binary_into_plain_vec_u8() {
    let v = Value::Binary(Bytes::from_static(&[1, 2, 3]));
    assert_eq!(from_value::<Vec<u8>>(v.clone()).unwrap(), vec![1, 2, 3]);
    assert_eq!(
        from_value::<Bytes>(v.clone()).unwrap(),
        Bytes::from_static(&[1, 2, 3])
    );
    assert_eq!(
        from_value::<serde_bytes::ByteBuf>(v).unwrap().into_vec(),
        vec![1, 2, 3]
    );
    // And an array of numbers (a JSON client's bytes) into Bytes.
    let arr = Value::Array(vec![4.into(), 5.into()]);
    assert_eq!(
        from_value::<Bytes>(arr).unwrap(),
        Bytes::from_static(&[4, 5])
    );
}

#[test]
fn value_serde_impls() {
    let v: Value = serde_json::from_str(r#"{"b":[1,-2,2.5,"x",null,true],"a":{}}"#).unwrap();
    let back = serde_json::to_string(&v).unwrap();
    assert_eq!(back, r#"{"b":[1,-2,2.5,"x",null,true],"a":{}}"#);
    assert_eq!(from_value::<Value>(v.clone()).unwrap(), v);
    assert_eq!(to_value(&v).unwrap(), v);
    let j: serde_json::Value = from_value(v.clone()).unwrap();
    assert_eq!(Value::from(j), v);
}

#[test]
fn errors() {
    let mut m = std::collections::BTreeMap::new();
    m.insert(vec![1u8], 1);
    assert_eq!(to_value(&m), Err(ValueError::KeyMustBeString));
    let mut ok = std::collections::BTreeMap::new();
    ok.insert(3u32, "x");
    assert_eq!(
        to_value(&ok).unwrap().as_object().unwrap()["3"],
        Value::from("x")
    );
    assert!(matches!(
        from_value::<Upload>(Value::from(1)),
        Err(ValueError::Custom(_))
    ));
    assert!(from_value::<Shape>(Value::from("Nope")).is_err());

    let mut deep = Value::Null;
    for _ in 0..MAX_DEPTH + 1 {
        deep = Value::Array(vec![deep]);
    }
    assert_eq!(from_value::<Value>(deep), Err(ValueError::TooDeep));
}
