//! A small plugin-style application on `sigwire::bus`: modules connect to
//! topics, validators answer a scatter-gather request (on the pool, with a
//! timeout) before a configuration change is applied, components start
//! receiving configuration only after everything is connected, a dashboard
//! opened late replays the recent activity, and delivery statistics are
//! read at the end.
//!
//! Run with `cargo run --example bus`. It checks what it prints and exits
//! non-zero if a check fails.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigwire::bus::{EventBus, HeldSignal, HistorySignal, Requests, Topics};

/// A configuration change, validated before it is applied.
#[derive(Debug, Clone)]
struct ConfigChange {
    key: &'static str,
    value: i64,
}

/// A domain event published on topics like `user.created`.
#[derive(Debug, Clone)]
struct Event {
    user: u64,
}

/// Shutdown, broadcast by type on the bus.
struct Shutdown;

/// What the plugins observed, for the final checks.
#[derive(Default)]
struct Observed {
    audit: Mutex<Vec<String>>,
    welcomes: AtomicU64,
    applied: Mutex<Vec<(String, i64)>>,
    config_seen_by_cache: Mutex<Vec<String>>,
    shutdowns: AtomicU64,
    dashboard: Mutex<Vec<String>>,
}

/// The application's wiring: a bus for typed events, topics for domain
/// events, validators, and configuration held until start-up completes.
struct App {
    bus: EventBus,
    topics: Topics<Event>,
    validators: Requests<ConfigChange, String>,
    config: HeldSignal<ConfigChange>,
    /// The last few audit lines, replayed to late viewers.
    activity: Arc<HistorySignal<String>>,
}

impl App {
    fn new() -> Self {
        let app = Self {
            bus: EventBus::new(),
            topics: Topics::new(),
            validators: Requests::new(),
            config: HeldSignal::new(64).expect("a positive capacity"),
            activity: Arc::new(HistorySignal::new(3).expect("a positive capacity")),
        };
        app.bus.enable_stats();
        app.topics.enable_stats();
        app.config.signal().enable_stats();
        app
    }

    /// Validates `change` with every validator, in parallel on the pool,
    /// waiting at most 5 s; applies it only if none objects, fails or is
    /// too slow. Returns the objections.
    fn change_config(&self, change: ConfigChange) -> Vec<String> {
        let replies = self.validators.gather(
            change.clone(),
            self.validators.len(),
            Duration::from_secs(5),
        );
        let mut objections: Vec<String> = replies
            .answers()
            .iter()
            .map(|(who, why)| format!("{who}: {why}"))
            .collect();
        objections.extend(
            replies
                .errors()
                .iter()
                .map(|(who, e)| format!("{who} failed: {e}")),
        );
        objections.extend(
            replies
                .timed_out()
                .iter()
                .map(|who| format!("{who} did not answer in time")),
        );
        if objections.is_empty() {
            // Before `start` this is held; afterwards delivered at once.
            if let Err(rejected) = self.config.emit(change) {
                objections.push(format!("not applied: {rejected}"));
            }
        }
        objections
    }
}

/// The audit plugin: records every user event, whatever its topic, and
/// publishes each audit line as recent activity.
fn audit_plugin(app: &App, seen: &Arc<Observed>) {
    let seen = Arc::clone(seen);
    let activity = Arc::clone(&app.activity);
    app.topics
        .connect("user.>", move |topic: &str, e: &Event| {
            let line = format!("{topic} #{}", e.user);
            seen.audit.lock().unwrap().push(line.clone());
            activity.emit(line);
        })
        .expect("a valid pattern");
}

/// The dashboard, opened late: it replays the recent activity, then
/// follows it live.
fn dashboard(app: &App, seen: &Arc<Observed>) {
    let s = Arc::clone(seen);
    app.activity
        .connect_with_replay(move |line: &String| s.dashboard.lock().unwrap().push(line.clone()));
}

/// The mail plugin: welcomes created users only; refuses zero timeouts.
fn mail_plugin(app: &App, seen: &Arc<Observed>) {
    let s = Arc::clone(seen);
    app.topics
        .connect("user.created", move |_: &str, _: &Event| {
            s.welcomes.fetch_add(1, Relaxed);
        })
        .expect("a valid pattern");
    app.validators.respond("mail", |c: &ConfigChange| {
        Ok((c.key == "mail.timeout_ms" && c.value <= 0)
            .then(|| "a timeout must be positive".to_string()))
    });
    let s = Arc::clone(seen);
    app.bus.connect(move |_: &Shutdown| {
        s.shutdowns.fetch_add(1, Relaxed);
    });
}

/// The cache plugin: applies configuration; refuses sizes over a limit,
/// and fails on keys it cannot parse.
fn cache_plugin(app: &App, seen: &Arc<Observed>) {
    app.validators.respond("cache", |c: &ConfigChange| {
        if c.key.is_empty() {
            return Err("empty key".into());
        }
        Ok((c.key == "cache.size" && c.value > 1_000_000)
            .then(|| "at most 1000000 entries".to_string()))
    });
    let s = Arc::clone(seen);
    app.config.signal().connect(move |c: &ConfigChange| {
        s.config_seen_by_cache
            .lock()
            .unwrap()
            .push(c.key.to_string());
    });
    let s = Arc::clone(seen);
    app.bus.connect(move |_: &Shutdown| {
        s.shutdowns.fetch_add(1, Relaxed);
    });
}

/// The settings store: the component that applies configuration.
fn settings_store(app: &App, seen: &Arc<Observed>) {
    let s = Arc::clone(seen);
    app.config.signal().connect(move |c: &ConfigChange| {
        s.applied.lock().unwrap().push((c.key.to_string(), c.value));
    });
}

fn main() -> ExitCode {
    let app = App::new();
    let seen = Arc::new(Observed::default());

    // 1. Start-up: a default configuration arrives before the components
    //    that apply it are wired; it is held, not lost.
    audit_plugin(&app, &seen);
    let early = app.change_config(ConfigChange {
        key: "cache.size",
        value: 10_000,
    });
    mail_plugin(&app, &seen);
    cache_plugin(&app, &seen);
    settings_store(&app, &seen);
    println!(
        "start-up: {} plugin listeners, {} validators, {} configuration change(s) held",
        app.topics.len(),
        app.validators.len(),
        app.config.held()
    );
    app.config.start();

    // 2. Domain events on topics.
    let mut created = app.topics.publisher("user.created").expect("a valid topic");
    for user in 1..=3 {
        created.emit(&Event { user });
    }
    app.topics
        .emit("user.deleted", &Event { user: 2 })
        .expect("a valid topic");
    app.topics
        .emit("order.filled", &Event { user: 1 })
        .expect("a valid topic"); // nobody
    println!(
        "events: {} audited, {} welcome mails",
        seen.audit.lock().unwrap().len(),
        seen.welcomes.load(Relaxed)
    );

    // 3. A dashboard opens late: it replays the last 3 audit lines, then
    //    sees a new one live.
    dashboard(&app, &seen);
    app.topics
        .emit("user.created", &Event { user: 4 })
        .expect("a valid topic");
    println!("dashboard: {:?}", seen.dashboard.lock().unwrap());

    // 4. Configuration changes, validated by scatter-gather first.
    let accepted = app.change_config(ConfigChange {
        key: "mail.timeout_ms",
        value: 5_000,
    });
    let refused = app.change_config(ConfigChange {
        key: "cache.size",
        value: 5_000_000,
    });
    let failed = app.change_config(ConfigChange { key: "", value: 1 });
    println!("config: accepted {accepted:?}");
    println!("config: refused {refused:?}");
    println!("config: failed {failed:?}");

    // 5. Shutdown, broadcast by type.
    app.bus.emit(&Shutdown);

    // 6. Delivery statistics.
    let bus_stats = app.bus.stats();
    let created = app.topics.topic_stats("user.created").unwrap_or_default();
    let nobody = app.topics.topic_stats("order.filled").unwrap_or_default();
    let config = app.config.signal().stats();
    // `delivered` counts deliveries, one event to one listener: the one
    // shutdown reached two plugins, each applied change two components,
    // each of the four `user.created` events two listeners (the audit's
    // `user.>` and the welcome's `user.created`).
    println!(
        "stats: bus {} delivered; user.created {} delivered; order.filled {} emitted, {} delivered (nobody listens); config {} applied ({} deliveries)",
        bus_stats.delivered,
        created.delivered,
        nobody.emitted,
        nobody.delivered,
        config.emitted,
        config.delivered
    );

    // 7. Checks.
    let applied = seen.applied.lock().unwrap().clone();
    let checks = [
        ("the held change was accepted", early.is_empty()),
        (
            "the held change reached the store after start",
            applied.first() == Some(&("cache.size".to_string(), 10_000)),
        ),
        (
            "the cache saw it too",
            seen.config_seen_by_cache
                .lock()
                .unwrap()
                .first()
                .map(String::as_str)
                == Some("cache.size"),
        ),
        (
            "user.> audited all five user events",
            seen.audit.lock().unwrap().len() == 5,
        ),
        (
            "user.created welcomed four users",
            seen.welcomes.load(Relaxed) == 4,
        ),
        (
            "the dashboard replayed the last three lines, then one live",
            *seen.dashboard.lock().unwrap()
                == [
                    "user.created #2",
                    "user.created #3",
                    "user.deleted #2",
                    "user.created #4",
                ],
        ),
        (
            "the valid change was applied",
            accepted.is_empty() && applied.contains(&("mail.timeout_ms".to_string(), 5_000)),
        ),
        (
            "the oversized cache was refused by the cache validator",
            refused == ["cache: at most 1000000 entries"],
        ),
        (
            "the bad key failed in the cache validator",
            failed == ["cache failed: empty key"],
        ),
        ("refused changes were not applied", applied.len() == 2),
        (
            "both plugins saw the shutdown",
            seen.shutdowns.load(Relaxed) == 2,
        ),
        (
            "the statistics add up",
            bus_stats.delivered == 2
                && created.delivered == 8
                && (nobody.emitted, nobody.delivered) == (1, 0)
                && (config.emitted, config.delivered) == (2, 4),
        ),
    ];
    let mut ok = true;
    for (what, passed) in checks {
        if !passed {
            println!("check FAILED: {what}");
            ok = false;
        }
    }
    if ok {
        println!("consistency: all {} checks passed", checks.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
