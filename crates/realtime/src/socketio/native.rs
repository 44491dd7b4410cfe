//! The native connection behind a Socket.IO socket: started in-process, fed the client's
//! frames through a channel, read back from its outlet as the WebSocket frames it wrote.
use std::collections::VecDeque;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_http::ws::{OpCode, ProtocolError};
use actix_web::body::MessageBody;
use actix_web::web::{Bytes, BytesMut};
use actix_ws::AggregatedMessage;
use engineioxide_core::Sid;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::connection;
use crate::outlet::{self, Outlet, OutletBody};
use crate::protocol::{Dialect, Frame, Rendered};
use crate::shared::Shared;
use crate::socketio::translate;
use crate::socketio::wire;

/// What a native connection reads.
type Read = Result<AggregatedMessage, ProtocolError>;

pub(crate) struct Native {
    to_conn: mpsc::Sender<Read>,
    from_conn: OutletBody,
    /// Bytes of frames not yet whole.
    buf: BytesMut,
    dialect: Arc<SocketDialect>,
}

/// One socket's dialect: Socket.IO, and the connect's answer (`40{sid}`) written just before
/// `ready`, so a refused connection never looks connected.
struct SocketDialect {
    ready: AtomicBool,
}

impl Dialect for SocketDialect {
    fn render(&self, frame: &Frame) -> Rendered {
        let frame = translate::render(frame);
        let before = match &frame {
            // The flag first: after `ready`, one load per frame, not a comparison.
            Some(packet)
                if !self.ready.load(Ordering::Acquire)
                    && packet.starts_with("42[\"ready\",")
                    && !self.ready.swap(true, Ordering::AcqRel) =>
            {
                Some(Frame::from(wire::connected(&Sid::new().to_string())))
            }
            _ => None,
        };
        Rendered { before, frame }
    }
}

/// One WebSocket frame in a run of them: where it is, and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub opcode: OpCode,
    pub start: usize,
    pub end: usize,
    pub payload: Range<usize>,
}

impl Native {
    /// Starts a native connection for `token`, speaking Socket.IO, on this thread. With
    /// `text_to` (the client's WebSocket), it writes its events straight there, and this
    /// session reads only its pings and its close; without, everything comes through here.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        token: String,
        queue: usize,
        text_to: Option<&Outlet>,
    ) -> Self {
        let (mut outlet, from_conn) = outlet::outlet();
        if let Some(to) = text_to {
            outlet.send_text_to(to);
        }
        let (to_conn, feed) = mpsc::channel(queue);
        let dialect = Arc::new(SocketDialect {
            ready: AtomicBool::new(false),
        });
        actix_web::rt::spawn(connection::run(
            shared.clone(),
            outlet,
            Feed(feed),
            Some(token),
            Some(dialect.clone()),
        ));
        Self {
            to_conn,
            from_conn,
            buf: BytesMut::new(),
            dialect,
        }
    }

    /// `ready` was written: the Socket.IO connect was answered.
    pub(crate) fn ready(&self) -> bool {
        self.dialect.ready.load(Ordering::Acquire)
    }

    /// Adds what the connection wrote; returns its whole frames (the rest waits for more).
    pub(crate) fn take_frames(&mut self, chunk: Bytes) -> (Bytes, Vec<Span>) {
        if self.buf.is_empty() {
            // The outlet hands over its whole buffer: taken as it is, not copied.
            self.buf = BytesMut::from(chunk);
        } else {
            self.buf.extend_from_slice(&chunk);
        }
        let spans = spans(&self.buf);
        let whole = spans.last().map_or(0, |s| s.end);
        (self.buf.split_to(whole).freeze(), spans)
    }
}

/// The whole frames at the start of `buf`, as an outlet writes them (unmasked, final).
fn spans(buf: &[u8]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(span) = frame_at(buf, at) {
        at = span.end;
        spans.push(span);
    }
    spans
}

fn frame_at(buf: &[u8], at: usize) -> Option<Span> {
    let head = buf.get(at..)?;
    let (&b0, &b1) = (head.first()?, head.get(1)?);
    let (len, mut header) = match b1 & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes([*head.get(2)?, *head.get(3)?])),
            4,
        ),
        127 => {
            let mut word = [0u8; 8];
            word.copy_from_slice(head.get(2..10)?);
            (u64::from_be_bytes(word), 10)
        }
        n => (u64::from(n), 2),
    };
    if b1 & 0x80 != 0 {
        header += 4;
    }
    let start = at;
    let payload_start = at + header;
    let end = payload_start.checked_add(usize::try_from(len).ok()?)?;
    if end > buf.len() {
        return None;
    }
    Some(Span {
        opcode: OpCode::from(b0 & 0x0f),
        start,
        end,
        payload: payload_start..end,
    })
}

/// The native connection's reads: frames the session passes on.
struct Feed(mpsc::Receiver<Read>);

impl Stream for Feed {
    type Item = Read;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// What happened between a session and its native connection.
pub(crate) enum NativeIo {
    /// Bytes of frames it wrote; `None` once it ended.
    Read(Option<Bytes>),
    /// A held client frame was passed on.
    Fed,
}

/// Reads what the native connection wrote and, once it has room, passes it the oldest held
/// client frame; never ends while there is no native connection.
pub(crate) async fn native_io(
    native: &mut Option<Native>,
    pending: &mut VecDeque<AggregatedMessage>,
) -> NativeIo {
    let Some(n) = native else {
        return std::future::pending().await;
    };
    let body = &mut n.from_conn;
    let read = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx));
    tokio::select! {
        chunk = read => NativeIo::Read(chunk.and_then(Result::ok)),
        permit = n.to_conn.reserve(), if !pending.is_empty() => {
            match permit {
                Ok(permit) => {
                    if let Some(msg) = pending.pop_front() {
                        permit.send(Ok(msg));
                    }
                }
                // It stopped reading: its close frame is on the way, and says why.
                Err(_) => pending.clear(),
            }
            NativeIo::Fed
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_codec::Encoder;
    use actix_http::ws::{Codec, Message};

    use super::*;

    fn encoded(messages: Vec<Message>) -> BytesMut {
        let mut codec = Codec::new();
        let mut buf = BytesMut::new();
        for m in messages {
            codec.encode(m, &mut buf).unwrap();
        }
        buf
    }

    #[test]
    fn the_connect_answer_comes_once_just_before_ready() {
        let dialect = SocketDialect {
            ready: AtomicBool::new(false),
        };
        let typing = Frame::from(r#"{"type":"typing","room_id":3,"user_id":2}"#.to_owned());
        let before = dialect.render(&typing);
        assert_eq!(before.before, None);
        assert!(!dialect.ready.load(Ordering::Acquire));
        let ready = Frame::from(r#"{"type":"ready","user":{"id":1},"rooms":[]}"#.to_owned());
        let first = dialect.render(&ready);
        let connect = first.before.expect("the connect's answer");
        assert!(connect.starts_with("40{\"sid\":\""), "{connect}");
        assert!(first.frame.unwrap().starts_with("42[\"ready\","));
        assert!(dialect.ready.load(Ordering::Acquire));
        assert_eq!(dialect.render(&ready).before, None, "once");
        assert_eq!(dialect.render(&typing).before, None);
    }

    #[test]
    fn whole_frames_of_every_length_are_found_and_a_partial_one_waits() {
        let long = "x".repeat(300);
        let huge = "y".repeat(70_000);
        let buf = encoded(vec![
            Message::Text("a".into()),
            Message::Ping(Bytes::from_static(b"p")),
            Message::Text(long.clone().into()),
            Message::Text(huge.clone().into()),
            Message::Close(None),
        ]);
        let found = spans(&buf);
        let kinds: Vec<OpCode> = found.iter().map(|s| s.opcode).collect();
        assert_eq!(
            kinds,
            [
                OpCode::Text,
                OpCode::Ping,
                OpCode::Text,
                OpCode::Text,
                OpCode::Close
            ]
        );
        assert_eq!(&buf[found[0].payload.clone()], b"a");
        assert_eq!(&buf[found[2].payload.clone()], long.as_bytes());
        assert_eq!(&buf[found[3].payload.clone()], huge.as_bytes());
        assert_eq!(found[4].end, buf.len());
        // Cut anywhere inside the last frame: only the frames before it are whole.
        for cut in [found[3].start + 1, found[3].start + 5, found[3].end - 1] {
            assert_eq!(spans(&buf[..cut]).len(), 3, "cut at {cut}");
        }
    }
}
