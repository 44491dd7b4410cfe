//! What each client frame does once the socket is set up. Frames answered on the spot (ping,
//! typing, reauth, errors) are handled here; storage commands go on to the
//! [`pipeline`](crate::connection::pipeline), which keeps their answers in order.
use std::sync::Arc;

use actix_ws::{AggregatedMessage, ProtocolError};
use huddle_domain::ErrorCode;
use tokio::time::Instant;

use crate::connection::end::{protocol_end, End, Step};
use crate::connection::pipeline::Commands;
use crate::connection::state::{token_deadline, ConnState};
use crate::connection::sync;
use crate::hub::handle::HubCommand;
use crate::protocol::{self, ClientFrame};

/// What the socket read: a frame, its end, or a broken read.
pub(crate) async fn on_incoming(
    state: &mut ConnState,
    cmds: &mut Commands,
    msg: Option<Result<AggregatedMessage, ProtocolError>>,
) -> Step {
    state.last_seen = Instant::now();
    match msg {
        None => Err(End::PeerGone),
        Some(Ok(AggregatedMessage::Close(theirs))) => Err(End::PeerClosed(theirs)),
        Some(Err(e)) => Err(protocol_end(&e)),
        Some(Ok(AggregatedMessage::Ping(p))) => {
            state.writer.pong(&p).await;
            Ok(())
        }
        Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
        Some(Ok(AggregatedMessage::Binary(_))) => {
            state
                .write(protocol::error_frame(
                    None,
                    ErrorCode::Unsupported,
                    "binary frames are not supported",
                ))
                .await
        }
        Some(Ok(AggregatedMessage::Text(text))) => {
            let (reference, frame) = protocol::parse(&text);
            match frame {
                Err(e) => {
                    state
                        .write(protocol::error_frame(
                            reference.as_deref(),
                            e.code,
                            &e.message,
                        ))
                        .await
                }
                Ok(frame) => on_frame(state, cmds, reference, frame).await,
            }
        }
    }
}

async fn on_frame(
    state: &mut ConnState,
    cmds: &mut Commands,
    reference: Option<String>,
    frame: ClientFrame,
) -> Step {
    let r = reference.as_deref();
    if !matches!(
        frame,
        ClientFrame::Sync { .. } | ClientFrame::Ping | ClientFrame::Typing { .. }
    ) {
        // The client is not resuming; deliver what was held.
        state.end_grace().await?;
    }
    match frame {
        ClientFrame::Ping => state.write(protocol::pong(r)).await,
        ClientFrame::Auth { .. } => {
            state
                .write(protocol::error_frame(
                    r,
                    ErrorCode::ValidationFailed,
                    "already authenticated",
                ))
                .await
        }
        ClientFrame::Reauth { token } => match state.shared.auth.verify_access(&token) {
            Ok(claims) if claims.user_id().ok() == Some(state.user_id) => {
                state.token_expires = token_deadline(&claims);
                state.shared.hub.send(HubCommand::Reauthed {
                    conn: state.conn,
                    session_id: Arc::from(claims.sid.as_str()),
                });
                state
                    .write(protocol::reauthed(claims.expires_in(), r))
                    .await
            }
            Ok(_) => {
                state
                    .write(protocol::error_frame(
                        r,
                        ErrorCode::Forbidden,
                        "the token is another user's",
                    ))
                    .await
            }
            Err(e) => state.write(protocol::auth_error_frame(r, &e)).await,
        },
        ClientFrame::Typing { room_id } => {
            let interval = state.shared.config.typing_interval;
            if state.last_typing.is_none_or(|t| t.elapsed() >= interval) {
                state.last_typing = Some(Instant::now());
                state.shared.hub.send(HubCommand::Typing {
                    conn: state.conn,
                    room_id,
                });
            }
            Ok(())
        }
        ClientFrame::Send { .. } if send_limited(state).await => {
            state
                .write(protocol::error_frame(
                    r,
                    ErrorCode::RateLimited,
                    "too many messages; slow down",
                ))
                .await
        }
        ClientFrame::Sync {
            ref since,
            ref since_events,
        } => {
            let released = sync::begin(&mut state.delivery, since, since_events);
            state.write_all(released).await?;
            state.grace = None;
            cmds.forward(state, reference, frame).await
        }
        other => cmds.forward(state, reference, other).await,
    }
}

/// Whether the user's send budget (shared with REST, and across nodes) is spent.
async fn send_limited(state: &ConnState) -> bool {
    let key = format!("send:{}", state.user_id);
    state.shared.send_limiter.hit(&key).await.is_err()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_ws::CloseReason;
    use serde_json::{json, Value};

    use super::*;
    use crate::config::RealtimeConfig;
    use crate::connection::testing::{add_user, state, Client, Got, World};
    use crate::link::Outbound;
    use crate::outbox::outbox;

    async fn text(s: &mut ConnState, cmds: &mut Commands, frame: Value) -> Step {
        let msg = AggregatedMessage::Text(frame.to_string().into());
        on_incoming(s, cmds, Some(Ok(msg))).await
    }

    async fn reply(client: &mut Client) -> Value {
        client.recv().await.json()
    }

    #[tokio::test]
    async fn reads_that_end_the_socket_and_control_frames() {
        let world = World::new(RealtimeConfig::default());
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        assert_eq!(
            on_incoming(&mut s, &mut cmds, None).await,
            Err(End::PeerGone)
        );
        let theirs = CloseReason {
            code: actix_ws::CloseCode::Normal,
            description: None,
        };
        let close = AggregatedMessage::Close(Some(theirs.clone()));
        assert_eq!(
            on_incoming(&mut s, &mut cmds, Some(Ok(close))).await,
            Err(End::PeerClosed(Some(theirs)))
        );
        assert_eq!(
            on_incoming(&mut s, &mut cmds, Some(Err(ProtocolError::Overflow))).await,
            Err(End::Close(1009, "frame too large"))
        );
        let ping = AggregatedMessage::Ping(b"hi"[..].into());
        on_incoming(&mut s, &mut cmds, Some(Ok(ping)))
            .await
            .unwrap();
        assert!(matches!(client.recv().await, Got::Other(f) if f.starts_with("Pong")));
        let pong = AggregatedMessage::Pong(b""[..].into());
        on_incoming(&mut s, &mut cmds, Some(Ok(pong)))
            .await
            .unwrap();
        let binary = AggregatedMessage::Binary(b"\x00"[..].into());
        on_incoming(&mut s, &mut cmds, Some(Ok(binary)))
            .await
            .unwrap();
        assert_eq!(reply(&mut client).await["code"], "unsupported");
    }

    #[tokio::test]
    async fn bad_frames_are_answered_and_the_socket_stays_open() {
        let world = World::new(RealtimeConfig::default());
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        let msg = AggregatedMessage::Text("{nope".into());
        on_incoming(&mut s, &mut cmds, Some(Ok(msg))).await.unwrap();
        assert_eq!(reply(&mut client).await["code"], "malformed_json");
        text(&mut s, &mut cmds, json!({"type": "dance", "ref": "d"}))
            .await
            .unwrap();
        let v = reply(&mut client).await;
        assert_eq!(
            (v["code"].as_str(), v["ref"].as_str()),
            (Some("unknown_type"), Some("d"))
        );
        text(
            &mut s,
            &mut cmds,
            json!({"type": "auth", "token": "t", "ref": "a"}),
        )
        .await
        .unwrap();
        assert_eq!(reply(&mut client).await["message"], "already authenticated");
        text(&mut s, &mut cmds, json!({"type": "ping", "ref": "p"}))
            .await
            .unwrap();
        assert_eq!(
            reply(&mut client).await,
            json!({"type": "pong", "ref": "p"})
        );
    }

    #[tokio::test]
    async fn reauth_takes_a_fresh_token_of_the_same_user_only() {
        let mut world = World::new(RealtimeConfig::default());
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        s.token_expires = Instant::now();
        let fresh = world.token(world.user_id, "s2", Duration::from_secs(900));
        text(
            &mut s,
            &mut cmds,
            json!({"type": "reauth", "token": fresh, "ref": "r"}),
        )
        .await
        .unwrap();
        let v = reply(&mut client).await;
        assert_eq!(
            (v["type"].as_str(), v["ref"].as_str()),
            (Some("reauthed"), Some("r"))
        );
        assert!(s.token_expires > Instant::now() + Duration::from_secs(800));
        assert!(matches!(
            &world.told_hub()[..],
            [HubCommand::Reauthed { conn: 1, session_id }] if &**session_id == "s2"
        ));
        let bob = add_user(&world.repo, "bob");
        let bobs = world.token(bob, "s3", Duration::from_secs(900));
        text(&mut s, &mut cmds, json!({"type": "reauth", "token": bobs}))
            .await
            .unwrap();
        assert_eq!(reply(&mut client).await["code"], "forbidden");
        text(
            &mut s,
            &mut cmds,
            json!({"type": "reauth", "token": "junk"}),
        )
        .await
        .unwrap();
        assert_eq!(reply(&mut client).await["type"], "error");
        assert!(world.told_hub().is_empty());
    }

    #[tokio::test]
    async fn typing_is_relayed_at_most_once_per_interval() {
        let mut world = World::new(RealtimeConfig::default());
        let (mut s, _client) = state(&world, false);
        let mut cmds = Commands::default();
        for _ in 0..3 {
            text(&mut s, &mut cmds, json!({"type": "typing", "room_id": 1}))
                .await
                .unwrap();
        }
        assert!(matches!(
            &world.told_hub()[..],
            [HubCommand::Typing {
                conn: 1,
                room_id: 1
            }]
        ));
    }

    #[tokio::test]
    async fn sends_past_the_budget_are_refused() {
        let world = World::new(RealtimeConfig {
            send_burst: 1.0,
            send_rate_per_sec: 0.001,
            ..RealtimeConfig::default()
        });
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        let send =
            |r: &str| json!({"type": "send", "room_id": world.room_id, "body": "x", "ref": r});
        text(&mut s, &mut cmds, send("1")).await.unwrap();
        text(&mut s, &mut cmds, send("2")).await.unwrap();
        let v = reply(&mut client).await;
        assert_eq!(
            (v["code"].as_str(), v["ref"].as_str()),
            (Some("rate_limited"), Some("2"))
        );
        assert!(!cmds.idle(), "the first send is in hand");
    }

    #[tokio::test]
    async fn held_messages_go_out_before_the_first_answer_that_is_not_a_resume() {
        let world = World::new(RealtimeConfig::default());
        let (mut s, mut client) = state(&world, true);
        let mut cmds = Commands::default();
        let (_tx, mut rx) = outbox(1);
        let live = Outbound::Message {
            room_id: world.room_id,
            seq: 1,
            event_seq: 2,
            frame: r#"{"type":"message.created"}"#.into(),
        };
        s.on_outbound_batch(live, &mut rx).await.unwrap();
        text(&mut s, &mut cmds, json!({"type": "ping"}))
            .await
            .unwrap();
        text(&mut s, &mut cmds, json!({"type": "typing", "room_id": 1}))
            .await
            .unwrap();
        assert_eq!(reply(&mut client).await["type"], "pong", "still held");
        text(&mut s, &mut cmds, json!({"type": "auth", "token": "t"}))
            .await
            .unwrap();
        assert_eq!(reply(&mut client).await["type"], "message.created");
        assert_eq!(reply(&mut client).await["type"], "error");
        assert!(s.grace.is_none());
    }

    #[actix_web::test]
    async fn a_sync_holds_its_rooms_and_ends_the_grace() {
        let world = World::new(RealtimeConfig::default());
        let (mut s, mut client) = state(&world, true);
        let mut cmds = Commands::default();
        let since = json!({world.room_id.to_string(): 0});
        text(
            &mut s,
            &mut cmds,
            json!({"type": "sync", "since": since, "ref": "s"}),
        )
        .await
        .unwrap();
        assert!(s.grace.is_none());
        assert!(cmds.worker.is_some(), "the replay runs on the worker");
        let reply = crate::connection::worker::next_reply(&mut cmds.worker).await;
        s.on_reply(reply.unwrap()).await.unwrap();
        let reply = crate::connection::worker::next_reply(&mut cmds.worker).await;
        s.on_reply(reply.unwrap()).await.unwrap();
        let v = client.recv().await.json();
        assert_eq!(
            (v["type"].as_str(), v["ref"].as_str()),
            (Some("synced"), Some("s"))
        );
    }
}
