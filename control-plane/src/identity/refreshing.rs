//! A value fetched from an identity provider (its signing keys, its SAML metadata) and
//! kept for a while: refetched once older than a lifetime, so a key the provider removed
//! stops being trusted; fetched by one caller at a time while the others wait for that
//! answer (a burst of requests is one request to the provider); a failed fetch is
//! remembered for a short while instead of retried by every request, and the last good
//! value serves for a bounded time while the provider is down.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// How a [`Refreshing`] value ages.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A failed fetch is answered from memory this long.
    pub failure: Duration,
    /// The last good value still serves this long past its fetch when a refresh fails.
    pub stale: Duration,
}

struct State<T> {
    value: Option<(Arc<T>, Instant)>,
    failed: Option<(String, Instant)>,
}

/// A value fetched on demand and refreshed by age.
pub struct Refreshing<T> {
    state: RwLock<State<T>>,
    flight: Mutex<()>,
    lifetimes: Lifetimes,
}

impl<T> Refreshing<T> {
    /// An empty cache.
    pub fn new(lifetimes: Lifetimes) -> Refreshing<T> {
        Refreshing {
            state: RwLock::new(State {
                value: None,
                failed: None,
            }),
            flight: Mutex::new(()),
            lifetimes,
        }
    }

    /// The value, fetched by `fetch` when there is none younger than `max_age`.
    pub async fn get<F, Fut>(&self, max_age: Duration, fetch: F) -> Result<Arc<T>, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        if let Some(v) = self.usable(max_age, false).await {
            return v;
        }
        // One fetch at a time; whoever waited finds the fresh value (or the failure).
        let _flight = self.flight.lock().await;
        if let Some(v) = self.usable(max_age, false).await {
            return v;
        }
        match fetch().await {
            Ok(v) => {
                let v = Arc::new(v);
                let mut s = self.state.write().await;
                s.value = Some((v.clone(), Instant::now()));
                s.failed = None;
                Ok(v)
            }
            Err(e) => {
                self.state.write().await.failed = Some((e.clone(), Instant::now()));
                self.usable(max_age, true).await.unwrap_or(Err(e))
            }
        }
    }

    /// The answer without fetching: a value younger than `max_age`; after a recent
    /// failure (or when `failing`), the stale value within its bound, else the failure.
    async fn usable(&self, max_age: Duration, failing: bool) -> Option<Result<Arc<T>, String>> {
        let s = self.state.read().await;
        if let Some((v, at)) = &s.value
            && at.elapsed() < max_age
        {
            return Some(Ok(v.clone()));
        }
        let recent_failure = s
            .failed
            .as_ref()
            .filter(|(_, at)| failing || at.elapsed() < self.lifetimes.failure);
        let (e, _) = recent_failure?;
        match &s.value {
            Some((v, at)) if at.elapsed() < self.lifetimes.stale => Some(Ok(v.clone())),
            _ => Some(Err(e.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn never(/* a remembered failure is not retried */) -> Result<u32, String> {
        panic!("fetched although a failure was remembered")
    }

    #[tokio::test]
    async fn one_fetch_per_burst_failures_remembered_values_age_out() {
        let cache = Arc::new(Refreshing::<u32>::new(Lifetimes {
            failure: Duration::from_millis(200),
            stale: Duration::from_secs(60),
        }));
        let calls = Arc::new(AtomicU32::new(0));
        let burst = (0..10).map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .get(Duration::from_secs(60), || async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(calls.fetch_add(1, Ordering::SeqCst) + 1)
                    })
                    .await
            })
        });
        for h in burst {
            assert_eq!(*h.await.unwrap().unwrap(), 1);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Too old: fetched again; a failure then serves the stale value, and is not retried.
        let failing = || async { Err::<u32, String>("down".into()) };
        assert_eq!(*cache.get(Duration::ZERO, failing).await.unwrap(), 1);
        assert_eq!(*cache.get(Duration::ZERO, never).await.unwrap(), 1);
        let empty = Refreshing::<u32>::new(Lifetimes {
            failure: Duration::from_secs(60),
            stale: Duration::from_secs(60),
        });
        assert!(empty.get(Duration::ZERO, failing).await.is_err());
        assert!(empty.get(Duration::ZERO, never).await.is_err());
    }
}
