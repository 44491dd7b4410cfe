//! Criterion benchmarks of the hot paths: event serialisation and hub fan-out, JWT
//! verification, message validation (the socket's frame parsing and the body rules), and the
//! search vector every message stored on PostgreSQL carries.
//! `cargo bench -p huddle-bench`.
use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use huddle_auth::JwtKeys;
use huddle_domain::{lexemes, validation, DomainEvent, Message, User};
use huddle_realtime::bench_support::{self, FanoutRig};

fn message(body: &str) -> Message {
    Message {
        id: 123_456,
        room_id: 7,
        seq: 1,
        author: User {
            id: 42,
            username: "ann".into(),
            display_name: "Ann Example".into(),
            bio: String::new(),
            created_at: Utc::now(),
        },
        body: body.into(),
        client_msg_id: Some("c-0123456789".into()),
        created_at: Utc::now(),
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        event_seq: 1,
        reply_to: None,
        reply_to_id: None,
        mentions: Vec::new(),
        mentions_room: false,
        attachments: Vec::new(),
    }
}

const BODY: &str = "hello everyone, the deploy is done and the dashboards look fine; lunch at one?";

fn serialisation(c: &mut Criterion) {
    let event = DomainEvent::MessageCreated {
        room_id: 7,
        message: message(BODY),
        event_seq: 1,
    };
    c.bench_function("event_frame/message_created", |b| {
        b.iter(|| bench_support::event_frame(black_box(&event)))
    });
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub_fanout");
    for n in [1, 100, 1000] {
        let mut rig = FanoutRig::new(n, message(BODY));
        assert_eq!(rig.deliver(), n, "every connection gets the message");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| rig.deliver())
        });
    }
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
    let token = keys
        .issue(42, "family-0123456789", Duration::from_secs(900))
        .unwrap_or_default();
    assert!(keys.verify(&token).is_ok());
    c.bench_function("jwt/verify", |b| b.iter(|| keys.verify(black_box(&token))));
}

fn validation(c: &mut Criterion) {
    let frame = format!(
        r#"{{"type":"send","room_id":7,"body":"{BODY}","client_msg_id":"c-0123456789","ref":"r1"}}"#
    );
    assert!(bench_support::parse_client_frame(&frame));
    c.bench_function("validation/parse_send_frame", |b| {
        b.iter(|| bench_support::parse_client_frame(black_box(&frame)))
    });
    c.bench_function("validation/message_body", |b| {
        b.iter(|| validation::message_body(black_box(BODY)))
    });
    let long = "ü".repeat(4000);
    c.bench_function("validation/message_body_4000_chars", |b| {
        b.iter(|| validation::message_body(black_box(&long)))
    });
}

/// What Huddle now spends per stored message on PostgreSQL's search vector, which PostgreSQL
/// spent before (`to_tsvector`, BENCHMARKS.md "The search vector from Huddle").
fn search_vector(c: &mut Criterion) {
    c.bench_function("search_vector/message_body", |b| {
        b.iter(|| lexemes::tsvector(black_box(BODY)))
    });
    let long: String = BODY.chars().cycle().take(4000).collect();
    c.bench_function("search_vector/message_body_4000_chars", |b| {
        b.iter(|| lexemes::tsvector(black_box(&long)))
    });
}

criterion_group!(
    benches,
    serialisation,
    fanout,
    jwt,
    validation,
    search_vector
);
criterion_main!(benches);
