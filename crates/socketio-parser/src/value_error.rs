//! Errors of [`to_value`](crate::to_value) and [`from_value`](crate::from_value).

use std::fmt;

/// Why a Rust value could not become a [`Value`](crate::Value), or the reverse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// A message from a `Serialize`/`Deserialize` impl (wrong type, missing field...).
    Custom(String),
    /// A map key that is not a string, a number, a bool or a char.
    KeyMustBeString,
    /// A value nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) levels.
    TooDeep,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Custom(m) => f.write_str(m),
            Self::KeyMustBeString => f.write_str("map key must be a string"),
            Self::TooDeep => f.write_str("value nests too deeply"),
        }
    }
}

impl std::error::Error for ValueError {}

impl serde::ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}
