//! The msgpack format itself, as far as the Socket.IO msgpack codec needs it: the first byte
//! of each value ([`Marker`]) and writers that pick the smallest encoding, as notepack.io
//! does. Writing goes to a `Vec` and cannot fail.

/// What the first byte of a msgpack value says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    FixPos(u8),
    FixNeg(i8),
    Null,
    True,
    False,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
    FixStr(u8),
    Str8,
    Str16,
    Str32,
    Bin8,
    Bin16,
    Bin32,
    FixArray(u8),
    Array16,
    Array32,
    FixMap(u8),
    Map16,
    Map32,
    FixExt1,
    FixExt2,
    FixExt4,
    FixExt8,
    FixExt16,
    Ext8,
    Ext16,
    Ext32,
    /// 0xc1, never used.
    Reserved,
}

impl Marker {
    pub(crate) fn from_u8(byte: u8) -> Self {
        match byte {
            0x00..=0x7f => Self::FixPos(byte),
            0x80..=0x8f => Self::FixMap(byte & 0x0f),
            0x90..=0x9f => Self::FixArray(byte & 0x0f),
            0xa0..=0xbf => Self::FixStr(byte & 0x1f),
            0xc0 => Self::Null,
            0xc1 => Self::Reserved,
            0xc2 => Self::False,
            0xc3 => Self::True,
            0xc4 => Self::Bin8,
            0xc5 => Self::Bin16,
            0xc6 => Self::Bin32,
            0xc7 => Self::Ext8,
            0xc8 => Self::Ext16,
            0xc9 => Self::Ext32,
            0xca => Self::F32,
            0xcb => Self::F64,
            0xcc => Self::U8,
            0xcd => Self::U16,
            0xce => Self::U32,
            0xcf => Self::U64,
            0xd0 => Self::I8,
            0xd1 => Self::I16,
            0xd2 => Self::I32,
            0xd3 => Self::I64,
            0xd4 => Self::FixExt1,
            0xd5 => Self::FixExt2,
            0xd6 => Self::FixExt4,
            0xd7 => Self::FixExt8,
            0xd8 => Self::FixExt16,
            0xd9 => Self::Str8,
            0xda => Self::Str16,
            0xdb => Self::Str32,
            0xdc => Self::Array16,
            0xdd => Self::Array32,
            0xde => Self::Map16,
            0xdf => Self::Map32,
            0xe0..=0xff => Self::FixNeg(i8::from_be_bytes([byte])),
        }
    }
}

pub(crate) fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

pub(crate) fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xc3 } else { 0xc2 });
}

/// A non-negative integer in the smallest format.
pub(crate) fn write_uint(out: &mut Vec<u8>, n: u64) {
    if n <= 0x7f {
        out.push(n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[0xcc, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xcd);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0xce);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A signed integer in the smallest format (non-negative ones as unsigned).
pub(crate) fn write_sint(out: &mut Vec<u8>, n: i64) {
    if let Ok(u) = u64::try_from(n) {
        write_uint(out, u);
    } else if n >= -32 {
        out.extend_from_slice(&(n as i8).to_be_bytes());
    } else if let Ok(n) = i8::try_from(n) {
        out.push(0xd0);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = i16::try_from(n) {
        out.push(0xd1);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = i32::try_from(n) {
        out.push(0xd2);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub(crate) fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xcb);
    out.extend_from_slice(&f.to_be_bytes());
}

/// A length after its marker: `fix` (the small form's base, or'ed with the length) below
/// `fix_limit`, then the 8-bit (when `m8` is given), 16-bit and 32-bit forms.
fn write_len(
    out: &mut Vec<u8>,
    len: u32,
    fix: Option<(u8, u32)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) {
    if let Some((base, limit)) = fix {
        if len < limit {
            out.push(base | len as u8);
            return;
        }
    }
    if let (Some(m8), Ok(small)) = (m8, u8::try_from(len)) {
        out.extend_from_slice(&[m8, small]);
    } else if let Ok(medium) = u16::try_from(len) {
        out.push(m16);
        out.extend_from_slice(&medium.to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_len(
        out,
        len32(s.len()),
        Some((0xa0, 32)),
        Some(0xd9),
        0xda,
        0xdb,
    );
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    write_len(out, len32(b.len()), None, Some(0xc4), 0xc5, 0xc6);
    out.extend_from_slice(b);
}

pub(crate) fn write_array_len(out: &mut Vec<u8>, n: usize) {
    write_len(out, len32(n), Some((0x90, 16)), None, 0xdc, 0xdd);
}

pub(crate) fn write_map_len(out: &mut Vec<u8>, n: usize) {
    write_len(out, len32(n), Some((0x80, 16)), None, 0xde, 0xdf);
}

/// Lengths above u32::MAX cannot be represented and are clamped (such a message would be
/// far beyond any Engine.IO payload limit).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out);
        out
    }

    #[test]
    fn integers_take_the_smallest_format() {
        assert_eq!(bytes(|o| write_uint(o, 0)), [0x00]);
        assert_eq!(bytes(|o| write_uint(o, 127)), [0x7f]);
        assert_eq!(bytes(|o| write_uint(o, 128)), [0xcc, 0x80]);
        assert_eq!(bytes(|o| write_uint(o, 255)), [0xcc, 0xff]);
        assert_eq!(bytes(|o| write_uint(o, 256)), [0xcd, 0x01, 0x00]);
        assert_eq!(bytes(|o| write_uint(o, 65_535)), [0xcd, 0xff, 0xff]);
        assert_eq!(bytes(|o| write_uint(o, 65_536)), [0xce, 0, 1, 0, 0]);
        assert_eq!(
            bytes(|o| write_uint(o, 1 << 32)),
            [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(bytes(|o| write_sint(o, 5)), [0x05]);
        assert_eq!(bytes(|o| write_sint(o, -1)), [0xff]);
        assert_eq!(bytes(|o| write_sint(o, -32)), [0xe0]);
        assert_eq!(bytes(|o| write_sint(o, -33)), [0xd0, 0xdf]);
        assert_eq!(bytes(|o| write_sint(o, -128)), [0xd0, 0x80]);
        assert_eq!(bytes(|o| write_sint(o, -129)), [0xd1, 0xff, 0x7f]);
        assert_eq!(
            bytes(|o| write_sint(o, -32_769)),
            [0xd2, 0xff, 0xff, 0x7f, 0xff]
        );
        assert_eq!(bytes(|o| write_sint(o, i64::MIN))[0], 0xd3);
        assert_eq!(
            bytes(|o| write_f64(o, 1.5)),
            [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn lengths_take_the_smallest_format() {
        assert_eq!(bytes(|o| write_str(o, "")), [0xa0]);
        assert_eq!(bytes(|o| write_str(o, &"a".repeat(31)))[0], 0xbf);
        assert_eq!(bytes(|o| write_str(o, &"a".repeat(32)))[..2], [0xd9, 32]);
        assert_eq!(bytes(|o| write_str(o, &"a".repeat(255)))[..2], [0xd9, 255]);
        assert_eq!(bytes(|o| write_str(o, &"a".repeat(256)))[..3], [0xda, 1, 0]);
        assert_eq!(
            bytes(|o| write_str(o, &"a".repeat(65_536)))[..5],
            [0xdb, 0, 1, 0, 0]
        );
        assert_eq!(bytes(|o| write_bin(o, &[])), [0xc4, 0]);
        assert_eq!(bytes(|o| write_bin(o, &[7; 256]))[..3], [0xc5, 1, 0]);
        assert_eq!(
            bytes(|o| write_bin(o, &[7; 65_536]))[..5],
            [0xc6, 0, 1, 0, 0]
        );
        assert_eq!(bytes(|o| write_array_len(o, 15)), [0x9f]);
        assert_eq!(bytes(|o| write_array_len(o, 16)), [0xdc, 0, 16]);
        assert_eq!(bytes(|o| write_array_len(o, 65_536)), [0xdd, 0, 1, 0, 0]);
        assert_eq!(bytes(|o| write_map_len(o, 15)), [0x8f]);
        assert_eq!(bytes(|o| write_map_len(o, 16)), [0xde, 0, 16]);
    }

    #[test]
    fn every_first_byte_has_a_marker() {
        assert_eq!(Marker::from_u8(0x7f), Marker::FixPos(0x7f));
        assert_eq!(Marker::from_u8(0x8f), Marker::FixMap(15));
        assert_eq!(Marker::from_u8(0x9f), Marker::FixArray(15));
        assert_eq!(Marker::from_u8(0xbf), Marker::FixStr(31));
        assert_eq!(Marker::from_u8(0xc1), Marker::Reserved);
        assert_eq!(Marker::from_u8(0xe0), Marker::FixNeg(-32));
        assert_eq!(Marker::from_u8(0xff), Marker::FixNeg(-1));
        for byte in 0..=255u8 {
            let _ = Marker::from_u8(byte);
        }
    }
}
