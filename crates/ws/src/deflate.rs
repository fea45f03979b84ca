//! permessage-deflate (RFC 7692): parameter negotiation and the per-connection codec.

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::ProtocolError;
use crate::role::Role;

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The four bytes a sync flush ends with; stripped on send, appended on receive.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What this endpoint asks for or accepts in permessage-deflate negotiation. What is then
/// compressed, and how hard, is the connection's [`crate::Config::compression_threshold`] and
/// [`crate::Config::compression_level`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Ask that the server reset its compression context after each message (saves the
    /// server ~256 KiB of compressor state per idle connection between messages).
    pub server_no_context_takeover: bool,
    /// Ask that the client reset its compression context after each message.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (9–15) the server may compress with.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (9–15) the client may compress with.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// Parameters both ends agreed on, named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window in bits.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window in bits.
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// Formats the parameters as a `Sec-WebSocket-Extensions` value.
    pub fn to_header_value(&self, include_client_bits: bool) -> String {
        let mut value = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            value.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if include_client_bits && self.client_max_window_bits < 15 {
            value.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        value
    }

    fn own_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
    }

    fn own_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    fn peer_no_context_takeover(&self, role: Role) -> bool {
        self.own_no_context_takeover(role.peer())
    }
}

/// One extension offer from a `Sec-WebSocket-Extensions` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order, with their value when one was given (quotes removed).
    pub params: Vec<(String, Option<String>)>,
}

/// Parses `Sec-WebSocket-Extensions` values (there may be several headers) into offers.
/// Returns `None` when the syntax is broken.
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Option<Vec<ExtensionOffer>> {
    let mut offers = Vec::new();
    for value in values {
        for item in value.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            if name.is_empty() {
                continue;
            }
            if !is_token(name) {
                return None;
            }
            let mut params = Vec::new();
            for part in parts {
                let (key, val) = match part.split_once('=') {
                    Some((key, val)) => {
                        let val = val.trim();
                        let val = val
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .unwrap_or(val);
                        (key.trim(), Some(val.to_owned()))
                    }
                    None => (part, None),
                };
                if !is_token(key) {
                    return None;
                }
                params.push((key.to_ascii_lowercase(), val));
            }
            offers.push(ExtensionOffer {
                name: name.to_ascii_lowercase(),
                params,
            });
        }
    }
    Some(offers)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// Server side: picks the first acceptable permessage-deflate offer. Returns the agreed
/// parameters and the response header value, or `None` to run without compression.
pub fn negotiate_server(
    offers: &[ExtensionOffer],
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    offers
        .iter()
        .filter(|offer| offer.name == EXTENSION_NAME)
        .find_map(|offer| accept_offer(offer, config))
}

fn accept_offer(offer: &ExtensionOffer, config: &DeflateConfig) -> Option<(DeflateParams, String)> {
    let mut params = DeflateParams {
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: config.server_max_window_bits.clamp(9, 15),
        client_max_window_bits: 15,
    };
    let mut seen = Vec::with_capacity(offer.params.len());
    let mut client_bits_offered = false;
    for (key, value) in &offer.params {
        if seen.contains(&key.as_str()) {
            return None; // A repeated parameter makes the offer invalid.
        }
        seen.push(key.as_str());
        match (key.as_str(), value) {
            ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => {
                let bits = parse_window_bits(v)?;
                // zlib cannot compress raw deflate with an 8-bit window: decline the offer.
                if bits < 9 {
                    return None;
                }
                params.server_max_window_bits = params.server_max_window_bits.min(bits);
            }
            ("client_max_window_bits", None) => {
                client_bits_offered = true;
            }
            ("client_max_window_bits", Some(v)) => {
                let bits = parse_window_bits(v)?;
                client_bits_offered = true;
                params.client_max_window_bits = bits;
            }
            _ => return None,
        }
    }
    if client_bits_offered {
        params.client_max_window_bits = params
            .client_max_window_bits
            .min(config.client_max_window_bits.clamp(8, 15));
    }
    let header = params.to_header_value(client_bits_offered);
    Some((params, header))
}

/// Client side: the offer header value for `config`.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut value = String::from(EXTENSION_NAME);
    if config.server_no_context_takeover {
        value.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        value.push_str("; client_no_context_takeover");
    }
    if config.server_max_window_bits < 15 {
        value.push_str(&format!(
            "; server_max_window_bits={}",
            config.server_max_window_bits
        ));
    }
    value.push_str("; client_max_window_bits");
    if config.client_max_window_bits < 15 {
        value.push_str(&format!("={}", config.client_max_window_bits));
    }
    value
}

/// Client side: checks the server's answer against what was offered.
pub fn accept_server_response(
    offers: &[ExtensionOffer],
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, &'static str> {
    let mut found = None;
    for offer in offers {
        if offer.name != EXTENSION_NAME {
            return Err("server accepted an extension that was not offered");
        }
        if found.is_some() {
            return Err("server accepted permessage-deflate twice");
        }
        let mut params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: config.client_no_context_takeover,
            server_max_window_bits: 15,
            client_max_window_bits: config.client_max_window_bits.clamp(9, 15),
        };
        for (key, value) in &offer.params {
            match (key.as_str(), value) {
                ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
                ("server_max_window_bits", Some(v)) => {
                    let bits = parse_window_bits(v).ok_or("bad server_max_window_bits")?;
                    if bits > config.server_max_window_bits {
                        return Err("server_max_window_bits larger than offered");
                    }
                    params.server_max_window_bits = bits;
                }
                ("client_max_window_bits", Some(v)) => {
                    let bits = parse_window_bits(v).ok_or("bad client_max_window_bits")?;
                    // zlib cannot compress raw deflate with an 8-bit window; 9 is the floor.
                    params.client_max_window_bits = params.client_max_window_bits.min(bits.max(9));
                    if bits < 9 {
                        return Err("client_max_window_bits=8 is not supported");
                    }
                }
                _ => return Err("unknown permessage-deflate parameter in response"),
            }
        }
        if config.server_no_context_takeover && !params.server_no_context_takeover {
            return Err("server ignored server_no_context_takeover");
        }
        found = Some(params);
    }
    Ok(found)
}

/// Compresses outgoing messages for one connection.
pub(crate) struct Deflater {
    stream: Option<Compress>,
    window_bits: u8,
    reset_each_message: bool,
    level: u32,
}

impl Deflater {
    pub(crate) fn new(params: &DeflateParams, role: Role, level: u32) -> Self {
        Self {
            stream: None,
            window_bits: params.own_window_bits(role).clamp(9, 15),
            reset_each_message: params.own_no_context_takeover(role),
            level,
        }
    }

    /// Appends the compressed form of `input` (without the sync-flush tail) to `out`.
    pub(crate) fn compress(&mut self, input: &[u8], out: &mut BytesMut) {
        let (level, bits) = (self.level, self.window_bits);
        let stream = self.stream.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        compress_with(stream, input, out);
        if self.reset_each_message {
            // Dropping the state frees the compressor's memory while the connection idles.
            self.stream = None;
        }
    }

    /// Forgets the compression history (after a message compressed elsewhere went out, so no
    /// back-reference can point at history the peer's window does not hold in that order).
    pub(crate) fn reset(&mut self) {
        self.stream = None;
    }
}

/// Compresses `input` with `stream` and appends it, minus the sync-flush tail, to `out`.
pub(crate) fn compress_with(stream: &mut Compress, input: &[u8], out: &mut BytesMut) {
    let start = out.len();
    let mut consumed = 0usize;
    loop {
        let chunk = (input.len() - consumed) / 2 + 64;
        let write_at = out.len();
        out.resize(write_at + chunk, 0);
        let (in_before, out_before) = (stream.total_in(), stream.total_out());
        let result = stream.compress(
            &input[consumed..],
            &mut out[write_at..],
            FlushCompress::Sync,
        );
        let produced = (stream.total_out() - out_before) as usize;
        consumed += (stream.total_in() - in_before) as usize;
        out.truncate(write_at + produced);
        // With room left over after consuming everything, the sync flush is complete.
        if result.is_err() || (consumed == input.len() && produced < chunk) {
            break;
        }
    }
    if out.len() >= start + 4 && out[out.len() - 4..] == SYNC_TAIL {
        out.truncate(out.len() - 4);
    }
}

/// A fresh compressor with `window_bits`, for messages compressed once for many receivers.
pub(crate) fn one_shot_compressor(level: u32, window_bits: u8) -> Compress {
    Compress::new_with_window_bits(Compression::new(level), false, window_bits.clamp(9, 15))
}

/// Decompresses incoming messages for one connection.
pub(crate) struct Inflater {
    stream: Option<Decompress>,
    reset_each_message: bool,
}

impl Inflater {
    pub(crate) fn new(params: &DeflateParams, role: Role) -> Self {
        Self {
            stream: None,
            reset_each_message: params.peer_no_context_takeover(role),
        }
    }

    /// Inflates one fragment's payload onto `out`, failing once `out` would exceed `limit`.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        // Always inflate with the largest window: it decodes any smaller one.
        let stream = self
            .stream
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        let mut consumed = 0usize;
        loop {
            let room = limit.saturating_sub(out.len()) + 1;
            let chunk = (input.len().saturating_sub(consumed) * 3 + 256)
                .min(room)
                .max(1);
            let write_at = out.len();
            out.resize(write_at + chunk, 0);
            let (in_before, out_before) = (stream.total_in(), stream.total_out());
            let status = stream
                .decompress(
                    &input[consumed..],
                    &mut out[write_at..],
                    FlushDecompress::Sync,
                )
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            let produced = (stream.total_out() - out_before) as usize;
            consumed += (stream.total_in() - in_before) as usize;
            out.truncate(write_at + produced);
            if out.len() > limit {
                return Err(ProtocolError::MessageTooLarge);
            }
            match status {
                Status::StreamEnd => {
                    if consumed < input.len() {
                        return Err(ProtocolError::InvalidCompressedData);
                    }
                    // A final block ends this stream; the next message starts a new one.
                    self.stream = None;
                    return Ok(());
                }
                Status::Ok | Status::BufError => {
                    if consumed == input.len() && produced < chunk {
                        return Ok(());
                    }
                    if produced == 0 && consumed < input.len() && status == Status::BufError {
                        return Err(ProtocolError::InvalidCompressedData);
                    }
                }
            }
        }
    }

    /// Ends a message: feeds the stripped sync-flush tail.
    pub(crate) fn finish(&mut self, out: &mut BytesMut, limit: usize) -> Result<(), ProtocolError> {
        if self.stream.is_some() {
            self.inflate(&SYNC_TAIL, out, limit)?;
        }
        if self.reset_each_message {
            self.stream = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(value: &str) -> Vec<ExtensionOffer> {
        parse_extensions([value]).unwrap()
    }

    #[test]
    fn rfc7692_7_2_3_1_hello_decompresses() {
        // "Hello" compressed with no context takeover (RFC 7692 §7.2.3.1).
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut inflater = Inflater::new(&params, Role::Client);
        let mut out = BytesMut::new();
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        inflater.finish(&mut out, 100).unwrap();
        assert_eq!(&out[..], b"Hello");
    }

    #[test]
    fn rfc7692_7_2_3_2_context_takeover_second_message() {
        // The second "Hello" refers back to the first (RFC 7692 §7.2.3.2).
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut inflater = Inflater::new(&params, Role::Client);
        let mut first = BytesMut::new();
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut first, 100)
            .unwrap();
        inflater.finish(&mut first, 100).unwrap();
        let mut second = BytesMut::new();
        inflater
            .inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut second, 100)
            .unwrap();
        inflater.finish(&mut second, 100).unwrap();
        assert_eq!(&second[..], b"Hello");
        // And our compressor, with context takeover, produces the same shorter second message.
        let mut deflater = Deflater::new(&params, Role::Server, 6);
        let mut a = BytesMut::new();
        deflater.compress(b"Hello", &mut a);
        assert_eq!(&a[..], &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        let mut b = BytesMut::new();
        deflater.compress(b"Hello", &mut b);
        assert_eq!(&b[..], &[0xf2, 0x00, 0x11, 0x00, 0x00]);
    }

    #[test]
    fn rfc7692_7_2_3_3_no_compression_block_decompresses() {
        let params = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut inflater = Inflater::new(&params, Role::Server);
        let mut out = BytesMut::new();
        inflater
            .inflate(
                &[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                ],
                &mut out,
                100,
            )
            .unwrap();
        inflater.finish(&mut out, 100).unwrap();
        assert_eq!(&out[..], b"Hello");
    }

    #[test]
    fn rfc7692_7_2_3_5_two_blocks_in_one_message() {
        let params = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut inflater = Inflater::new(&params, Role::Server);
        let mut out = BytesMut::new();
        let payload = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        inflater.inflate(&payload, &mut out, 100).unwrap();
        inflater.finish(&mut out, 100).unwrap();
        assert_eq!(&out[..], b"Hello");
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let params = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut deflater = Deflater::new(&params, Role::Client, 6);
        let mut compressed = BytesMut::new();
        deflater.compress(&vec![b'a'; 1 << 20], &mut compressed);
        assert!(compressed.len() < 4096);
        let mut inflater = Inflater::new(&params, Role::Server);
        let mut out = BytesMut::new();
        assert_eq!(
            inflater.inflate(&compressed, &mut out, 64 * 1024),
            Err(ProtocolError::MessageTooLarge)
        );
        assert!(out.len() <= 64 * 1024 + 1);
    }

    #[test]
    fn server_negotiation_follows_the_offer() {
        let config = DeflateConfig::default();
        let (params, header) = negotiate_server(&offers("permessage-deflate"), &config).unwrap();
        assert_eq!(header, "permessage-deflate");
        assert_eq!(params.server_max_window_bits, 15);

        let (params, header) = negotiate_server(
            &offers("permessage-deflate; client_max_window_bits; server_no_context_takeover"),
            &config,
        )
        .unwrap();
        assert!(params.server_no_context_takeover);
        assert_eq!(header, "permessage-deflate; server_no_context_takeover");

        let (params, header) = negotiate_server(
            &offers("permessage-deflate; server_max_window_bits=10"),
            &config,
        )
        .unwrap();
        assert_eq!(params.server_max_window_bits, 10);
        assert_eq!(header, "permessage-deflate; server_max_window_bits=10");

        // Quoted values are accepted.
        let (params, _) = negotiate_server(
            &offers("permessage-deflate; client_max_window_bits=\"12\""),
            &config,
        )
        .unwrap();
        assert_eq!(params.client_max_window_bits, 12);
    }

    #[test]
    fn server_negotiation_declines_bad_offers_and_takes_the_next() {
        let config = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; unknown_param",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(negotiate_server(&offers(bad), &config), None, "{bad}");
        }
        let (params, _) = negotiate_server(
            &offers("permessage-deflate; server_max_window_bits=8, permessage-deflate"),
            &config,
        )
        .unwrap();
        assert_eq!(params.server_max_window_bits, 15);
    }

    #[test]
    fn client_checks_the_servers_answer() {
        let config = DeflateConfig::default();
        let params = accept_server_response(
            &offers("permessage-deflate; server_max_window_bits=12"),
            &config,
        )
        .unwrap()
        .unwrap();
        assert_eq!(params.server_max_window_bits, 12);
        assert!(accept_server_response(&offers("permessage-deflate; foo"), &config).is_err());
        assert!(accept_server_response(&offers("other-ext"), &config).is_err());
        assert_eq!(accept_server_response(&[], &config), Ok(None));
    }

    #[test]
    fn round_trip_with_every_window_size() {
        let text: Vec<u8> = (0..20_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 97) as u8)
            .collect();
        for bits in 9..=15 {
            let params = DeflateParams {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: bits,
                client_max_window_bits: bits,
            };
            let mut deflater = Deflater::new(&params, Role::Server, 6);
            let mut inflater = Inflater::new(&params, Role::Client);
            for _ in 0..3 {
                let mut compressed = BytesMut::new();
                deflater.compress(&text, &mut compressed);
                let mut out = BytesMut::new();
                inflater.inflate(&compressed, &mut out, 1 << 20).unwrap();
                inflater.finish(&mut out, 1 << 20).unwrap();
                assert_eq!(&out[..], &text[..], "bits {bits}");
            }
        }
    }
}
