//! WebRTC signaling in `switchboard serve` (issue #5): the Socket.IO namespace `/rtc`
//! (protocol in docs/rtc.md), handing participants the built-in TURN server with TURN REST
//! credentials when `serve` runs it with a shared secret.
//!
//! Settings come from flags, `SWITCHBOARD_RTC_*` variables and the TOML file's `rtc_*` keys.

use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use switchboard_rtc::{IceConfig, IceServer, RtcConfig, SignalingConfig};

/// Signaling settings (each also read from its `SWITCHBOARD_RTC_*` variable, and from the
/// TOML file as `rtc_*`).
#[derive(Debug, Default, Args)]
pub(crate) struct RtcArgs {
    /// RTC: most participants in one call room [default: 16].
    #[arg(long, env = "SWITCHBOARD_RTC_MAX_PARTICIPANTS")]
    rtc_max_participants: Option<usize>,
    /// RTC: seconds a participant whose connection dropped keeps its place [default: 30].
    #[arg(long, env = "SWITCHBOARD_RTC_GRACE")]
    rtc_grace: Option<u64>,
    /// RTC: seconds TURN credentials handed to participants stay valid [default: 3600].
    #[arg(long, env = "SWITCHBOARD_RTC_CREDENTIAL_TTL")]
    rtc_credential_ttl: Option<u64>,
    /// RTC: host name put in the STUN/TURN URLs participants get [default: the host the
    /// browser used to reach this server].
    #[arg(long, env = "SWITCHBOARD_RTC_TURN_HOST")]
    rtc_turn_host: Option<String>,
    /// RTC: another STUN server URL handed to participants (repeatable).
    #[arg(
        long = "rtc-stun-server",
        env = "SWITCHBOARD_RTC_STUN_SERVERS",
        value_delimiter = ','
    )]
    rtc_stun_servers: Vec<String>,
}

/// The `rtc_*` keys of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RtcFile {
    rtc_max_participants: Option<usize>,
    rtc_grace: Option<u64>,
    rtc_credential_ttl: Option<u64>,
    rtc_turn_host: Option<String>,
    rtc_stun_servers: Option<Vec<String>>,
}

impl RtcFile {
    /// Moves the `rtc_*` keys out of a parsed TOML file and reads them.
    pub(crate) fn take(table: &mut toml::Table) -> Result<Self, String> {
        crate::config::take_prefixed(table, |key| key.starts_with("rtc_"))
    }
}

/// Signaling settings in force.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RtcSettings {
    signaling: SignalingConfig,
    credential_ttl: Duration,
    turn_host: Option<String>,
    stun_servers: Vec<String>,
}

impl RtcSettings {
    /// Flags and environment over the file over defaults.
    pub(crate) fn resolve(args: RtcArgs, file: RtcFile) -> Result<Self, String> {
        let defaults = SignalingConfig::default();
        let max_participants = args
            .rtc_max_participants
            .or(file.rtc_max_participants)
            .unwrap_or(defaults.max_participants);
        if max_participants < 2 {
            return Err("rtc_max_participants must be at least 2".into());
        }
        let grace = args
            .rtc_grace
            .or(file.rtc_grace)
            .map_or(defaults.grace, Duration::from_secs);
        let stun_servers = if args.rtc_stun_servers.is_empty() {
            file.rtc_stun_servers.unwrap_or_default()
        } else {
            args.rtc_stun_servers
        };
        if let Some(bad) = stun_servers.iter().find(|u| !u.starts_with("stun:")) {
            return Err(format!("rtc_stun_servers: {bad} is not a stun: URL"));
        }
        Ok(Self {
            signaling: SignalingConfig {
                max_participants,
                grace,
                ..defaults
            },
            credential_ttl: Duration::from_secs(
                args.rtc_credential_ttl
                    .or(file.rtc_credential_ttl)
                    .unwrap_or(3600),
            ),
            turn_host: args.rtc_turn_host.or(file.rtc_turn_host),
            stun_servers,
        })
    }

    /// The signaling configuration, with the built-in TURN server when it runs.
    pub(crate) fn config(&self, turn: Option<&crate::turn::TurnSettings>) -> RtcConfig {
        let ice = IceConfig {
            turn: turn.map(|t| t.ice(self.credential_ttl)),
            extra: self
                .stun_servers
                .iter()
                .map(|url| IceServer {
                    urls: vec![url.clone()],
                    username: None,
                    credential: None,
                })
                .collect(),
            host: self.turn_host.clone(),
        };
        RtcConfig {
            signaling: self.signaling.clone(),
            ice,
            ..RtcConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_in() {
        let file = RtcFile {
            rtc_max_participants: Some(4),
            rtc_grace: Some(5),
            rtc_stun_servers: Some(vec!["stun:file".into()]),
            ..RtcFile::default()
        };
        let args = RtcArgs {
            rtc_grace: Some(7),
            ..RtcArgs::default()
        };
        let settings = RtcSettings::resolve(args, file).unwrap();
        assert_eq!(settings.signaling.max_participants, 4);
        assert_eq!(settings.signaling.grace, Duration::from_secs(7));
        assert_eq!(settings.credential_ttl, Duration::from_secs(3600));
        assert_eq!(settings.stun_servers, ["stun:file"]);
        let config = settings.config(None);
        assert!(config.ice.turn.is_none());
        assert_eq!(config.ice.extra[0].urls, ["stun:file"]);
    }

    #[test]
    fn bad_settings_are_refused() {
        let args = RtcArgs {
            rtc_max_participants: Some(1),
            ..RtcArgs::default()
        };
        assert!(RtcSettings::resolve(args, RtcFile::default()).is_err());
        let args = RtcArgs {
            rtc_stun_servers: vec!["turn:x".into()],
            ..RtcArgs::default()
        };
        assert!(RtcSettings::resolve(args, RtcFile::default()).is_err());
        let mut table: toml::Table =
            toml::from_str("rtc_grace = 3\nrtc_bogus = 1\nlisten = \"127.0.0.1:1\"").unwrap();
        assert!(RtcFile::take(&mut table).is_err(), "unknown rtc_ key");
        assert!(table.contains_key("listen"), "other keys stay");
    }
}
