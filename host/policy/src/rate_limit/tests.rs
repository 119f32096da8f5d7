use std::sync::Arc;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn request_301_in_a_minute_is_refused() {
    let limiter = RateLimiter::api();
    let t0 = Instant::now();
    let client = ip("203.0.113.5");
    for i in 0..300 {
        // Spread over the first 30 s, like a busy client.
        let at = t0 + Duration::from_millis(i * 100);
        assert_eq!(limiter.check(client, at), Ok(()), "request {}", i + 1);
    }
    let refused = limiter
        .check(client, t0 + Duration::from_secs(31))
        .expect_err("301st refused");
    assert!(!refused.table_full());
    assert!(refused.secs() >= 1);
    assert_eq!((refused.status(), refused.code()), (429, "rate_limited"));
    // Another client is unaffected.
    assert_eq!(
        limiter.check(ip("203.0.113.6"), t0 + Duration::from_secs(31)),
        Ok(())
    );
    // Waiting the advertised time is enough.
    let retry_at = t0 + Duration::from_secs(31) + refused.wait();
    assert_eq!(limiter.check(client, retry_at), Ok(()));
}

#[test]
fn allowed_again_after_the_window() {
    let limiter = RateLimiter::new(300, MINUTE).expect("valid");
    let t0 = Instant::now();
    let client = ip("198.51.100.1");
    for _ in 0..300 {
        limiter.check(client, t0).expect("within limit");
    }
    let refused = limiter.check(client, t0).expect_err("refused");
    // All 300 at t0: the full count weighs on the next window until w/l has passed in it.
    assert_eq!(refused.wait(), MINUTE + Duration::from_millis(200));
    assert_eq!(refused.secs(), 61);
    assert!(
        limiter.check(client, t0 + MINUTE).is_err(),
        "still 300 in the last 60 s"
    );
    assert_eq!(limiter.check(client, t0 + refused.wait()), Ok(()));
    // Two idle windows later the history is gone and the whole budget is back.
    let later = t0 + refused.wait() + 2 * MINUTE;
    for i in 0..300 {
        assert_eq!(
            limiter.check(client, later),
            Ok(()),
            "request {i} after two windows"
        );
    }
    assert!(limiter.check(client, later).is_err());
}

#[test]
fn no_double_burst_at_the_window_boundary() {
    // A fixed window would admit 300 at 59.9 s and 300 more at 60.1 s.
    let limiter = RateLimiter::api();
    let t0 = Instant::now();
    let client = ip("192.0.2.1");
    limiter
        .check(client, t0)
        .expect("first request opens the window");
    for _ in 1..300 {
        limiter
            .check(client, t0 + Duration::from_millis(59_900))
            .expect("within limit");
    }
    let after = t0 + Duration::from_millis(60_100);
    let admitted = (0..300)
        .filter(|_| limiter.check(client, after).is_ok())
        .count();
    assert!(
        admitted <= 1,
        "{admitted} admitted right after the boundary"
    );
}

#[test]
fn retry_after_is_exact() {
    // A deterministic pseudo-random schedule: whenever a request is refused, one at
    // `now + wait` must be admitted and one a nanosecond earlier refused.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (limit, window) in [
        (1, Duration::from_secs(1)),
        (5, Duration::from_secs(10)),
        (300, MINUTE),
        (7, Duration::from_millis(3)),
    ] {
        let t0 = Instant::now();
        let mut now = t0;
        let limiter = RateLimiter::new(limit, window).expect("valid");
        let client = ip("203.0.113.9");
        let mut refusals = 0;
        for _ in 0..2_000 {
            let step = window.as_nanos() as u64 / u64::from(limit) / 4 + 1;
            now += Duration::from_nanos(next() % (step * 2));
            if let Err(refused) = limiter.check(client, now) {
                refusals += 1;
                let wait = refused.wait();
                assert!(wait > Duration::ZERO);
                // Probe a copy of the state so the real schedule goes on undisturbed.
                let probe = RateLimiter::new(limit, window).expect("valid");
                copy_state(&limiter, &probe, client);
                assert!(
                    probe
                        .check(client, now + wait - Duration::from_nanos(1))
                        .is_err(),
                    "limit {limit}: too early admitted"
                );
                copy_state(&limiter, &probe, client);
                assert_eq!(
                    probe.check(client, now + wait),
                    Ok(()),
                    "limit {limit}: wait {wait:?} not enough"
                );
            }
        }
        assert!(refusals > 0, "limit {limit}: schedule never hit the limit");
    }
}

fn copy_state(from: &RateLimiter, to: &RateLimiter, client: IpAddr) {
    let key = from.key(client);
    let entry = *from.shards[from.shard_index(key)]
        .lock()
        .expect("lock")
        .entries
        .get(&key)
        .expect("tracked");
    let mut shard = to.shards[to.shard_index(key)].lock().expect("lock");
    shard.entries.clear();
    shard.entries.insert(key, entry);
}

#[test]
fn keys() {
    let limiter = RateLimiter::new(1, MINUTE).expect("valid");
    let t0 = Instant::now();
    // (case, first client, second client, share a budget)
    let cases: &[(&str, &str, &str, bool)] = &[
        ("same v4", "192.0.2.1", "192.0.2.1", true),
        ("different v4", "192.0.2.1", "192.0.2.2", false),
        (
            "mapped v4 is the v4 client",
            "192.0.2.3",
            "::ffff:192.0.2.3",
            true,
        ),
        ("same /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true),
        ("different /64", "2001:db8:1:2::1", "2001:db8:1:3::1", false),
    ];
    for (i, &(case, a, b, shared)) in cases.iter().enumerate() {
        // Each case gets its own minute so earlier cases do not interfere.
        let now = t0 + MINUTE * 3 * i as u32;
        assert_eq!(limiter.check(ip(a), now), Ok(()), "{case}: first");
        assert_eq!(limiter.check(ip(b), now).is_err(), shared, "{case}: second");
    }
    let per_address = RateLimiter::new(1, MINUTE)
        .expect("valid")
        .with_ipv6_prefix(128);
    assert_eq!(per_address.check(ip("2001:db8::1"), t0), Ok(()));
    assert_eq!(per_address.check(ip("2001:db8::2"), t0), Ok(()));
}

#[test]
fn invalid_configurations() {
    assert_eq!(
        RateLimiter::new(0, MINUTE).map(|_| ()),
        Err(RateLimitError::ZeroLimit)
    );
    assert_eq!(
        RateLimiter::new(1, Duration::ZERO).map(|_| ()),
        Err(RateLimitError::WindowTooShort)
    );
    assert_eq!(RateLimitError::ZeroLimit.code(), "invalid_rate_limit");
    let webhooks = RateLimiter::webhooks();
    assert_eq!((webhooks.limit(), webhooks.window()), (600, MINUTE));
}

#[test]
fn memory_is_bounded_and_fails_closed_for_newcomers() {
    // One key per shard: with 17 distinct clients at least one shard overflows.
    let limiter = RateLimiter::new(10, MINUTE)
        .expect("valid")
        .with_max_keys(SHARDS);
    let t0 = Instant::now();
    let results: Vec<_> = (0..64u8)
        .map(|i| limiter.check(IpAddr::from([192, 0, 2, i]), t0))
        .collect();
    let full: Vec<_> = results.iter().filter_map(|r| r.err()).collect();
    assert!(!full.is_empty());
    assert!(full.iter().all(|r| r.table_full() && r.wait() == MINUTE));
    assert!(limiter.tracked_clients() <= SHARDS);
    // Tracked clients keep working while the table is full.
    let tracked = (0..64u8)
        .find(|&i| results[usize::from(i)].is_ok())
        .map(|i| IpAddr::from([192, 0, 2, i]))
        .expect("some client was admitted");
    assert_eq!(limiter.check(tracked, t0 + Duration::from_secs(1)), Ok(()));
    // Once idle entries expire (two windows), newcomers fit again.
    let later = t0 + 2 * MINUTE;
    let admitted = (100..164u8)
        .filter(|&i| limiter.check(IpAddr::from([192, 0, 2, i]), later).is_ok())
        .count();
    assert!(admitted >= 1);
    assert!(limiter.tracked_clients() <= SHARDS);
}

#[test]
fn idle_clients_are_swept() {
    let limiter = RateLimiter::api();
    let t0 = Instant::now();
    for i in 0..200u8 {
        limiter
            .check(IpAddr::from([198, 51, 100, i]), t0)
            .expect("admitted");
    }
    assert_eq!(limiter.tracked_clients(), 200);
    // Touch every shard after two windows; each sweeps its idle entries.
    let later = t0 + 2 * MINUTE;
    for i in 0..200u8 {
        limiter
            .check(IpAddr::from([203, 0, 113, i]), later)
            .expect("admitted");
    }
    assert!(
        limiter.tracked_clients() <= 200 + 16,
        "{}",
        limiter.tracked_clients()
    );
    assert!(limiter.tracked_clients() >= 200);
}

#[test]
fn shared_across_threads() {
    let limiter = Arc::new(RateLimiter::new(1_000, MINUTE).expect("valid"));
    let t0 = Instant::now();
    let client = ip("192.0.2.77");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            std::thread::spawn(move || {
                (0..400)
                    .filter(|_| limiter.check(client, t0).is_ok())
                    .count()
            })
        })
        .collect();
    let admitted: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(
        admitted, 1_000,
        "exactly the limit is admitted under contention"
    );
}

#[test]
fn retry_after_seconds_round_up() {
    let r = |wait| RetryAfter {
        wait,
        table_full: false,
    };
    assert_eq!(r(Duration::from_millis(1)).secs(), 1);
    assert_eq!(r(Duration::ZERO).secs(), 1);
    assert_eq!(r(Duration::from_secs(2)).secs(), 2);
    assert_eq!(r(Duration::from_millis(2_001)).secs(), 3);
}
