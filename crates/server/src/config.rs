//! `switchboard serve` settings: flags, `SWITCHBOARD_*` environment variables and an optional
//! TOML file, in that order of precedence, over built-in defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

/// Command-line flags (each also read from its `SWITCHBOARD_*` variable).
#[derive(Debug, Default, Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file; flags and environment variables override its values.
    #[arg(long, short = 'c', env = "SWITCHBOARD_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on for HTTP and WebSocket [default: 127.0.0.1:3000].
    #[arg(long, env = "SWITCHBOARD_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,
    /// PEM certificate chain; with --tls-key, the listener speaks HTTPS/WSS.
    #[arg(long, env = "SWITCHBOARD_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SWITCHBOARD_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Worker threads, each with its own event loop [default: one per available CPU].
    #[arg(long, env = "SWITCHBOARD_WORKERS")]
    pub(crate) workers: Option<usize>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive [default: info].
    #[arg(long, env = "SWITCHBOARD_LOG")]
    pub(crate) log_level: Option<String>,
    /// Most simultaneous connections; more are refused at accept [default: 50000].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS")]
    pub(crate) max_connections: Option<usize>,
    /// Largest WebSocket frame payload in bytes; larger closes with 1009 [default: 16777216].
    #[arg(long, env = "SWITCHBOARD_MAX_FRAME_SIZE")]
    pub(crate) max_frame_size: Option<usize>,
    /// Largest WebSocket message in bytes (after decompression); larger closes with 1009
    /// [default: 16777216].
    #[arg(long, env = "SWITCHBOARD_MAX_MESSAGE_SIZE")]
    pub(crate) max_message_size: Option<usize>,
    /// Largest HTTP request head in bytes; larger is answered 431 [default: 16384].
    #[arg(long, env = "SWITCHBOARD_MAX_HEADER_SIZE")]
    pub(crate) max_header_size: Option<usize>,
    /// Messages queued per connection before it counts as a slow consumer and is closed with
    /// 1008 [default: 1024].
    #[arg(long, env = "SWITCHBOARD_SEND_QUEUE")]
    pub(crate) send_queue: Option<usize>,
    /// Bytes a connection may have unwritten before it stops taking queued messages
    /// [default: 4194304].
    #[arg(long, env = "SWITCHBOARD_SEND_BUFFER")]
    pub(crate) send_buffer: Option<usize>,
    /// Seconds without input before a keep-alive ping; 0 disables [default: 30].
    #[arg(long, env = "SWITCHBOARD_PING_INTERVAL")]
    pub(crate) ping_interval: Option<u64>,
    /// Seconds to wait for any input after a keep-alive ping before closing [default: 30].
    #[arg(long, env = "SWITCHBOARD_PONG_TIMEOUT")]
    pub(crate) pong_timeout: Option<u64>,
    /// Disable permessage-deflate (it is negotiated when a client offers it by default).
    #[arg(long, env = "SWITCHBOARD_NO_DEFLATE")]
    pub(crate) no_deflate: bool,
    /// Messages below this many bytes go uncompressed [default: 1024].
    #[arg(long, env = "SWITCHBOARD_DEFLATE_THRESHOLD")]
    pub(crate) deflate_threshold: Option<usize>,
    /// Browser origin allowed to open WebSockets (repeatable); others get 403. Unset: any.
    #[arg(
        long = "allowed-origin",
        env = "SWITCHBOARD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub(crate) allowed_origins: Vec<String>,
    /// Rooms one /ws connection may subscribe to [default: 1000].
    #[arg(long, env = "SWITCHBOARD_MAX_ROOMS_PER_CONNECTION")]
    pub(crate) max_rooms_per_connection: Option<usize>,
    /// Socket.IO packet format: `text` (Node's default parser) or `msgpack`
    /// (socket.io-msgpack-parser) [default: text]. The built-in demo pages and SDK speak text.
    #[arg(long, env = "SWITCHBOARD_SOCKETIO_PARSER", value_enum)]
    pub(crate) socketio_parser: Option<SocketIoParser>,
    /// Compress Socket.IO polling answers of 1024 bytes or more with gzip or deflate when the
    /// client accepts it (Node's `httpCompression`) [default: true].
    #[arg(
        long,
        env = "SWITCHBOARD_SOCKETIO_HTTP_COMPRESSION",
        value_name = "BOOL"
    )]
    pub(crate) socketio_http_compression: Option<bool>,
    /// Accept permessage-deflate on Socket.IO's WebSocket transport, compressing messages of
    /// 1024 bytes or more (Node's `perMessageDeflate`) [default: false].
    #[arg(
        long,
        env = "SWITCHBOARD_SOCKETIO_PER_MESSAGE_DEFLATE",
        value_name = "BOOL"
    )]
    pub(crate) socketio_per_message_deflate: Option<bool>,
    /// Name of a cookie holding the Engine.IO session id, set on Socket.IO handshakes for
    /// sticky load balancing (Node's `cookie`, e.g. `io`) [default: no cookie].
    #[arg(long, env = "SWITCHBOARD_SOCKETIO_COOKIE", value_name = "NAME")]
    pub(crate) socketio_cookie: Option<String>,
    /// Connection-state recovery (Node's `connectionStateRecovery`): a Socket.IO client whose
    /// connection drops gets its id, rooms and the broadcasts it missed back if it returns
    /// within this many seconds (Node's `maxDisconnectionDuration`; 0 turns it off). Beside
    /// `--redis-url`, only with `--redis-streams`, which keeps sessions in Redis so that the
    /// client recovers on whichever server it reaches [default: off].
    #[arg(long, env = "SWITCHBOARD_SOCKETIO_RECOVERY", value_name = "SECS")]
    pub(crate) socketio_recovery: Option<u64>,
    /// Seconds to let connections close on SIGINT/SIGTERM before exiting [default: 10].
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_TIMEOUT")]
    pub(crate) shutdown_timeout: Option<u64>,
    /// Also run the STUN/TURN server (UDP and TCP on --turn-listen, TLS with a certificate);
    /// off by default. The --turn-* settings below apply.
    #[arg(long = "turn", env = "SWITCHBOARD_TURN")]
    pub(crate) turn: bool,
    #[command(flatten)]
    pub(crate) turn_args: crate::turn::TurnArgs,
    #[command(flatten)]
    pub(crate) rtc_args: crate::rtc::RtcArgs,
    #[command(flatten)]
    pub(crate) redis_args: crate::redis_adapter::RedisArgs,
}

/// The TOML file: the same settings, by the flags' names with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    log_level: Option<String>,
    workers: Option<usize>,
    max_connections: Option<usize>,
    max_frame_size: Option<usize>,
    max_message_size: Option<usize>,
    max_header_size: Option<usize>,
    send_queue: Option<usize>,
    send_buffer: Option<usize>,
    ping_interval: Option<u64>,
    pong_timeout: Option<u64>,
    deflate: Option<bool>,
    deflate_threshold: Option<usize>,
    allowed_origins: Option<Vec<String>>,
    max_rooms_per_connection: Option<usize>,
    socketio_parser: Option<SocketIoParser>,
    socketio_http_compression: Option<bool>,
    socketio_per_message_deflate: Option<bool>,
    socketio_cookie: Option<String>,
    socketio_recovery: Option<u64>,
    shutdown_timeout: Option<u64>,
}

/// The Socket.IO packet formats `serve` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SocketIoParser {
    /// Node's default parser.
    #[default]
    Text,
    /// socket.io-msgpack-parser.
    Msgpack,
}

/// Moves the keys `ours` accepts out of a parsed TOML file and reads them as `T` (each
/// subsystem owns its keys; the rest stays for the main file's own check).
pub(crate) fn take_prefixed<T: serde::de::DeserializeOwned>(
    table: &mut toml::Table,
    ours: impl Fn(&str) -> bool,
) -> Result<T, String> {
    let keys: Vec<String> = table.keys().filter(|k| ours(k)).cloned().collect();
    let mut taken = toml::Table::new();
    for key in keys {
        if let Some(value) = table.remove(&key) {
            taken.insert(key, value);
        }
    }
    toml::Value::Table(taken)
        .try_into()
        .map_err(|e| e.to_string())
}

/// Settings in force, after merging.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) log_level: String,
    pub(crate) workers: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_header_size: usize,
    pub(crate) send_queue: usize,
    pub(crate) send_buffer: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) deflate: bool,
    pub(crate) deflate_threshold: usize,
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) max_rooms_per_connection: usize,
    pub(crate) socketio_parser: SocketIoParser,
    /// Socket.IO polling answers compressed (Node's `httpCompression`).
    pub(crate) socketio_http_compression: bool,
    /// permessage-deflate on Socket.IO's WebSocket transport (Node's `perMessageDeflate`).
    pub(crate) socketio_per_message_deflate: bool,
    /// The Engine.IO session cookie's name (Node's `cookie`), if one is set.
    pub(crate) socketio_cookie: Option<String>,
    /// How long a disconnected Socket.IO socket can come back and recover, when recovery is on.
    pub(crate) socketio_recovery: Option<Duration>,
    /// The Redis shared with other servers and the adapter that speaks to it, if any.
    pub(crate) redis: Option<crate::redis_adapter::RedisSettings>,
    pub(crate) shutdown_timeout: Duration,
    /// The STUN/TURN server's settings when it runs inside `serve`.
    pub(crate) turn: Option<crate::turn::TurnSettings>,
    /// WebRTC signaling settings.
    pub(crate) rtc: crate::rtc::RtcSettings,
}

impl ServeConfig {
    /// Merges flags and environment (already combined by clap) over the file over defaults.
    pub(crate) fn load(args: ServeArgs) -> Result<Self, String> {
        let (file, turn_file, rtc_file, redis_file) = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                // The `turn`, `turn_*`, `rtc_*` and `redis_*` keys belong to crate::turn,
                // crate::rtc and crate::redis_adapter.
                let mut table = toml::from_str::<toml::Table>(&text)
                    .map_err(|e| format!("in {}: {e}", path.display()))?;
                let turn = crate::turn::TurnFile::take(&mut table)
                    .map_err(|e| format!("in {}: {e}", path.display()))?;
                let rtc = crate::rtc::RtcFile::take(&mut table)
                    .map_err(|e| format!("in {}: {e}", path.display()))?;
                let redis = crate::redis_adapter::RedisFile::take(&mut table)
                    .map_err(|e| format!("in {}: {e}", path.display()))?;
                let file = toml::Value::Table(table)
                    .try_into::<FileConfig>()
                    .map_err(|e| format!("in {}: {e}", path.display()))?;
                (file, turn, rtc, redis)
            }
            None => Default::default(),
        };
        let tls_cert = args.tls_cert.or(file.tls_cert);
        let tls_key = args.tls_key.or(file.tls_key);
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(String::from("tls_cert and tls_key must be given together")),
        };
        let origins = if args.allowed_origins.is_empty() {
            file.allowed_origins
        } else {
            Some(args.allowed_origins)
        };
        let ping = args.ping_interval.or(file.ping_interval).unwrap_or(30);
        let turn = if args.turn || turn_file.turn.unwrap_or(false) {
            Some(crate::turn::TurnSettings::resolve(
                args.turn_args,
                turn_file,
                tls.as_ref(),
            )?)
        } else {
            None
        };
        let rtc = crate::rtc::RtcSettings::resolve(args.rtc_args, rtc_file)?;
        let redis = crate::redis_adapter::RedisSettings::resolve(args.redis_args, redis_file)?;
        let config = Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 3000))),
            tls,
            log_level: args
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            workers: args
                .workers
                .or(file.workers)
                .unwrap_or_else(crate::workers::Workers::default_count),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(50_000),
            max_frame_size: args
                .max_frame_size
                .or(file.max_frame_size)
                .unwrap_or(16 << 20),
            max_message_size: args
                .max_message_size
                .or(file.max_message_size)
                .unwrap_or(16 << 20),
            max_header_size: args
                .max_header_size
                .or(file.max_header_size)
                .unwrap_or(16 << 10),
            send_queue: args.send_queue.or(file.send_queue).unwrap_or(1024),
            send_buffer: args.send_buffer.or(file.send_buffer).unwrap_or(4 << 20),
            ping_interval: (ping > 0).then(|| Duration::from_secs(ping)),
            pong_timeout: Duration::from_secs(
                args.pong_timeout.or(file.pong_timeout).unwrap_or(30),
            ),
            deflate: !args.no_deflate && file.deflate.unwrap_or(true),
            deflate_threshold: args
                .deflate_threshold
                .or(file.deflate_threshold)
                .unwrap_or(1024),
            allowed_origins: origins,
            max_rooms_per_connection: args
                .max_rooms_per_connection
                .or(file.max_rooms_per_connection)
                .unwrap_or(1000),
            socketio_parser: args
                .socketio_parser
                .or(file.socketio_parser)
                .unwrap_or_default(),
            socketio_http_compression: args
                .socketio_http_compression
                .or(file.socketio_http_compression)
                .unwrap_or(true),
            socketio_per_message_deflate: args
                .socketio_per_message_deflate
                .or(file.socketio_per_message_deflate)
                .unwrap_or(false),
            socketio_cookie: args.socketio_cookie.or(file.socketio_cookie),
            socketio_recovery: args
                .socketio_recovery
                .or(file.socketio_recovery)
                .filter(|&secs| secs > 0)
                .map(Duration::from_secs),
            redis,
            shutdown_timeout: Duration::from_secs(
                args.shutdown_timeout
                    .or(file.shutdown_timeout)
                    .unwrap_or(10),
            ),
            turn,
            rtc,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 || self.send_queue == 0 {
            return Err(String::from(
                "max_connections and send_queue must be at least 1",
            ));
        }
        if self.max_header_size < 1024 {
            return Err(String::from("max_header_size must be at least 1024"));
        }
        if self.max_frame_size == 0 || self.max_message_size == 0 {
            return Err(String::from(
                "max_frame_size and max_message_size must be at least 1",
            ));
        }
        if let Some(name) = &self.socketio_cookie {
            switchboard_socketio::engine::Cookie::named(name.as_str())
                .validate()
                .map_err(|e| format!("socketio_cookie: {e}"))?;
        }
        if self.socketio_recovery.is_some()
            && self.redis.as_ref().is_some_and(|r| !r.keeps_sessions())
        {
            // Rather than a setting that silently does nothing.
            return Err(String::from(
                "socketio_recovery beside redis_url needs redis_streams: the pub/sub adapters \
                 keep no sessions (nor do Node's), so a client could only recover on the \
                 server it left",
            ));
        }
        Ok(())
    }

    /// Connection settings for every WebSocket.
    pub(crate) fn ws_config(&self) -> switchboard_ws::Config {
        switchboard_ws::Config {
            max_frame_size: self.max_frame_size,
            max_message_size: self.max_message_size,
            ping_interval: self.ping_interval,
            pong_timeout: self.pong_timeout,
            compression_threshold: self.deflate_threshold,
            ..switchboard_ws::Config::default()
        }
    }

    /// Handshake policy for every WebSocket endpoint.
    pub(crate) fn ws_policy(&self) -> switchboard_ws::handshake::ServerPolicy {
        switchboard_ws::handshake::ServerPolicy {
            allowed_origins: self.allowed_origins.clone(),
            subprotocols: Vec::new(),
            deflate: self.deflate.then(switchboard_ws::DeflateConfig::default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_adapter::RedisArgs;

    #[test]
    fn defaults_apply_without_file_or_flags() {
        let config = ServeConfig::load(ServeArgs::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.max_message_size, 16 << 20);
        assert!(config.deflate);
        assert!(config.tls.is_none());
        // Node's engine.io defaults.
        assert!(config.socketio_http_compression);
        assert!(!config.socketio_per_message_deflate);
        assert_eq!(config.socketio_cookie, None);
        assert_eq!(config.socketio_recovery, None, "off, as in Node");
    }

    #[test]
    fn socketio_recovery_from_file_or_flag_and_with_redis_only_on_streams() {
        let dir = std::env::temp_dir().join(format!("sb-recovery-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("switchboard.toml");
        std::fs::write(&path, "socketio_recovery = 30\n").unwrap();
        let from_file = |extra: ServeArgs| {
            ServeConfig::load(ServeArgs {
                config: Some(path.clone()),
                ..extra
            })
        };
        let config = from_file(ServeArgs::default()).unwrap();
        assert_eq!(config.socketio_recovery, Some(Duration::from_secs(30)));
        let config = from_file(ServeArgs {
            socketio_recovery: Some(0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.socketio_recovery, None, "0 turns it off");
        let on_redis = |streams: bool| {
            from_file(ServeArgs {
                redis_args: RedisArgs {
                    redis_url: Some("redis://127.0.0.1:1/".into()),
                    redis_streams: streams,
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        let err = on_redis(false).unwrap_err();
        assert!(err.contains("socketio_recovery"), "{err}");
        let config = on_redis(true).unwrap();
        assert_eq!(config.socketio_recovery, Some(Duration::from_secs(30)));
        assert!(config.redis.is_some_and(|r| r.keeps_sessions()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn redis_keys_in_the_file_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("sb-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("switchboard.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            ServeConfig::load(ServeArgs {
                config: Some(path.clone()),
                ..Default::default()
            })
        };
        let config =
            load("redis_url = \"redis://h/\"\nredis_sharded = \"dynamic-private\"\n").unwrap();
        assert_eq!(config.redis.unwrap().adapter_name(), "sharded");
        let err = load("redis_sharded = \"static\"\n").unwrap_err();
        assert!(err.contains("redis_url"), "{err}");
        let err = load("redis_url = \"redis://h/\"\nredis_stremas = true\n").unwrap_err();
        assert!(
            err.contains("redis_stremas"),
            "a misspelt key is named: {err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("sb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("switchboard.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:4000\"\nmax_message_size = 1000\ndeflate = false\nallowed_origins = [\"http://a\"]\nsocketio_parser = \"msgpack\"\n\
             socketio_http_compression = false\nsocketio_per_message_deflate = true\n\
             socketio_cookie = \"lb\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            max_message_size: Some(2000),
            ..Default::default()
        };
        let config = ServeConfig::load(args).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(config.max_message_size, 2000);
        assert!(!config.deflate);
        assert_eq!(config.allowed_origins, Some(vec!["http://a".to_owned()]));
        assert_eq!(config.socketio_parser, SocketIoParser::Msgpack);
        assert!(!config.socketio_http_compression);
        assert!(config.socketio_per_message_deflate);
        assert_eq!(config.socketio_cookie.as_deref(), Some("lb"));
        std::fs::write(&path, "socketio_cookie = \"bad name\"\n").unwrap();
        let err = ServeConfig::load(ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("cookie name"), "{err}");
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let err = ServeConfig::load(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("no_such_key"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
