//! Random identifiers (GUIDs, opaque claim values) without a random-number dependency.
//!
//! Azure stamps correlation ids, `uti`, `aio` and identity headers with fresh random values; so do we.
//! They never reach a snapshot: the normaliser replaces them.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS once per process and perturbed per instance.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A random GUID in Azure's lower-case 8-4-4-4-12 form.
pub fn guid() -> String {
    guid_from(random_u64(), random_u64())
}

/// The version-4-shaped GUID made of these 128 bits (fixed ids derive theirs from a hash).
pub fn guid_from(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A random base64url-looking string of `len` characters (for `uti`, `aio`, `rh`).
pub fn opaque(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut bits = random_u64();
        for _ in 0..10 {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[(bits & 63) as usize] as char);
            bits >>= 6;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_have_azure_shape_and_differ() {
        let (a, b) = (guid(), guid());
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn opaque_values_have_the_requested_length() {
        assert_eq!(opaque(22).len(), 22);
        assert_ne!(opaque(22), opaque(22));
    }
}
