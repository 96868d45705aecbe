//! The backend's own token cache: refresh before expiry, one refresh at a time.
//!
//! The SDK's cache refreshes any token within 5 minutes of expiry (FIDELITY §4, SDK), so with
//! short-lived tokens it would fetch on every call, and a burst of calls would queue behind each
//! fetch. Here a token is reused until half its remaining life has passed (at most 5 minutes before
//! expiry), and concurrent callers that find it stale wait for one refresh (single flight).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::credentials::TokenCredential;
use tokio::sync::Mutex;

/// A token and when to stop using it.
#[derive(Debug, Clone)]
struct Cached {
    token: String,
    refresh_at: u64,
}

/// Cache in front of a credential.
#[derive(Debug, Default)]
pub struct TokenCache {
    current: Mutex<Option<Cached>>,
}

impl TokenCache {
    /// The cached token while it is fresh; otherwise one caller fetches while the others wait for it.
    pub async fn get(
        &self,
        credential: &dyn TokenCredential,
        scope: &str,
    ) -> azure_core::Result<String> {
        // Holding the lock across the fetch is the single flight: the next caller re-checks after.
        let mut current = self.current.lock().await;
        if let Some(cached) = current.as_ref().filter(|c| now() < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        let fetched = credential.get_token(&[scope], None).await?;
        let expires_on = u64::try_from(fetched.expires_on.unix_timestamp()).unwrap_or(0);
        let cached = Cached {
            token: fetched.token.secret().to_owned(),
            refresh_at: refresh_at(now(), expires_on),
        };
        let token = cached.token.clone();
        *current = Some(cached);
        Ok(token)
    }

    /// Forget the token (after the pool refused it).
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }
}

/// Halfway through the remaining life, but no later than 5 minutes before expiry.
fn refresh_at(now: u64, expires_on: u64) -> u64 {
    let remaining = expires_on.saturating_sub(now);
    now.saturating_add(
        (remaining / 2)
            .max(remaining.saturating_sub(Duration::from_secs(300).as_secs()))
            .min(remaining),
    )
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tokens_refresh_five_minutes_early_and_short_ones_at_half_life() {
        assert_eq!(refresh_at(1000, 1000 + 86_400), 1000 + 86_400 - 300);
        assert_eq!(refresh_at(1000, 1000 + 3), 1001, "a 3 s token is used for 1 s (integer half)");
        assert_eq!(refresh_at(1000, 1000 + 400), 1000 + 200);
        assert_eq!(refresh_at(1000, 900), 1000, "an expired token is refreshed at once");
    }
}
