//! [`Packet`]: one Socket.IO packet, with the payload shape each type allows.

use crate::error::ParseError;
use crate::value::{Map, Value};

/// The packet type as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketKind {
    /// Connection to a namespace (request from the client, approval from the server).
    Connect = 0,
    /// Disconnection from a namespace.
    Disconnect = 1,
    /// An event without binary.
    Event = 2,
    /// An acknowledgement without binary.
    Ack = 3,
    /// The server refused the connection to a namespace (`ERROR` in protocol v4).
    ConnectError = 4,
    /// An event with binary attachments.
    BinaryEvent = 5,
    /// An acknowledgement with binary attachments.
    BinaryAck = 6,
}

impl PacketKind {
    /// The type for a wire digit `0..=6`.
    #[must_use]
    pub const fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Connect,
            1 => Self::Disconnect,
            2 => Self::Event,
            3 => Self::Ack,
            4 => Self::ConnectError,
            5 => Self::BinaryEvent,
            6 => Self::BinaryAck,
            _ => return None,
        })
    }

    /// True for BINARY_EVENT and BINARY_ACK.
    #[must_use]
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// Which revision of the Socket.IO protocol the peer speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// Revision 4: Socket.IO 1 and 2 (`EIO=3`). The client's CONNECT carries its query in the
    /// namespace (`/admin?token=1`, see [`Packet::namespace_and_query`]); the server's CONNECT
    /// has no data; CONNECT_ERROR (`ERROR`) carries a plain string; event names are not
    /// checked against the reserved list.
    V4,
    /// Revision 5: Socket.IO 3 and 4 (`EIO=4`). CONNECT may carry an auth object (client) or
    /// `{sid}` (server); CONNECT_ERROR carries `{message, data?}`.
    #[default]
    V5,
}

/// Event names that protocol v5 receivers reject (socket.io-parser's `RESERVED_EVENTS`).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The data of a CONNECT_ERROR packet.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectErrorData {
    /// A plain message (protocol v4, and accepted in v5).
    Message(String),
    /// An object, `{ message, data? }` in protocol v5.
    Object(Map),
}

/// What a packet carries, by type. BINARY_EVENT/BINARY_ACK are not separate: whether an event
/// or ack is sent as binary is decided by whether its arguments contain [`Value::Binary`].
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// CONNECT, with the client's auth object or the server's `{sid}` (v5), or nothing.
    Connect(Option<Map>),
    /// DISCONNECT.
    Disconnect,
    /// EVENT or BINARY_EVENT.
    Event {
        /// The event name (a numeric name on the wire becomes its decimal text, which is
        /// the same listener key in JavaScript).
        name: String,
        /// The arguments after the name.
        args: Vec<Value>,
        /// The ack id, when the sender wants an acknowledgement.
        id: Option<u64>,
    },
    /// ACK or BINARY_ACK.
    Ack {
        /// The id of the event being acknowledged.
        id: u64,
        /// The acknowledgement's arguments.
        args: Vec<Value>,
    },
    /// CONNECT_ERROR.
    ConnectError(ConnectErrorData),
}

/// One Socket.IO packet: a namespace and a payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    nsp: String,
    /// The payload, whose variant decides the packet type.
    pub payload: Payload,
}

/// A namespace as the wire needs it: empty becomes `/`, a missing leading `/` is added.
fn normalize_nsp(nsp: String) -> String {
    if nsp.starts_with('/') {
        nsp
    } else {
        let mut s = String::with_capacity(nsp.len() + 1);
        s.push('/');
        s.push_str(&nsp);
        s
    }
}

impl Packet {
    /// A packet for namespace `nsp` (`""` means `/`; a missing leading `/` is added).
    #[must_use]
    pub fn new(nsp: impl Into<String>, payload: Payload) -> Self {
        Self {
            nsp: normalize_nsp(nsp.into()),
            payload,
        }
    }

    /// CONNECT with optional data (v5: the client's auth, the server's `{sid}`).
    #[must_use]
    pub fn connect(nsp: impl Into<String>, data: Option<Map>) -> Self {
        Self::new(nsp, Payload::Connect(data))
    }

    /// The server's approval of a CONNECT: `{sid}` in v5, no data in v4.
    #[must_use]
    pub fn connect_ok(version: ProtocolVersion, nsp: impl Into<String>, sid: &str) -> Self {
        let data = match version {
            ProtocolVersion::V4 => None,
            ProtocolVersion::V5 => {
                let mut m = Map::with_capacity(1);
                m.insert("sid".to_owned(), Value::from(sid));
                Some(m)
            }
        };
        Self::connect(nsp, data)
    }

    /// DISCONNECT.
    #[must_use]
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        Self::new(nsp, Payload::Disconnect)
    }

    /// EVENT (BINARY_EVENT if `args` contain binary) named `name`, with an ack id if given.
    #[must_use]
    pub fn event(
        nsp: impl Into<String>,
        name: impl Into<String>,
        args: Vec<Value>,
        id: Option<u64>,
    ) -> Self {
        Self::new(
            nsp,
            Payload::Event {
                name: name.into(),
                args,
                id,
            },
        )
    }

    /// ACK (BINARY_ACK if `args` contain binary) for event `id`.
    #[must_use]
    pub fn ack(nsp: impl Into<String>, id: u64, args: Vec<Value>) -> Self {
        Self::new(nsp, Payload::Ack { id, args })
    }

    /// CONNECT_ERROR with the given data.
    #[must_use]
    pub fn connect_error(nsp: impl Into<String>, data: ConnectErrorData) -> Self {
        Self::new(nsp, Payload::ConnectError(data))
    }

    /// CONNECT_ERROR as Node's server writes it: `{"message": …}` in v5, the bare string in v4.
    #[must_use]
    pub fn connect_error_message(
        version: ProtocolVersion,
        nsp: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let data = match version {
            ProtocolVersion::V4 => ConnectErrorData::Message(message.into()),
            ProtocolVersion::V5 => {
                let mut m = Map::with_capacity(1);
                m.insert("message".to_owned(), Value::String(message.into()));
                ConnectErrorData::Object(m)
            }
        };
        Self::connect_error(nsp, data)
    }

    /// The namespace, always starting with `/`.
    #[must_use]
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// The namespace split at the first `?`: in protocol v4 a client's CONNECT carries its
    /// query there (`/admin?token=1` gives `("/admin", Some("token=1"))`).
    #[must_use]
    pub fn namespace_and_query(&self) -> (&str, Option<&str>) {
        match self.nsp.split_once('?') {
            Some((nsp, query)) => (nsp, Some(query)),
            None => (&self.nsp, None),
        }
    }

    /// The wire type: EVENT/ACK become BINARY_EVENT/BINARY_ACK when the args hold binary.
    #[must_use]
    pub fn kind(&self) -> PacketKind {
        match &self.payload {
            Payload::Connect(_) => PacketKind::Connect,
            Payload::Disconnect => PacketKind::Disconnect,
            Payload::ConnectError(_) => PacketKind::ConnectError,
            Payload::Event { args, .. } if args.iter().any(Value::has_binary) => {
                PacketKind::BinaryEvent
            }
            Payload::Event { .. } => PacketKind::Event,
            Payload::Ack { args, .. } if args.iter().any(Value::has_binary) => {
                PacketKind::BinaryAck
            }
            Payload::Ack { .. } => PacketKind::Ack,
        }
    }

    /// The ack id of an EVENT or ACK.
    #[must_use]
    pub fn id(&self) -> Option<u64> {
        match &self.payload {
            Payload::Event { id, .. } => *id,
            Payload::Ack { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The event name of an EVENT.
    #[must_use]
    pub fn event_name(&self) -> Option<&str> {
        match &self.payload {
            Payload::Event { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The arguments of an EVENT (after the name) or an ACK.
    #[must_use]
    pub fn args(&self) -> Option<&[Value]> {
        match &self.payload {
            Payload::Event { args, .. } | Payload::Ack { args, .. } => Some(args),
            _ => None,
        }
    }

    /// Checks a decoded packet the way socket.io-parser's `isPayloadValid` does and builds it.
    /// `nsp` must already start with `/`.
    pub(crate) fn from_parts(
        kind: PacketKind,
        nsp: String,
        id: Option<u64>,
        data: Option<Value>,
        version: ProtocolVersion,
    ) -> Result<Self, ParseError> {
        if !nsp.starts_with('/') {
            return Err(ParseError::InvalidNamespace);
        }
        let payload = match kind {
            PacketKind::Connect => {
                no_id(id)?;
                match data {
                    None => Payload::Connect(None),
                    Some(Value::Object(m)) => Payload::Connect(Some(m)),
                    Some(_) => return Err(ParseError::InvalidConnectPayload),
                }
            }
            PacketKind::Disconnect => {
                no_id(id)?;
                if data.is_some() {
                    return Err(ParseError::UnexpectedPayload);
                }
                Payload::Disconnect
            }
            PacketKind::ConnectError => {
                no_id(id)?;
                match data {
                    Some(Value::String(s)) => Payload::ConnectError(ConnectErrorData::Message(s)),
                    Some(Value::Object(m)) => Payload::ConnectError(ConnectErrorData::Object(m)),
                    _ => return Err(ParseError::InvalidConnectErrorPayload),
                }
            }
            PacketKind::Event | PacketKind::BinaryEvent => {
                let Some(Value::Array(mut items)) = data else {
                    return Err(ParseError::InvalidEventPayload);
                };
                if items.is_empty() {
                    return Err(ParseError::InvalidEventName);
                }
                let name = match items.remove(0) {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    _ => return Err(ParseError::InvalidEventName),
                };
                if version == ProtocolVersion::V5 && RESERVED_EVENTS.contains(&name.as_str()) {
                    return Err(ParseError::ReservedEventName(name));
                }
                Payload::Event {
                    name,
                    args: items,
                    id,
                }
            }
            PacketKind::Ack | PacketKind::BinaryAck => {
                let Some(Value::Array(args)) = data else {
                    return Err(ParseError::InvalidAckPayload);
                };
                let id = id.ok_or(ParseError::MissingAckId)?;
                Payload::Ack { id, args }
            }
        };
        Ok(Self { nsp, payload })
    }

    /// The argument list, mutably (the text decoder fills attachments in there).
    pub(crate) fn args_mut(&mut self) -> Option<&mut Vec<Value>> {
        match &mut self.payload {
            Payload::Event { args, .. } | Payload::Ack { args, .. } => Some(args),
            _ => None,
        }
    }
}

fn no_id(id: Option<u64>) -> Result<(), ParseError> {
    match id {
        Some(_) => Err(ParseError::UnexpectedAckId),
        None => Ok(()),
    }
}
