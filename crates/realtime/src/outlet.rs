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
//! What the hub hands a connection ([`Feed`]) waits here too, and the body itself applies it
//! to the connection's [`Delivery`] and encodes it when actix-http asks for bytes: a delivery
//! wakes only the task that writes the socket, not the connection's task as well (which would
//! cost a turn of its worker's run queue, behind every other connection of that worker, per
//! delivery). The connection's task shares the delivery state under the same lock for what it
//! writes itself (replays, held messages), so nothing the hub hands over comes between.
//!
//! Backpressure is by bytes: once [`LIMIT`] bytes wait for a client that is not reading, writers
//! wait until the body has taken them, and the hub's items wait in the feed, which is bounded
//! (a full feed is a slow consumer: the hub cuts it). Reading stays with actix-ws's
//! `MessageStream`.
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use actix_codec::Encoder;
use actix_http::ws::{CloseReason, Codec, Message};
use actix_web::body::{BodySize, MessageBody};
use actix_web::web::{Bytes, BytesMut};
use bytestring::ByteString;
use tokio::sync::Notify;

use crate::delivery::Delivery;
use crate::hub::{Kill, Outbound};
use crate::protocol::{self, Frame};

/// How many encoded bytes may wait for the socket before writers wait. Small: behind a client
/// that reads slowly, a deeper buffer only adds memory and latency (at 64 KiB, 2,000 saturated
/// sockets held 128 MiB more than with actix-ws's 32-frame queue).
pub(crate) const LIMIT: usize = 16 * 1024;

/// The first allocation of an empty buffer: room for a few frames before it grows.
const FIRST: usize = 1024;

/// The connection is gone (or closing): nothing more can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// Why [`Feed::try_send_all`] refused what it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrySendError {
    /// The feed has no room for all of it.
    Full,
    /// The connection is gone (or closing).
    Closed,
}

/// What the hub handed the connection and the socket has not taken yet, with the state that
/// decides what of it goes out.
struct FeedState {
    items: VecDeque<Outbound>,
    delivery: Delivery,
    /// The most items waiting, and the most messages held back for a replay.
    capacity: usize,
    kill: Arc<Kill>,
}

impl FeedState {
    /// Applies one item to the delivery state and encodes what goes out.
    fn apply(&mut self, item: Outbound, buf: &mut BytesMut) {
        let out = match item {
            Outbound::Frame(f) => Some(f),
            Outbound::Message {
                room_id,
                seq,
                frame,
            } => self.delivery.live(room_id, seq, frame),
            Outbound::MessageChange {
                room_id,
                seq,
                frame,
            } => self.delivery.change(room_id, seq, frame),
            Outbound::RoomAdded(room) => {
                self.delivery.add_room(room);
                None
            }
            Outbound::RoomRemoved(room) => {
                self.delivery.remove_room(room);
                None
            }
        };
        if let Some(f) = out {
            put_text(buf, &f);
        }
        if self.delivery.held_count() > self.capacity {
            // Held back for a replay that does not come to an end: the task closes.
            self.kill.kill(protocol::CLOSE_TRY_AGAIN_LATER);
        }
    }
}

#[derive(Default)]
struct State {
    buf: BytesMut,
    /// Set once the connection is authenticated and registered with the hub; gone again
    /// once it closes. Boxed: a socket still authenticating keeps one pointer for it.
    feed: Option<Box<FeedState>>,
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

impl State {
    /// Encodes the feed's items into the buffer until it holds [`LIMIT`] bytes; the rest
    /// waits for the next poll. The buffer grows once for the lot.
    fn drain_feed(&mut self) {
        let State { buf, feed, .. } = self;
        let Some(feed) = feed.as_mut() else {
            return;
        };
        if feed.items.is_empty() || buf.len() >= LIMIT {
            return;
        }
        let mut want = 0;
        for item in &feed.items {
            want += item.frame_bytes();
            if buf.len() + want >= LIMIT {
                break;
            }
        }
        buf.reserve(want);
        while buf.len() < LIMIT {
            let Some(item) = feed.items.pop_front() else {
                break;
            };
            feed.apply(item, buf);
        }
        if buf.is_empty() {
            // All held back, or already delivered: an idle connection keeps no buffer.
            *buf = BytesMut::new();
        }
    }

    /// Wakes the body, after the lock is let go.
    fn take_body(&mut self) -> Option<Waker> {
        self.body.take()
    }
}

/// The hub's end of a connection: see the module's doc.
pub(crate) struct Feed {
    shared: Arc<Shared>,
}

impl Feed {
    /// Queues all of `items` for the socket, or none of them when there is no room for all
    /// (or the connection is gone); never waits.
    pub(crate) fn try_send_all<I>(&self, items: I) -> Result<(), TrySendError>
    where
        I: IntoIterator<Item = Outbound>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        let mut s = self.shared.lock();
        if s.gone || s.closing {
            return Err(TrySendError::Closed);
        }
        let Some(feed) = s.feed.as_mut() else {
            return Err(TrySendError::Closed);
        };
        if feed.items.len() + items.len() > feed.capacity {
            return Err(TrySendError::Full);
        }
        feed.items.extend(items);
        let body = s.take_body();
        drop(s);
        if let Some(body) = body {
            body.wake();
        }
        Ok(())
    }
}

/// The writing half, held by the connection task.
pub(crate) struct Outlet {
    shared: Arc<Shared>,
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
    /// Queues a text frame, waiting while [`LIMIT`] bytes are already queued.
    pub(crate) async fn text(&mut self, text: impl Into<ByteString>) -> Result<(), Closed> {
        let text: ByteString = text.into();
        self.write_with(|buf| put_text(buf, &text)).await
    }

    /// Queues a text frame if there is room now; `Ok(false)` when [`LIMIT`] bytes already
    /// wait, and nothing was queued. Takes the text by reference, so the nearly-always case
    /// costs the caller no copy of its frame to keep for a wait.
    pub(crate) fn try_text(&mut self, text: &str) -> Result<bool, Closed> {
        Ok(self.try_put(|buf| put_text(buf, text), false)?.is_none())
    }

    /// Writes `first` (the `ready` frame), then opens the feed that the hub writes through:
    /// nothing the hub hands over goes out before `first`.
    pub(crate) fn start_feed(
        &mut self,
        first: &str,
        delivery: Delivery,
        capacity: usize,
        kill: Arc<Kill>,
    ) -> Result<Feed, Closed> {
        let mut s = self.shared.lock();
        if s.gone || s.closing {
            return Err(Closed);
        }
        put_text(&mut s.buf, first);
        s.feed = Some(Box::new(FeedState {
            items: VecDeque::new(),
            delivery,
            capacity: capacity.max(1),
            kill,
        }));
        let body = s.take_body();
        drop(s);
        if let Some(body) = body {
            body.wake();
        }
        Ok(Feed {
            shared: self.shared.clone(),
        })
    }

    /// Runs `f` on the connection's delivery state and writes the frames it returns, all at
    /// once and in order, past [`LIMIT`] if need be: nothing the hub hands over comes between
    /// (a released message must not be overtaken by a later one of its room). Callers that
    /// write many wait for [`Outlet::room`] afterwards. Without a feed, `f` is not run.
    pub(crate) fn with_delivery(
        &mut self,
        f: impl FnOnce(&mut Delivery) -> Vec<Frame>,
    ) -> Result<(), Closed> {
        let mut s = self.shared.lock();
        if s.gone || s.closing {
            return Err(Closed);
        }
        let State { buf, feed, .. } = &mut *s;
        let Some(feed) = feed.as_mut() else {
            return Ok(());
        };
        let frames = f(&mut feed.delivery);
        if frames.is_empty() {
            return Ok(());
        }
        buf.reserve(frames.iter().map(|f| f.len() + 10).sum());
        for frame in &frames {
            put_text(buf, frame);
        }
        let body = s.take_body();
        drop(s);
        if let Some(body) = body {
            body.wake();
        }
        Ok(())
    }

    /// Waits until fewer than [`LIMIT`] bytes wait for the socket.
    pub(crate) async fn room(&mut self) -> Result<(), Closed> {
        self.write_with(|_| {}).await
    }

    pub(crate) async fn ping(&mut self, payload: &[u8]) -> Result<(), Closed> {
        let msg = Message::Ping(Bytes::copy_from_slice(payload));
        self.write_with(|buf| encode(msg, buf)).await
    }

    pub(crate) async fn pong(&mut self, payload: &[u8]) -> Result<(), Closed> {
        let msg = Message::Pong(Bytes::copy_from_slice(payload));
        self.write_with(|buf| encode(msg, buf)).await
    }

    /// Queues a close frame; the body ends after it. The feed closes first: nothing the hub
    /// hands over may follow the close frame.
    pub(crate) async fn close(mut self, reason: Option<CloseReason>) -> Result<(), Closed> {
        self.shared.lock().feed = None;
        let written = self
            .write_with(|buf| encode(Message::Close(reason), buf))
            .await;
        self.shared.lock().closing = true;
        written
    }

    async fn write_with(&mut self, put: impl FnOnce(&mut BytesMut)) -> Result<(), Closed> {
        let mut put = put;
        loop {
            // Created before the check, so a wake-up between the check and the wait is kept.
            let room = self.shared.room.notified();
            match self.try_put(put, true)? {
                None => return Ok(()),
                Some(back) => put = back,
            }
            room.await;
        }
    }

    /// Runs `put` on the buffer if it holds less than [`LIMIT`]; otherwise hands `put` back
    /// (and, when the caller will wait, asks the body to wake writers once it takes the bytes).
    fn try_put<F: FnOnce(&mut BytesMut)>(
        &self,
        put: F,
        will_wait: bool,
    ) -> Result<Option<F>, Closed> {
        let mut s = self.shared.lock();
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
        s.feed = None;
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
        if !s.closing && !s.gone {
            s.drain_feed();
        }
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
        s.feed = None;
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

    fn texts(bytes: Bytes) -> Vec<String> {
        frames(bytes)
            .into_iter()
            .map(|f| match f {
                Frame::Text(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn message(room_id: i64, seq: i64) -> Outbound {
        Outbound::Message {
            room_id,
            seq,
            frame: format!("{room_id}:{seq}").into(),
        }
    }

    #[test]
    fn the_feed_goes_out_after_ready_in_order_in_one_chunk() {
        let (mut outlet, mut body) = outlet();
        let feed = outlet
            .start_feed("ready", Delivery::new([1, 2], false), 64, Arc::default())
            .unwrap();
        feed.try_send_all(
            (1..=20)
                .map(|seq| message(1 + seq % 2, seq))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        feed.try_send_all([Outbound::Frame("presence".into())])
            .unwrap();
        let mut want = vec!["ready".to_string()];
        want.extend((1..=20).map(|seq| format!("{}:{seq}", 1 + seq % 2)));
        want.push("presence".into());
        assert_eq!(texts(take(&mut body).unwrap().unwrap()), want);
        assert_eq!(outlet.shared.lock().buf.capacity(), 0, "taken whole");
        assert!(take(&mut body).is_none(), "then pending");

        // Already delivered: nothing goes out, and no buffer is kept for it.
        feed.try_send_all([message(1, 20)]).unwrap();
        assert!(take(&mut body).is_none());
        assert_eq!(outlet.shared.lock().buf.capacity(), 0);
    }

    #[test]
    fn held_messages_go_out_when_released_before_later_ones() {
        let (mut outlet, mut body) = outlet();
        let feed = outlet
            .start_feed("ready", Delivery::new([7], true), 64, Arc::default())
            .unwrap();
        feed.try_send_all([message(7, 5), message(7, 6)]).unwrap();
        assert_eq!(
            texts(take(&mut body).unwrap().unwrap()),
            ["ready"],
            "held for the client's sync"
        );
        // The replay up to 4, then what was held, written at once by the connection's task.
        outlet
            .with_delivery(|d| {
                d.hold(7, 2);
                let mut out: Vec<protocol::Frame> = (3..=4)
                    .filter_map(|seq| d.replayed(7, seq, format!("7:{seq}").into()))
                    .collect();
                out.extend(d.release(7));
                out
            })
            .unwrap();
        feed.try_send_all([message(7, 7)]).unwrap();
        assert_eq!(
            texts(take(&mut body).unwrap().unwrap()),
            ["7:3", "7:4", "7:5", "7:6", "7:7"]
        );
    }

    #[test]
    fn a_full_feed_takes_nothing_and_a_closed_one_refuses() {
        let (mut outlet, mut body) = outlet();
        let feed = outlet
            .start_feed("ready", Delivery::new([1], false), 2, Arc::default())
            .unwrap();
        assert_eq!(
            feed.try_send_all([message(1, 1), message(1, 2), message(1, 3)]),
            Err(TrySendError::Full)
        );
        feed.try_send_all([message(1, 1), message(1, 2)]).unwrap();
        assert_eq!(feed.try_send_all([message(1, 3)]), Err(TrySendError::Full));
        assert_eq!(
            texts(take(&mut body).unwrap().unwrap()),
            ["ready", "1:1", "1:2"],
            "the refused batch left nothing behind"
        );
        feed.try_send_all([message(1, 3)]).unwrap();
        drop(body);
        assert_eq!(
            feed.try_send_all([message(1, 4)]),
            Err(TrySendError::Closed)
        );
    }

    #[tokio::test]
    async fn nothing_fed_follows_the_close_frame() {
        let (mut outlet, mut body) = outlet();
        let feed = outlet
            .start_feed("ready", Delivery::new([1], false), 8, Arc::default())
            .unwrap();
        feed.try_send_all([message(1, 1)]).unwrap();
        outlet.close(None).await.unwrap();
        assert_eq!(
            feed.try_send_all([message(1, 2)]),
            Err(TrySendError::Closed)
        );
        let got = frames(take(&mut body).unwrap().unwrap());
        assert!(
            matches!(&got[..], [Frame::Text(r), Frame::Close(None)] if &r[..] == b"ready"),
            "{got:?}"
        );
        assert_eq!(take(&mut body), Some(None));
    }

    #[test]
    fn holding_more_than_the_feed_holds_closes_the_connection() {
        let (mut outlet, mut body) = outlet();
        let kill = Arc::new(Kill::default());
        let feed = outlet
            .start_feed("ready", Delivery::new([1], true), 2, kill.clone())
            .unwrap();
        for seq in 1..=2 {
            feed.try_send_all([message(1, seq)]).unwrap();
        }
        take(&mut body);
        assert!(kill.wait().now_or_never().is_none(), "two held: still open");
        feed.try_send_all([message(1, 3)]).unwrap();
        assert!(take(&mut body).is_none(), "held, nothing written");
        assert_eq!(
            kill.wait().now_or_never(),
            Some(protocol::CLOSE_TRY_AGAIN_LATER)
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
