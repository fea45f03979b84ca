//! The signaling state machine on its own: who hears about whom, where signals go, what is
//! refused, and places kept across dropped connections, in simulated time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_rtc::{
    ErrorCode, Event, JoinRequest, Joined, LeaveReason, Outbound, Signaling, SignalingConfig,
};

fn request(room: &str, name: &str) -> JoinRequest {
    JoinRequest {
        room: room.into(),
        name: name.into(),
        meta: json!(null),
        resume: None,
    }
}

/// Joins connection `conn` as participant `p-<conn>` with token `t-<conn>`.
fn join(s: &mut Signaling, conn: &str, room: &str, now: Instant) -> (Joined, Vec<Outbound>) {
    s.join(
        Arc::from(conn),
        request(room, conn),
        Arc::from(format!("p-{conn}")),
        format!("t-{conn}"),
        now,
    )
    .expect("joins")
}

fn sent_to<'a>(out: &'a [Outbound], conn: &str) -> Vec<&'a Event> {
    out.iter()
        .filter(|o| &*o.to == conn)
        .map(|o| &o.event)
        .collect()
}

#[test]
fn joiners_see_the_room_and_the_room_sees_them() {
    let now = Instant::now();
    let mut s = Signaling::default();
    let (a, out) = join(&mut s, "a", "r", now);
    assert!(a.peers.is_empty() && out.is_empty() && !a.resumed);
    let (b, out) = join(&mut s, "b", "r", now);
    assert_eq!(b.peers.iter().map(|p| &*p.id).collect::<Vec<_>>(), ["p-a"]);
    assert_eq!(out.len(), 1);
    assert!(matches!(sent_to(&out, "a")[0], Event::PeerJoined(p) if &*p.id == "p-b"));
    let (_, out) = join(&mut s, "c", "other", now);
    assert!(out.is_empty(), "other rooms hear nothing");
    assert_eq!(s.room_size("r"), 2);
    assert_eq!(s.participant_of("b").map(|p| &**p), Some("p-b"));

    let out = s.leave("a").expect("leaves");
    assert_eq!(
        sent_to(&out, "b"),
        [&Event::PeerLeft {
            id: Arc::from("p-a"),
            reason: LeaveReason::Left
        }]
    );
    assert_eq!(s.leave("a").unwrap_err().code, ErrorCode::NotJoined);
}

#[test]
fn signals_reach_the_addressed_peer_of_the_same_room_only() {
    let now = Instant::now();
    let mut s = Signaling::default();
    join(&mut s, "a", "r", now);
    join(&mut s, "b", "r", now);
    join(&mut s, "c", "r", now);
    join(&mut s, "x", "elsewhere", now);
    let out = s
        .signal("a", "p-b", json!({ "sdp": "v=0" }), now)
        .expect("relayed");
    assert_eq!(
        out,
        [Outbound {
            to: Arc::from("b"),
            event: Event::Signal {
                from: Arc::from("p-a"),
                data: json!({ "sdp": "v=0" })
            },
        }]
    );
    for (to, code) in [
        ("p-x", ErrorCode::UnknownPeer),
        ("nobody", ErrorCode::UnknownPeer),
        ("p-a", ErrorCode::UnknownPeer),
    ] {
        assert_eq!(
            s.signal("a", to, json!(1), now).unwrap_err().code,
            code,
            "to {to}"
        );
    }
    assert_eq!(
        s.signal("zz", "p-a", json!(1), now).unwrap_err().code,
        ErrorCode::NotJoined
    );
}

#[test]
fn bad_requests_are_refused_without_touching_the_room() {
    let now = Instant::now();
    let mut s = Signaling::new(SignalingConfig {
        max_participants: 2,
        ..Default::default()
    });
    for room in ["", "with space", "ü", &"x".repeat(65)] {
        let err = s
            .join(
                Arc::from("a"),
                request(room, "a"),
                Arc::from("p"),
                "t".into(),
                now,
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest, "room {room:?}");
    }
    let err = s
        .join(
            Arc::from("a"),
            request("r", &"n".repeat(65)),
            Arc::from("p"),
            "t".into(),
            now,
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
    let mut big = request("r", "a");
    big.meta = json!("m".repeat(5000));
    let err = s
        .join(Arc::from("a"), big, Arc::from("p"), "t".into(), now)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);

    join(&mut s, "a", "r", now);
    let err = s
        .join(
            Arc::from("a"),
            request("r2", "a"),
            Arc::from("p2"),
            "t2".into(),
            now,
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::AlreadyJoined);
    join(&mut s, "b", "r", now);
    let err = s
        .join(
            Arc::from("c"),
            request("r", "c"),
            Arc::from("p-c"),
            "t-c".into(),
            now,
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RoomFull);
    assert_eq!(s.room_size("r"), 2);
}

#[test]
fn oversized_and_flooding_signals_are_refused_to_their_sender_only() {
    let now = Instant::now();
    let config = SignalingConfig {
        max_signals: 10,
        ..Default::default()
    };
    let mut s = Signaling::new(config);
    join(&mut s, "a", "r", now);
    join(&mut s, "b", "r", now);
    let huge = json!("s".repeat(70 * 1024));
    assert_eq!(
        s.signal("a", "p-b", huge, now).unwrap_err().code,
        ErrorCode::TooLarge
    );
    for _ in 0..9 {
        s.signal("a", "p-b", json!("c"), now)
            .expect("within the limit");
    }
    assert_eq!(
        s.signal("a", "p-b", json!("c"), now).unwrap_err().code,
        ErrorCode::RateLimited
    );
    // b is not affected, and a may signal again in the next window.
    s.signal("b", "p-a", json!("c"), now)
        .expect("b still signals");
    s.signal("a", "p-b", json!("c"), now + Duration::from_secs(10))
        .expect("next window");
}

#[test]
fn a_dropped_connection_keeps_its_place_and_gets_its_signals_on_resume() {
    let now = Instant::now();
    let mut s = Signaling::default();
    join(&mut s, "a", "r", now);
    join(&mut s, "b", "r", now);
    let out = s.connection_lost("a", now);
    assert_eq!(
        sent_to(&out, "b"),
        [&Event::PeerAway {
            id: Arc::from("p-a")
        }]
    );
    assert_eq!(s.next_expiry(), Some(now + Duration::from_secs(30)));
    // Signals for a are kept while it is away.
    assert!(s
        .signal("b", "p-a", json!(1), now)
        .expect("queued")
        .is_empty());
    assert!(s
        .signal("b", "p-a", json!(2), now)
        .expect("queued")
        .is_empty());

    let mut back = request("r", "a");
    back.resume = Some("t-a".into());
    let later = now + Duration::from_secs(10);
    let (joined, out) = s
        .join(
            Arc::from("a2"),
            back,
            Arc::from("unused"),
            "unused".into(),
            later,
        )
        .expect("resumes");
    assert!(joined.resumed);
    assert_eq!(&*joined.id, "p-a");
    assert_eq!(joined.resume, "t-a");
    assert_eq!(joined.peers.len(), 1);
    let data: Vec<_> = out
        .iter()
        .filter_map(|o| match &o.event {
            Event::Signal { data, .. } => Some((&*o.to, data.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(data[..2], [("a2", json!(1)), ("a2", json!(2))]);
    assert_eq!(
        sent_to(&out, "b"),
        [&Event::PeerBack {
            id: Arc::from("p-a")
        }]
    );
    assert!(
        s.expire(now + Duration::from_secs(60)).is_empty(),
        "no longer away"
    );
    let out = s.signal("b", "p-a", json!(3), later).expect("relayed");
    assert_eq!(&*out[0].to, "a2");
}

#[test]
fn a_participant_that_does_not_come_back_times_out() {
    let now = Instant::now();
    let mut s = Signaling::default();
    join(&mut s, "a", "r", now);
    join(&mut s, "b", "r", now);
    s.connection_lost("a", now);
    assert!(s.expire(now + Duration::from_secs(29)).is_empty());
    let out = s.expire(now + Duration::from_secs(30));
    assert_eq!(
        sent_to(&out, "b"),
        [&Event::PeerLeft {
            id: Arc::from("p-a"),
            reason: LeaveReason::Timeout
        }]
    );
    assert_eq!(s.room_size("r"), 1);
    assert_eq!(s.next_expiry(), None);
    // The token is spent: a late resume is a new participant.
    let mut late = request("r", "a");
    late.resume = Some("t-a".into());
    let (joined, _) = s
        .join(
            Arc::from("a3"),
            late,
            Arc::from("p-new"),
            "t-new".into(),
            now,
        )
        .expect("joins afresh");
    assert!(!joined.resumed);
    assert_eq!(&*joined.id, "p-new");
}

#[test]
fn leaving_on_purpose_is_announced_at_once_and_tokens_stay_in_their_room() {
    let now = Instant::now();
    let mut s = Signaling::default();
    join(&mut s, "a", "r", now);
    join(&mut s, "b", "r", now);
    let out = s.connection_closed("a");
    assert_eq!(
        sent_to(&out, "b"),
        [&Event::PeerLeft {
            id: Arc::from("p-a"),
            reason: LeaveReason::Disconnected
        }]
    );
    // b's token does not open a place in another room.
    s.connection_lost("b", now);
    let mut elsewhere = request("other", "b");
    elsewhere.resume = Some("t-b".into());
    let (joined, _) = s
        .join(
            Arc::from("b2"),
            elsewhere,
            Arc::from("p-b2"),
            "t-b2".into(),
            now,
        )
        .expect("joins afresh");
    assert!(!joined.resumed);
}
