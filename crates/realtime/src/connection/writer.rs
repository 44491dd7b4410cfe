//! A connection's writes, with the rule for a client that stops reading: a frame waits for
//! room in the outlet for at most the client timeout, then the client is cut (1013) and
//! reconnects and syncs. The hub may cut it meanwhile too; a write never outlives either.
use std::sync::Arc;
use std::time::Duration;

use crate::connection::end::{End, Step};
use crate::link::Kill;
use crate::outlet::Outlet;
use crate::protocol::{self, Dialect, Frame};

pub(crate) struct Writer {
    session: Outlet,
    kill: Arc<Kill>,
    client_timeout: Duration,
    /// Set: frames are rendered in this dialect as they are written.
    dialect: Option<Arc<dyn Dialect>>,
}

impl Writer {
    pub(crate) fn new(session: Outlet, kill: Arc<Kill>, client_timeout: Duration) -> Self {
        Self {
            session,
            kill,
            client_timeout,
            dialect: None,
        }
    }

    /// Writes every frame in `dialect` instead of the native protocol.
    pub(crate) fn speaking(mut self, dialect: Option<Arc<dyn Dialect>>) -> Self {
        self.dialect = dialect;
        self
    }

    /// The switch the hub cuts this connection with.
    pub(crate) fn kill(&self) -> &Arc<Kill> {
        &self.kill
    }

    /// The outlet, for the closing frame.
    pub(crate) fn into_outlet(self) -> Outlet {
        self.session
    }

    /// Writes a frame, giving up on a client that stops reading for the client timeout, or
    /// when the hub cuts the connection meanwhile.
    pub(crate) async fn write(&mut self, frame: impl Into<Frame>) -> Step {
        let frame: Frame = frame.into();
        match &self.dialect {
            None => self.write_one(frame).await,
            Some(dialect) => {
                let rendered = dialect.render(&frame);
                if let Some(before) = rendered.before {
                    self.write_one(before).await?;
                }
                match rendered.frame {
                    Some(frame) => self.write_one(frame).await,
                    None => Ok(()),
                }
            }
        }
    }

    async fn write_one(&mut self, frame: Frame) -> Step {
        // Nearly always the outlet has room: written at once, with no timer, no waiter and no
        // copy of the frame set up for a wait. Frames queued together go out in one socket
        // write.
        match self.session.try_text(&frame) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_closed) => return Err(End::PeerGone),
        }
        // Boxed: rare, and inline its timer and waits would make every connection's future
        // larger for as long as it is open.
        Box::pin(self.write_waiting(frame)).await
    }

    /// [`Self::write`] when the outlet is full: the client is not reading.
    async fn write_waiting(&mut self, frame: Frame) -> Step {
        tokio::select! {
            biased;
            r = tokio::time::timeout(self.client_timeout, self.session.text(frame)) => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_closed)) => Err(End::PeerGone),
                Err(_) => Err(End::Close(protocol::CLOSE_TRY_AGAIN_LATER, "too slow: reconnect and sync")),
            },
            code = self.kill.wait() => Err(End::Close(code, "too slow: reconnect and sync")),
        }
    }

    pub(crate) async fn write_all(&mut self, frames: Vec<Frame>) -> Step {
        for f in frames {
            self.write(f).await?;
        }
        Ok(())
    }

    /// Answers a ping; a peer gone meanwhile shows on the next read.
    pub(crate) async fn pong(&mut self, payload: &[u8]) {
        let _ = self.session.pong(payload).await;
    }

    pub(crate) async fn ping(&mut self) -> Step {
        self.session
            .ping(b"")
            .await
            .map_err(|_closed| End::PeerGone)
    }

    /// See [`Outlet::reserve`].
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.session.reserve(bytes);
    }

    /// See [`Outlet::release_unused`].
    pub(crate) fn release_unused(&mut self) {
        self.session.release_unused();
    }
}

#[cfg(test)]
mod tests {
    use actix_http::ws::Frame as WsFrame;

    use super::*;
    use crate::connection::testing::written;
    use crate::outlet::{outlet, LIMIT};

    fn writer(timeout_ms: u64) -> (Writer, crate::outlet::OutletBody) {
        let (session, body) = outlet();
        let w = Writer::new(
            session,
            Arc::new(Kill::default()),
            Duration::from_millis(timeout_ms),
        );
        (w, body)
    }

    /// Fills the outlet up to its limit, as a client that does not read leaves it.
    async fn fill(w: &mut Writer) {
        let big = "x".repeat(LIMIT);
        w.write(big).await.unwrap();
    }

    #[tokio::test]
    async fn frames_go_out_in_order() {
        let (mut w, mut body) = writer(1000);
        w.write("a").await.unwrap();
        w.write_all(vec!["b".into(), "c".into()]).await.unwrap();
        w.ping().await.unwrap();
        w.pong(b"p").await;
        let got = written(&mut body);
        let texts: Vec<String> = got
            .iter()
            .map(|f| match f {
                WsFrame::Text(b) => String::from_utf8(b.to_vec()).unwrap(),
                WsFrame::Ping(_) => "ping".into(),
                WsFrame::Pong(p) => format!("pong {}", String::from_utf8_lossy(p)),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["a", "b", "c", "ping", "pong p"]);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_after_the_timeout() {
        let (mut w, _body) = writer(50);
        fill(&mut w).await;
        let started = std::time::Instant::now();
        assert_eq!(
            w.write("more").await,
            Err(End::Close(1013, "too slow: reconnect and sync"))
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_blocked_write_ends_when_the_hub_cuts_the_connection() {
        let (mut w, _body) = writer(60_000);
        fill(&mut w).await;
        let kill = w.kill().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            kill.kill(1013);
        });
        assert_eq!(
            w.write("more").await,
            Err(End::Close(1013, "too slow: reconnect and sync"))
        );
    }

    #[tokio::test]
    async fn a_waiting_write_goes_out_once_the_client_reads() {
        let (mut w, mut body) = writer(60_000);
        fill(&mut w).await;
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let first = written(&mut body);
            (first, body)
        });
        w.write("after").await.unwrap();
        let (first, mut body) = reader.await.unwrap();
        assert_eq!(first.len(), 1);
        assert!(matches!(&written(&mut body)[..], [WsFrame::Text(b)] if &b[..] == b"after"));
    }

    #[tokio::test]
    async fn writes_to_a_vanished_peer_end_the_connection() {
        let (mut w, body) = writer(1000);
        drop(body);
        assert_eq!(w.write("late").await, Err(End::PeerGone));
        assert_eq!(w.ping().await, Err(End::PeerGone));
    }
}
