//! What passes between the hub and one connection, kept below both so that neither needs the
//! other's module: the connection's id, the items the hub queues for it ([`Outbound`]), and the
//! switch the hub closes it with ([`Kill`]).
use std::sync::atomic::{AtomicU16, Ordering};

use huddle_domain::RoomId;
use tokio::sync::Notify;

use crate::protocol::Frame;

/// A connection's id in this process; `ready` shows it prefixed with the node's id.
pub(crate) type ConnId = u64;

/// What the hub hands a connection.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A ready-made frame.
    Frame(Frame),
    /// A `message.created` frame, with what exactly-once delivery needs to know.
    Message {
        room_id: RoomId,
        seq: i64,
        event_seq: i64,
        frame: Frame,
    },
    /// Any other logged event of a room: a change of the message with `seq` (an edit, a
    /// delete, a reaction), which must not reach the client before that message does, or with
    /// `seq` 0 a change of the room itself (members, name).
    Change {
        room_id: RoomId,
        seq: i64,
        event_seq: i64,
        frame: Frame,
    },
    /// The connection's user joined or left a room.
    RoomAdded(RoomId),
    RoomRemoved(RoomId),
}

impl Outbound {
    /// About how many bytes it will take on the socket, header included (none when it
    /// carries no frame), so a burst can reserve its buffer once.
    pub(crate) fn frame_bytes(&self) -> usize {
        match self {
            Outbound::Frame(frame)
            | Outbound::Message { frame, .. }
            | Outbound::Change { frame, .. } => frame.len() + 10,
            Outbound::RoomAdded(_) | Outbound::RoomRemoved(_) => 0,
        }
    }
}

/// Tells a connection task to close with a code, from outside it. The first code given
/// wins: a connection cut as too slow is not re-cut as something else on its way out.
#[derive(Debug, Default)]
pub(crate) struct Kill {
    code: AtomicU16,
    notify: Notify,
}

impl Kill {
    pub(crate) fn kill(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// The code, once the connection was killed. A kill before the wait starts is not lost.
    pub(crate) async fn wait(&self) -> u16 {
        loop {
            let code = self.code.load(Ordering::SeqCst);
            if code != 0 {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn frames_count_their_header_and_membership_items_nothing() {
        assert_eq!(Outbound::Frame("abc".into()).frame_bytes(), 13);
        let message = Outbound::Message {
            room_id: 1,
            seq: 1,
            event_seq: 1,
            frame: "x".repeat(100).into(),
        };
        assert_eq!(message.frame_bytes(), 110);
        assert_eq!(Outbound::RoomAdded(1).frame_bytes(), 0);
        assert_eq!(Outbound::RoomRemoved(1).frame_bytes(), 0);
    }

    #[test]
    fn a_kill_before_the_wait_is_kept_and_the_first_code_wins() {
        let kill = Kill::default();
        assert!(kill.wait().now_or_never().is_none(), "not killed yet");
        kill.kill(1013);
        kill.kill(4401);
        assert_eq!(kill.wait().now_or_never(), Some(1013));
    }

    #[tokio::test]
    async fn a_waiting_connection_wakes_on_the_kill() {
        let kill = Arc::new(Kill::default());
        let waiting = tokio::spawn({
            let kill = kill.clone();
            async move { kill.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        kill.kill(4401);
        let code = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(code, 4401);
    }
}
