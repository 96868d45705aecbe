//! Reading the user's own evidence: the `az … -o json` files they already have, turned into the
//! harness's world ([`import()`]), so their 403 is reproduced and checked in their own terms; and
//! the error texts they paste ([`pasted`]), read into status, URL, headers, body and credential lines.
//!
//! [`az`] holds typed models of what the CLI prints (and the raw ARM list form), read with the JSON
//! path of any missing or mistyped field; nothing here writes or keeps a secret value.

pub mod az;
pub mod import;
pub mod pasted;

pub use az::{AzError, AzFiles};
pub use import::import;
