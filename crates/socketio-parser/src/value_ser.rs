//! [`to_value`]: a serde `Serializer` whose output is a [`Value`].

use bytes::Bytes;
use serde::ser::{self, Impossible, Serialize};

use crate::value::{Map, Value};
use crate::value_error::ValueError;

/// Converts any `Serialize` type to a [`Value`].
///
/// `serialize_bytes` (used by `bytes::Bytes` and `serde_bytes`) yields [`Value::Binary`], so
/// such fields travel as binary attachments. Enums are externally tagged, `None` and unit
/// are `null`, non-finite floats are `null` (as `JSON.stringify` writes them).
///
/// # Errors
/// A map key that is not a string/number/bool/char, or an error from the `Serialize` impl.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSerializer)
}

struct ValueSerializer;

type R = Result<Value, ValueError>;

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantMapBuilder;

    fn serialize_bool(self, v: bool) -> R {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> R {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> R {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> R {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> R {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> R {
        if let Ok(u) = u64::try_from(v) {
            Ok(Value::from(u))
        } else if let Ok(i) = i64::try_from(v) {
            Ok(Value::from(i))
        } else {
            Err(ValueError::Custom("i128 out of range".into()))
        }
    }
    fn serialize_u8(self, v: u8) -> R {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> R {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> R {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> R {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> R {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| ValueError::Custom("u128 out of range".into()))
    }
    fn serialize_f32(self, v: f32) -> R {
        Ok(Value::from(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> R {
        Ok(Value::from(v))
    }
    fn serialize_char(self, v: char) -> R {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> R {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        Ok(Value::Binary(Bytes::copy_from_slice(v)))
    }
    fn serialize_none(self) -> R {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(self, _n: &'static str, _i: u32, variant: &'static str) -> R {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _n: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> R {
        let mut map = Map::with_capacity(1);
        map.insert(variant.to_owned(), value.serialize(self)?);
        Ok(Value::Object(map))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ValueError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _n: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ValueError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqBuilder, ValueError> {
        Ok(VariantSeqBuilder {
            variant,
            items: Vec::with_capacity(len),
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, ValueError> {
        Ok(MapBuilder {
            map: Map::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, _n: &'static str, len: usize) -> Result<MapBuilder, ValueError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantMapBuilder, ValueError> {
        Ok(VariantMapBuilder {
            variant,
            map: Map::with_capacity(len),
        })
    }
}

pub(crate) struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.0.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> R {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> R {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> R {
        ser::SerializeSeq::end(self)
    }
}

pub(crate) struct VariantSeqBuilder {
    variant: &'static str,
    items: Vec<Value>,
}

impl ser::SerializeTupleVariant for VariantSeqBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.items.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> R {
        let mut map = Map::with_capacity(1);
        map.insert(self.variant.to_owned(), Value::Array(self.items));
        Ok(Value::Object(map))
    }
}

pub(crate) struct MapBuilder {
    map: Map,
    key: Option<String>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ValueError::Custom("map value without key".into()))?;
        self.map.insert(key, to_value(value)?);
        Ok(())
    }
    fn end(self) -> R {
        Ok(Value::Object(self.map))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.map.insert(key.to_owned(), to_value(value)?);
        Ok(())
    }
    fn end(self) -> R {
        Ok(Value::Object(self.map))
    }
}

pub(crate) struct VariantMapBuilder {
    variant: &'static str,
    map: Map,
}

impl ser::SerializeStructVariant for VariantMapBuilder {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.map.insert(key.to_owned(), to_value(value)?);
        Ok(())
    }
    fn end(self) -> R {
        let mut outer = Map::with_capacity(1);
        outer.insert(self.variant.to_owned(), Value::Object(self.map));
        Ok(Value::Object(outer))
    }
}

/// Map keys: strings as they are; numbers, bools and chars as their text, as serde_json.
struct KeySerializer;

type K = Result<String, ValueError>;

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = ValueError;
    type SerializeSeq = Impossible<String, ValueError>;
    type SerializeTuple = Impossible<String, ValueError>;
    type SerializeTupleStruct = Impossible<String, ValueError>;
    type SerializeTupleVariant = Impossible<String, ValueError>;
    type SerializeMap = Impossible<String, ValueError>;
    type SerializeStruct = Impossible<String, ValueError>;
    type SerializeStructVariant = Impossible<String, ValueError>;

    fn serialize_bool(self, v: bool) -> K {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> K {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> K {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> K {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> K {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> K {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> K {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> K {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> K {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_f64(self, _v: f64) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_char(self, v: char) -> K {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> K {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_none(self) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _v: &T) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_unit(self) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_unit_struct(self, _n: &'static str) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_unit_variant(self, _n: &'static str, _i: u32, variant: &'static str) -> K {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _n: &'static str, v: &T) -> K {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _value: &T,
    ) -> K {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_seq(self, _l: Option<usize>) -> Result<Self::SerializeSeq, ValueError> {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_tuple(self, _l: usize) -> Result<Self::SerializeTuple, ValueError> {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_tuple_struct(
        self,
        _n: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleStruct, ValueError> {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_map(self, _l: Option<usize>) -> Result<Self::SerializeMap, ValueError> {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_struct(
        self,
        _n: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeStruct, ValueError> {
        Err(ValueError::KeyMustBeString)
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(ValueError::KeyMustBeString)
    }
}
