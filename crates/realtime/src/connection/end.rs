//! How a socket ends, and the closing frame that says so. Every way out of a connection is an
//! [`End`], decided where the reason is known and written in one place, so close codes and
//! the waits for a closing handshake cannot drift between the set-up and the loop.
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use futures_util::Stream;

use crate::outlet::Outlet;
use crate::protocol;

/// What a connection reads: actix-ws's aggregated messages (a test feeds its own).
pub(crate) trait ClientStream:
    Stream<Item = Result<AggregatedMessage, ProtocolError>> + Unpin
{
}

impl<S> ClientStream for S where S: Stream<Item = Result<AggregatedMessage, ProtocolError>> + Unpin {}

/// How the connection ends.
#[derive(Debug, PartialEq)]
pub(crate) enum End {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The peer vanished; nothing more to send but the closing handshake.
    PeerGone,
    /// The peer sent a close frame: answered at once, echoing its code (RFC 6455, 5.5.1).
    PeerClosed(Option<CloseReason>),
}

/// A step of the connection: go on, or end.
pub(crate) type Step = Result<(), End>;

/// A broken read: too large, or not WebSocket.
pub(crate) fn protocol_end(e: &ProtocolError) -> End {
    match e {
        ProtocolError::Overflow => End::Close(protocol::CLOSE_TOO_BIG, "frame too large"),
        ProtocolError::Io(io) if io.to_string().contains("maximum continuation size") => {
            End::Close(protocol::CLOSE_TOO_BIG, "message too large")
        }
        _ => End::Close(protocol::CLOSE_PROTOCOL_ERROR, "protocol error"),
    }
}

/// Closes a socket that was open: a slow client (1013) gets as long to take its close frame as
/// it would to take any frame; a vanished peer gets a bare close frame.
pub(crate) async fn finish(session: Outlet, end: End, client_timeout: Duration) {
    match end {
        End::Close(code, reason) => {
            let wait = if code == protocol::CLOSE_TRY_AGAIN_LATER {
                client_timeout
            } else {
                Duration::from_secs(2)
            };
            close(session, code, reason, wait).await;
        }
        End::PeerGone => {
            let closing = tokio::time::timeout(Duration::from_secs(1), session.close(None));
            let _ = Box::pin(closing).await;
        }
        End::PeerClosed(theirs) => echo(session, theirs).await,
    }
}

/// Closes a socket refused during its set-up. A vanished peer gets nothing: the outlet is
/// dropped, which ends the response.
pub(crate) async fn refuse(session: Outlet, end: End) {
    match end {
        End::Close(code, reason) => close(session, code, reason, Duration::from_secs(2)).await,
        End::PeerGone => {}
        End::PeerClosed(theirs) => echo(session, theirs).await,
    }
}

/// The answer to a peer's close frame: its own code, or none when it gave none.
fn echo(session: Outlet, theirs: Option<CloseReason>) -> Pin<Box<impl Future<Output = ()>>> {
    let reply = theirs.map(|r| CloseReason {
        code: r.code,
        description: None,
    });
    Box::pin(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), session.close(reply)).await;
    })
}

/// Boxed, like every wait that is rare or brief: a connection's future is as large as the
/// largest wait it contains, and keeps that size for as long as the socket is open.
pub(crate) fn close(
    session: Outlet,
    code: u16,
    reason: &str,
    wait: Duration,
) -> Pin<Box<impl Future<Output = ()>>> {
    let reason = CloseReason {
        code: CloseCode::from(code),
        description: Some(reason.to_owned()),
    };
    Box::pin(async move {
        let _ = tokio::time::timeout(wait, session.close(Some(reason))).await;
    })
}

#[cfg(test)]
mod tests {
    use actix_http::ws::Frame;

    use super::*;
    use crate::connection::testing::written;
    use crate::outlet::outlet;

    fn closed_with(end: End, refused: bool) -> Vec<Frame> {
        let (session, mut body) = outlet();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            if refused {
                refuse(session, end).await;
            } else {
                finish(session, end, Duration::from_secs(1)).await;
            }
        });
        written(&mut body)
    }

    fn close_frame(code: u16, reason: Option<&str>) -> Frame {
        Frame::Close(Some(CloseReason {
            code: CloseCode::from(code),
            description: reason.map(str::to_owned),
        }))
    }

    #[test]
    fn a_close_names_its_code_and_reason() {
        let end = End::Close(4401, "token expired");
        let want = [close_frame(4401, Some("token expired"))];
        assert_eq!(closed_with(end, false), want);
        let end = End::Close(4401, "token expired");
        assert_eq!(closed_with(end, true), want);
    }

    #[test]
    fn a_peers_close_is_echoed_with_its_code_only() {
        let theirs = CloseReason {
            code: CloseCode::Normal,
            description: Some("bye".into()),
        };
        let end = End::PeerClosed(Some(theirs));
        assert_eq!(closed_with(end, false), [close_frame(1000, None)]);
        assert_eq!(
            closed_with(End::PeerClosed(None), true),
            [Frame::Close(None)]
        );
    }

    #[test]
    fn a_vanished_peer_gets_a_bare_close_once_open_and_nothing_during_set_up() {
        assert_eq!(closed_with(End::PeerGone, false), [Frame::Close(None)]);
        assert!(closed_with(End::PeerGone, true).is_empty());
    }

    #[test]
    fn broken_reads_map_to_their_codes() {
        assert_eq!(
            protocol_end(&ProtocolError::Overflow),
            End::Close(1009, "frame too large")
        );
        let too_long = std::io::Error::other("maximum continuation size reached");
        assert_eq!(
            protocol_end(&ProtocolError::Io(too_long)),
            End::Close(1009, "message too large")
        );
        assert_eq!(
            protocol_end(&ProtocolError::UnmaskedFrame),
            End::Close(1002, "protocol error")
        );
    }
}
