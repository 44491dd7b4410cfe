//! A short run of the load generator (about 3 s of sending) against the real server (its
//! native socket and `/socket.io/`) and against the bare server: every acknowledged message reaches every connection of its room
//! exactly once; and the search scenario in small on PostgreSQL. Timings are printed, never
//! asserted.
use std::time::Duration;

use huddle_bench::load::{self, Conn, Load, SendMode, Target};
use huddle_bench::setup::Api;
use huddle_test_support::{Backend, TestApp};

const ROOMS: usize = 3;
const PER_ROOM: usize = 10;
const SENDERS_PER_ROOM: usize = 3;

fn load(target: Target, conns: Vec<Conn>, mode: SendMode) -> Load {
    let senders = (0..conns.len())
        .filter(|i| i % PER_ROOM < SENDERS_PER_ROOM)
        .collect();
    Load {
        target,
        conns,
        senders,
        mode,
        warmup: Duration::from_millis(500),
        duration: Duration::from_millis(2500),
        drain: Duration::from_secs(10),
        body_bytes: 16,
        connect_parallel: 16,
    }
}

fn check(r: &load::LoadResult) {
    println!("{r:?}");
    assert_eq!(r.connect_failures, 0, "{r:?}");
    assert!(r.acked > 0, "nothing was acknowledged: {r:?}");
    assert_eq!(r.lost, 0, "{r:?}");
    assert_eq!(r.duplicates, 0, "{r:?}");
    assert_eq!(r.send_errors, 0, "{r:?}");
    assert_eq!(r.disconnects, 0, "{r:?}");
}

/// One connection per member of each room, as that member.
fn conns_of(rooms: &[(i64, Vec<huddle_bench::setup::User>)]) -> Vec<Conn> {
    rooms
        .iter()
        .flat_map(|(room, members)| {
            members.iter().map(|u| Conn {
                room: *room,
                token: Some(u.token.clone()),
            })
        })
        .collect()
}

/// Registers the users of the rooms on a fresh server, then runs an open loop at a modest
/// rate and a closed loop (as fast as acks allow) against the target `api` makes.
async fn huddle_run(prefix: &str, target: impl Fn(&Api) -> Target) -> Vec<load::LoadResult> {
    let app = TestApp::spawn_unthrottled(Backend::Sqlite).await;
    let api = Api::new(&app.address).unwrap();
    let users = api.register_users(prefix, ROOMS * PER_ROOM).await.unwrap();
    let rooms = api.rooms_of(&users, ROOMS, prefix).await.unwrap();
    let conns = conns_of(&rooms);
    let target = target(&api);
    let open = SendMode::Open {
        rate: 20.0,
        max_in_flight: 100,
    };
    let mut results = Vec::new();
    for mode in [open, SendMode::Closed { window: 2 }] {
        let r = load::run(&load(target.clone(), conns.clone(), mode), &mut [])
            .await
            .unwrap();
        check(&r);
        assert_eq!(r.connections, ROOMS * PER_ROOM);
        results.push(r);
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huddle_delivers_every_message_once() {
    huddle_run("smoke", |api| Target::Huddle {
        ws_url: api.ws_url(),
    })
    .await;
}

/// The same through `/socket.io/`, spoken as `socket.io-client` speaks it over WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huddle_delivers_every_message_once_through_socketio() {
    let results = huddle_run("sio", |api| Target::SocketIo {
        ws_url: api.socketio_url(),
    })
    .await;
    assert!(results.iter().all(|r| r.target == "socketio"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_server_delivers_every_message_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _stats = huddle_bench::bare::spawn(listener);
    let conns: Vec<Conn> = (0..ROOMS * PER_ROOM)
        .map(|i| Conn {
            room: (i / PER_ROOM) as i64,
            token: None,
        })
        .collect();
    let target = Target::Bare {
        ws_url: format!("ws://127.0.0.1:{port}/ws"),
    };
    let open = SendMode::Open {
        rate: 50.0,
        max_in_flight: 100,
    };
    let r = load::run(&load(target, conns, open), &mut [])
        .await
        .unwrap();
    check(&r);
    assert!(r.deliveries_per_s > 0.0);
}

/// The search scenario in small on `backend`: 5,000 seeded messages in 5 rooms; every planted
/// count right, the outsider finds nothing, then 2 s of searches at 50/s with every answer
/// right. The corpus's words come from PostgreSQL's stemmer on both backends.
async fn search_finds_what_was_seeded(backend: Backend) {
    use diesel::Connection;
    use huddle_bench::{db, scenarios, search};

    const MESSAGES: i64 = 5000;
    let stemmer = huddle_test_support::TestDb::create(Backend::Postgres);
    let app = TestApp::spawn(backend).await;
    let api = Api::new(&app.address).unwrap();
    let users = api.register_users("search", 2).await.unwrap();
    let (member, outsider) = (users[0].clone(), users[1].clone());
    let mut rooms = Vec::new();
    for r in 0..5 {
        rooms.push(api.create_room(&member, &format!("s{r}")).await.unwrap());
    }
    let (url, stem_url, rooms2, author) = (
        app.db_url.clone(),
        stemmer.url.clone(),
        rooms.clone(),
        member.id,
    );
    let corpus = tokio::task::spawn_blocking(move || {
        let corpus =
            db::search_corpus(&mut diesel::PgConnection::establish(&stem_url).unwrap()).unwrap();
        match backend {
            Backend::Postgres => {
                let mut c = diesel::PgConnection::establish(&url).unwrap();
                db::seed_search(&mut c, &rooms2, author, &corpus, MESSAGES).unwrap();
            }
            Backend::Sqlite => {
                let mut c = huddle_persistence::DatabaseConfig::from_url(&url, 1)
                    .connect()
                    .unwrap();
                db::seed_search_sqlite(&mut c, &rooms2, author, &corpus, MESSAGES).unwrap();
            }
        }
        corpus
    })
    .await
    .unwrap();
    let workload = search::Workload::new(&corpus, &rooms);
    let check = scenarios::search_check(
        &api,
        &app.db_url,
        &member,
        &outsider,
        &rooms,
        &corpus,
        &workload,
        MESSAGES,
    )
    .await
    .unwrap();
    println!("{check:?}");
    assert!(check.passed(), "{check:?}");
    assert!(check.planted.iter().any(|p| p.found > 0), "{check:?}");
    assert!(check.outsider_queries > 0 && check.outsider_room_queries == 5);

    let load = search::SearchLoad {
        base: api.base.clone(),
        token: member.token.clone(),
        rooms: std::sync::Arc::new(rooms.iter().copied().collect()),
        workload: std::sync::Arc::new(workload),
        rate: 50.0,
        limit: 20,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(2),
        drain: Duration::from_secs(10),
    };
    let r = search::run(&load, &mut []).await.unwrap();
    println!("{r:?}");
    assert!(r.requests >= 95, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    assert_eq!(r.wrong, 0, "{r:?}");
    // Every kind ran, and the common words filled their pages.
    assert!(r.by_kind.iter().all(|k| k.requests > 0), "{r:?}");
    let common = r
        .by_kind
        .iter()
        .find(|k| k.kind == search::Kind::Common)
        .unwrap();
    assert_eq!(common.hits_mean, 20.0, "{r:?}");
}

/// Skipped, loudly, without PostgreSQL (never under CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_what_was_seeded_on_postgres() {
    if Backend::Postgres.available() {
        search_finds_what_was_seeded(Backend::Postgres).await;
    }
}

/// Needs PostgreSQL too, for the corpus's stemmer: skipped, loudly, without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_what_was_seeded_on_sqlite() {
    if Backend::Postgres.available() {
        search_finds_what_was_seeded(Backend::Sqlite).await;
    }
}

/// GETs `path` on `api` as `token`, as JSON.
async fn get_json(api: &Api, token: &str, path: &str) -> serde_json::Value {
    let resp = api
        .client
        .get(format!("{}{path}", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// The seqs of a room's newest `limit` messages, oldest first, from Huddle's history.
async fn newest_seqs(api: &Api, token: &str, room: i64, limit: usize) -> Vec<i64> {
    let page = get_json(
        api,
        token,
        &format!("/api/v1/rooms/{room}/messages?limit={limit}"),
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

/// What the store and history scenarios do straight in the database, on `backend`: the naive
/// baseline's messages, the check of Huddle's acked sends (four in flight), and the seeded
/// history, each read back through Huddle.
async fn store_and_history_parts(backend: Backend) {
    use huddle_bench::db;

    let app = TestApp::spawn_unthrottled(backend).await;
    let api = Api::new(&app.address).unwrap();
    let users = api.register_users("store", 4).await.unwrap();
    let owner = users[0].clone();

    // The naive baseline, two connections into one room: what it counts is stored, numbered
    // 1, 2, 3... without a gap or a repeat.
    let naive_room = api.create_room(&owner, "naive").await.unwrap();
    let url = app.db_url.clone();
    let naive = tokio::task::spawn_blocking(move || {
        db::naive_store(
            &url,
            &[(naive_room, owner.id)],
            2,
            16,
            Duration::from_millis(100),
            Duration::from_millis(400),
        )
    })
    .await
    .unwrap()
    .unwrap();
    println!("{naive:?}");
    assert!(naive.stored > 0, "{naive:?}");
    let seqs = newest_seqs(&api, &users[0].token, naive_room, 100).await;
    let last = *seqs.last().unwrap();
    assert!(last >= i64::try_from(naive.stored).unwrap(), "{seqs:?}");
    assert_eq!(
        seqs,
        ((last - seqs.len() as i64 + 1)..=last).collect::<Vec<_>>()
    );

    // Huddle's sends, four in flight: every acked one is found, seqs gap-free; a send that
    // was never made is reported missing.
    let rooms = api.rooms_of(&users, 2, "store").await.unwrap();
    let conns = conns_of(&rooms);
    let l = Load {
        senders: (0..conns.len()).collect(),
        ..load(
            Target::Huddle {
                ws_url: api.ws_url(),
            },
            conns,
            SendMode::Closed { window: 4 },
        )
    };
    let r = load::run(&l, &mut []).await.unwrap();
    check(&r);
    let mut outcomes = r.sender_outcomes.clone();
    let mut c = huddle_persistence::DatabaseConfig::from_url(&app.db_url, 1)
        .connect()
        .unwrap();
    let checked = {
        let o = outcomes.clone();
        tokio::task::spawn_blocking(move || {
            let check = db::verify_store(&mut c, &o).unwrap();
            (check, c)
        })
        .await
        .unwrap()
    };
    let (check, mut c) = checked;
    println!("{check:?}");
    assert_eq!(check.acked, r.acked, "{check:?}");
    assert_eq!((check.acked_missing, check.rooms_with_seq_gaps), (0, 0));
    assert_eq!(check.rows, r.acked, "{check:?}");
    outcomes[0].replied_upto = outcomes[0].sent + 1;
    let check = tokio::task::spawn_blocking(move || db::verify_store(&mut c, &outcomes).unwrap())
        .await
        .unwrap();
    assert_eq!(check.acked_missing, 1, "{check:?}");

    // A seeded history: Huddle pages it like any other.
    let history_room = api.create_room(&users[1], "history").await.unwrap();
    let (url, author) = (app.db_url.clone(), users[1].id);
    tokio::task::spawn_blocking(move || {
        let mut c = huddle_persistence::DatabaseConfig::from_url(&url, 1)
            .connect()
            .unwrap();
        db::seed_history(&mut c, history_room, author, 500).unwrap();
    })
    .await
    .unwrap();
    let seqs = newest_seqs(&api, &users[1].token, history_room, 50).await;
    assert_eq!(seqs, (451..=500).collect::<Vec<_>>());
    let page = get_json(
        &api,
        &users[1].token,
        &format!("/api/v1/rooms/{history_room}/messages?before_seq=2&limit=50"),
    )
    .await;
    assert_eq!(
        page["items"][0]["body"],
        "history message number 1, long enough to look like a chat line"
    );
    // Lived in: seq 500 has the seeded reaction and file, seq 499 neither.
    let newest = get_json(
        &api,
        &users[1].token,
        &format!("/api/v1/rooms/{history_room}/messages?limit=2"),
    )
    .await;
    let [older, last] = [&newest["items"][0], &newest["items"][1]];
    assert_eq!(
        (older["seq"].as_i64(), last["seq"].as_i64()),
        (Some(499), Some(500))
    );
    assert_eq!(older["reactions"], serde_json::json!([]));
    assert_eq!(older["attachments"], serde_json::json!([]));
    assert_eq!(last["reactions"][0]["emoji"], "👍");
    assert_eq!(last["reactions"][0]["count"], 1);
    assert_eq!(last["attachments"][0]["name"], "photo.png");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_history_parts_on_sqlite() {
    store_and_history_parts(Backend::Sqlite).await;
}

/// Skipped, loudly, without PostgreSQL (never under CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_history_parts_on_postgres() {
    if Backend::Postgres.available() {
        store_and_history_parts(Backend::Postgres).await;
    }
}
