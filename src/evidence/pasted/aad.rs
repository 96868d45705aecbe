//! Texts of Entra sign-ins and of the `az` CLI: `ERROR:` lines (an ARM error printed as
//! `(Code) message` + `Code:` / `Message:`, or a sign-in refused with an AADSTS code), and a bare
//! `AADSTS…` message as MSAL, azure-identity or a log line prints it.

use std::sync::LazyLock;

use regex::Regex;

use super::{Pasted, PastedFormat};

static ARM_CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\(([A-Za-z][A-Za-z0-9_.]*)\) ?(.*)$").expect("a regex"));
static AADSTS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"AADSTS\d{4,}").expect("a regex"));

/// Lines the `az` CLI prints after its `ERROR:` line that belong to it: ARM's `Code:` /
/// `Message:` / `Target:`, MSAL's advice (`Interactive authentication is needed`, `az login …`).
fn continues_az_error(line: &str) -> bool {
    const MORE: &[&str] = &[
        "Code:",
        "Message:",
        "Target:",
        "Exception Details:",
        "Interactive authentication is needed",
        "Please run",
        "az login",
        "Trace ID:",
        "Correlation ID:",
        "Timestamp:",
    ];
    let trimmed = line.trim_start();
    MORE.iter().any(|m| trimmed.starts_with(m)) || trimmed.starts_with('(')
}

/// The `az` CLI's `ERROR: …` (SDK: azure-cli `knack` prints errors so; ARM errors come as
/// `(Code) Message` then `Code:` and `Message:` lines, azure-cli-core `azclierror.py`).
pub fn az_cli(lines: &[&str]) -> Vec<Pasted> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(first) = line.strip_prefix("ERROR: ") else { continue };
        let mut end = i + 1;
        while end < lines.len() && continues_az_error(lines[end]) {
            end += 1;
        }
        let mut pasted = Pasted::new(PastedFormat::AzCliError, i..end);
        let mut body: Vec<&str> = vec![first.trim()];
        body.extend(lines[i + 1..end].iter().map(|l| l.trim()));
        if let Some(caps) = ARM_CODE.captures(first.trim()) {
            pasted.error_code = Some(caps[1].to_owned());
        } else if let Some(code) =
            body.iter().find_map(|l| l.strip_prefix("Code:")).map(|c| c.trim().to_owned())
        {
            pasted.error_code = Some(code);
        }
        pasted.body = body.join("\n");
        found.push(pasted);
    }
    found
}

/// A line quoting an Entra error code, outside any other error: the message from the code on.
pub fn aadsts(lines: &[&str]) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let at = AADSTS.find(line)?.start();
            let trimmed = line.trim_start();
            let stack_frame = trimmed.starts_with("at ") || trimmed.starts_with("File \"");
            if stack_frame {
                return None;
            }
            let mut pasted = Pasted::new(PastedFormat::AadstsMessage, i..i + 1);
            pasted.body = line[at..].trim().to_owned();
            Some(pasted)
        })
        .collect()
}

/// Every `AADSTS<n>` code in a text, and those of an `"error_codes":[…]` list, as numbers (so
/// AADSTS70021 is never read out of AADSTS700213).
pub fn aadsts_codes(text: &str) -> Vec<u32> {
    static CODE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"AADSTS(\d{4,8})\b|"error_codes"\s*:\s*\[\s*(\d{4,8})"#)
            .expect("a regex")
    });
    CODE.captures_iter(text).filter_map(|c| c.get(1).or(c.get(2))?.as_str().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_az_arm_error_gives_its_code_and_the_lines_that_follow() {
        let lines = [
            "ERROR: (SessionTypeNotSupportedInRegion) The session type is not supported in region.",
            "Code: SessionTypeNotSupportedInRegion",
            "Message: The session type is not supported in region.",
            "",
            "next",
        ];

        let found = az_cli(&lines);

        assert_eq!(found.len(), 1);
        assert_eq!(found[0].error_code.as_deref(), Some("SessionTypeNotSupportedInRegion"));
        assert_eq!(found[0].lines, 0..3);
    }

    #[test]
    fn a_bare_aadsts_line_is_read_from_its_code_on() {
        let found = aadsts(&["msal: AADSTS90002: Tenant 'x' not found.", "   at Foo.Bar(AADSTS1)"]);

        assert_eq!(found.len(), 1);
        assert_eq!(found[0].body, "AADSTS90002: Tenant 'x' not found.");
    }
}
