//! The `Topics` cache (under loom: one bucket of two entries, and every
//! other miss on a full bucket left uncached): a thread whose misses go
//! uncached and then cached (evicting an entry) races a thread hitting a
//! cached topic and a listener made on the main thread. Every emit
//! calls the old listener exactly once, the new one at most once, and an
//! emit that starts after `connect` returned calls the new one (also
//! on each topic after the race: no stale entry is left cached).

#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use sigwire::bus::Topics;

fn recorder(seen: &Arc<Mutex<Vec<u32>>>) -> impl Fn(&str, &u32) + Send + Sync + 'static {
    let seen = seen.clone();
    move |_: &str, v: &u32| seen.lock().unwrap().push(*v)
}

#[test]
fn a_miss_evicts_while_a_hit_and_a_connect_race() {
    loom::model(|| {
        let topics = Arc::new(Topics::<u32>::new());
        let (old, new) = (Arc::default(), Arc::default());
        let _old = topics.connect("t.*", recorder(&old)).unwrap();
        topics.emit("t.a", &0).unwrap();
        topics.emit("t.b", &0).unwrap(); // the bucket is full
        let connected = Arc::new(AtomicBool::new(false));

        let hitter = {
            let (topics, connected) = (topics.clone(), connected.clone());
            thread::spawn(move || {
                topics.emit("t.a", &1).unwrap();
                // Acquire: pairs with the Release below, so the next emit
                // starts after `connect` returned if this reads `true`.
                let after = connected.load(Ordering::Acquire);
                topics.emit("t.a", &2).unwrap();
                after
            })
        };
        let misser = {
            let topics = topics.clone();
            thread::spawn(move || {
                topics.emit("t.c", &3).unwrap(); // not cached
                topics.emit("t.d", &4).unwrap(); // cached: evicts t.a or t.b
            })
        };
        let _new = topics.connect(">", recorder(&new)).unwrap();
        connected.store(true, Ordering::Release);
        let after = hitter.join().unwrap();
        misser.join().unwrap();

        // After the race, the cache holds nothing stale.
        for (topic, v) in [("t.a", 5), ("t.c", 6), ("t.d", 7)] {
            topics.emit(topic, &v).unwrap();
        }

        let mut old = old.lock().unwrap().clone();
        old.sort_unstable();
        assert_eq!(
            old,
            [0, 0, 1, 2, 3, 4, 5, 6, 7],
            "each emit calls the old listener once"
        );
        let new = new.lock().unwrap().clone();
        for v in [1, 2, 3, 4] {
            assert!(new.iter().filter(|n| **n == v).count() <= 1, "{new:?}");
        }
        assert!(!new.contains(&0), "{new:?}");
        for v in [5, 6, 7] {
            assert!(new.contains(&v), "a stale cache entry: {new:?}");
        }
        if after {
            assert!(new.contains(&2), "an emit after connect missed it: {new:?}");
        }
        assert!(topics.cached_topics() <= 2);
    });
}
