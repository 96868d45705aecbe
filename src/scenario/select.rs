//! Which scenarios a run takes: `--filter` (a substring, or a glob when it holds `*`, `?` or `[`, on
//! the scenario's name) and `--partition K/N` (stable: the K-th of every N files in path order), so a
//! suite can be split across CI machines.

use super::Scenario;

/// `K/N`: the K-th of N parts, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("'{text}' is not a partition: write K/N with 1 <= K <= N, e.g. 1/3");
        let (k, n) = text.split_once('/').ok_or_else(usage)?;
        let (index, count): (usize, usize) =
            (k.trim().parse().map_err(|_| usage())?, n.trim().parse().map_err(|_| usage())?);
        if index == 0 || count == 0 || index > count {
            return Err(usage());
        }
        Ok(Self { index, count })
    }
}

/// A name pattern of `--filter`.
#[derive(Debug, Clone)]
pub enum Filter {
    Substring(String),
    Glob(glob::Pattern),
}

impl std::str::FromStr for Filter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.contains(['*', '?', '[']) {
            glob::Pattern::new(text).map(Self::Glob).map_err(|e| {
                format!("'{text}' is not a glob pattern ({e}); without * ? [ it is a substring")
            })
        } else {
            Ok(Self::Substring(text.to_owned()))
        }
    }
}

impl Filter {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Substring(s) => name.contains(s.as_str()),
            Self::Glob(pattern) => pattern.matches(name),
        }
    }
}

/// The scenarios matching any of `filters` (all without filters), then this machine's part.
pub fn select(
    mut scenarios: Vec<Scenario>,
    filters: &[Filter],
    partition: Option<Partition>,
) -> Vec<Scenario> {
    scenarios.retain(|s| filters.is_empty() || filters.iter().any(|f| f.matches(&s.name)));
    let Some(part) = partition else { return scenarios };
    scenarios.sort_by(|a, b| a.file.cmp(&b.file));
    scenarios
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % part.count == part.index - 1)
        .map(|(_, s)| s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_read_and_checked() {
        assert_eq!("2/3".parse(), Ok(Partition { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1", "a/b", "1/0"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_filter_is_a_substring_unless_it_holds_glob_characters() {
        let sub: Filter = "role".parse().unwrap();
        let glob: Filter = "*-role".parse().unwrap();
        assert!(sub.matches("missing-role") && sub.matches("role-on-other-identity"));
        assert!(glob.matches("missing-role") && !glob.matches("role-on-other-identity"));
    }
}
