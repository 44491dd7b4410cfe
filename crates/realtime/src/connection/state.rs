//! A connection's state once it is set up, and what it does with what the hub and the worker
//! hand it: deliveries go through its [`Delivery`] (exactly once, in order, held during a
//! sync), replies and replays are written, and the heartbeat checks the client is alive.
use std::sync::Arc;
use std::time::Duration;

use huddle_auth::AccessClaims;
use huddle_domain::UserId;
use tokio::time::Instant;

use crate::connection::end::{End, Step};
use crate::connection::sync::Reply;
use crate::connection::writer::Writer;
use crate::delivery::Delivery;
use crate::link::{ConnId, Outbound};
use crate::outbox::OutboxReceiver;
use crate::protocol::{self, Frame};
use crate::shared::Shared;

/// When the connection's token expires: the socket closes then (4401) unless the client
/// re-authenticates.
pub(crate) fn token_deadline(claims: &AccessClaims) -> Instant {
    Instant::now() + Duration::from_secs(claims.expires_in())
}

/// Most queued events handled in one turn of a connection's loop.
const OUTBOUND_BATCH: usize = 256;

pub(crate) struct ConnState {
    pub shared: Arc<Shared>,
    pub writer: Writer,
    pub user_id: UserId,
    pub conn: ConnId,
    pub delivery: Delivery,
    /// Until when live messages are held for the client's first `sync`.
    pub grace: Option<Instant>,
    pub token_expires: Instant,
    pub last_seen: Instant,
    pub last_typing: Option<Instant>,
}

impl ConnState {
    pub(crate) async fn write(&mut self, frame: impl Into<Frame>) -> Step {
        self.writer.write(frame).await
    }

    pub(crate) async fn write_all(&mut self, frames: Vec<Frame>) -> Step {
        self.writer.write_all(frames).await
    }

    /// Ends the sync grace, if it is on: what was held goes out.
    pub(crate) async fn end_grace(&mut self) -> Step {
        if self.grace.take().is_none() {
            return Ok(());
        }
        let frames = self.delivery.release_all();
        self.write_all(frames).await
    }

    /// Handles `first` and whatever else is already queued (up to a bound, so reading the
    /// socket is not starved): one wake-up of the task and one socket write for the lot.
    pub(crate) async fn on_outbound_batch(
        &mut self,
        first: Outbound,
        queue: &mut OutboxReceiver,
    ) -> Step {
        let rest = queue.try_recv_up_to(OUTBOUND_BATCH - 1);
        self.writer.reserve(
            std::iter::once(&first)
                .chain(&rest)
                .map(Outbound::frame_bytes)
                .sum(),
        );
        self.on_outbound(first).await?;
        for out in rest {
            self.on_outbound(out).await?;
        }
        self.writer.release_unused();
        Ok(())
    }

    async fn on_outbound(&mut self, out: Outbound) -> Step {
        match out {
            Outbound::Frame(f) => self.write(f).await,
            Outbound::Message {
                room_id,
                seq,
                event_seq,
                frame,
            } => {
                if let Some(f) = self.delivery.live(room_id, seq, event_seq, frame) {
                    self.write(f).await?;
                }
                self.check_held()
            }
            Outbound::Change {
                room_id,
                seq,
                event_seq,
                frame,
            } => {
                if let Some(f) = self.delivery.change(room_id, seq, event_seq, frame) {
                    self.write(f).await?;
                }
                self.check_held()
            }
            Outbound::RoomAdded(room) => {
                self.delivery.add_room(room);
                Ok(())
            }
            Outbound::RoomRemoved(room) => {
                self.delivery.remove_room(room);
                Ok(())
            }
        }
    }

    /// Held messages count against the same bound as the queue: a client that never syncs
    /// after asking to cannot make the server hold its rooms without limit.
    fn check_held(&self) -> Step {
        if self.delivery.held_count() > self.shared.config.outbound_queue {
            return Err(End::Close(
                protocol::CLOSE_TRY_AGAIN_LATER,
                "too slow: reconnect and sync",
            ));
        }
        Ok(())
    }

    pub(crate) async fn on_reply(&mut self, reply: Reply) -> Step {
        match reply {
            Reply::Frame(f) => self.write(f).await,
            Reply::Replay { room_id, items } => {
                for (seq, frame) in items {
                    if let Some(f) = self.delivery.replayed(room_id, seq, frame) {
                        self.write(f).await?;
                    }
                }
                Ok(())
            }
            Reply::Events { room_id, items } => {
                for (seq, event_seq, frame) in items {
                    if let Some(f) = self.delivery.replayed_event(room_id, seq, event_seq, frame) {
                        self.write(f).await?;
                    }
                }
                Ok(())
            }
            Reply::ReplayDone { room_id } => {
                let frames = self.delivery.release(room_id);
                self.write_all(frames).await
            }
        }
    }

    pub(crate) async fn on_heartbeat(&mut self) -> Step {
        if self.last_seen.elapsed() > self.shared.config.client_timeout {
            tracing::debug!(conn = self.conn, "heartbeat timeout");
            return Err(End::Close(protocol::CLOSE_GOING_AWAY, "heartbeat timeout"));
        }
        self.writer.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RealtimeConfig;
    use crate::connection::testing::{state, Got, World};
    use crate::outbox::outbox;

    fn message(room_id: i64, seq: i64) -> Outbound {
        Outbound::Message {
            room_id,
            seq,
            event_seq: seq,
            frame: format!(r#"{{"type":"message.created","seq":{seq}}}"#).into(),
        }
    }

    fn change(room_id: i64, seq: i64) -> Outbound {
        Outbound::Change {
            room_id,
            seq,
            event_seq: 100 + seq,
            frame: format!(r#"{{"type":"message.updated","seq":{seq}}}"#).into(),
        }
    }

    #[tokio::test]
    async fn a_batch_is_delivered_once_in_order_and_held_during_the_grace() {
        let world = World::new(RealtimeConfig::default());
        let (mut s, mut client) = state(&world, true);
        let room = world.room_id;
        let (tx, mut rx) = outbox(16);
        tx.try_send_all([message(room, 1), change(room, 1), message(room, 2)])
            .unwrap();
        let first = rx.try_recv_up_to(1).pop_front().unwrap();
        s.on_outbound_batch(first, &mut rx).await.unwrap();
        assert_eq!(s.delivery.held_count(), 3, "held for the sync");
        s.end_grace().await.unwrap();
        s.end_grace().await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let v = client.recv().await.json();
            got.push(format!("{} {}", v["type"], v["seq"]));
        }
        assert_eq!(
            got,
            [
                "\"message.created\" 1",
                "\"message.updated\" 1",
                "\"message.created\" 2"
            ]
        );
        tx.try_send_all([message(room, 2), message(room, 3)])
            .unwrap();
        let first = rx.try_recv_up_to(1).pop_front().unwrap();
        s.on_outbound_batch(first, &mut rx).await.unwrap();
        assert_eq!(client.recv().await.json()["seq"], 3, "2 was a duplicate");
    }

    #[tokio::test]
    async fn rooms_come_and_go_and_too_much_held_cuts_the_connection() {
        let world = World::new(RealtimeConfig {
            outbound_queue: 2,
            ..RealtimeConfig::default()
        });
        let (mut s, _client) = state(&world, true);
        let (_tx, mut rx) = outbox(1);
        s.on_outbound_batch(Outbound::RoomAdded(9), &mut rx)
            .await
            .unwrap();
        assert!(s.delivery.rooms().contains(&9));
        s.on_outbound_batch(Outbound::RoomRemoved(9), &mut rx)
            .await
            .unwrap();
        assert!(!s.delivery.rooms().contains(&9));
        let room = world.room_id;
        for seq in 1..=2 {
            s.on_outbound_batch(message(room, seq), &mut rx)
                .await
                .unwrap();
        }
        assert_eq!(
            s.on_outbound_batch(change(room, 1), &mut rx).await,
            Err(End::Close(1013, "too slow: reconnect and sync"))
        );
    }

    #[tokio::test]
    async fn a_replay_merges_with_what_was_held() {
        let world = World::new(RealtimeConfig::default());
        let (mut s, mut client) = state(&world, true);
        let room = world.room_id;
        let (_tx, mut rx) = outbox(1);
        s.on_outbound_batch(message(room, 3), &mut rx)
            .await
            .unwrap();
        let items = (1..=3)
            .map(|seq| (seq, Frame::from(format!(r#"{{"seq":{seq}}}"#))))
            .collect();
        s.on_reply(Reply::Replay {
            room_id: room,
            items,
        })
        .await
        .unwrap();
        s.on_reply(Reply::ReplayDone { room_id: room })
            .await
            .unwrap();
        s.on_reply(Reply::Frame(r#"{"type":"synced"}"#.into()))
            .await
            .unwrap();
        let mut seqs = Vec::new();
        for _ in 0..3 {
            seqs.push(client.recv().await.json()["seq"].as_i64().unwrap());
        }
        assert_eq!(seqs, [1, 2, 3], "3 once, after the replay");
        assert_eq!(client.recv().await.json()["type"], "synced");
    }

    #[tokio::test]
    async fn the_heartbeat_pings_a_live_client_and_drops_a_silent_one() {
        let world = World::new(RealtimeConfig {
            client_timeout: Duration::from_millis(30),
            ..RealtimeConfig::default()
        });
        let (mut s, mut client) = state(&world, false);
        s.on_heartbeat().await.unwrap();
        assert!(matches!(client.recv().await, Got::Other(f) if f.starts_with("Ping")));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(
            s.on_heartbeat().await,
            Err(End::Close(1001, "heartbeat timeout"))
        );
    }
}
