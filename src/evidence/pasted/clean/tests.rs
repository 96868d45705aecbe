//! The normalisation pass: each normalisation on the text users paste, and the original lines kept.

use super::*;

fn clean(text: &str) -> Clean {
    Clean::new(text)
}

#[test]
fn utf8_utf16_with_its_bom_and_latin1_are_all_decoded_and_named() {
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("403 Forbidden\r\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();

    assert_eq!(decode(b"plain"), ("plain".into(), Encoding::Utf8));
    assert_eq!(decode(&utf16), ("403 Forbidden\r\n".into(), Encoding::Utf16Le));
    assert_eq!(decode(b"caf\xe9 403"), ("caf\u{e9} 403".into(), Encoding::Latin1));
    assert_eq!(decode(b"\xEF\xBB\xBFx").1, Encoding::Utf8Bom);
}

#[test]
fn crlf_and_ansi_colours_are_removed() {
    let c = clean("\x1b[31mERROR\x1b[0m: boom\r\nnext\r\n");

    assert_eq!(c.lines, ["ERROR: boom", "next"]);
    assert_eq!(c.applied_in(&(0..1)), [Normalization::Crlf, Normalization::AnsiColours]);
}

#[test]
fn log_prefixes_go_but_the_az_clis_own_error_line_stays() {
    let c = clean(
        "2025-01-14 10:22:31,482 ERROR coding_engine.pool: call failed: 403 Forbidden\n\
         ERROR:root:plain python logging\n\
         ERROR: AADSTS53003: Access has been blocked\n\
         [2025-01-14T10:22:31Z] [error] bracketed\n\
         2024-12-04 13:37:28,890 INFO  [com.azu.ide.ChainedTokenCredential] (main) Azure Identity => x",
    );

    let records: Vec<&String> = c.lines.iter().filter(|l| !l.is_empty()).collect();
    assert_eq!(c.lines[1], "", "a blank line ends each record before the next");
    assert_eq!(
        records,
        [
            "call failed: 403 Forbidden",
            "plain python logging",
            "ERROR: AADSTS53003: Access has been blocked",
            "bracketed",
            "Azure Identity => x",
        ]
    );
}

#[test]
fn container_runtime_prefixes_go_and_partial_lines_are_joined() {
    let c = clean(
        "2025-01-14T10:22:31.123456789Z stderr P 403 Client Error: Forbidden for url: https://p.\n\
         2025-01-14T10:22:31.123456789Z stderr F env.westeurope.azurecontainerapps.io/x\n\
         backend-1  | next record",
    );

    assert_eq!(
        c.lines,
        [
            "403 Client Error: Forbidden for url: https://p.env.westeurope.azurecontainerapps.io/x",
            "next record"
        ]
    );
    assert_eq!(c.original(&(0..1)), 0..2);
}

#[test]
fn a_json_log_records_message_is_unescaped_onto_lines_of_the_same_original_line() {
    let c = clean(
        "{\"level\":50,\"time\":1,\"pid\":7,\"msg\":\"token failed\\nStatus: 400 (Bad Request)\"}\n\
         {\"statusCode\":400,\"message\":\"Unable to load the proper Managed Identity.\"}",
    );

    assert_eq!(c.lines[..2], ["token failed", "Status: 400 (Bad Request)"]);
    assert_eq!(c.original(&(0..2)), 0..1);
    assert!(c.lines[2].starts_with("{\"statusCode\""), "an error body is not a log record");
    assert_eq!(c.applied_in(&(2..3)), []);
}

#[test]
fn aspnet_core_records_lose_their_header_and_indentation() {
    let c = clean(
        "fail: CodingEngine.SessionPoolClient[0]\n      Azure.RequestFailedException: no\n      Status: 403 (Forbidden)\ninfo: X[1]\n      done",
    );

    assert_eq!(
        c.lines,
        ["", "Azure.RequestFailedException: no", "Status: 403 (Forbidden)", "", "done"]
    );
    assert_eq!(c.original(&(2..3)), 2..3);
}

#[test]
fn a_pretty_loggers_wrapped_record_is_joined_and_a_shared_indent_removed() {
    let c = clean(
        "[01/14/25 10:22:31] ERROR    call failed: 403 Client Error:       pool.py:42\n                             Forbidden for url:\n                             https://p.env.westeurope.azurecontainerapps.io/x",
    );
    let indented = clean("    Status: 403 (Forbidden)\n    ErrorCode: PermissionDenied");

    assert_eq!(
        c.lines,
        [
            "call failed: 403 Client Error: Forbidden for url: https://p.env.westeurope.azurecontainerapps.io/x"
        ]
    );
    assert_eq!(c.original(&(0..1)), 0..3);
    assert!(c.applied_in(&(0..1)).contains(&Normalization::JoinedContinuation));
    assert_eq!(indented.lines, ["Status: 403 (Forbidden)", "ErrorCode: PermissionDenied"]);
}
