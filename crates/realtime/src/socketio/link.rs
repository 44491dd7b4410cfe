//! What the HTTP requests of one Engine.IO session share with its task: the packets a
//! long-poll will take, and the way in for POSTed packets and an upgrade to WebSocket.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, ProtocolError};
use engineioxide_core::Packet;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};

use crate::outlet::Outlet;

/// Packets waiting for a poll past this many bytes mean the client has stopped polling: the
/// session ends and the client reconnects and syncs, as a native socket that stops reading.
pub(crate) const POLL_BACKLOG: usize = 1 << 20;

/// What a WebSocket reads.
pub(crate) type WsRead = Result<AggregatedMessage, ProtocolError>;

/// A WebSocket of a session: its writes and its reads.
pub(crate) struct WsConn {
    pub outlet: Outlet,
    pub reads: WsReads,
}

/// A WebSocket's reads: its own stream where the session's task runs on the thread that
/// accepted it; otherwise relayed from there (an actix stream stays on its thread, and an
/// upgrade may arrive on another worker than the handshake).
pub(crate) enum WsReads {
    Direct(AggregatedMessageStream),
    Relayed(mpsc::Receiver<WsRead>),
}

impl WsReads {
    pub(crate) async fn next(&mut self) -> Option<WsRead> {
        match self {
            WsReads::Direct(stream) => stream.next().await,
            WsReads::Relayed(rx) => rx.recv().await,
        }
    }

    /// Reads `stream` on this thread for a session's task on any thread.
    pub(crate) fn relay(mut stream: AggregatedMessageStream) -> mpsc::Receiver<WsRead> {
        let (tx, rx) = mpsc::channel(16);
        actix_web::rt::spawn(async move {
            while let Some(read) = stream.next().await {
                if tx.send(read).await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// What reaches a session's task from its HTTP requests.
pub(crate) enum Inbound {
    /// Packets of one POST, in order.
    Packets(Vec<Packet>),
    /// A WebSocket opened with the session's id, to probe and upgrade to: its writes, and its
    /// reads relayed from the thread that accepted it (see [`WsReads::relay`]).
    Upgrade(Outlet, mpsc::Receiver<WsRead>),
    /// A request broke the protocol (a second poll at once, a malformed POST): the session
    /// ends, as Engine.IO servers end it.
    Fault,
}

/// Why a long-poll gets no packets.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PollError {
    /// Another poll of the session is open (Engine.IO allows one).
    Overlap,
    /// The session moved to WebSocket.
    Upgraded,
}

#[derive(Default)]
struct Out {
    /// Encoded packets, separated by the record separator, as a poll's body carries them.
    buf: String,
    polling: bool,
    closed: bool,
    upgraded: bool,
}

/// One session's shared half; its task holds it too.
pub(crate) struct Link {
    pub inbound: mpsc::Sender<Inbound>,
    out: Mutex<Out>,
    wake: Notify,
}

impl Link {
    pub(crate) fn new(inbound: mpsc::Sender<Inbound>) -> Self {
        Self {
            inbound,
            out: Mutex::default(),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // Nothing panics while the lock is held; the state is consistent either way.
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a packet for the next poll; `false` once [`POLL_BACKLOG`] bytes wait.
    pub(crate) fn push(&self, packet: &str) -> bool {
        let mut out = self.lock();
        if !out.buf.is_empty() {
            out.buf.push('\u{1e}');
        }
        out.buf.push_str(packet);
        let within = out.buf.len() <= POLL_BACKLOG;
        drop(out);
        self.wake.notify_one();
        within
    }

    /// Takes the packets no poll took, at the upgrade, for the WebSocket.
    pub(crate) fn take_for_upgrade(&self) -> String {
        let mut out = self.lock();
        out.upgraded = true;
        let taken = std::mem::take(&mut out.buf);
        drop(out);
        self.wake.notify_one();
        taken
    }

    /// Ends the session for its requests: an open poll answers with a close packet.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// A long-poll: waits up to `wait` for packets, then answers with what is queued, a close
    /// packet once the session ended, or a noop so the client polls again.
    pub(crate) async fn poll(&self, wait: Duration) -> Result<String, PollError> {
        {
            let mut out = self.lock();
            if out.upgraded {
                return Err(PollError::Upgraded);
            }
            if out.polling {
                return Err(PollError::Overlap);
            }
            out.polling = true;
        }
        // A poll whose client went away is dropped mid-wait; the next may poll then.
        let _polling = PollingGuard(self);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let woken = self.wake.notified();
            {
                let mut out = self.lock();
                if !out.buf.is_empty() {
                    return Ok(std::mem::take(&mut out.buf));
                }
                if out.closed {
                    return Ok("1".into());
                }
                if out.upgraded {
                    return Ok("6".into());
                }
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return Ok("6".into());
            }
        }
    }
}

struct PollingGuard<'a>(&'a Link);

impl Drop for PollingGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().polling = false;
    }
}

/// The sessions a request can name by id.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Arc<Link>>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Link>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, sid: String, link: Arc<Link>) {
        self.lock().insert(sid, link);
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<Link>> {
        self.lock().get(sid).cloned()
    }

    pub(crate) fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link::new(mpsc::channel(1).0)
    }

    #[tokio::test]
    async fn a_poll_takes_every_queued_packet_at_once() {
        let link = link();
        assert!(link.push("42[\"a\"]"));
        assert!(link.push("2"));
        assert_eq!(
            link.poll(Duration::from_secs(5)).await.unwrap(),
            "42[\"a\"]\u{1e}2"
        );
    }

    #[tokio::test]
    async fn a_waiting_poll_is_answered_by_the_next_packet_or_a_noop() {
        let link = Arc::new(link());
        let pusher = link.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            pusher.push("3");
        });
        assert_eq!(link.poll(Duration::from_secs(5)).await.unwrap(), "3");
        assert_eq!(link.poll(Duration::from_millis(20)).await.unwrap(), "6");
        link.close();
        assert_eq!(link.poll(Duration::from_secs(5)).await.unwrap(), "1");
    }

    #[tokio::test]
    async fn a_second_poll_at_once_is_refused_and_an_upgraded_session_polls_no_more() {
        let link = Arc::new(link());
        let first = tokio::spawn({
            let link = link.clone();
            async move { link.poll(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            link.poll(Duration::from_secs(5)).await,
            Err(PollError::Overlap)
        );
        link.push("x");
        assert_eq!(first.await.unwrap().unwrap(), "x");
        link.push("left over");
        assert_eq!(link.take_for_upgrade(), "left over");
        assert_eq!(
            link.poll(Duration::from_secs(5)).await,
            Err(PollError::Upgraded)
        );
    }

    #[tokio::test]
    async fn the_backlog_is_bounded() {
        let link = link();
        let big = "x".repeat(POLL_BACKLOG / 2);
        assert!(link.push(&big));
        assert!(!link.push(&big), "past the backlog");
    }
}
