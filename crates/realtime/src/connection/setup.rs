//! From upgrade to `ready`: the socket authenticates (the upgrade's header, or a first `auth`
//! frame in time), takes one of its user's slots, loads the user and their rooms, and
//! registers with the hub. Anything short of that closes it here, with the reason.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_ws::AggregatedMessage;
use futures_util::StreamExt;
use huddle_auth::{AccessClaims, AuthError};
use huddle_domain::DomainError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::blocking::run_blocking;
use crate::connection::end::{close, protocol_end, refuse, ClientStream, End};
use crate::connection::state::{token_deadline, ConnState};
use crate::connection::writer::Writer;
use crate::delivery::Delivery;
use crate::hub::handle::HubCommand;
use crate::link::{ConnId, Kill};
use crate::outbox::{outbox, OutboxReceiver};
use crate::outlet::Outlet;
use crate::protocol::{self, ClientFrame, Dialect};
use crate::shared::Shared;
use crate::user_slots::{Slot, UserSlots};

/// What a connection keeps of its set-up.
pub(crate) struct SetUp {
    pub state: ConnState,
    pub rx: OutboxReceiver,
    /// The `ready` frame, to write first.
    pub ready: String,
    /// Held for as long as the socket is open.
    pub slot: Slot,
}

/// Authenticates the socket, loads its user and rooms and registers it with the hub; `None`
/// when it was closed instead.
pub(crate) async fn set_up<S: ClientStream>(
    shared: &Arc<Shared>,
    mut session: Outlet,
    stream: &mut S,
    header_token: Option<String>,
    dialect: Option<Arc<dyn Dialect>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<SetUp> {
    if *shutdown.borrow() {
        close(
            session,
            protocol::CLOSE_GOING_AWAY,
            "server shutting down",
            Duration::from_secs(1),
        )
        .await;
        return None;
    }
    let claims = match authenticate(shared, &mut session, stream, header_token, shutdown).await {
        Ok(c) => c,
        Err(end) => {
            refuse(session, end).await;
            return None;
        }
    };
    let Ok(user_id) = claims.user_id() else {
        let end = End::Close(protocol::CLOSE_UNAUTHENTICATED, "invalid access token");
        refuse(session, end).await;
        return None;
    };

    let Some(slot) = UserSlots::acquire(&shared.user_slots, user_id) else {
        tracing::info!(user_id, "socket refused: too many connections");
        let end = End::Close(protocol::CLOSE_TOO_MANY_CONNECTIONS, "too many connections");
        refuse(session, end).await;
        return None;
    };

    // Membership changes the hub handles after this may be missing from the rooms read next;
    // the hub applies them on registration.
    let since_epoch = shared.hub.membership_epoch();
    let chat = shared.chat.clone();
    let loaded = run_blocking(move || {
        let rooms = chat.rooms_of(user_id)?;
        let ids: Vec<_> = rooms.iter().map(|r| r.room_id).collect();
        Ok((chat.user(user_id)?, chat.unread_of(user_id, &ids)?, rooms))
    })
    .await;
    let (user, unread, rooms) = match loaded {
        Ok(v) => v,
        Err(DomainError::NotFound(_)) => {
            let end = End::Close(protocol::CLOSE_UNAUTHENTICATED, "unknown user");
            refuse(session, end).await;
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "socket set-up failed");
            let end = End::Close(protocol::CLOSE_INTERNAL_ERROR, "temporarily unavailable");
            refuse(session, end).await;
            return None;
        }
    };

    let conn: ConnId = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = outbox(shared.config.outbound_queue);
    let kill = Arc::new(Kill::default());
    shared.hub.send(HubCommand::Register {
        conn,
        user_id,
        rooms: rooms.clone(),
        since_epoch,
        tx,
        kill: kill.clone(),
        session_id: Arc::from(claims.sid.as_str()),
    });
    tracing::debug!(conn, user_id, rooms = rooms.len(), "socket ready");

    // Rendered at once: the JSON tree would otherwise live as long as the connection.
    let ready = protocol::ready(&user, &rooms, &unread, &format!("{}-{conn}", shared.node));
    let hold = !shared.config.sync_grace.is_zero();
    let state = ConnState {
        shared: shared.clone(),
        writer: Writer::new(session, kill, shared.config.client_timeout).speaking(dialect),
        user_id,
        conn,
        delivery: Delivery::new(rooms.iter().map(|r| r.room_id), hold),
        grace: hold.then(|| Instant::now() + shared.config.sync_grace),
        token_expires: token_deadline(&claims),
        last_seen: Instant::now(),
        last_typing: None,
    };
    Some(SetUp {
        state,
        rx,
        ready,
        slot,
    })
}

/// Why a token is refused, as the close frame says it.
fn refusal(e: &AuthError) -> End {
    match e {
        AuthError::TokenExpired => End::Close(protocol::CLOSE_UNAUTHENTICATED, "token expired"),
        AuthError::Unauthenticated(huddle_auth::SESSION_ENDED) => {
            End::Close(protocol::CLOSE_UNAUTHENTICATED, "session ended")
        }
        _ => End::Close(protocol::CLOSE_UNAUTHENTICATED, "invalid access token"),
    }
}

/// Waits for credentials: the upgrade's header, or a first `auth` frame within the timeout
/// (cut short by a shutdown, which closes with 1001 like any open socket).
async fn authenticate<S: ClientStream>(
    shared: &Shared,
    session: &mut Outlet,
    stream: &mut S,
    header_token: Option<String>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<AccessClaims, End> {
    let verify = |token: &str| shared.auth.verify_access(token).map_err(|e| refusal(&e));
    if let Some(token) = header_token {
        return verify(&token);
    }
    let deadline = Instant::now() + shared.config.auth_timeout;
    loop {
        let msg = tokio::select! {
            msg = tokio::time::timeout_at(deadline, stream.next()) => {
                msg.map_err(|_| End::Close(protocol::CLOSE_UNAUTHENTICATED, "no auth frame in time"))?
            }
            _ = shutdown.wait_for(|down| *down) => {
                return Err(End::Close(protocol::CLOSE_GOING_AWAY, "server shutting down"));
            }
        };
        match msg {
            Some(Ok(AggregatedMessage::Text(text))) => {
                return match protocol::parse(&text).1 {
                    Ok(ClientFrame::Auth { token }) => verify(&token),
                    _ => Err(End::Close(
                        protocol::CLOSE_UNAUTHENTICATED,
                        "authenticate first",
                    )),
                };
            }
            Some(Ok(AggregatedMessage::Ping(p))) => {
                let _ = session.pong(&p).await;
            }
            Some(Ok(AggregatedMessage::Pong(_))) => {}
            Some(Ok(AggregatedMessage::Binary(_))) => {
                return Err(End::Close(
                    protocol::CLOSE_UNAUTHENTICATED,
                    "authenticate first",
                ));
            }
            Some(Err(e)) => return Err(protocol_end(&e)),
            Some(Ok(AggregatedMessage::Close(theirs))) => return Err(End::PeerClosed(theirs)),
            None => return Err(End::PeerGone),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::RealtimeConfig;
    use crate::connection::testing::{add_user, socket, Client, Got, World};

    /// Sets a socket up with `header` as the upgrade's token, after `frames` from the client.
    async fn connect(
        world: &World,
        header: Option<String>,
        frames: &[serde_json::Value],
    ) -> (Option<SetUp>, Client) {
        let (client, mut server) = socket();
        for f in frames {
            client.send(f.clone());
        }
        let mut shutdown = world.shared.shutdown.subscribe();
        let set = set_up(
            &world.shared,
            server.outlet,
            &mut server.stream,
            header,
            None,
            &mut shutdown,
        )
        .await;
        (set, client)
    }

    async fn refused(world: &World, header: Option<String>, frames: &[serde_json::Value]) -> Got {
        let (set, mut client) = connect(world, header, frames).await;
        assert!(set.is_none(), "the socket was set up");
        client.recv().await
    }

    fn closed(code: u16, reason: &str) -> Got {
        Got::Close(Some(code), Some(reason.into()))
    }

    #[tokio::test]
    async fn a_valid_token_gets_ready_and_a_registration() {
        let mut world = World::new(RealtimeConfig::default());
        let (set, _client) = connect(&world, Some(world.ann()), &[]).await;
        let set = set.expect("set up");
        let ready: serde_json::Value = serde_json::from_str(&set.ready).unwrap();
        assert_eq!(ready["user"]["id"], world.user_id);
        assert_eq!(
            ready["rooms"],
            json!([{"room_id": world.room_id, "last_seq": 0, "last_event_seq": 1,
                    "last_read_seq": 0, "unread_count": 0, "mention_count": 0}])
        );
        assert_eq!(ready["connection_id"], "node-1");
        assert!(set.state.grace.is_some(), "live messages wait for a sync");
        match &world.told_hub()[..] {
            [HubCommand::Register {
                conn: 1,
                user_id,
                rooms,
                session_id,
                ..
            }] => {
                assert_eq!(*user_id, world.user_id);
                assert_eq!(rooms.len(), 1);
                assert_eq!(&**session_id, "s1");
            }
            _ => panic!("not registered"),
        }
        // The first frame may carry the token instead.
        let auth = json!({"type": "auth", "token": world.ann()});
        assert!(connect(&world, None, &[auth]).await.0.is_some());
    }

    #[tokio::test]
    async fn bad_credentials_close_with_4401_and_say_why() {
        let world = World::new(RealtimeConfig {
            auth_timeout: Duration::from_millis(50),
            ..RealtimeConfig::default()
        });
        let bad = Some("junk".to_owned());
        assert_eq!(
            refused(&world, bad, &[]).await,
            closed(4401, "invalid access token")
        );
        let ping = json!({"type": "ping"});
        assert_eq!(
            refused(&world, None, &[ping]).await,
            closed(4401, "authenticate first")
        );
        assert_eq!(
            refused(&world, None, &[]).await,
            closed(4401, "no auth frame in time")
        );
        let stranger = world.token(999, "s9", Duration::from_secs(60));
        assert_eq!(
            refused(&world, Some(stranger), &[]).await,
            closed(4401, "unknown user")
        );
        world
            .shared
            .auth
            .revocations()
            .record([("s1", chrono::Utc::now())]);
        assert_eq!(
            refused(&world, Some(world.ann()), &[]).await,
            closed(4401, "session ended")
        );
        assert_eq!(
            refusal(&AuthError::TokenExpired),
            End::Close(4401, "token expired")
        );
    }

    #[tokio::test]
    async fn a_user_past_the_socket_cap_is_refused_with_4429() {
        let world = World::new(RealtimeConfig {
            max_sockets_per_user: 1,
            ..RealtimeConfig::default()
        });
        let (first, _client) = connect(&world, Some(world.ann()), &[]).await;
        assert!(first.is_some());
        assert_eq!(
            refused(&world, Some(world.ann()), &[]).await,
            closed(4429, "too many connections")
        );
        let bob = add_user(&world.repo, "bob");
        let bobs = world.token(bob, "s2", Duration::from_secs(60));
        assert!(
            connect(&world, Some(bobs), &[]).await.0.is_some(),
            "others are not"
        );
        drop(first);
        assert!(
            connect(&world, Some(world.ann()), &[]).await.0.is_some(),
            "slot given back"
        );
    }

    #[tokio::test]
    async fn a_shutdown_closes_with_1001_before_or_during_authentication() {
        let world = World::new(RealtimeConfig::default());
        let waiting = {
            let world_shared = world.shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                world_shared.shutdown.send_replace(true);
            })
        };
        assert_eq!(
            refused(&world, None, &[]).await,
            closed(1001, "server shutting down")
        );
        waiting.await.unwrap();
        assert_eq!(
            refused(&world, Some(world.ann()), &[]).await,
            closed(1001, "server shutting down")
        );
    }

    #[tokio::test]
    async fn a_peer_closing_during_authentication_gets_its_code_back() {
        let world = World::new(RealtimeConfig::default());
        let (client, mut server) = socket();
        client.send_message(AggregatedMessage::Close(Some(actix_ws::CloseReason {
            code: actix_ws::CloseCode::Away,
            description: Some("bye".into()),
        })));
        let mut shutdown = world.shared.shutdown.subscribe();
        let mut client = client;
        let set = set_up(
            &world.shared,
            server.outlet,
            &mut server.stream,
            None,
            None,
            &mut shutdown,
        )
        .await;
        assert!(set.is_none());
        assert_eq!(client.recv().await, Got::Close(Some(1001), None));
    }
}
