//! Which peer addresses a relay may reach. The default denies everything that is not a
//! public unicast address: loopback, private, shared (CGNAT), link-local, multicast,
//! broadcast, unspecified, reserved, and the server's own addresses. IPv6 addresses that
//! embed an IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by
//! the embedded address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fc00::/7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrParseError(String);

impl fmt::Display for CidrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid CIDR {:?}", self.0)
    }
}

impl std::error::Error for CidrParseError {}

impl Cidr {
    /// A network; `None` when the prefix is longer than the address.
    #[must_use]
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Self {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(seg0: u16, seg1: u16, prefix: u8) -> Self {
        Self {
            addr: IpAddr::V6(Ipv6Addr::new(seg0, seg1, 0, 0, 0, 0, 0, 0)),
            prefix,
        }
    }

    /// True when `ip` lies in the network. Families never match each other.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrParseError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let addr: IpAddr = a.parse().map_err(|_| err())?;
                (addr, p.parse::<u8>().map_err(|_| err())?)
            }
            None => {
                let addr: IpAddr = s.parse().map_err(|_| err())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        Self::new(addr, prefix).ok_or_else(err)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a peer address is denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, `fc00::/7`, `fec0::/10`.
    Private,
    /// `100.64.0.0/10` (carrier-grade NAT).
    SharedAddressSpace,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Other special-purpose ranges (`240/4`, `192.0.0/24`, `198.18/15`, IPv4-compatible
    /// IPv6 `::/96`, documentation ranges).
    Reserved,
    /// One of the server's own addresses.
    ServerAddress,
    /// Listed in the configured deny list.
    Configured,
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The peer-address policy. Start from [`PeerPolicy::default`] (deny all special ranges) and
/// open what the deployment needs.
#[derive(Clone, Debug, Default)]
pub struct PeerPolicy {
    /// Networks always allowed, checked first (for example a LAN the relay must reach).
    pub allow: Vec<Cidr>,
    /// Extra networks denied on top of the built-in ranges.
    pub deny: Vec<Cidr>,
    /// Allow loopback peers (tests on one machine). Off by default.
    pub allow_loopback: bool,
    /// The server's own addresses (listeners, relay addresses); denied as peers. A peer that
    /// is exactly a live relay socket of this server is still allowed (TURN to TURN).
    pub server_addresses: Vec<IpAddr>,
}

const V4_PRIVATE: [Cidr; 3] = [
    Cidr::v4(10, 0, 0, 0, 8),
    Cidr::v4(172, 16, 0, 0, 12),
    Cidr::v4(192, 168, 0, 0, 16),
];
const V4_RESERVED: [Cidr; 7] = [
    Cidr::v4(240, 0, 0, 0, 4),
    Cidr::v4(192, 0, 0, 0, 24),
    Cidr::v4(192, 0, 2, 0, 24),
    Cidr::v4(198, 18, 0, 0, 15),
    Cidr::v4(198, 51, 100, 0, 24),
    Cidr::v4(203, 0, 113, 0, 24),
    Cidr::v4(192, 88, 99, 0, 24),
];

impl PeerPolicy {
    /// The default policy with loopback allowed (for tests on one machine).
    #[must_use]
    pub fn allow_loopback() -> Self {
        Self {
            allow_loopback: true,
            ..Self::default()
        }
    }

    /// Checks a peer IP address.
    pub fn check(&self, ip: IpAddr) -> Result<(), DenyReason> {
        let ip = canonical(ip);
        if self.allow.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        if self.server_addresses.iter().any(|s| canonical(*s) == ip) {
            return Err(DenyReason::ServerAddress);
        }
        if self.deny.iter().any(|c| c.contains(ip)) {
            return Err(DenyReason::Configured);
        }
        match builtin(ip) {
            Err(DenyReason::Loopback) if self.allow_loopback => Ok(()),
            other => other,
        }
    }
}

/// Unwraps IPv4 addresses embedded in IPv6 ones (mapped, NAT64, 6to4) so they are judged as
/// IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let o = v6.octets();
    if Cidr::v6(0x0064, 0xff9b, 96).contains(ip) {
        return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if v6.segments()[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    ip
}

fn builtin(ip: IpAddr) -> Result<(), DenyReason> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if o[0] == 0 {
                Err(DenyReason::Unspecified)
            } else if v4.is_loopback() {
                Err(DenyReason::Loopback)
            } else if V4_PRIVATE.iter().any(|c| c.contains(ip)) {
                Err(DenyReason::Private)
            } else if Cidr::v4(100, 64, 0, 0, 10).contains(ip) {
                Err(DenyReason::SharedAddressSpace)
            } else if v4.is_link_local() {
                Err(DenyReason::LinkLocal)
            } else if v4.is_multicast() {
                Err(DenyReason::Multicast)
            } else if v4.is_broadcast() {
                Err(DenyReason::Broadcast)
            } else if V4_RESERVED.iter().any(|c| c.contains(ip)) {
                Err(DenyReason::Reserved)
            } else {
                Ok(())
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_unspecified() {
                Err(DenyReason::Unspecified)
            } else if v6.is_loopback() {
                Err(DenyReason::Loopback)
            } else if Cidr::v6(0xfc00, 0, 7).contains(ip) || Cidr::v6(0xfec0, 0, 10).contains(ip) {
                Err(DenyReason::Private)
            } else if Cidr::v6(0xfe80, 0, 10).contains(ip) {
                Err(DenyReason::LinkLocal)
            } else if v6.is_multicast() {
                Err(DenyReason::Multicast)
            } else if Cidr::v6(0, 0, 96).contains(ip)
                || Cidr::v6(0x2001, 0x0db8, 32).contains(ip)
                || Cidr::v6(0x0100, 0, 64).contains(ip)
            {
                Err(DenyReason::Reserved)
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(p: &PeerPolicy, ip: &str) -> Result<(), DenyReason> {
        p.check(ip.parse().unwrap())
    }

    #[test]
    fn default_policy_denies_special_ranges() {
        let p = PeerPolicy::default();
        let cases = [
            ("127.0.0.1", DenyReason::Loopback),
            ("127.255.0.9", DenyReason::Loopback),
            ("10.0.0.1", DenyReason::Private),
            ("172.16.0.1", DenyReason::Private),
            ("172.31.255.254", DenyReason::Private),
            ("192.168.0.1", DenyReason::Private),
            ("100.64.0.1", DenyReason::SharedAddressSpace),
            ("100.127.255.255", DenyReason::SharedAddressSpace),
            ("169.254.1.1", DenyReason::LinkLocal),
            ("224.0.0.251", DenyReason::Multicast),
            ("239.255.255.250", DenyReason::Multicast),
            ("255.255.255.255", DenyReason::Broadcast),
            ("0.0.0.0", DenyReason::Unspecified),
            ("0.1.2.3", DenyReason::Unspecified),
            ("240.1.1.1", DenyReason::Reserved),
            ("::", DenyReason::Unspecified),
            ("::1", DenyReason::Loopback),
            ("fc00::1", DenyReason::Private),
            ("fdff::1", DenyReason::Private),
            ("fe80::1", DenyReason::LinkLocal),
            ("febf::1", DenyReason::LinkLocal),
            ("ff02::1", DenyReason::Multicast),
            ("::ffff:192.168.1.1", DenyReason::Private),
            ("::ffff:127.0.0.1", DenyReason::Loopback),
            ("64:ff9b::7f00:1", DenyReason::Loopback),
            ("2002:0a00:0001::1", DenyReason::Private),
            ("::10.0.0.1", DenyReason::Reserved),
            ("2001:db8::1", DenyReason::Reserved),
        ];
        for (ip, reason) in cases {
            assert_eq!(check(&p, ip), Err(reason), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert_eq!(check(&p, ip), Ok(()), "{ip}");
        }
    }

    #[test]
    fn configuration_overrides() {
        let p = PeerPolicy {
            allow: vec!["192.168.10.0/24".parse().unwrap()],
            deny: vec!["8.8.0.0/16".parse().unwrap()],
            allow_loopback: true,
            server_addresses: vec!["1.1.1.1".parse().unwrap()],
        };
        assert_eq!(check(&p, "192.168.10.5"), Ok(()));
        assert_eq!(check(&p, "192.168.11.5"), Err(DenyReason::Private));
        assert_eq!(check(&p, "127.0.0.1"), Ok(()));
        assert_eq!(check(&p, "::1"), Ok(()));
        assert_eq!(check(&p, "8.8.8.8"), Err(DenyReason::Configured));
        assert_eq!(check(&p, "1.1.1.1"), Err(DenyReason::ServerAddress));
        assert_eq!(check(&p, "::ffff:1.1.1.1"), Err(DenyReason::ServerAddress));
    }

    #[test]
    fn cidr_parsing() {
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("fe80::/129".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let host: Cidr = "2001:db8::5".parse().unwrap();
        assert_eq!(host.to_string(), "2001:db8::5/128");
        assert!(host.contains("2001:db8::5".parse().unwrap()));
        assert!(!host.contains("2001:db8::6".parse().unwrap()));
    }
}
