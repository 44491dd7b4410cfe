//! The close codes the server ends a socket with (`docs/API.md`, "Real time"), named once so
//! the hub, which decides some of them from outside a connection, and the connection, which
//! writes them, cannot disagree on a number.

/// Shutdown, or a client that stopped answering pings.
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;
/// The peer broke the WebSocket protocol.
pub(crate) const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;
/// The server could not set the connection up (storage down, a task failed).
pub(crate) const CLOSE_INTERNAL_ERROR: u16 = 1011;
/// The client reads too slowly: it reconnects and syncs.
pub(crate) const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
pub(crate) const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// The user already holds the most sockets a process allows.
pub(crate) const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4429;

/// The close reason of a connection the hub ended from outside it: the hub passes only a code
/// (through [`Kill`](crate::link::Kill)), and the connection words it.
pub(crate) fn kill_reason(code: u16) -> &'static str {
    match code {
        CLOSE_UNAUTHENTICATED => "session ended",
        _ => "too slow: reconnect and sync",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_kills_for_an_ended_session_or_a_slow_reader() {
        assert_eq!(kill_reason(CLOSE_UNAUTHENTICATED), "session ended");
        assert_eq!(
            kill_reason(CLOSE_TRY_AGAIN_LATER),
            "too slow: reconnect and sync"
        );
    }
}
