//! Redis replies in RESP2, with no I/O: what a subscribed connection receives (confirmations,
//! messages, pongs, errors). Only the sharded adapter's subscriber reads with it; everything
//! else goes through redis-rs (see [`crate::shard`] for why this one connection does not).

use bytes::{BufMut, Bytes, BytesMut};

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`.
    Simple(Bytes),
    /// `-ERR …`.
    Error(Bytes),
    /// `:3`.
    Integer(i64),
    /// `$5 hello`; `None` for the null bulk string (`$-1`).
    Bulk(Option<Bytes>),
    /// `*2 …`; `None` for the null array (`*-1`).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The bytes of a bulk or simple string.
    pub(crate) fn bytes(&self) -> Option<&Bytes> {
        match self {
            Reply::Simple(b) | Reply::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }
}

/// Why the input is not RESP2 this decoder accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RespError {
    /// A type byte RESP2 does not have.
    UnknownType(u8),
    /// A length or integer that is not a decimal number, or is out of range.
    BadNumber,
    /// A bulk string longer than the limit.
    TooLarge(usize),
    /// Arrays nested deeper than a subscribed connection ever sees.
    TooDeep,
    /// A bulk string not followed by CRLF.
    MissingCrlf,
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RespError::UnknownType(t) => write!(f, "unknown RESP type byte 0x{t:02x}"),
            RespError::BadNumber => f.write_str("bad number in a RESP header"),
            RespError::TooLarge(n) => write!(f, "a {n}-byte bulk string is over the limit"),
            RespError::TooDeep => f.write_str("RESP arrays nested too deep"),
            RespError::MissingCrlf => f.write_str("a bulk string not ended by CRLF"),
        }
    }
}

impl std::error::Error for RespError {}

/// Arrays within arrays: a subscribed connection sees one level.
const MAX_DEPTH: usize = 4;
/// The longest header line (type byte, number, CRLF) worth waiting for.
const MAX_LINE: usize = 64;

/// Decodes replies from the front of a buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decoder {
    /// The longest bulk string (and so message) accepted.
    pub(crate) max_bulk: usize,
}

impl Decoder {
    /// Takes the first complete reply off `buf`; `Ok(None)` (and `buf` untouched) until one
    /// has arrived whole.
    ///
    /// # Errors
    /// The input is not RESP2, or holds a bulk string over `max_bulk`: the connection is of
    /// no further use.
    pub(crate) fn decode(&self, buf: &mut BytesMut) -> Result<Option<Reply>, RespError> {
        let mut cursor = Cursor { buf, at: 0 };
        match self.reply(&mut cursor, 0)? {
            None => Ok(None),
            Some(reply) => {
                let used = cursor.at;
                let frame = buf.split_to(used).freeze();
                Ok(Some(reply.resolve(&frame)))
            }
        }
    }

    fn reply(&self, c: &mut Cursor<'_>, depth: usize) -> Result<Option<Parsed>, RespError> {
        let Some((kind, rest)) = c.line()? else {
            return Ok(None);
        };
        Ok(Some(match kind {
            b'+' => Parsed::Simple(rest),
            b'-' => Parsed::Error(rest),
            b':' => Parsed::Integer(c.number(rest)?),
            b'$' => {
                let len = c.number(rest)?;
                if len < 0 {
                    return Ok(Some(Parsed::Bulk(None)));
                }
                let len = usize::try_from(len).map_err(|_| RespError::BadNumber)?;
                if len > self.max_bulk {
                    return Err(RespError::TooLarge(len));
                }
                if c.buf.len() < c.at + len + 2 {
                    return Ok(None);
                }
                if &c.buf[c.at + len..c.at + len + 2] != b"\r\n" {
                    return Err(RespError::MissingCrlf);
                }
                let body = c.at..c.at + len;
                c.at += len + 2;
                Parsed::Bulk(Some(body))
            }
            b'*' => {
                let len = c.number(rest)?;
                if len < 0 {
                    return Ok(Some(Parsed::Array(None)));
                }
                if depth >= MAX_DEPTH {
                    return Err(RespError::TooDeep);
                }
                // Each element takes at least 3 bytes (`:0\r\n` is 4), so a count the buffer
                // cannot hold yet is no reason to reserve for it.
                let len = usize::try_from(len).map_err(|_| RespError::BadNumber)?;
                let mut items = Vec::with_capacity(len.min(c.buf.len() / 3 + 1));
                for _ in 0..len {
                    match self.reply(c, depth + 1)? {
                        Some(item) => items.push(item),
                        None => return Ok(None),
                    }
                }
                Parsed::Array(Some(items))
            }
            other => return Err(RespError::UnknownType(other)),
        }))
    }
}

/// A reply whose strings are still ranges of the buffer, made into [`Bytes`] (without
/// copying) once the whole reply is known to be there.
enum Parsed {
    Simple(std::ops::Range<usize>),
    Error(std::ops::Range<usize>),
    Integer(i64),
    Bulk(Option<std::ops::Range<usize>>),
    Array(Option<Vec<Parsed>>),
}

impl Parsed {
    fn resolve(self, frame: &Bytes) -> Reply {
        match self {
            Parsed::Simple(r) => Reply::Simple(frame.slice(r)),
            Parsed::Error(r) => Reply::Error(frame.slice(r)),
            Parsed::Integer(n) => Reply::Integer(n),
            Parsed::Bulk(r) => Reply::Bulk(r.map(|r| frame.slice(r))),
            Parsed::Array(items) => Reply::Array(
                items.map(|items| items.into_iter().map(|i| i.resolve(frame)).collect()),
            ),
        }
    }
}

struct Cursor<'a> {
    buf: &'a BytesMut,
    at: usize,
}

impl Cursor<'_> {
    /// The next line: its type byte and the range of the rest (CRLF excluded).
    fn line(&mut self) -> Result<Option<(u8, std::ops::Range<usize>)>, RespError> {
        let rest = &self.buf[self.at..];
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            // A header that long is no header; a simple string or error may be longer,
            // but Redis sends none past a few hundred bytes to a subscribed connection.
            if rest.len() > MAX_LINE * 64 {
                return Err(RespError::TooLarge(rest.len()));
            }
            return Ok(None);
        };
        if end == 0 {
            return Err(RespError::UnknownType(b'\r'));
        }
        let kind = rest[0];
        let range = self.at + 1..self.at + end;
        self.at += end + 2;
        Ok(Some((kind, range)))
    }

    fn number(&self, range: std::ops::Range<usize>) -> Result<i64, RespError> {
        let digits = &self.buf[range];
        if digits.is_empty() || digits.len() > MAX_LINE {
            return Err(RespError::BadNumber);
        }
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(RespError::BadNumber)
    }
}

/// Encodes a command as RESP2 (an array of bulk strings), as every Redis accepts it.
pub(crate) fn command(out: &mut BytesMut, args: &[&[u8]]) {
    use std::io::Write as _;
    let mut writer = std::mem::take(out).writer();
    // Writing to a BytesMut cannot fail.
    let _ = write!(writer, "*{}\r\n", args.len());
    for arg in args {
        let _ = write!(writer, "${}\r\n", arg.len());
        let _ = writer.write_all(arg);
        let _ = writer.write_all(b"\r\n");
    }
    *out = writer.into_inner();
}

/// Runs the decoder over `bytes` until it stops, for the fuzz target: whatever the input, it
/// must return (no panic), and every reply it takes must consume input.
pub(crate) fn fuzz_decode(bytes: &[u8], max_bulk: usize) {
    let decoder = Decoder { max_bulk };
    // Fed in two pieces, the same input decodes to the same replies.
    let mut whole = BytesMut::from(bytes);
    let mut first = Vec::new();
    while let Ok(Some(reply)) = decoder.decode(&mut whole) {
        first.push(reply);
    }
    let split = bytes.len() / 2;
    let mut piecewise = BytesMut::from(&bytes[..split]);
    let mut second = Vec::new();
    let mut fed = false;
    loop {
        match decoder.decode(&mut piecewise) {
            Ok(Some(reply)) => second.push(reply),
            Ok(None) if !fed => {
                piecewise.extend_from_slice(&bytes[split..]);
                fed = true;
            }
            _ => break,
        }
    }
    if !fed {
        return; // an error before the second piece: nothing to compare
    }
    assert_eq!(first, second, "the same replies whole or in two pieces");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder() -> Decoder {
        Decoder { max_bulk: 1024 }
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(Bytes::copy_from_slice(s.as_bytes())))
    }

    #[test]
    fn a_sharded_message_and_its_confirmation() {
        let mut buf = BytesMut::from(
            &b"*3\r\n$10\r\nssubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$5\r\nhe\r\no\r\n+PONG\r\n"[..],
        );
        let d = decoder();
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Reply::Array(Some(vec![
                bulk("ssubscribe"),
                bulk("ch"),
                Reply::Integer(1)
            ]))))
        );
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Reply::Array(Some(vec![
                bulk("smessage"),
                bulk("ch"),
                bulk("he\r\no")
            ]))))
        );
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Reply::Simple(Bytes::from_static(b"PONG"))))
        );
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_reply_cut_anywhere_waits_for_the_rest() {
        let whole = b"*2\r\n$3\r\nabc\r\n*2\r\n:-7\r\n$-1\r\n";
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(decoder().decode(&mut buf), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut, "nothing taken at {cut}");
            buf.extend_from_slice(&whole[cut..]);
            assert_eq!(
                decoder().decode(&mut buf),
                Ok(Some(Reply::Array(Some(vec![
                    bulk("abc"),
                    Reply::Array(Some(vec![Reply::Integer(-7), Reply::Bulk(None)]))
                ])))),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_wait() {
        let cases: [(&[u8], RespError); 6] = [
            (b"!3\r\n", RespError::UnknownType(b'!')),
            (b"$x\r\n", RespError::BadNumber),
            (b"$2000\r\n", RespError::TooLarge(2000)),
            (b"$2\r\nabcd\r\n", RespError::MissingCrlf),
            (b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", RespError::TooDeep),
            (b"\r\n", RespError::UnknownType(b'\r')),
        ];
        for (input, error) in cases {
            let mut buf = BytesMut::from(input);
            assert_eq!(decoder().decode(&mut buf), Err(error), "{input:?}");
        }
        let mut endless = BytesMut::from(&[b'+'; 8192][..]);
        assert!(decoder().decode(&mut endless).is_err());
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = BytesMut::new();
        command(&mut out, &[b"SSUBSCRIBE", b"socket.io#/#"]);
        assert_eq!(
            &out[..],
            b"*2\r\n$10\r\nSSUBSCRIBE\r\n$12\r\nsocket.io#/#\r\n"
        );
        let mut again = out.clone();
        assert!(
            matches!(decoder().decode(&mut again), Ok(Some(Reply::Array(Some(items)))) if items.len() == 2)
        );
    }
}
