//! `explain`: evidence captured from real Azure (status, body, headers, token; or a pasted text),
//! optionally with the user's own `az` files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{Format, emit};
use crate::explain::{self, Captured};
use crate::tokens;
use crate::transcript::Hop;

/// Evidence for `explain`, as captured from real Azure.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A pasted error message, exception, log excerpt or curl transcript (a file, or - for standard
    /// input): every error in it is read and diagnosed.
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["status", "body", "headers"])]
    text: Option<String>,
    /// The hop that answered (default: inferred from the body, else pool).
    #[arg(long, value_enum)]
    hop: Option<Hop>,
    /// The HTTP status it answered.
    #[arg(long, value_parser = clap::value_parser!(u16).range(100..600))]
    status: Option<u16>,
    /// A file holding the response body, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    body: Option<String>,
    /// A response header as name:value, e.g. x-ms-error-code:PermissionDenied (repeatable).
    #[arg(long = "header", value_name = "K:V")]
    headers: Vec<String>,
    /// The bearer token that was sent, with or without "Bearer " (decoded, never verified). Prefer
    /// --token-file: a command line is visible to other users and kept in shell history.
    #[arg(long, value_name = "JWT", conflicts_with = "token_file")]
    token: Option<String>,
    /// A file holding that token, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    token_file: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Your app (`az containerapp show -o json`): tells whose token it was and what AZURE_CLIENT_ID says.
    #[arg(long, value_name = "FILE")]
    app: Option<PathBuf>,
    /// Your role assignments (`az role assignment list --all -o json`), with --app.
    #[arg(long, value_name = "FILE", requires = "app")]
    roles: Option<PathBuf>,
    /// Your session pool (`az containerapp sessionpool show -o json`), with --app.
    #[arg(long, value_name = "FILE", requires = "app")]
    pool: Option<PathBuf>,
    /// Your custom roles (`az role definition list --custom-role-only -o json`), with --roles.
    #[arg(long, value_name = "FILE", requires = "roles")]
    role_definitions: Option<PathBuf>,
    /// A group's members (`az ad group member list --group <id> -o json`) as `[GROUP_ID=]FILE`;
    /// repeat for several groups.
    #[arg(long, value_name = "[GROUP_ID=]FILE", requires = "roles")]
    group_members: Vec<String>,
}

pub fn explain_command(args: ExplainArgs) -> ExitCode {
    if args.text.as_deref() == Some("-") && args.token_file.as_deref() == Some("-") {
        eprintln!("error: {}", explain::ExplainError::StdinTwice);
        return ExitCode::from(2);
    }
    // A pasted text is read as bytes (any encoding is decoded later); the token as before.
    let text = args.text.as_deref().map(|path| explain::read_pasted(path, std::io::stdin().lock()));
    let text = match text.transpose() {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let request = explain::Request {
        hop: args.hop,
        status: args.status,
        body: args.body,
        headers: args.headers,
        token: args.token,
        token_file: args.token_file,
    };
    let captured = match Captured::gather(request, std::io::stdin().lock()) {
        Ok(captured) => captured,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let user = match &args.app {
        Some(app) => {
            match crate::evidence::AzFiles::read(app, args.pool.as_deref(), args.roles.as_deref())
                .and_then(|f| f.with_definitions(args.role_definitions.as_deref()))
                .and_then(|f| f.with_group_members(&args.group_members))
                .and_then(|f| crate::evidence::import::parts(&f))
            {
                Ok(parts) => Some(parts),
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    let now = tokens::now_secs();
    let output = if let Some(text) = text {
        let report =
            explain::explain_text(&text, captured.claims, captured.hop, now, user.as_ref());
        match args.format {
            Format::Text => report.to_string(),
            Format::Json => {
                serde_json::to_string_pretty(&report).expect("a report serialises") + "\n"
            }
        }
    } else {
        let report = explain::explain_with(&captured, now, user.as_ref());
        match args.format {
            Format::Text => report.to_string(),
            Format::Json => {
                serde_json::to_string_pretty(&report).expect("a report serialises") + "\n"
            }
        }
    };
    emit(&output);
    ExitCode::SUCCESS
}
