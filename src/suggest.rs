//! "Did you mean": the closest of a set of names, by edit distance.
//!
//! Used for unknown keys in scenario files and for near-miss routes in transcripts.

/// Levenshtein distance in characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Add "did you mean" to a serde message of the form "unknown field `x`, expected one of `a`, `b`"
/// (also "unknown variant"). Other messages are returned unchanged.
pub fn with_suggestion(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return message.to_owned();
    };
    let Some((unknown, expected)) = rest.split_once('`') else { return message.to_owned() };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(unknown, candidates) {
        Some(best) => format!("{message}; did you mean `{best}`?"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(
            (levenshtein("kitten", "sitting"), levenshtein("", "ab"), levenshtein("same", "same")),
            (3, 2, 0)
        );
    }

    #[test]
    fn an_unknown_field_gets_the_closest_valid_one() {
        let message =
            "unknown field `target_prot`, expected one of `name`, `resource_id`, `target_port`";
        assert_eq!(with_suggestion(message), format!("{message}; did you mean `target_port`?"));
        let far = "unknown field `zzzzzz`, expected one of `name`, `resource_id`";
        assert_eq!(with_suggestion(far), far, "no suggestion when nothing is close");
        assert_eq!(with_suggestion("invalid type: integer"), "invalid type: integer");
    }
}
