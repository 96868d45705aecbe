//! The bounds of every number a scenario file gives: checked while the file is read, so a value out
//! of range is an error at its `file:line:column`, and nothing downstream (token lifetimes added to
//! the clock, sessions allocated up front, a status code) can overflow, allocate without limit or be
//! silently ignored.
//!
//! Each bound is one module with `MIN`, `MAX` and the deserializers a field names with
//! `deserialize_with`; the same `MIN` and `MAX` go into the JSON Schema (`schemars(range)`).

use std::fmt::Display;

use serde::de::{Deserialize, Deserializer, Error};

/// `value` within `min..=max`, else what is allowed and why.
fn check<T: PartialOrd + Display>(value: T, min: T, max: T, why: &str) -> Result<T, String> {
    if value < min || value > max {
        Err(format!("{value} is out of range: between {min} and {max} ({why})"))
    } else {
        Ok(value)
    }
}

macro_rules! bounds {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty = $min:literal ..= $max:literal, $why:literal; )*) => {$(
        $(#[$doc])*
        // Each bound offers every shape of field; not every shape is used by every bound.
        #[allow(dead_code)]
        pub mod $name {
            use super::*;

            /// The smallest value allowed.
            pub const MIN: $ty = $min;
            /// The largest value allowed.
            pub const MAX: $ty = $max;

            /// An optional field holding this number.
            pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
                Option::<$ty>::deserialize(d)?
                    .map(|v| check(v, MIN, MAX, $why).map_err(D::Error::custom))
                    .transpose()
            }

            /// A field holding this number.
            pub fn one<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                check(<$ty>::deserialize(d)?, MIN, MAX, $why).map_err(D::Error::custom)
            }

            /// A list of these numbers.
            pub fn each<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<$ty>, D::Error> {
                Vec::<$ty>::deserialize(d)?
                    .into_iter()
                    .map(|v| check(v, MIN, MAX, $why).map_err(D::Error::custom))
                    .collect()
            }
        }
    )*};
}

bounds! {
    /// A scenario's deadline, a readiness bound, a client's timeout: up to ten minutes.
    wait_ms: u64 = 1..=600_000, "milliseconds, at most ten minutes";
    /// A delay, a cooldown, a propagation time: zero to ten minutes.
    delay_ms: u64 = 0..=600_000, "milliseconds, at most ten minutes";
    /// A retry delay: up to a minute.
    retry_delay_ms: u64 = 0..=60_000, "milliseconds, at most a minute";
    /// Retries: up to 100.
    retries: u32 = 0..=100, "at most 100 retries";
    /// A token lifetime: one second to a year (Azure's managed identity issues about a day).
    lifetime_secs: u64 = 1..=31_536_000, "seconds, at most a year";
    /// A clock skew: up to a year either way.
    offset_secs: i64 = -31_536_000..=31_536_000, "seconds, at most a year either way";
    /// A tolerance of clock skew: up to an hour.
    skew_secs: u64 = 0..=3_600, "seconds, at most an hour";
    /// Sessions or calls counted by a scenario: a few thousand at most.
    count: u32 = 0..=5_000, "at most 5000: a scenario counts a few thousand at most";
    /// A 1-based call number.
    call: u32 = 1..=100_000, "a 1-based call number, at most 100000";
    /// An HTTP status code.
    status: u16 = 100..=599, "an HTTP status code is 100 to 599";
    /// A TCP port to listen on or connect to.
    port: u16 = 1..=65_535, "a TCP port is 1 to 65535";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Fields {
        #[serde(default, deserialize_with = "status::opt")]
        status: Option<u16>,
        #[serde(default, deserialize_with = "call::each")]
        calls: Vec<u32>,
    }

    fn read(text: &str) -> Result<Fields, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_number_out_of_its_range_says_what_is_allowed() {
        let error = read("status = 0").unwrap_err();
        assert!(error.contains("0 is out of range: between 100 and 599"), "{error}");
        let error = read("calls = [1, 0]").unwrap_err();
        assert!(error.contains("between 1 and 100000"), "{error}");
    }

    #[test]
    fn numbers_within_their_range_and_absent_fields_are_read_as_they_are() {
        let fields = read("status = 599\ncalls = [1, 2]").unwrap();
        assert_eq!((fields.status, fields.calls), (Some(599), vec![1, 2]));
        assert_eq!(read("").unwrap().status, None);
    }
}
