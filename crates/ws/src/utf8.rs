//! Incremental UTF-8 validation, so text fails fast across fragment boundaries.

/// Validates a growing buffer, remembering how far it has checked.
#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Cursor {
    checked: usize,
}

/// Outcome of checking the bytes added since the last call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Utf8Progress {
    /// Everything so far is valid, possibly ending inside a code point.
    Valid,
    /// An invalid sequence: the message must be rejected now.
    Invalid,
}

impl Utf8Cursor {
    /// Checks `buf[self.checked..]`. A code point cut off at the end of the buffer is accepted
    /// for now and checked again when more bytes arrive.
    pub(crate) fn advance(&mut self, buf: &[u8]) -> Utf8Progress {
        let tail = &buf[self.checked..];
        match simdutf8::compat::from_utf8(tail) {
            Ok(_) => {
                self.checked = buf.len();
                Utf8Progress::Valid
            }
            Err(err) => match err.error_len() {
                Some(_) => Utf8Progress::Invalid,
                None => {
                    self.checked += err.valid_up_to();
                    Utf8Progress::Valid
                }
            },
        }
    }

    /// Checks the final buffer: nothing may be left incomplete.
    pub(crate) fn finish(&mut self, buf: &[u8]) -> Utf8Progress {
        match self.advance(buf) {
            Utf8Progress::Valid if self.checked == buf.len() => Utf8Progress::Valid,
            _ => Utf8Progress::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_code_point_is_accepted_until_the_end() {
        let text = "κόσμε".as_bytes();
        let mut cursor = Utf8Cursor::default();
        assert_eq!(cursor.advance(&text[..1]), Utf8Progress::Valid);
        assert_eq!(cursor.advance(&text[..3]), Utf8Progress::Valid);
        assert_eq!(cursor.finish(text), Utf8Progress::Valid);
    }

    #[test]
    fn invalid_sequence_fails_before_the_message_ends() {
        let mut cursor = Utf8Cursor::default();
        let bytes = [
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90,
        ];
        assert_eq!(cursor.advance(&bytes), Utf8Progress::Invalid);
    }

    #[test]
    fn truncated_code_point_at_the_end_is_invalid() {
        let mut cursor = Utf8Cursor::default();
        assert_eq!(cursor.finish(&[b'a', 0xe2, 0x82]), Utf8Progress::Invalid);
    }
}
