//! Streaming UTF-8 validation, so text fails as soon as an invalid byte arrives: across
//! fragments, and inside a frame whose payload is still arriving.

/// Validates UTF-8 fed in pieces, carrying at most three bytes of an unfinished code point.
#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Stream {
    carry: [u8; 4],
    carry_len: usize,
}

/// Outcome of feeding bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Utf8Progress {
    /// Everything so far is valid, possibly ending inside a code point.
    Valid,
    /// An invalid sequence: the message must be rejected now.
    Invalid,
}

/// Bytes in the code point that `lead` starts (only called on valid lead bytes).
fn width(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0x80..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl Utf8Stream {
    /// Checks the next piece of the message.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Utf8Progress {
        if self.carry_len > 0 {
            let need = width(self.carry[0]) - self.carry_len;
            let take = need.min(bytes.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&bytes[..take]);
            self.carry_len += take;
            bytes = &bytes[take..];
            match simdutf8::compat::from_utf8(&self.carry[..self.carry_len]) {
                Ok(_) => self.carry_len = 0,
                // Still a valid prefix: `bytes` is used up, wait for more.
                Err(err) if err.error_len().is_none() => return Utf8Progress::Valid,
                Err(_) => return Utf8Progress::Invalid,
            }
        }
        match simdutf8::compat::from_utf8(bytes) {
            Ok(_) => Utf8Progress::Valid,
            Err(err) => match err.error_len() {
                Some(_) => Utf8Progress::Invalid,
                None => {
                    let tail = &bytes[err.valid_up_to()..];
                    self.carry[..tail.len()].copy_from_slice(tail);
                    self.carry_len = tail.len();
                    Utf8Progress::Valid
                }
            },
        }
    }

    /// Whether the message may end here (no unfinished code point).
    pub(crate) fn is_complete(&self) -> bool {
        self.carry_len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(bytes: &[u8], at: &[usize]) -> (Utf8Progress, bool) {
        let mut stream = Utf8Stream::default();
        let mut start = 0;
        for &end in at.iter().chain(std::iter::once(&bytes.len())) {
            if stream.feed(&bytes[start..end]) == Utf8Progress::Invalid {
                return (Utf8Progress::Invalid, false);
            }
            start = end;
        }
        (Utf8Progress::Valid, stream.is_complete())
    }

    #[test]
    fn code_points_split_anywhere_are_accepted() {
        let text = "κόσμε \u{10FFFF}\u{800}".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(
                    feed_split(text, &[i, j]),
                    (Utf8Progress::Valid, true),
                    "{i} {j}"
                );
            }
        }
    }

    #[test]
    fn invalid_sequences_fail_at_the_first_bad_byte() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.feed(&[0xce, 0xba, 0xe1]), Utf8Progress::Valid);
        // 0xe1 0x28 can never become valid: fail without waiting for a third byte.
        assert_eq!(stream.feed(&[0x28]), Utf8Progress::Invalid);
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.feed(&[0xf4]), Utf8Progress::Valid);
        assert_eq!(
            stream.feed(&[0x90]),
            Utf8Progress::Invalid,
            "above U+10FFFF"
        );
    }

    #[test]
    fn an_unfinished_code_point_at_the_end_is_incomplete() {
        assert_eq!(
            feed_split(&[b'a', 0xe2, 0x82], &[2]),
            (Utf8Progress::Valid, false)
        );
    }

    #[test]
    fn agrees_with_std_on_every_split_of_many_inputs() {
        let samples: [&[u8]; 6] = [
            b"plain ascii",
            &[0xed, 0xa0, 0x80],
            &[0xc0, 0xaf],
            &[0xf0, 0x90, 0x80, 0x80, 0x41],
            &[0xe0, 0xa0, 0x80, 0xff],
            &[0xef, 0xbf, 0xbf, 0xf4, 0x8f, 0xbf, 0xbf],
        ];
        for bytes in samples {
            let valid = std::str::from_utf8(bytes).is_ok();
            for i in 0..=bytes.len() {
                let (progress, complete) = feed_split(bytes, &[i]);
                assert_eq!(
                    progress == Utf8Progress::Valid && complete,
                    valid,
                    "{bytes:x?} split {i}"
                );
            }
        }
    }
}
