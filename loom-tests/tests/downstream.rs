//! How a crate that uses sigwire model-checks its own code with loom.
//!
//! `reloader` below is written exactly as it would be in a user's `src/`: it
//! takes its atomics and locks from loom under `--cfg loom` and from std
//! otherwise, and talks to sigwire only through its public API. Built with
//! `RUSTFLAGS="--cfg loom"`, sigwire swaps its own synchronisation for loom's
//! too, so loom explores the interleavings of the user's code *and* of the
//! signals it goes through.
//!
//! The user's crate needs, in its Cargo.toml:
//!
//! ```toml
//! [target.'cfg(loom)'.dev-dependencies]
//! loom = "0.7"
//! # Only if library code (not just tests) switches to loom, as `reloader`
//! # would in a real crate's src/:
//! # [target.'cfg(loom)'.dependencies]
//! # loom = "0.7"
//!
//! [lints.rust]
//! unexpected_cfgs = { level = "warn", check-cfg = ['cfg(loom)'] }
//! ```
//!
//! and runs:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test downstream
//! ```
//!
//! The file is not gated as a whole: without `--cfg loom` the same user code
//! builds on std and the plain test at the bottom runs it on real threads;
//! with it, the loom models run instead.

/// User code: a configuration reloader and a view that follows it.
///
/// Any thread may call `Reloader::reload`; each call takes the next version
/// number and emits the new configuration. Two reloads racing can deliver
/// their configurations in either order, so `ConfigView` keeps a new
/// configuration only if it is newer than the one it has: its version never
/// goes backwards.
mod reloader {
    #[cfg(loom)]
    use loom::sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    };
    #[cfg(not(loom))]
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    };

    use sigwire::{Connection, SyncSignal};

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Config {
        pub version: u64,
        pub max_connections: u32,
    }

    #[derive(Default)]
    pub struct Reloader {
        last_version: AtomicU64,
        pub changed: SyncSignal<Config>,
    }

    impl Reloader {
        /// Publishes a new configuration; returns its version.
        pub fn reload(&self, max_connections: u32) -> u64 {
            // Relaxed: only the uniqueness and order of versions matter.
            let version = self.last_version.fetch_add(1, Ordering::Relaxed) + 1;
            self.changed.emit(&Config {
                version,
                max_connections,
            });
            version
        }
    }

    /// The newest configuration this view has seen.
    pub struct ConfigView {
        current: Arc<Mutex<Config>>,
        connection: Connection,
    }

    impl ConfigView {
        pub fn follow(reloader: &Reloader, initial: Config) -> Self {
            let current = Arc::new(Mutex::new(initial));
            let shared = Arc::clone(&current);
            let connection = reloader.changed.connect(move |new: &Config| {
                let mut current = shared.lock().unwrap();
                // Reloads race: keep only a newer configuration. (Writing
                // `*current = new.clone()` unconditionally is the bug the
                // model below catches: the view then can go backwards.)
                if new.version > current.version {
                    *current = new.clone();
                }
            });
            Self {
                current,
                connection,
            }
        }

        pub fn current(&self) -> Config {
            self.current.lock().unwrap().clone()
        }

        /// Stops following; once this returns the view no longer changes.
        pub fn detach(&self) {
            // The view is never detached from inside a reload's emit, so
            // WouldDeadlock cannot happen here.
            self.connection
                .disconnect_wait()
                .expect("detach is not called from a listener");
        }
    }
}

/// The user's loom models.
#[cfg(loom)]
mod loom_tests {
    use loom::sync::Arc;
    use loom::thread;

    use super::reloader::{Config, ConfigView, Reloader};

    const INITIAL: Config = Config {
        version: 0,
        max_connections: 10,
    };

    /// Two reloads race while a reader watches the view: the reader never
    /// sees the version go backwards, and the view ends on the newest
    /// configuration, whole (its fields from the same reload).
    #[test]
    fn view_never_goes_backwards_under_racing_reloads() {
        loom::model(|| {
            let reloader = Arc::new(Reloader::default());
            let view = Arc::new(ConfigView::follow(&reloader, INITIAL));

            let reloads: Vec<_> = [20, 30]
                .into_iter()
                .map(|max| {
                    let reloader = Arc::clone(&reloader);
                    thread::spawn(move || {
                        let version = reloader.reload(max);
                        (version, max)
                    })
                })
                .collect();

            let first = view.current();
            let second = view.current();
            assert!(second.version >= first.version, "{first:?} then {second:?}");

            let mut published: Vec<(u64, u32)> =
                reloads.into_iter().map(|t| t.join().unwrap()).collect();
            published.sort();
            let (newest, newest_max) = published[1];
            assert_eq!(
                view.current(),
                Config {
                    version: newest,
                    max_connections: newest_max,
                },
                "the view must end on the newest configuration"
            );
        });
    }

    /// `detach` races a reload: once `detach` returns, the view is final
    /// (a reload still running its listener must have finished).
    #[test]
    fn view_is_final_after_detach() {
        loom::model(|| {
            let reloader = Arc::new(Reloader::default());
            let view = Arc::new(ConfigView::follow(&reloader, INITIAL));

            let reload = {
                let reloader = Arc::clone(&reloader);
                thread::spawn(move || reloader.reload(20))
            };

            view.detach();
            let at_detach = view.current();
            reload.join().unwrap();
            assert_eq!(view.current(), at_detach, "the view changed after detach");
            assert!(reloader.changed.is_empty());
        });
    }
}

/// The same user code on std, in an ordinary test run.
#[cfg(not(loom))]
mod std_tests {
    use std::sync::Arc;
    use std::thread;

    use super::reloader::{Config, ConfigView, Reloader};

    #[test]
    fn view_follows_reloads() {
        let reloader = Arc::new(Reloader::default());
        let view = ConfigView::follow(
            &reloader,
            Config {
                version: 0,
                max_connections: 10,
            },
        );
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let reloader = Arc::clone(&reloader);
                thread::spawn(move || reloader.reload(i))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(view.current().version, 4);
        view.detach();
        reloader.reload(99);
        assert_eq!(view.current().version, 4);
    }
}
