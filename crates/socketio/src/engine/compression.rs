//! HTTP compression of polling responses (Node's `httpCompression` option): gzip or deflate,
//! chosen from the request's `Accept-Encoding` as Node's `accepts`/`negotiator` packages do,
//! for bodies of at least a threshold size.

use std::io::Write;

use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http::{header, HeaderMap};

/// Compression of polling GET responses (Node's `httpCompression`, on by default).
///
/// Node compresses every payload a GET carries (v4 text, v3 text or binary alike) when the
/// client accepts gzip or deflate and the payload is at least `threshold` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCompression {
    /// Payloads shorter than this many bytes go uncompressed (Node: 1024).
    pub threshold: usize,
    /// zlib level, 0 (store) to 9 (smallest); Node uses zlib's default, 6.
    pub level: u32,
}

impl Default for HttpCompression {
    fn default() -> Self {
        Self {
            threshold: 1024,
            level: 6,
        }
    }
}

/// A content coding the server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950), as HTTP and Node's `createDeflate` mean it.
    Deflate,
}

impl Encoding {
    /// Preference order when the client rates both alike (Node passes `["gzip", "deflate"]`).
    const OFFERED: [Encoding; 2] = [Encoding::Gzip, Encoding::Deflate];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// One `Accept-Encoding` entry: coding, quality, position in the header.
struct Accepted<'a> {
    coding: &'a str,
    q: f32,
    position: usize,
}

/// The entries of every `Accept-Encoding` header, in order (repeated headers join as one list).
fn accepted(headers: &HeaderMap) -> impl Iterator<Item = Accepted<'_>> {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let coding = parts.next()?.trim();
            if coding.is_empty() || coding.contains(char::is_whitespace) {
                return None;
            }
            // The first `q` parameter; a number prefix as JavaScript's `parseFloat` reads it.
            let q = match parts.map(str::trim).find_map(|p| p.strip_prefix("q=")) {
                Some(value) => leading_number(value),
                None => 1.0,
            };
            Some(Accepted {
                coding,
                q,
                position,
            })
        })
}

fn leading_number(text: &str) -> f32 {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text[..end].parse().unwrap_or(0.0)
}

/// The encoding to answer with, or `None` for none (no header, nothing acceptable, or every
/// acceptable coding at `q=0`).
///
/// For each coding the most specific entry counts (its own name before `*`, then the higher
/// quality, then the later entry); among codings, the higher quality wins, then the exact
/// match, then the earlier entry, then gzip.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Encoding> {
    // (quality, exact match, entry position) of each offered coding.
    let mut best: Option<(Encoding, f32, bool, usize)> = None;
    for encoding in Encoding::OFFERED {
        let mut rating: Option<(bool, f32, usize)> = None;
        for entry in accepted(headers) {
            let exact = entry.coding.eq_ignore_ascii_case(encoding.as_str());
            if !exact && entry.coding != "*" {
                continue;
            }
            let better = match rating {
                None => true,
                Some((s, q, o)) => (exact, entry.q, entry.position) > (s, q, o),
            };
            if better {
                rating = Some((exact, entry.q, entry.position));
            }
        }
        let Some((exact, q, position)) = rating else {
            continue;
        };
        if q.is_nan() || q <= 0.0 {
            continue;
        }
        let wins = match best {
            None => true,
            Some((_, bq, bexact, bposition)) => {
                q > bq
                    || (q == bq
                        && ((exact && !bexact) || (exact == bexact && position < bposition)))
            }
        };
        if wins {
            best = Some((encoding, q, exact, position));
        }
    }
    best.map(|(encoding, ..)| encoding)
}

/// Compresses `data` in one go.
pub(crate) fn compress(encoding: Encoding, level: u32, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let level = Compression::new(level.min(9));
    let out = Vec::with_capacity(data.len() / 2 + 64);
    match encoding {
        Encoding::Gzip => {
            let mut encoder = GzEncoder::new(out, level);
            encoder.write_all(data)?;
            encoder.finish()
        }
        Encoding::Deflate => {
            let mut encoder = ZlibEncoder::new(out, level);
            encoder.write_all(data)?;
            encoder.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pick(values: &[&str]) -> Option<Encoding> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::ACCEPT_ENCODING,
                value.parse().expect("a header value"),
            );
        }
        negotiate(&headers)
    }

    #[test]
    fn negotiation_follows_node_accepts() {
        use Encoding::{Deflate, Gzip};
        let cases: &[(&[&str], Option<Encoding>)] = &[
            (&[], None),
            (&[""], None),
            (&["identity"], None),
            (&["br"], None),
            (&["gzip, deflate"], Some(Gzip)),
            (&["gzip, deflate, br, zstd"], Some(Gzip)),
            (&["deflate, gzip"], Some(Deflate)),
            (&["deflate"], Some(Deflate)),
            (&["GZIP"], Some(Gzip)),
            (&["*"], Some(Gzip)),
            (&["gzip;q=0.5, deflate"], Some(Deflate)),
            (&["gzip;q=0, *"], Some(Deflate)),
            (&["gzip;q=0, deflate;q=0"], None),
            (&["*;q=0"], None),
            (&["deflate;q=0.5, *;q=0.9"], Some(Gzip)),
            (&["br;q=1.0, gzip;q=0.8, *;q=0.1"], Some(Gzip)),
            (&["gzip;q=abc, deflate"], Some(Deflate)),
            (&["deflate;level=1;q=0.9", "gzip;q=0.8"], Some(Deflate)),
            (&["x", "deflate"], Some(Deflate)),
        ];
        for (header, expected) in cases {
            assert_eq!(pick(header), *expected, "{header:?}");
        }
    }

    #[test]
    fn both_codings_round_trip() {
        let data = "4hello world ".repeat(200);
        let gz = compress(Encoding::Gzip, 6, data.as_bytes()).expect("gzip");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .expect("gunzip");
        assert_eq!(out, data);
        let zlib = compress(Encoding::Deflate, 9, data.as_bytes()).expect("deflate");
        out.clear();
        flate2::read::ZlibDecoder::new(&zlib[..])
            .read_to_string(&mut out)
            .expect("inflate");
        assert_eq!(out, data);
        assert!(zlib.len() < data.len() / 10);
    }
}
