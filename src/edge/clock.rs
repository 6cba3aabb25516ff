//! Time on the Workers runtime: the [`Clock`] the coach loop runs on, and
//! the one way a future is bounded by a timer.

use crate::core::llm::Clock;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use worker::{js_sys, Delay};

/// `Some(output)` if `fut` finishes within `ms`, `None` if the timer wins.
pub async fn with_timeout<F: Future>(fut: F, ms: u64) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut timer = pin!(Delay::from(Duration::from_millis(ms)));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Wall time and timers of the Workers runtime.
pub struct WorkersClock;

impl Clock for WorkersClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn jitter(&self) -> f64 {
        let mut bytes = [0u8; 4];
        match getrandom::fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / 4_294_967_296.0,
            Err(_) => 0.5,
        }
    }
}
