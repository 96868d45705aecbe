//! Loopback ports handed to programs before they bind them.

use std::net::SocketAddr;

/// A loopback port nothing listens on now, for a program that binds it itself (told through `PORT`)
/// or for a hop that refuses connections.
///
/// A port the kernel hands out for `bind(0)` could be taken again between this check and the
/// program's own bind, by any stand-in or client of a concurrent scenario (they all bind 0, in the
/// ephemeral range). So these ports come from below that range, each at most once per process, from
/// an offset of the process id (concurrent harness processes rarely meet; a port something already
/// holds is skipped).
pub(crate) fn unused_loopback_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(LOWEST).min(u32::from(u16::MAX));
    if span >= 1_000 {
        let start = std::process::id().wrapping_mul(7_919) % span;
        for _ in 0..span {
            let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
            let port = u16::try_from(LOWEST + offset).unwrap_or(u16::MAX);
            if std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
                return Ok(port);
            }
        }
    }
    std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?
        .local_addr()
        .map(|a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| unused_loopback_port().unwrap()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or(32_768);
        assert!(ports.iter().all(|p| (10_000..ephemeral_low).contains(p)), "{ports:?}");
    }
}
