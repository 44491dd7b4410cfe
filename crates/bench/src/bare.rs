//! The bare broadcast server: the practical limit of this machine for WebSocket fan-out.
//!
//! `GET /ws?room=N` upgrades with no authentication; every text frame a connection sends is
//! forwarded as is to every connection of its room (the sender's included, as Huddle does),
//! and the sender gets `{"type":"ack"}` after the fan-out has been queued. No database, no
//! JSON parsing, no validation, no ordering work. Like Huddle, each connection has a bounded
//! outbound queue; a frame that does not fit is dropped (and counted).
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type Room = Arc<Mutex<Vec<(u64, mpsc::Sender<Message>)>>>;

/// Counters, for the bare server's own report.
#[derive(Debug, Default)]
pub struct BareStats {
    pub connections: AtomicU64,
    pub frames_in: AtomicU64,
    pub deliveries: AtomicU64,
    pub drops: AtomicU64,
}

#[derive(Default)]
struct State {
    rooms: RwLock<HashMap<u64, Room>>,
    next_id: AtomicU64,
    stats: Arc<BareStats>,
}

/// Per-connection outbound queue, as Huddle's default (`HUDDLE_WS_OUTBOUND_QUEUE`).
pub const QUEUE: usize = 1024;

/// The WebSocket buffers both sides of the benchmark use: small read buffers, so that ten
/// thousand idle connections do not cost a gigabyte.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

/// Serves until the task is dropped. Returns the counters, shared with the server.
pub fn spawn(listener: TcpListener) -> Arc<BareStats> {
    let state = Arc::new(State::default());
    let stats = state.stats.clone();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(state.clone(), stream));
                }
                Err(e) => {
                    // Out of file descriptors, most likely: wait a little and go on.
                    eprintln!("bare-server: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    stats
}

fn room_of(uri: &str) -> u64 {
    uri.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("room="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn room(state: &State, id: u64) -> Room {
    if let Some(r) = state
        .rooms
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
    {
        return r.clone();
    }
    state
        .rooms
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(id)
        .or_default()
        .clone()
}

async fn connection(state: Arc<State>, stream: TcpStream) {
    let mut room_id = 0;
    // The signature is tungstenite's; its error type is large, but never built here.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        room_id = room_of(&req.uri().to_string());
        Ok(resp)
    };
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config())).await
    else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let members = room(&state, room_id);
    members
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((id, tx.clone()));
    state.stats.connections.fetch_add(1, Ordering::Relaxed);

    let writer = tokio::spawn(async move {
        // Writes what is queued, flushing once per batch.
        while let Some(first) = rx.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });

    let ack = Message::text("{\"type\":\"ack\"}");
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(_) => {
                state.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                let mut sent = 0;
                let mut dropped = 0;
                {
                    let members = members.lock().unwrap_or_else(|p| p.into_inner());
                    for (_, member) in members.iter() {
                        match member.try_send(msg.clone()) {
                            Ok(()) => sent += 1,
                            Err(_) => dropped += 1,
                        }
                    }
                }
                state.stats.deliveries.fetch_add(sent, Ordering::Relaxed);
                state.stats.drops.fetch_add(dropped, Ordering::Relaxed);
                if tx.try_send(ack.clone()).is_err() {
                    state.stats.drops.fetch_add(1, Ordering::Relaxed);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    members
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(m, _)| *m != id);
    state.stats.connections.fetch_sub(1, Ordering::Relaxed);
    writer.abort();
}

#[cfg(test)]
mod tests {
    use super::room_of;

    #[test]
    fn room_comes_from_the_query() {
        assert_eq!(room_of("/ws?room=7"), 7);
        assert_eq!(room_of("/ws?x=1&room=12"), 12);
        assert_eq!(room_of("/ws"), 0);
    }
}
