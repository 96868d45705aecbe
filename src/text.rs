//! Two small text rules used across the crate: how a long text is shortened for a report line, and
//! what counts as a loopback host.

/// `text` on one line (whitespace runs collapsed), cut to `max` characters with `…` when longer.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// Whether a host (`name`, `name:port`, `[v6]`, `[v6]:port`) is this machine: `localhost` or a
/// loopback address. An address is read as one: `127.evil.com` is a name, not loopback.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) { h } else { host }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_line_cut_on_a_character_boundary() {
        assert_eq!(excerpt("a\n  b", 10), "a b");
        assert_eq!(excerpt("ééééé", 3), "ééé…");
    }

    #[test]
    fn loopback_hosts_are_localhost_and_loopback_addresses_only() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "localhost:1",
            "LOCALHOST",
            "[::1]:3",
            "[::1]",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["127.evil.com", "169.254.169.254", "10.0.0.4:80", "example.com", "[fe80::1]"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
