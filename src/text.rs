//! Small text rules used across the crate: how a long text is shortened for a report line, how text
//! is made safe for where a report goes (a terminal, XML or HTML), and what counts as a loopback host.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` on one line (whitespace runs collapsed), cut to `max` characters with `…` when longer.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// Where a report's text goes, for [`printable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Medium {
    /// A terminal, or Markdown (printed to one, or shown by GitHub): tab and newline only. A carriage
    /// return would let a line overwrite what came before it, so it is escaped too.
    Terminal,
    /// XML or HTML: tab, newline and carriage return, the only controls XML 1.0 allows. DEL and the C1
    /// controls are allowed by XML but are parse errors in HTML, so one rule serves both.
    Markup,
}

/// `text` with every character `medium` cannot show as it is written visibly instead: `\x1b` for the
/// C0 and C1 controls and DEL (ESC would start a terminal escape sequence; XML forbids most C0
/// controls outright), `\u{fffe}` for noncharacters (XML forbids U+FFFE and U+FFFF; HTML reports
/// every noncharacter). Borrowed when there is nothing to escape, which is nearly always.
pub(crate) fn printable(text: &str, medium: Medium) -> Cow<'_, str> {
    let unsafe_char = |c: char| match c {
        '\t' | '\n' => false,
        '\r' => medium == Medium::Terminal,
        c => c.is_control() || is_noncharacter(c),
    };
    let Some(first) = text.find(unsafe_char) else { return Cow::Borrowed(text) };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c if u32::from(c) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// [`printable`] for a text already owned: returned as it is (no copy) when nothing needed escaping.
pub(crate) fn into_printable(text: String, medium: Medium) -> String {
    match printable(&text, medium) {
        Cow::Borrowed(_) => text,
        Cow::Owned(safe) => safe,
    }
}

/// U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+FFFF, U+1FFFE, …).
fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
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
    fn controls_are_written_visibly_and_what_each_medium_allows_is_kept() {
        let text =
            "\x1b[31mred\x1b[0m\ttab\r\nbell\x07 nul\x00 del\x7f csi\u{9b} \u{fffe}\u{1ffff} é ✓";

        let terminal = printable(text, Medium::Terminal);
        let markup = printable(text, Medium::Markup);

        assert_eq!(
            terminal,
            "\\x1b[31mred\\x1b[0m\ttab\\x0d\nbell\\x07 nul\\x00 del\\x7f csi\\x9b \\u{fffe}\\u{1ffff} é ✓"
        );
        assert_eq!(
            markup,
            "\\x1b[31mred\\x1b[0m\ttab\r\nbell\\x07 nul\\x00 del\\x7f csi\\x9b \\u{fffe}\\u{1ffff} é ✓"
        );
    }

    #[test]
    fn clean_text_is_borrowed_not_copied() {
        assert!(matches!(printable("plain\ttext\n", Medium::Terminal), Cow::Borrowed(_)));
        assert!(matches!(printable("a\r\nb", Medium::Markup), Cow::Borrowed(_)));
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
