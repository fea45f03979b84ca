//! `switchboard serve --redis-url`: which of Node's Redis adapters the server speaks, and its
//! connection. Settings come from `--redis-*` flags, `SWITCHBOARD_REDIS_*` variables and the
//! TOML file's `redis_*` keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use switchboard_socketio_redis::{
    ClientTlsConfig, RedisAdapterConfig, RedisAdapterFactory, StreamsConfig, SubscriptionMode,
    TlsCertificates,
};

/// Redis settings (each also read from its `SWITCHBOARD_REDIS_*` variable, and from the TOML
/// file as `redis_*`).
#[derive(Debug, Default, Args)]
pub(crate) struct RedisArgs {
    /// Redis to share Socket.IO (and the rooms of `/ws`) with other servers, in the format of
    /// Node's `@socket.io/redis-adapter`, e.g. `redis://127.0.0.1:6379/` or
    /// `redis://user:password@host:6379/0` [default: none, this server alone].
    #[arg(
        long,
        env = "SWITCHBOARD_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) redis_url: Option<String>,
    /// `--redis-url` names nodes of a Redis Cluster: one is enough, the others are found from
    /// it; several are comma-separated (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`), any one
    /// answering is enough. Every adapter works on a cluster. Needs `--redis-url` [default: one
    /// Redis server].
    #[arg(long, env = "SWITCHBOARD_REDIS_CLUSTER")]
    pub(crate) redis_cluster: bool,
    /// Speak Node's sharded Redis adapter (`createShardedAdapter`, Redis 7's sharded Pub/Sub)
    /// with this subscription mode instead of the classic one; every server of the cluster
    /// must use the same. Needs `--redis-url` [default: the classic adapter].
    #[arg(long, env = "SWITCHBOARD_REDIS_SHARDED", value_name = "MODE")]
    pub(crate) redis_sharded: Option<RedisSharded>,
    /// Speak Node's streams adapter (`@socket.io/redis-streams-adapter`): broadcasts go
    /// through a Redis stream that outlives a lost connection, and with `--socketio-recovery`
    /// a client can recover on any server of the cluster. Needs `--redis-url`; not with
    /// `--redis-sharded` [default: the classic adapter].
    #[arg(long, env = "SWITCHBOARD_REDIS_STREAMS")]
    pub(crate) redis_streams: bool,
    /// Prefix of the adapter's channels (Node's `key`, or `channelPrefix` for the sharded and
    /// streams adapters) [default: socket.io].
    #[arg(long, env = "SWITCHBOARD_REDIS_KEY", value_name = "PREFIX")]
    pub(crate) redis_key: Option<String>,
    /// With `--redis-streams`: the stream's name (Node's `streamName`) [default: socket.io].
    #[arg(long, env = "SWITCHBOARD_REDIS_STREAM_NAME", value_name = "NAME")]
    pub(crate) redis_stream_name: Option<String>,
    /// With `--redis-streams`: how many streams the namespaces are spread over (Node's
    /// `streamCount`) [default: 1].
    #[arg(long, env = "SWITCHBOARD_REDIS_STREAM_COUNT", value_name = "N")]
    pub(crate) redis_stream_count: Option<u32>,
    /// With `--redis-streams`: about how many entries each stream keeps (Node's `maxLen`);
    /// a client away for longer than the stream holds starts afresh [default: 10000].
    #[arg(long, env = "SWITCHBOARD_REDIS_STREAM_MAX_LEN", value_name = "N")]
    pub(crate) redis_stream_max_len: Option<u64>,
    /// With a `rediss://` URL: PEM certificates to trust instead of the Mozilla roots (a
    /// private CA, a self-signed Redis) [default: the Mozilla roots].
    #[arg(long, env = "SWITCHBOARD_REDIS_TLS_CA", value_name = "PEM")]
    pub(crate) redis_tls_ca: Option<PathBuf>,
    /// With a `rediss://` URL: a PEM certificate chain shown to a Redis that asks for one
    /// (`tls-auth-clients`); with `--redis-tls-key` [default: none].
    #[arg(long, env = "SWITCHBOARD_REDIS_TLS_CERT", value_name = "PEM")]
    pub(crate) redis_tls_cert: Option<PathBuf>,
    /// The PEM private key of `--redis-tls-cert`.
    #[arg(long, env = "SWITCHBOARD_REDIS_TLS_KEY", value_name = "PEM")]
    pub(crate) redis_tls_key: Option<PathBuf>,
}

/// The `redis_*` keys of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisFile {
    redis_url: Option<String>,
    redis_cluster: Option<bool>,
    redis_sharded: Option<RedisSharded>,
    redis_streams: Option<bool>,
    redis_key: Option<String>,
    redis_stream_name: Option<String>,
    redis_stream_count: Option<u32>,
    redis_stream_max_len: Option<u64>,
    redis_tls_ca: Option<PathBuf>,
    redis_tls_cert: Option<PathBuf>,
    redis_tls_key: Option<PathBuf>,
}

impl RedisFile {
    /// Moves the `redis_*` keys out of a parsed TOML file and reads them.
    pub(crate) fn take(table: &mut toml::Table) -> Result<Self, String> {
        crate::config::take_prefixed(table, |key| key.starts_with("redis_"))
    }
}

/// The subscription modes of Node's sharded Redis adapter (`subscriptionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RedisSharded {
    /// One channel per namespace.
    Static,
    /// A channel per room too, while the room has members on a server (Node's default).
    Dynamic,
    /// As dynamic, with a channel for each socket id too.
    DynamicPrivate,
}

impl From<RedisSharded> for SubscriptionMode {
    fn from(mode: RedisSharded) -> Self {
        match mode {
            RedisSharded::Static => Self::Static,
            RedisSharded::Dynamic => Self::Dynamic,
            RedisSharded::DynamicPrivate => Self::DynamicPrivate,
        }
    }
}

/// The Redis adapter in force: where Redis is, and how the adapter speaks.
#[derive(Clone)]
pub(crate) struct RedisSettings {
    url: String,
    /// Whether `url` lists nodes of a Redis Cluster.
    cluster: bool,
    adapter: RedisAdapterConfig,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisSettings")
            .field("url", &without_credentials(&self.url))
            .field("cluster", &self.cluster)
            .field("adapter", &self.adapter)
            .finish()
    }
}

impl RedisSettings {
    /// Flags and environment over the file over defaults: `None` without a URL (this server
    /// alone), an error for settings that would do nothing or contradict each other.
    pub(crate) fn resolve(args: RedisArgs, file: RedisFile) -> Result<Option<Self>, String> {
        let cluster = args.redis_cluster || file.redis_cluster.unwrap_or(false);
        let sharded = args.redis_sharded.or(file.redis_sharded);
        let streams = args.redis_streams || file.redis_streams.unwrap_or(false);
        let key = args.redis_key.or(file.redis_key);
        let stream_name = args.redis_stream_name.or(file.redis_stream_name);
        let stream_count = args.redis_stream_count.or(file.redis_stream_count);
        let stream_max_len = args.redis_stream_max_len.or(file.redis_stream_max_len);
        let tls_ca = args.redis_tls_ca.or(file.redis_tls_ca);
        let tls_cert = args.redis_tls_cert.or(file.redis_tls_cert);
        let tls_key = args.redis_tls_key.or(file.redis_tls_key);
        let stream_settings =
            stream_name.is_some() || stream_count.is_some() || stream_max_len.is_some();
        let Some(url) = args.redis_url.or(file.redis_url) else {
            let tls = tls_ca.is_some() || tls_cert.is_some() || tls_key.is_some();
            if cluster || sharded.is_some() || streams || key.is_some() || tls || stream_settings {
                return Err(String::from(
                    "redis_cluster, redis_sharded, redis_streams, redis_stream_*, redis_key and \
                     redis_tls_* choose how the Redis adapter speaks: they need redis_url",
                ));
            }
            return Ok(None);
        };
        if node_urls(&url).len() > 1 && !cluster {
            return Err(String::from(
                "several URLs in redis_url are nodes of a Redis Cluster: add redis_cluster",
            ));
        }
        let tls = tls_certificates(&url, tls_ca, tls_cert, tls_key)?;
        if sharded.is_some() && streams {
            return Err(String::from(
                "redis_sharded and redis_streams are two different adapters: choose one",
            ));
        }
        if stream_settings && !streams {
            return Err(String::from(
                "redis_stream_name, redis_stream_count and redis_stream_max_len need redis_streams",
            ));
        }
        if key.as_deref() == Some("") || stream_name.as_deref() == Some("") {
            return Err(String::from(
                "redis_key and redis_stream_name must not be empty",
            ));
        }
        if stream_count == Some(0) || stream_max_len == Some(0) {
            return Err(String::from(
                "redis_stream_count and redis_stream_max_len must be at least 1",
            ));
        }
        let defaults = RedisAdapterConfig::default();
        let streams = streams.then(|| {
            let defaults = StreamsConfig::default();
            StreamsConfig {
                stream_name: stream_name.unwrap_or(defaults.stream_name),
                stream_count: stream_count.unwrap_or(defaults.stream_count),
                max_len: stream_max_len.unwrap_or(defaults.max_len),
                ..defaults
            }
        });
        Ok(Some(Self {
            url,
            cluster,
            adapter: RedisAdapterConfig {
                key: key.unwrap_or(defaults.key),
                sharded: sharded.map(Into::into),
                streams,
                tls,
                ..defaults
            },
        }))
    }

    /// Whether the adapter keeps disconnected sockets' sessions in Redis, which
    /// connection-state recovery beside other servers needs (only the streams adapter does,
    /// as in Node).
    pub(crate) fn keeps_sessions(&self) -> bool {
        self.adapter.streams.is_some()
    }

    /// Whether Redis is a Redis Cluster, for the log.
    pub(crate) fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Which adapter, for the log.
    pub(crate) fn adapter_name(&self) -> &'static str {
        match (&self.adapter.sharded, &self.adapter.streams) {
            (_, Some(_)) => "streams",
            (Some(_), None) => "sharded",
            (None, None) => "classic",
        }
    }

    /// Joins the cluster: connects to Redis (within the adapter's `connect_timeout`).
    pub(crate) async fn connect(&self) -> Result<Arc<RedisAdapterFactory>, String> {
        let config = self.adapter.clone();
        let connected = if self.cluster {
            RedisAdapterFactory::connect_cluster(node_urls(&self.url), config).await
        } else {
            RedisAdapterFactory::connect(self.url.as_str(), config).await
        };
        connected.map_err(|e| {
            format!(
                "cannot connect to Redis at {}: {e}",
                without_credentials(&self.url)
            )
        })
    }
}

/// The URLs of a comma-separated list. A comma not followed by a URL (`scheme://`) stays in
/// its URL: a password may hold one.
fn node_urls(list: &str) -> Vec<&str> {
    let mut urls: Vec<&str> = Vec::new();
    let mut start = 0;
    for (at, _) in list.match_indices(',') {
        let next = &list[at + 1..];
        let scheme = next.split_once("://").map(|(scheme, _)| scheme.trim());
        if scheme.is_some_and(|s| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+')
        }) {
            urls.push(list[start..at].trim());
            start = at + 1;
        }
    }
    urls.push(list[start..].trim());
    urls
}

/// The certificates of `--redis-tls-*`, read now so that a wrong path stops the server at
/// once; `None` when none is given.
fn tls_certificates(
    url: &str,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<TlsCertificates>, String> {
    if ca.is_none() && cert.is_none() && key.is_none() {
        return Ok(None);
    }
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("rediss" | "valkeys")) {
        return Err(String::from(
            "redis_tls_ca, redis_tls_cert and redis_tls_key are for a rediss:// redis_url",
        ));
    }
    let client_tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read_pem(&cert, Pem::Certificates)?,
            client_key: read_pem(&key, Pem::PrivateKey)?,
        }),
        (None, None) => None,
        _ => {
            return Err(String::from(
                "redis_tls_cert and redis_tls_key must be given together",
            ))
        }
    };
    let root_cert = match ca {
        Some(ca) => Some(read_pem(&ca, Pem::Certificates)?),
        None => None,
    };
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// What a PEM file of `--redis-tls-*` must hold.
#[derive(Clone, Copy)]
enum Pem {
    Certificates,
    PrivateKey,
}

/// The file's bytes, once they parse as `what`: checked here, where the file can be named (an
/// empty or garbled roots file would otherwise show as an unknown issuer when connecting).
fn read_pem(path: &Path, what: Pem) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let (parsed, name) = match what {
        Pem::PrivateKey => (
            PrivateKeyDer::from_pem_slice(&bytes).map(drop),
            "private key",
        ),
        Pem::Certificates => (
            match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
                Ok(certs) if certs.is_empty() => Err(rustls::pki_types::pem::Error::NoItemsFound),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            "certificate",
        ),
    };
    parsed
        .map(|()| bytes)
        .map_err(|e| format!("no PEM {name} in {}: {e}", path.display()))
}

/// `url` with any user name and password replaced by `***`: for messages, which end up in
/// logs. Everything up to the last `@` goes, so that a password with an unescaped `/`, `?`,
/// `#` or `@` in it (a URL that then fails to parse, and so gets printed) is hidden too.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return if url.contains('@') {
            String::from("<redacted>")
        } else {
            url.to_owned()
        };
    };
    let rest = match rest.rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_owned(),
    };
    // `redis+unix:///path?user=…&pass=…` carries them in the query.
    let rest = match rest.split_once('?') {
        Some((path, query)) if query.contains("pass") || query.contains("user") => {
            format!("{path}?***")
        }
        _ => rest,
    };
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_url(args: RedisArgs) -> RedisArgs {
        RedisArgs {
            redis_url: Some("redis://127.0.0.1:1/".into()),
            ..args
        }
    }

    #[test]
    fn no_url_means_no_adapter_and_adapter_settings_need_one() {
        let none = RedisSettings::resolve(RedisArgs::default(), RedisFile::default()).unwrap();
        assert!(none.is_none());
        for args in [
            RedisArgs {
                redis_sharded: Some(RedisSharded::Dynamic),
                ..RedisArgs::default()
            },
            RedisArgs {
                redis_streams: true,
                ..RedisArgs::default()
            },
            RedisArgs {
                redis_key: Some("app".into()),
                ..RedisArgs::default()
            },
            RedisArgs {
                redis_stream_max_len: Some(100),
                ..RedisArgs::default()
            },
        ] {
            let err = RedisSettings::resolve(args, RedisFile::default()).unwrap_err();
            assert!(err.contains("redis_url"), "{err}");
        }
    }

    #[test]
    fn the_classic_adapter_by_default_with_node_defaults() {
        let settings = RedisSettings::resolve(with_url(RedisArgs::default()), RedisFile::default())
            .unwrap()
            .unwrap();
        assert_eq!(settings.adapter_name(), "classic");
        assert!(!settings.keeps_sessions());
        assert_eq!(settings.adapter.key, "socket.io");
        assert_eq!(settings.adapter.sharded, None);
        assert!(settings.adapter.streams.is_none());
    }

    #[test]
    fn sharded_and_streams_are_chosen_and_exclusive() {
        let sharded = with_url(RedisArgs {
            redis_sharded: Some(RedisSharded::DynamicPrivate),
            redis_key: Some("app".into()),
            ..RedisArgs::default()
        });
        let settings = RedisSettings::resolve(sharded, RedisFile::default())
            .unwrap()
            .unwrap();
        assert_eq!(settings.adapter_name(), "sharded");
        assert_eq!(
            settings.adapter.sharded,
            Some(SubscriptionMode::DynamicPrivate)
        );
        assert_eq!(settings.adapter.key, "app");

        let both = with_url(RedisArgs {
            redis_sharded: Some(RedisSharded::Static),
            redis_streams: true,
            ..RedisArgs::default()
        });
        let err = RedisSettings::resolve(both, RedisFile::default()).unwrap_err();
        assert!(err.contains("choose one"), "{err}");
    }

    #[test]
    fn a_list_splits_at_commas_before_a_url_only() {
        assert_eq!(
            node_urls("redis://a:1, rediss://u:p,w@b:2,redis://c:3"),
            ["redis://a:1", "rediss://u:p,w@b:2", "redis://c:3"]
        );
        assert_eq!(node_urls("redis://u:p,q@a:1/"), ["redis://u:p,q@a:1/"]);
        // A single URL whose password has a comma is not a list.
        let settings = RedisSettings::resolve(
            RedisArgs {
                redis_url: Some("redis://u:p,q@a:1/".into()),
                ..RedisArgs::default()
            },
            RedisFile::default(),
        );
        assert!(!settings.unwrap().unwrap().is_cluster());
    }

    #[test]
    fn a_cluster_is_chosen_by_flag_or_file_and_lists_need_it() {
        let file: RedisFile =
            toml::from_str("redis_url = \"redis://a:7000,redis://b:7000\"\nredis_cluster = true\n")
                .unwrap();
        let settings = RedisSettings::resolve(RedisArgs::default(), file)
            .unwrap()
            .unwrap();
        assert!(settings.is_cluster());
        assert_eq!(settings.adapter_name(), "classic");

        let list = RedisArgs {
            redis_url: Some("redis://a:7000,redis://b:7000".into()),
            ..RedisArgs::default()
        };
        let err = RedisSettings::resolve(list, RedisFile::default()).unwrap_err();
        assert!(err.contains("add redis_cluster"), "{err}");
        let alone = RedisArgs {
            redis_cluster: true,
            ..RedisArgs::default()
        };
        let err = RedisSettings::resolve(alone, RedisFile::default()).unwrap_err();
        assert!(err.contains("need redis_url"), "{err}");
        let one = with_url(RedisArgs {
            redis_cluster: true,
            redis_sharded: Some(RedisSharded::Dynamic),
            ..RedisArgs::default()
        });
        let settings = RedisSettings::resolve(one, RedisFile::default())
            .unwrap()
            .unwrap();
        assert!(settings.is_cluster());
        assert_eq!(settings.adapter_name(), "sharded");
    }

    #[test]
    fn stream_settings_come_from_flags_over_the_file() {
        let file: RedisFile = toml::from_str(
            "redis_url = \"redis://file/\"\nredis_streams = true\nredis_stream_name = \"file\"\n\
             redis_stream_count = 3\nredis_stream_max_len = 50\n",
        )
        .unwrap();
        let args = RedisArgs {
            redis_stream_name: Some("flag".into()),
            ..RedisArgs::default()
        };
        let settings = RedisSettings::resolve(args, file).unwrap().unwrap();
        assert_eq!(settings.url, "redis://file/");
        assert!(settings.keeps_sessions());
        assert_eq!(settings.adapter_name(), "streams");
        let streams = settings.adapter.streams.unwrap();
        assert_eq!(streams.stream_name, "flag");
        assert_eq!(streams.stream_count, 3);
        assert_eq!(streams.max_len, 50);
        assert_eq!(
            streams.session_key_prefix,
            StreamsConfig::default().session_key_prefix
        );
    }

    #[test]
    fn stream_settings_without_streams_or_out_of_range_are_refused() {
        let err = RedisSettings::resolve(
            with_url(RedisArgs {
                redis_stream_max_len: Some(100),
                ..RedisArgs::default()
            }),
            RedisFile::default(),
        )
        .unwrap_err();
        assert!(err.contains("need redis_streams"), "{err}");
        for args in [
            RedisArgs {
                redis_streams: true,
                redis_stream_count: Some(0),
                ..RedisArgs::default()
            },
            RedisArgs {
                redis_streams: true,
                redis_stream_name: Some(String::new()),
                ..RedisArgs::default()
            },
        ] {
            assert!(RedisSettings::resolve(with_url(args), RedisFile::default()).is_err());
        }
    }

    #[test]
    fn tls_certificates_are_read_at_start_and_checked() {
        let dir = std::env::temp_dir().join(format!("sb-redis-tls-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // PEM as parsed here; whether the DER inside is a valid certificate is rustls's
        // business when connecting.
        let pem = |label: &str, body: &str| {
            format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
        };
        for (name, text) in [
            ("ca.pem", pem("CERTIFICATE", "Q0E=")),
            ("c.pem", pem("CERTIFICATE", "Q0VSVA==")),
            ("k.pem", pem("PRIVATE KEY", "S0VZ")),
            ("garbled.pem", String::from("CA")),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let tls = |url: &str, ca: Option<&str>, cert: Option<&str>, key: Option<&str>| {
            let path = |name: Option<&str>| name.map(|n| dir.join(n));
            RedisSettings::resolve(
                RedisArgs {
                    redis_url: Some(url.into()),
                    redis_tls_ca: path(ca),
                    redis_tls_cert: path(cert),
                    redis_tls_key: path(key),
                    ..RedisArgs::default()
                },
                RedisFile::default(),
            )
        };
        let settings = tls("rediss://h/", Some("ca.pem"), Some("c.pem"), Some("k.pem"))
            .unwrap()
            .unwrap();
        let certificates = settings.adapter.tls.unwrap();
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        assert_eq!(certificates.root_cert, Some(read("ca.pem")));
        let client = certificates.client_tls.unwrap();
        assert_eq!(
            (client.client_cert, client.client_key),
            (read("c.pem"), read("k.pem"))
        );
        let settings = tls("rediss://h/", None, None, None).unwrap().unwrap();
        assert!(settings.adapter.tls.is_none(), "the Mozilla roots");

        let err = tls("redis://h/", Some("ca.pem"), None, None).unwrap_err();
        assert!(err.contains("rediss://"), "{err}");
        let err = tls("rediss://h/", None, Some("c.pem"), None).unwrap_err();
        assert!(err.contains("together"), "{err}");
        let err = tls("rediss://h/", Some("missing.pem"), None, None).unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
        let err = tls("rediss://h/", Some("garbled.pem"), None, None).unwrap_err();
        assert!(err.contains("no PEM certificate in"), "{err}");
        let err = tls("rediss://h/", None, Some("c.pem"), Some("ca.pem")).unwrap_err();
        assert!(err.contains("no PEM private key in"), "{err}");
        assert!(tls("VALKEYS://h/", Some("ca.pem"), None, None).is_ok());
        let err = RedisSettings::resolve(
            RedisArgs {
                redis_tls_ca: Some(dir.join("ca.pem")),
                ..RedisArgs::default()
            },
            RedisFile::default(),
        )
        .unwrap_err();
        assert!(err.contains("redis_url"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn credentials_stay_out_of_messages() {
        assert_eq!(
            without_credentials("redis://user:s3cret@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(
            without_credentials("redis://:p@ss@cache/"),
            "redis://***@cache/"
        );
        assert_eq!(
            without_credentials("redis://u:pa/ss#1@cache/"),
            "redis://***@cache/",
            "an unescaped password"
        );
        assert_eq!(
            without_credentials("redis://cache:6379/0"),
            "redis://cache:6379/0"
        );
        assert_eq!(without_credentials("not a url"), "not a url");
        assert_eq!(without_credentials("u:p@cache"), "<redacted>");
        assert_eq!(
            without_credentials("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?***"
        );
        let settings = RedisSettings::resolve(
            RedisArgs {
                redis_url: Some("redis://:s3cret@cache/".into()),
                ..RedisArgs::default()
            },
            RedisFile::default(),
        )
        .unwrap()
        .unwrap();
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
