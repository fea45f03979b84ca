//! Messages framed (and compressed) once, then written to any number of connections.

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};

use crate::deflate::{compress_with, one_shot_compressor};
use crate::frame::{FrameHeader, OpCode};
use crate::message::Message;

/// A message encoded once for fan-out. Server connections queue the same bytes for every
/// receiver; the compressed form is made at most once per window size, on first demand.
#[derive(Debug)]
pub struct PreparedMessage {
    opcode: OpCode,
    payload: Bytes,
    plain_frame: Bytes,
    compressed: [OnceLock<Bytes>; 7],
    level: u32,
}

impl PreparedMessage {
    /// Frames `message` for server-to-client delivery.
    pub fn new(message: Message) -> Self {
        Self::with_level(message, 1)
    }

    /// Frames `message`, compressing (when a receiver negotiated deflate) at zlib `level`.
    pub fn with_level(message: Message, level: u32) -> Self {
        let opcode = if message.is_text() {
            OpCode::TEXT
        } else {
            OpCode::BINARY
        };
        let payload = message.payload().clone();
        let plain_frame = frame(opcode, false, &payload);
        Self {
            opcode,
            payload,
            plain_frame,
            compressed: Default::default(),
            level,
        }
    }

    /// The message payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Whether the message is text.
    pub fn is_text(&self) -> bool {
        self.opcode == OpCode::TEXT
    }

    pub(crate) fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The unmasked, uncompressed frame.
    pub fn plain_frame(&self) -> &Bytes {
        &self.plain_frame
    }

    /// The unmasked frame compressed with a fresh context and `window_bits` (9–15).
    pub fn compressed_frame(&self, window_bits: u8) -> &Bytes {
        let bits = window_bits.clamp(9, 15);
        self.compressed[usize::from(bits - 9)].get_or_init(|| {
            let mut stream = one_shot_compressor(self.level, bits);
            let mut body = BytesMut::with_capacity(self.payload.len() / 2 + 16);
            compress_with(&mut stream, &self.payload, &mut body);
            frame(self.opcode, true, &body)
        })
    }
}

fn frame(opcode: OpCode, compressed: bool, payload: &[u8]) -> Bytes {
    let header = FrameHeader {
        fin: true,
        rsv1: compressed,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    header.write_to(&mut out);
    out.extend_from_slice(payload);
    out.freeze()
}
