//! Piston's API v2 as the session container runs it (FIDELITY §6): the request checks, in Piston's
//! order and with its messages. A leaf module: the Piston stand-in and the reference backend (which
//! answers in Piston's manner) both use it and not each other.

use serde_json::Value;

/// The fields of an execute request that passed Piston's shape checks.
#[derive(Debug, Clone, Copy)]
pub struct ExecuteShape<'a> {
    pub language: &'a str,
    pub version: &'a str,
    pub files: &'a [Value],
}

impl<'a> ExecuteShape<'a> {
    /// The first file's content (empty when there is no file).
    pub fn code(&self) -> &'a str {
        self.files.first().and_then(|f| f["content"].as_str()).unwrap_or("")
    }
}

/// Piston's shape checks, in Piston's order and with its messages (FIDELITY §6).
pub fn validate_shape(request: &Value) -> Result<ExecuteShape<'_>, String> {
    let language = request["language"].as_str().ok_or("language is required as a string")?;
    let version = request["version"].as_str().ok_or("version is required as a string")?;
    let files = request["files"].as_array().ok_or("files is required as an array")?;
    for (i, file) in files.iter().enumerate() {
        if !file["content"].is_string() {
            return Err(format!("files[{i}].content is required as a string"));
        }
    }
    Ok(ExecuteShape { language, version, files })
}
