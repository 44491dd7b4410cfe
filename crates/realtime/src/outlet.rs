//! A connection's outgoing side: frames are encoded straight into the buffer that the
//! response body hands to actix-http, which writes it to the socket.
//!
//! actix-ws's `Session` does the same through a bounded Tokio channel of messages: a
//! semaphore, a channel slot and a wake-up per frame, plus the channel's shared state and a
//! first block of 32 slots (about 2 KiB) allocated for every socket as long as it is open. Here
//! a frame costs one lock and one copy into the buffer, and an idle socket holds nothing but
//! the shared state. The body hands over everything written since its last poll as one chunk
//! (one socket write for a burst).
//!
//! Backpressure is by bytes: once [`LIMIT`] bytes wait for a client that is not reading, writers
//! wait until the body has taken them. Reading stays with actix-ws's `MessageStream`.
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use actix_codec::Encoder;
use actix_http::ws::{CloseReason, Codec, Message};
use actix_web::body::{BodySize, MessageBody};
use actix_web::web::{Bytes, BytesMut};
use tokio::sync::Notify;

/// How many encoded bytes may wait for the socket before writers wait. Small: behind a client
/// that reads slowly, a deeper buffer only adds memory and latency (at 64 KiB, 2,000 saturated
/// sockets held 128 MiB more than with actix-ws's 32-frame queue).
pub(crate) const LIMIT: usize = 16 * 1024;

/// The first allocation of an empty buffer: room for a few frames before it grows.
const FIRST: usize = 1024;

/// The connection is gone (or closing): nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

#[derive(Default)]
struct State {
    buf: BytesMut,
    /// A close frame is queued, or the writer is gone: the body ends once `buf` is taken.
    closing: bool,
    /// The body was dropped: the socket is gone.
    gone: bool,
    /// The body's task, waiting for bytes.
    body: Option<Waker>,
    /// A writer waits for `buf` to shrink below [`LIMIT`].
    writer_waiting: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes writers waiting for room.
    room: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; the state is consistent either way.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writing half, held by the connection task.
pub(crate) struct Outlet {
    shared: Arc<Shared>,
    /// Set: text frames go to this other outlet's buffer (a Socket.IO client's socket), while
    /// control frames (pings, the close) stay in this one's, for the task that reads it.
    text_to: Option<Arc<Shared>>,
}

/// The response body: what actix-http writes to the socket.
pub(crate) struct OutletBody {
    shared: Arc<Shared>,
}

/// A connected pair.
pub(crate) fn outlet() -> (Outlet, OutletBody) {
    let shared = Arc::new(Shared::default());
    (
        Outlet {
            shared: shared.clone(),
            text_to: None,
        },
        OutletBody { shared },
    )
}

/// RFC 6455 frame header of a final, unmasked (server-to-client) frame.
fn put_header(buf: &mut BytesMut, opcode: u8, len: usize) {
    let need = len + 10;
    if buf.capacity() - buf.len() < need {
        buf.reserve(need.max(FIRST));
    }
    buf.extend_from_slice(&[0x80 | opcode]);
    if len < 126 {
        buf.extend_from_slice(&[len as u8]);
    } else if let Ok(len) = u16::try_from(len) {
        buf.extend_from_slice(&[126]);
        buf.extend_from_slice(&len.to_be_bytes());
    } else {
        buf.extend_from_slice(&[127]);
        buf.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

const OP_TEXT: u8 = 0x1;

impl Outlet {
    /// Sends this outlet's text frames to `to`'s socket from now on; its control frames stay.
    /// A Socket.IO session's native connection writes its events straight into the client's
    /// WebSocket this way, while the session reads the pings and the close it writes.
    pub(crate) fn send_text_to(&mut self, to: &Outlet) {
        self.text_to = Some(to.shared.clone());
    }

    /// Where text frames go.
    fn text_target(&self) -> &Arc<Shared> {
        self.text_to.as_ref().unwrap_or(&self.shared)
    }

    /// Queues a text frame, waiting while [`LIMIT`] bytes are already queued.
    pub(crate) async fn text(&mut self, text: impl AsRef<str>) -> Result<(), Closed> {
        write_with(self.text_target(), |buf| put_text(buf, text.as_ref())).await
    }

    /// Queues a text frame if there is room now; `Ok(false)` when [`LIMIT`] bytes already
    /// wait, and nothing was queued. Takes the text by reference, so the nearly-always case
    /// costs the caller no copy of its frame to keep for a wait.
    pub(crate) fn try_text(&mut self, text: &str) -> Result<bool, Closed> {
        Ok(try_put(self.text_target(), |buf| put_text(buf, text), false)?.is_none())
    }

    /// Queues frames another writer already encoded (a burst of them at once) if there is
    /// room now; `Ok(false)` when [`LIMIT`] bytes already wait, and nothing was queued.
    pub(crate) fn try_raw(&mut self, frames: &[u8]) -> Result<bool, Closed> {
        Ok(try_put(&self.shared, |buf| buf.extend_from_slice(frames), false)?.is_none())
    }

    /// Queues encoded frames, waiting while [`LIMIT`] bytes are already queued.
    pub(crate) async fn raw(&mut self, frames: Bytes) -> Result<(), Closed> {
        write_with(&self.shared, |buf| buf.extend_from_slice(&frames)).await
    }

    /// Makes room for about `bytes` of frames about to be written, so that a burst grows the
    /// buffer once instead of doubling it (and copying what it holds) frame by frame.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        let mut s = self.text_target().lock();
        if !s.gone && !s.closing && s.buf.len() < LIMIT {
            s.buf.reserve(bytes.min(LIMIT));
        }
    }

    /// Lets go of a reservation that nothing was written into (the burst was held back, or
    /// dropped as already delivered), so that an idle connection keeps no buffer.
    pub(crate) fn release_unused(&mut self) {
        let mut s = self.text_target().lock();
        if s.buf.is_empty() && s.buf.capacity() > 0 {
            s.buf = BytesMut::new();
        }
    }

    pub(crate) async fn ping(&mut self, payload: &[u8]) -> Result<(), Closed> {
        let msg = Message::Ping(Bytes::copy_from_slice(payload));
        write_with(&self.shared, |buf| encode(msg, buf)).await
    }

    pub(crate) async fn pong(&mut self, payload: &[u8]) -> Result<(), Closed> {
        let msg = Message::Pong(Bytes::copy_from_slice(payload));
        write_with(&self.shared, |buf| encode(msg, buf)).await
    }

    /// Queues a close frame; the body ends after it.
    pub(crate) async fn close(self, reason: Option<CloseReason>) -> Result<(), Closed> {
        let written = write_with(&self.shared, |buf| encode(Message::Close(reason), buf)).await;
        self.shared.lock().closing = true;
        written
    }
}

async fn write_with(shared: &Shared, put: impl FnOnce(&mut BytesMut)) -> Result<(), Closed> {
    let mut put = put;
    loop {
        // Created before the check, so a wake-up between the check and the wait is kept.
        let room = shared.room.notified();
        match try_put(shared, put, true)? {
            None => return Ok(()),
            Some(back) => put = back,
        }
        room.await;
    }
}

/// Runs `put` on the buffer if it holds less than [`LIMIT`]; otherwise hands `put` back
/// (and, when the caller will wait, asks the body to wake writers once it takes the bytes).
fn try_put<F: FnOnce(&mut BytesMut)>(
    shared: &Shared,
    put: F,
    will_wait: bool,
) -> Result<Option<F>, Closed> {
    let mut s = shared.lock();
    if s.gone || s.closing {
        return Err(Closed);
    }
    if s.buf.len() < LIMIT {
        put(&mut s.buf);
        if let Some(body) = s.body.take() {
            body.wake();
        }
        return Ok(None);
    }
    s.writer_waiting |= will_wait;
    Ok(Some(put))
}

fn put_text(buf: &mut BytesMut, text: &str) {
    put_header(buf, OP_TEXT, text.len());
    buf.extend_from_slice(text.as_bytes());
}

/// Control frames, through actix-http's own encoder.
fn encode(msg: Message, buf: &mut BytesMut) {
    let mut codec = Codec::new();
    if let Err(e) = codec.encode(msg, buf) {
        tracing::debug!(error = %e, "could not encode a control frame");
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.closing = true;
        if let Some(body) = s.body.take() {
            body.wake();
        }
    }
}

impl MessageBody for OutletBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let mut s = self.shared.lock();
        if !s.buf.is_empty() {
            // The whole buffer goes: an idle socket keeps no allocation.
            let chunk = std::mem::take(&mut s.buf).freeze();
            if std::mem::take(&mut s.writer_waiting) {
                self.shared.room.notify_waiters();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if s.closing {
            return Poll::Ready(None);
        }
        if !s.body.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.body = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for OutletBody {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.gone = true;
        s.buf = BytesMut::new();
        drop(s);
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use actix_codec::Decoder;
    use actix_http::ws::{CloseCode, Frame};
    use futures_util::FutureExt;

    use super::*;

    /// The next chunk the body would hand to actix-http, if any.
    fn take(body: &mut OutletBody) -> Option<Option<Bytes>> {
        poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_next(cx)))
            .now_or_never()
            .and_then(|p| match p {
                Poll::Ready(r) => Some(r.map(|c| c.unwrap_or_else(|e| match e {}))),
                Poll::Pending => None,
            })
    }

    /// Decodes every frame in `bytes` as a client would.
    fn frames(bytes: Bytes) -> Vec<Frame> {
        let mut codec = Codec::new().client_mode().max_size(1 << 20);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        assert!(buf.is_empty(), "trailing bytes");
        out
    }

    #[tokio::test]
    async fn frames_of_every_length_class_decode_as_sent() {
        let (mut outlet, mut body) = outlet();
        assert!(take(&mut body).is_none(), "nothing written yet: pending");
        let texts: Vec<String> = [0, 125, 126, 65_535, 65_536]
            .iter()
            .map(|&n| "é".repeat(n / 2) + &"x".repeat(n % 2))
            .collect();
        for t in &texts {
            outlet.text(t.clone()).await.unwrap();
            let chunk = take(&mut body).unwrap().unwrap();
            match frames(chunk).as_slice() {
                [Frame::Text(b)] => assert_eq!(b, t.as_bytes()),
                other => panic!("{} bytes: {other:?}", t.len()),
            }
        }
        // Several writes between two polls go out as one chunk, in order.
        outlet.text("a").await.unwrap();
        outlet.ping(b"p").await.unwrap();
        outlet.pong(b"q").await.unwrap();
        let reason = CloseReason {
            code: CloseCode::Policy,
            description: Some("bye".into()),
        };
        outlet.close(Some(reason.clone())).await.unwrap();
        let got = frames(take(&mut body).unwrap().unwrap());
        assert!(
            matches!(&got[..], [Frame::Text(a), Frame::Ping(p), Frame::Pong(q), Frame::Close(Some(r))]
            if &a[..] == b"a" && &p[..] == b"p" && &q[..] == b"q" && *r == reason)
        );
        assert_eq!(
            take(&mut body),
            Some(None),
            "the body ends after the close frame"
        );
    }

    #[test]
    fn a_reserved_burst_grows_the_buffer_once() {
        let (mut outlet, mut body) = outlet();
        let texts: Vec<String> = (0..20)
            .map(|i| format!("{i}:{}", "m".repeat(200)))
            .collect();
        outlet.reserve(texts.iter().map(|t| t.len() + 10).sum());
        let reserved = outlet.shared.lock().buf.capacity();
        for t in &texts {
            assert_eq!(outlet.try_text(t), Ok(true));
        }
        assert_eq!(outlet.shared.lock().buf.capacity(), reserved, "no regrowth");
        let got = frames(take(&mut body).unwrap().unwrap());
        let got: Vec<&[u8]> = got
            .iter()
            .map(|f| match f {
                Frame::Text(b) => &b[..],
                other => panic!("{other:?}"),
            })
            .collect();
        let sent: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        assert_eq!(got, sent);
        assert_eq!(
            outlet.shared.lock().buf.capacity(),
            0,
            "taken whole: nothing kept"
        );

        outlet.reserve(4000);
        outlet.release_unused();
        assert_eq!(
            outlet.shared.lock().buf.capacity(),
            0,
            "nothing written: let go"
        );
        outlet.reserve(4000);
        assert_eq!(outlet.try_text("kept"), Ok(true));
        outlet.release_unused();
        assert!(
            outlet.shared.lock().buf.capacity() >= 4000,
            "bytes wait: kept"
        );
    }

    #[tokio::test]
    async fn a_writer_waits_while_the_client_does_not_read() {
        let (mut outlet, mut body) = outlet();
        let frame = "x".repeat(1000);
        let mut written = 0;
        while outlet.text(frame.clone()).now_or_never().is_some() {
            written += 1;
            assert!(written < 1000, "the limit never applied");
        }
        assert_eq!(written, LIMIT.div_ceil(1004));
        assert_eq!(outlet.try_text("more"), Ok(false), "full: nothing queued");
        let waiting = tokio::spawn(async move {
            outlet.text("after").await.unwrap();
            outlet
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let first = take(&mut body).unwrap().unwrap();
        assert_eq!(frames(first).len(), written);
        let _outlet = waiting.await.unwrap();
        match frames(take(&mut body).unwrap().unwrap()).as_slice() {
            [Frame::Text(b)] => assert_eq!(&b[..], b"after"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn writes_fail_once_the_socket_is_gone_and_the_body_ends_with_its_writer() {
        let (mut outlet, body) = outlet();
        drop(body);
        assert_eq!(outlet.text("late").await, Err(Closed));
        assert_eq!(outlet.try_text("late"), Err(Closed));
        let (outlet, mut body) = super::outlet();
        drop(outlet);
        assert_eq!(take(&mut body), Some(None));
    }
}
