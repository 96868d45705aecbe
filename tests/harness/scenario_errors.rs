//! Scenario files under mutation: 1,000+ damaged copies of the shipped scenarios, each either
//! loading or failing with `file:line:column` and a message; never a panic.

use std::path::Path;

use session_pool_harness::Scenario;

use crate::helpers::root;

/// A small deterministic generator (xorshift64*): the same mutations on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One damage to a scenario's text.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return "description = ".to_owned();
    }
    let at = rng.below(lines.len());
    match rng.below(9) {
        0 => {
            lines.remove(at);
        }
        1 => {
            let copy = lines[at].clone();
            lines.insert(at, copy);
        }
        2 => lines[at] = lines[at].replacen('=', "= = ", 1),
        3 => {
            // A typo in a key: swap two characters of the first word.
            let mut chars: Vec<char> = lines[at].chars().collect();
            if chars.len() > 3 {
                let i = 1 + rng.below(chars.len() - 2);
                chars.swap(i - 1, i);
            }
            lines[at] = chars.into_iter().collect();
        }
        4 => lines[at] = lines[at].replace('"', ""),
        5 => {
            lines[at] =
                lines[at].replace("true", "\"yes\"").replace("2000", "\"2000\"").replace('[', "{")
        }
        6 => lines.truncate(at),
        7 => lines.insert(
            at,
            [
                "[[steps]]",
                "[world]",
                "x = ",
                "\u{0}",
                "ünïcödé = 1",
                "[[world.faults]]\nhop = \"nowhere\"",
            ][rng.below(6)]
            .to_owned(),
        ),
        _ => {
            let cut = rng.below(lines[at].len() + 1);
            let mut end = cut;
            while !lines[at].is_char_boundary(end) {
                end -= 1;
            }
            lines[at].truncate(end);
        }
    }
    lines.join("\n")
}

#[test]
fn a_thousand_damaged_scenarios_never_panic_and_every_error_has_a_location() {
    let mut files: Vec<_> = ["scenarios", "scenarios/bases"]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(root(dir)).unwrap().filter_map(Result::ok).map(|e| e.path())
        })
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut tried, mut refused) = (0usize, 0usize);
    while tried < 1_200 {
        for file in &files {
            let original = std::fs::read_to_string(file).unwrap();
            let mut damaged = mutate(&original, &mut rng);
            if rng.below(3) == 0 {
                damaged = mutate(&damaged, &mut rng);
            }
            // Beside the original, so that its `extends` still finds the base.
            let damaged_path = file.with_file_name("damaged.toml");
            let result = std::panic::catch_unwind(|| Scenario::parse(&damaged_path, &damaged));
            let Ok(result) = result else {
                panic!("a panic on this mutation of {}:\n{damaged}", file.display());
            };
            tried += 1;
            if let Err(error) = result {
                refused += 1;
                // In the damaged file, or in the base it extends (e.g. a key it left out).
                let text = if error.file == damaged_path {
                    damaged.clone()
                } else {
                    std::fs::read_to_string(&error.file)
                        .unwrap_or_else(|_| panic!("{error}: no such file"))
                };
                let lines = text.lines().count().max(1);
                assert!(
                    error.line >= 1 && error.line <= lines + 1,
                    "line {} out of 1..={} for {error}",
                    error.line,
                    lines + 1
                );
                assert!(error.column >= 1, "{error}");
                assert!(!error.message.is_empty(), "{error}");
            }
        }
    }
    println!(
        "scenario mutations: {tried} tried, {refused} refused with file:line:column, 0 panics"
    );
    assert!(refused > tried / 2, "most damage must be caught ({refused} of {tried})");
}

#[test]
fn a_misspelt_key_names_the_closest_valid_one() {
    let source = std::fs::read_to_string(root("scenarios/bases/coding-engine.toml"))
        .unwrap()
        .replace("container_type", "containr_type");
    let error = Scenario::parse(Path::new("typo.toml"), &source).unwrap_err();
    assert!(
        error.message.contains("unknown field `containr_type`")
            && error.message.ends_with("did you mean `container_type`?"),
        "{error}"
    );
}
