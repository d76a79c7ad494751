//! Hands a stream to a consumer that may stall: the stream runs on its own task at most `ahead`
//! items ahead of the consumer; if the consumer takes nothing for `idle`, the task gives up and
//! drops the stream (and with it what it holds: the stream slot, decoded batches, open files),
//! and the consumer's side ends with an error rather than cleanly. HTTP bodies and Flight
//! streams both go through it, so a client that stops reading cannot hold a slot forever.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};

/// Spools `stream`. `aborted` makes the error the consumer sees when the producer gave up.
pub fn spool<S, T, E>(
    stream: S,
    ahead: usize,
    idle: Duration,
    aborted: fn(&str) -> E,
) -> impl Stream<Item = Result<T, E>> + Send + 'static
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<T, E>>(ahead.max(1));
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            match tokio::time::timeout(idle, tx.send(item)).await {
                Ok(Ok(())) if !failed => {}
                // The error was delivered: the consumer knows.
                Ok(Ok(())) => {
                    done.store(true, Ordering::SeqCst);
                    return;
                }
                // The consumer went away.
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::warn!(
                        idle_secs = idle.as_secs(),
                        "a client read nothing for the idle timeout: stream aborted"
                    );
                    metrics::counter!("inlet_streams_idle_aborted_total").increment(1);
                    return;
                }
            }
        }
        done.store(true, Ordering::SeqCst);
    });
    let mut reported = false;
    futures::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
        std::task::Poll::Ready(None) if !finished.load(Ordering::SeqCst) && !reported => {
            reported = true;
            std::task::Poll::Ready(Some(Err(aborted(
                "the stream was aborted (the client read nothing for the idle timeout, or the server is shutting down)",
            ))))
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(m: &str) -> String {
        m.to_string()
    }

    #[tokio::test]
    async fn a_stalled_consumer_frees_the_producer_and_sees_an_error() {
        let dropped = Arc::new(AtomicBool::new(false));
        struct Guard(Arc<AtomicBool>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let guard = Guard(dropped.clone());
        let endless = futures::stream::iter(0u64..).map(move |i| {
            let _held = &guard;
            Ok::<u64, String>(i)
        });
        let mut out = Box::pin(spool(endless, 2, Duration::from_millis(100), err));
        assert_eq!(out.next().await, Some(Ok(0)));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            dropped.load(Ordering::SeqCst),
            "the producer was dropped while the consumer stalled"
        );
        let rest: Vec<_> = out.collect().await;
        assert!(rest.last().is_some_and(Result::is_err), "{rest:?}");
    }

    #[tokio::test]
    async fn a_complete_stream_ends_cleanly_and_errors_pass_through() {
        let ok = spool(
            futures::stream::iter([Ok::<u8, String>(1), Ok(2)]),
            1,
            Duration::from_secs(5),
            err,
        );
        assert_eq!(ok.collect::<Vec<_>>().await, vec![Ok(1), Ok(2)]);
        let failing = spool(
            futures::stream::iter([Ok::<u8, String>(1), Err("bad".to_string()), Ok(3)]),
            1,
            Duration::from_secs(5),
            err,
        );
        assert_eq!(
            failing.collect::<Vec<_>>().await,
            vec![Ok(1), Err("bad".to_string())]
        );
    }
}
