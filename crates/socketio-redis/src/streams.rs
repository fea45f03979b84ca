//! Node's streams adapter's stream side: which stream a namespace uses, and the task that
//! reads a stream (`XREAD BLOCK`) and hands each entry to its namespace's adapter.
//!
//! A stream, unlike pub/sub, keeps what was appended while a server was away: the reader
//! resumes from the last entry it saw after a lost connection, so nothing in between is
//! missed (as long as the stream still holds it, `max_len`).

use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;
use redis::Value as RedisValue;
use tracing::{debug, error, warn};

use switchboard_socketio::adapter::{BroadcastOptions, RecoveredSession, Session};
use switchboard_socketio::Room;
use switchboard_socketio_parser::{msgpack, Map, Value};

use crate::bus::Bus;
use crate::wire::cluster::{decode_entry, Incoming};
use crate::StreamsConfig;

/// The stream of namespace `nsp` (Node's `computeStreamName`): the one stream, or with
/// several, `{name}-{i}` where `i` is the namespace's Java-style string hash (over UTF-16
/// code units, wrapping at 32 bits) modulo the count, negative as JavaScript's `%` leaves it.
pub(crate) fn stream_of(config: &StreamsConfig, nsp: &str) -> String {
    if config.stream_count <= 1 {
        return config.stream_name.clone();
    }
    let hash = nsp.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let count = i64::from(config.stream_count);
    // JavaScript's `%` keeps the dividend's sign.
    let i = i64::from(hash) % count;
    format!("{}-{i}", config.stream_name)
}

/// Every stream the namespaces may use.
pub(crate) fn all_streams(config: &StreamsConfig) -> Vec<String> {
    if config.stream_count <= 1 {
        return vec![config.stream_name.clone()];
    }
    let count = i64::from(config.stream_count);
    // Negative indices come from negative hashes: `-(count - 1)..count`.
    (-(count - 1)..count)
        .map(|i| format!("{}-{i}", config.stream_name))
        .collect()
}

/// One stream entry: its id and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) fields: Vec<(Bytes, Bytes)>,
}

/// The entries of an `XREAD` reply for one stream (`{stream: [entry…]}` in RESP3,
/// `[[stream, [entry…]]]` in RESP2, nil when none came); malformed ones are skipped.
pub(crate) fn xread_entries(reply: RedisValue) -> Vec<Entry> {
    let per_stream: Vec<RedisValue> = match reply {
        RedisValue::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        RedisValue::Array(pairs) => pairs
            .into_iter()
            .filter_map(|pair| list(pair).into_iter().nth(1))
            .collect(),
        _ => Vec::new(),
    };
    per_stream
        .into_iter()
        .flat_map(list)
        .filter_map(entry)
        .collect()
}

/// The entries of an `XRANGE` or `XREVRANGE` reply (`[entry…]`).
pub(crate) fn xrange_entries(reply: RedisValue) -> Vec<Entry> {
    list(reply).into_iter().filter_map(entry).collect()
}

fn list(value: RedisValue) -> Vec<RedisValue> {
    match value {
        RedisValue::Array(items) => items,
        _ => Vec::new(),
    }
}

fn bytes(value: RedisValue) -> Option<Bytes> {
    match value {
        RedisValue::BulkString(b) => Some(Bytes::from(b)),
        RedisValue::SimpleString(s) => Some(Bytes::from(s)),
        _ => None,
    }
}

/// `[id, [field, value, …]]`, or `[id, {field: value}]` in RESP3. Fields that are not
/// strings are left out (the entry still counts: the reader moves past it).
fn entry(value: RedisValue) -> Option<Entry> {
    let mut parts = list(value).into_iter();
    let id = String::from_utf8(bytes(parts.next()?)?.to_vec()).ok()?;
    let pairs: Vec<(RedisValue, RedisValue)> = match parts.next() {
        Some(RedisValue::Array(flat)) => {
            let mut flat = flat.into_iter();
            std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
        }
        Some(RedisValue::Map(pairs)) => pairs,
        _ => Vec::new(),
    };
    let fields = pairs
        .into_iter()
        .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
        .collect();
    Some(Entry { id, fields })
}

/// Whether `id` is a stream entry id (`ms-seq`), as Node checks an offset before using it.
pub(crate) fn is_entry_id(id: &str) -> bool {
    let Some((ms, seq)) = id.split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(ms) && digits(seq) && ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok()
}

/// The id right after `id` (an exclusive start for `XRANGE` on every Redis version).
pub(crate) fn next_id(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    Some(format!("{ms}-{}", seq.checked_add(1)?))
}

/// A session as Node's streams adapter keeps it: base64 of msgpack `{sid, pid, rooms, data}`.
pub(crate) fn encode_session(session: &Session) -> Bytes {
    use base64::Engine as _;
    let mut map = Map::new();
    map.insert("sid".into(), Value::from(&*session.sid));
    map.insert("pid".into(), Value::from(&*session.pid));
    let rooms = session.rooms.iter().map(|r| Value::from(&**r)).collect();
    map.insert("rooms".into(), Value::Array(rooms));
    map.insert("data".into(), session.data.clone());
    let packed = msgpack::encode_value(&Value::Object(map));
    Bytes::from(base64::engine::general_purpose::STANDARD.encode(packed))
}

/// A session [`encode_session`] (or Node) kept; `None` when it is not one.
pub(crate) fn decode_session(raw: &[u8]) -> Option<Session> {
    use base64::Engine as _;
    let packed = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let value = msgpack::decode_value(&Bytes::from(packed)).ok()?;
    let map = value.as_object()?;
    let text = |name: &str| map.get(name).and_then(Value::as_str).map(Room::from);
    let rooms = map
        .get("rooms")
        .and_then(Value::as_array)
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(Value::as_str)
                .map(Room::from)
                .collect()
        })
        .unwrap_or_default();
    Some(Session {
        sid: text("sid")?,
        pid: text("pid")?,
        rooms,
        data: map.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// Most `XRANGE` calls a restoration makes (Node's `RESTORE_SESSION_MAX_XRANGE_CALLS`), and
/// the entries each asks for.
const MAX_RANGES: usize = 100;
const RANGE_COUNT: usize = 1_000;

/// Node's `restoreSession`: takes the session kept under `key` (`None` when there is none,
/// or when `offset` is not an entry still in `stream`), and gathers the broadcasts of
/// namespace `nsp` after `offset` that reached the session's rooms, each with its entry id
/// appended as its offset. More than `max_missed` of them: `None` too (the client starts
/// afresh rather than get some), where Node has no limit.
pub(crate) async fn restore(
    conn: &mut crate::conn::Conn,
    key: &str,
    stream: &str,
    nsp: &str,
    offset: &str,
    max_missed: usize,
) -> redis::RedisResult<Option<RecoveredSession>> {
    if !is_entry_id(offset) {
        return Ok(None);
    }
    // GET and DEL in one transaction (GETDEL needs Redis 6.2), as Node does.
    let (raw,): (Option<Vec<u8>>,) = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg(key)
        .cmd("DEL")
        .arg(key)
        .ignore()
        .query_async(conn)
        .await?;
    let at_offset = xrange_entries(
        redis::cmd("XRANGE")
            .arg(stream)
            .arg(offset)
            .arg(offset)
            .query_async(conn)
            .await?,
    );
    let (Some(raw), false) = (raw, at_offset.is_empty()) else {
        return Ok(None);
    };
    let Some(session) = decode_session(&raw) else {
        return Ok(None);
    };
    let mut missed = Vec::new();
    let mut from = offset.to_owned();
    for _ in 0..MAX_RANGES {
        let Some(start) = next_id(&from) else { break };
        let reply = redis::cmd("XRANGE")
            .arg(stream)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(RANGE_COUNT)
            .query_async(conn)
            .await?;
        let entries = xrange_entries(reply);
        let Some(last) = entries.last() else { break };
        from = last.id.clone();
        for entry in entries {
            let Ok(message) = decode_entry(&entry.fields) else {
                continue;
            };
            if message.nsp != nsp {
                continue;
            }
            if let Incoming::Broadcast(mut b) = message.body {
                if reaches(&session.rooms, &b.opts) {
                    b.packet.args.push(Value::String(entry.id));
                    missed.push(b.packet);
                }
            }
        }
        if missed.len() > max_missed {
            debug!(
                sid = %session.sid,
                "redis adapter: a session missed too much to be restored"
            );
            return Ok(None);
        }
    }
    Ok(Some(RecoveredSession { session, missed }))
}

/// Node's `shouldIncludePacket`: in one of the broadcast's rooms (or it had none), and in
/// none of its exceptions.
fn reaches(rooms: &[Room], opts: &BroadcastOptions) -> bool {
    let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.contains(r));
    included && !rooms.iter().any(|r| opts.except.contains(r))
}

/// Reads `stream` from its current end, entry after entry, for as long as the bus lives. A
/// read waits up to `block_time`; one that gets no answer within `requests_timeout` more
/// counts as a lost connection, replaced by a new one.
pub(crate) async fn read(
    bus: Weak<Bus>,
    mut conn: crate::conn::Conn,
    stream: String,
    mut offset: String,
) {
    let Some((config, within)) = bus.upgrade().and_then(|b| {
        let streams = b.config.streams.clone()?;
        Some((streams, crate::conn::read_timeout(&b.config)))
    }) else {
        return;
    };
    let block = u64::try_from(config.block_time.as_millis()).unwrap_or(u64::MAX);
    let mut pause = Duration::from_millis(50);
    loop {
        let mut xread = redis::cmd("XREAD");
        let read = xread
            .arg("COUNT")
            .arg(config.read_count.max(1))
            .arg("BLOCK")
            .arg(block.max(1))
            .arg("STREAMS")
            .arg(&stream)
            .arg(&offset)
            .query_async::<RedisValue>(&mut conn);
        // Bounded here too, whatever the connection's own timeouts do.
        let result = match tokio::time::timeout(within, read).await {
            Ok(read) => read.map(xread_entries),
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
        };
        let Some(bus) = bus.upgrade() else { return };
        match result {
            Ok(read) => {
                pause = Duration::from_millis(50);
                for entry in read {
                    offset.clone_from(&entry.id);
                    deliver(&bus, entry);
                }
            }
            Err(e) => {
                warn!(error = %e, stream, "redis adapter: reading the stream failed; retrying");
                // A read that timed out may sit on a connection that went silent without
                // failing (a NAT or proxy forgot it), which the manager would keep: a new one
                // reads on from the same entry.
                if e.is_timeout() {
                    match bus.open_reader().await {
                        Ok(fresh) => conn = fresh,
                        Err(e) => debug!(error = %e, "redis adapter: no new reader connection yet"),
                    }
                }
                let max = bus.config.reconnect_max_delay;
                drop(bus);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(max);
            }
        }
    }
}

/// The id of the stream's last entry, `0-0` when it has none.
pub(crate) async fn last_id(
    conn: &mut crate::conn::Conn,
    stream: &str,
) -> redis::RedisResult<String> {
    let reply: RedisValue = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(xrange_entries(reply)
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |e| e.id))
}

/// Hands an entry to its namespace's adapter (entries of namespaces this server does not
/// have are skipped, as Node's are).
fn deliver(bus: &Bus, entry: Entry) {
    let Some(nsp) = entry
        .fields
        .iter()
        .find(|(k, _)| &k[..] == b"nsp")
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
    else {
        return debug!(
            id = entry.id,
            "redis adapter: stream entry without a namespace"
        );
    };
    let Some(adapter) = bus.adapter_of(nsp) else {
        return;
    };
    let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        adapter.on_stream_entry(&entry);
    }));
    if handled.is_err() {
        error!("redis adapter: handling a stream entry panicked; carrying on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_spread_over_streams_as_node_hashes_them() {
        let config = |count| StreamsConfig {
            stream_count: count,
            ..StreamsConfig::default()
        };
        assert_eq!(stream_of(&config(1), "/chat"), "socket.io");
        // As Node computes them (hashCode, then `%`): 47 % 3, 46457863 % 3,
        // -1014064871 % 3 (negative, as JavaScript's `%` leaves it), and a name with
        // characters outside the BMP (hashed as UTF-16 code units).
        assert_eq!(stream_of(&config(3), "/"), "socket.io-2");
        assert_eq!(stream_of(&config(3), "/chat"), "socket.io-1");
        assert_eq!(stream_of(&config(3), "/notifications"), "socket.io--2");
        assert_eq!(stream_of(&config(3), "/é😀"), "socket.io-2");
        let all = all_streams(&config(3));
        for nsp in ["/", "/chat", "/notifications", "/zzzzzzzz"] {
            assert!(all.contains(&stream_of(&config(3), nsp)), "{nsp}");
        }
    }

    #[test]
    fn entries_in_both_reply_shapes() {
        let bulk = |s: &str| RedisValue::BulkString(s.as_bytes().to_vec());
        let one = || {
            RedisValue::Array(vec![
                bulk("1-2"),
                RedisValue::Array(vec![bulk("nsp"), bulk("/"), bulk("type"), bulk("3")]),
            ])
        };
        let want = vec![Entry {
            id: "1-2".into(),
            fields: vec![
                (Bytes::from_static(b"nsp"), Bytes::from_static(b"/")),
                (Bytes::from_static(b"type"), Bytes::from_static(b"3")),
            ],
        }];
        let resp3 = RedisValue::Map(vec![(bulk("s"), RedisValue::Array(vec![one()]))]);
        assert_eq!(xread_entries(resp3), want);
        let resp2 = RedisValue::Array(vec![RedisValue::Array(vec![
            bulk("s"),
            RedisValue::Array(vec![one()]),
        ])]);
        assert_eq!(xread_entries(resp2), want);
        assert_eq!(xrange_entries(RedisValue::Array(vec![one()])), want);
        assert_eq!(xread_entries(RedisValue::Nil), vec![]);
        assert_eq!(
            xrange_entries(RedisValue::Array(vec![bulk("junk")])),
            vec![]
        );
    }

    /// A session as Node's streams adapter keeps it (`@msgpack/msgpack` 2.8, base64), and ours
    /// the same bytes.
    #[test]
    fn sessions_are_node_s_bytes_both_ways() {
        let node =
            b"hKNzaWSiczGjcGlkonAxpXJvb21zkqJzMaRibHVlpGRhdGGCpG5hbWWmcm9hbWVyoW7LP/gAAAAAAAA=";
        let session = decode_session(node).expect("Node's session");
        let want = Session {
            sid: Room::from("s1"),
            pid: Room::from("p1"),
            rooms: vec![Room::from("s1"), Room::from("blue")],
            data: Value::from(serde_json::json!({"name": "roamer", "n": 1.5})),
        };
        assert_eq!(session, want);
        // (`json!` sorts keys; the decoded session keeps Node's order.)
        assert_eq!(&encode_session(&session)[..], &node[..]);
        assert_eq!(decode_session(b"not base64!"), None);
        assert_eq!(
            decode_session(b"kA=="),
            None,
            "an empty array, not a session"
        );
    }

    #[test]
    fn offsets_are_checked_and_advanced() {
        assert!(is_entry_id("1700000000000-0"));
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert!(!is_entry_id(bad), "{bad}");
        }
        assert_eq!(next_id("5-9").as_deref(), Some("5-10"));
        assert_eq!(next_id(&format!("5-{}", u64::MAX)), None);
    }
}
