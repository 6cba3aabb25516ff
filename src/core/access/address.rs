//! The network a request comes from, as the failed-authentication budget
//! counts it: one IPv4 address, or one IPv6 /64. A home or mobile IPv6
//! connection is handed a whole /64 and may use any address in it, so
//! counting single IPv6 addresses would give one person 2^64 budgets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a request comes from, read from `CF-Connecting-IP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNetwork {
    V4(Ipv4Addr),
    /// The first 64 bits of the address.
    V6Prefix([u16; 4]),
    /// No usable address (not behind Cloudflare, or a malformed header):
    /// all such requests share one budget.
    Unknown,
}

impl ClientNetwork {
    /// Parses the `CF-Connecting-IP` header value. An IPv4-mapped IPv6
    /// address (`::ffff:a.b.c.d`) counts as its IPv4 address.
    pub fn from_header(value: Option<&str>) -> ClientNetwork {
        match value.map(str::trim).and_then(|v| v.parse::<IpAddr>().ok()) {
            Some(IpAddr::V4(v4)) => ClientNetwork::V4(v4),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientNetwork::V4(v4),
                None => {
                    let s = v6.segments();
                    ClientNetwork::V6Prefix([s[0], s[1], s[2], s[3]])
                }
            },
            None => ClientNetwork::Unknown,
        }
    }

    /// The rate-limit key: `ip4:203.0.113.7`, `ip6:2001:db8:1:2::/64`, `unknown`.
    pub fn key(&self) -> String {
        match self {
            ClientNetwork::V4(v4) => format!("ip4:{v4}"),
            ClientNetwork::V6Prefix([a, b, c, d]) => {
                format!("ip6:{}/64", Ipv6Addr::new(*a, *b, *c, *d, 0, 0, 0, 0))
            }
            ClientNetwork::Unknown => "unknown".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: &str) -> String {
        ClientNetwork::from_header(Some(v)).key()
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_share_a_key() {
        let first = key("2001:db8:1:2::1");
        for other in [
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:0db8:0001:0002:abcd::9",
            " 2001:db8:1:2:1:2:3:4 ",
        ] {
            assert_eq!(key(other), first, "{other}");
        }
        assert_eq!(first, "ip6:2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), first, "the next /64 is another network");
    }

    #[test]
    fn ipv4_addresses_are_counted_one_by_one() {
        assert_eq!(key("203.0.113.7"), "ip4:203.0.113.7");
        assert_ne!(key("203.0.113.8"), key("203.0.113.7"));
        assert_eq!(key("::ffff:203.0.113.7"), "ip4:203.0.113.7");
    }

    #[test]
    fn anything_else_is_unknown() {
        for bad in ["", "unknown", "203.0.113", "2001:db8::g", "203.0.113.7, 10.0.0.1"] {
            assert_eq!(
                ClientNetwork::from_header(Some(bad)),
                ClientNetwork::Unknown,
                "{bad}"
            );
        }
        assert_eq!(ClientNetwork::from_header(None).key(), "unknown");
    }
}
