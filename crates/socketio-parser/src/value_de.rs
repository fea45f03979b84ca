//! [`from_value`]: a serde `Deserializer` over a [`Value`].

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use crate::value::{Map, Value};
use crate::value_error::ValueError;

/// How deeply [`from_value`] and the msgpack decoder let values nest (serde_json's own
/// recursion limit for JSON text is the same).
pub const MAX_DEPTH: usize = 128;

/// Converts a [`Value`] to any `DeserializeOwned` type.
///
/// [`Value::Binary`] is offered as bytes (`deserialize_bytes`/`byte_buf`, for `bytes::Bytes`
/// or `serde_bytes`) and as a sequence of `u8` (for a plain `Vec<u8>`). Enums are externally
/// tagged: a string for a unit variant, a one-key object otherwise.
///
/// # Errors
/// A type mismatch or missing field (as the target's `Deserialize` reports it), or a value
/// nested deeper than [`MAX_DEPTH`].
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(ValueDeserializer { value, depth: 0 })
}

/// The first of an acknowledgement's arguments decoded as `T` (`null` when there is none),
/// which is what `emitWithAck` resolves with.
///
/// # Errors
/// As [`from_value`].
pub fn from_first_arg<T: DeserializeOwned>(mut args: Vec<Value>) -> Result<T, ValueError> {
    let first = if args.is_empty() {
        Value::Null
    } else {
        args.swap_remove(0)
    };
    from_value(first)
}

struct ValueDeserializer {
    value: Value,
    depth: usize,
}

fn visit_number<'de, V: Visitor<'de>>(
    n: &serde_json::Number,
    v: V,
) -> Result<V::Value, ValueError> {
    if let Some(u) = n.as_u64() {
        v.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        v.visit_i64(i)
    } else {
        v.visit_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(b),
            Value::Number(ref n) => visit_number(n, v),
            Value::String(s) => v.visit_string(s),
            Value::Binary(b) => v.visit_byte_buf(b.to_vec()),
            Value::Array(items) => {
                let depth = self.depth + 1;
                if depth > MAX_DEPTH {
                    return Err(ValueError::TooDeep);
                }
                let len = items.len();
                let mut seq = Seq {
                    iter: items.into_iter(),
                    depth,
                };
                let out = v.visit_seq(&mut seq)?;
                if seq.iter.len() == 0 {
                    Ok(out)
                } else {
                    Err(de::Error::invalid_length(len, &"fewer elements in array"))
                }
            }
            Value::Object(map) => {
                let depth = self.depth + 1;
                if depth > MAX_DEPTH {
                    return Err(ValueError::TooDeep);
                }
                v.visit_map(MapDe {
                    iter: map.into_iter(),
                    value: None,
                    depth,
                })
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Binary(b) => v.visit_bytes(&b),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Binary(b) => v.visit_byte_buf(b.to_vec()),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self.value {
            // A plain `Vec<u8>` asks for a sequence: offer the bytes one by one.
            Value::Binary(b) => {
                let seq = de::value::SeqDeserializer::<_, ValueError>::new(b.into_iter());
                seq.deserialize_seq(v)
            }
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, ValueError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Value::String(variant) => v.visit_enum(variant.into_deserializer()),
            Value::Object(map) if map.len() == 1 => {
                let depth = self.depth + 1;
                if depth > MAX_DEPTH {
                    return Err(ValueError::TooDeep);
                }
                let Some((variant, value)) = map.into_iter().next() else {
                    return Err(de::Error::custom("empty enum object"));
                };
                v.visit_enum(Enum {
                    variant,
                    value: ValueDeserializer { value, depth },
                })
            }
            _ => Err(de::Error::custom(
                "expected a string or a one-key object for an enum",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

struct Seq {
    iter: std::vec::IntoIter<Value>,
    depth: usize,
}

impl<'de> SeqAccess<'de> for Seq {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        match self.iter.next() {
            Some(value) => seed
                .deserialize(ValueDeserializer {
                    value,
                    depth: self.depth,
                })
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDe {
    iter: <Map as IntoIterator>::IntoIter,
    value: Option<Value>,
    depth: usize,
}

impl<'de> MapAccess<'de> for MapDe {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value before key"))?;
        seed.deserialize(ValueDeserializer {
            value,
            depth: self.depth,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Enum {
    variant: String,
    value: ValueDeserializer,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = ValueError;
    type Variant = ValueDeserializer;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, ValueDeserializer), ValueError> {
        let v = seed.deserialize(self.variant.into_deserializer())?;
        Ok((v, self.value))
    }
}

impl<'de> VariantAccess<'de> for ValueDeserializer {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.value {
            Value::Null => Ok(()),
            _ => Err(de::Error::custom("expected null for a unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_seq(self, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_map(self, v)
    }
}
