//! Membership through the hub: joins, leaves and deletions reach every connection concerned,
//! and changes racing a connect are applied when it registers.
use std::sync::atomic::Ordering;
use std::sync::Arc;

use huddle_domain::DomainEvent;

use super::{member, Rig};
use crate::hub::handle::HubCommand;
use crate::hub::membership::MembershipLog;
use crate::link::Kill;
use crate::outbox::outbox;

#[test]
fn joining_and_leaving_reach_every_connection_of_the_user_and_the_room() {
    let mut rig = Rig::new(Vec::new());
    let mut ann = rig.connect(1, 10, &[(5, 0)]);
    let mut bob = rig.connect(2, 11, &[]);
    let mut bob2 = rig.connect(3, 11, &[]);
    rig.deliver(DomainEvent::MemberJoined {
        room_id: 5,
        member: member(11),
        event_seq: 1,
    });
    assert_eq!(ann.take(), ["member.joined"]);
    assert_eq!(bob.take(), ["+room 5", "member.joined"]);
    assert_eq!(bob2.take(), ["+room 5", "member.joined"]);
    rig.message(5, 1);
    rig.flush();
    assert_eq!(bob2.take(), ["message 1"]);
    ann.take();
    bob.take();
    rig.deliver(DomainEvent::MemberLeft {
        room_id: 5,
        user_id: 11,
        event_seq: 2,
    });
    assert_eq!(ann.take(), ["member.left"]);
    assert_eq!(bob.take(), ["member.left", "-room 5"]);
    rig.message(5, 2);
    rig.flush();
    assert!(bob.take().is_empty());
    assert_eq!(ann.take(), ["message 2"]);
    assert_eq!(rig.hub.handle.membership_epoch(), 2);
}

#[test]
fn a_join_racing_the_connect_is_applied_on_registration() {
    let mut rig = Rig::new(Vec::new());
    let epoch = rig.hub.handle.membership_epoch();
    // Bob's rooms were read before he joined room 5 and was removed from room 6.
    rig.deliver(DomainEvent::MemberJoined {
        room_id: 5,
        member: member(11),
        event_seq: 1,
    });
    rig.deliver(DomainEvent::MemberLeft {
        room_id: 6,
        user_id: 11,
        event_seq: 2,
    });
    let mut bob = rig.connect_with(2, 11, &[(6, 3)], epoch, 64, "s");
    assert_eq!(
        bob.take(),
        ["+room 5", "member.joined", "member.left", "-room 6"]
    );
    rig.message(5, 1);
    rig.message(6, 4);
    rig.flush();
    assert_eq!(bob.take(), ["message 1"], "follows 5, not 6");
}

#[test]
fn a_connect_slower_than_the_membership_log_starts_over() {
    let mut rig = Rig::new(Vec::new());
    rig.hub.membership = MembershipLog::new(1);
    for room_id in 1..=2 {
        rig.deliver(DomainEvent::RoomDeleted { room_id });
    }
    let late = rig.connect_with(1, 10, &[], 0, 8, "s");
    assert_eq!(late.killed(), Some(1013));
    let on_time = rig.connect_with(2, 10, &[], 1, 8, "s");
    assert_eq!(on_time.killed(), None);
}

#[test]
fn a_connection_gone_before_its_catch_up_leaves_no_user_online() {
    let mut rig = Rig::new(Vec::new());
    let epoch = rig.hub.handle.membership_epoch();
    rig.deliver(DomainEvent::MemberJoined {
        room_id: 5,
        member: member(11),
        event_seq: 1,
    });
    // The socket closed before the hub took its registration: its catch-up cuts it.
    let (tx, rx) = outbox(8);
    drop(rx);
    rig.run(HubCommand::Register {
        conn: 2,
        user_id: 11,
        rooms: Vec::new(),
        since_epoch: epoch,
        tx,
        kill: Arc::new(Kill::default()),
        session_id: Arc::from("s"),
    });
    rig.run(HubCommand::Unregister { conn: 2 });
    let stats = rig.hub.handle.stats();
    assert_eq!(stats.connections.load(Ordering::Relaxed), 0);
    assert_eq!(stats.users_online.load(Ordering::Relaxed), 0);
    assert!(!rig.hub.handle.is_online_here(11));
    let presence = rig.bus.presence();
    assert_eq!(presence.last().map(|p| (p.0, p.1)), Some((11, false)));
}
