//! Sharing each process's fan-out lag, so that every process holds its senders back while any
//! process's hub runs behind ([`SendGate`]): a process acknowledges a send once it is stored
//! and published, however far behind the other processes' hubs are.
//!
//! Each process publishes its hub's figure on one channel every process follows, while it is
//! above zero and once more when it drops to zero: an idle or keeping-up cluster sends nothing.
use std::sync::Arc;
use std::time::Duration;

use huddle_realtime::SendGate;

use crate::conn::SharedRedis;

/// How often a process behind says so; well under [`huddle_realtime::REMOTE_FRESH`].
pub(crate) const REPORT_EVERY: Duration = Duration::from_millis(50);

/// `<node id> <lag in microseconds>`.
pub(crate) fn encode(node: &str, lag: Duration) -> String {
    format!("{node} {}", lag.as_micros())
}

pub(crate) fn decode(payload: &[u8]) -> Option<(&str, Duration)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (node, micros) = text.split_once(' ')?;
    let micros: u64 = micros.parse().ok()?;
    (!node.is_empty()).then_some((node, Duration::from_micros(micros)))
}

/// Publishes this process's figure while it is above zero, and forgets other processes'
/// figures that stopped coming.
pub(crate) async fn reporter(
    redis: SharedRedis,
    gate: Arc<SendGate>,
    channel: String,
    node: String,
) {
    let mut tick = tokio::time::interval(REPORT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Duration::ZERO;
    loop {
        tick.tick().await;
        gate.refresh();
        let lag = gate.local();
        if lag.is_zero() && last.is_zero() {
            continue;
        }
        last = lag;
        let payload = encode(&node, lag);
        let channel = channel.clone();
        // While Redis is down nothing is shared; the others forget this figure soon.
        redis
            .run("publish lag", |mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_goes_and_comes_back() {
        let payload = encode("0123abcd", Duration::from_micros(250_017));
        assert_eq!(
            decode(payload.as_bytes()),
            Some(("0123abcd", Duration::from_micros(250_017)))
        );
    }

    #[test]
    fn malformed_figures_are_ignored() {
        for bad in [
            &b""[..],
            b"node",
            b"node ",
            b" 12",
            b"node -3",
            b"node 1.5",
            b"node 99999999999999999999999",
            b"\xff\xfe 12",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
