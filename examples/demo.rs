//! A small market-data engine wired with sigwire: one `SyncSignal` per event
//! type, a dozen listeners, a matching step that turns ticks into orders and
//! fills, a hot loop, and a second thread whose listener is removed with
//! `disconnect_wait`. Fills are also settled asynchronously: an
//! `AsyncSignal` persists them to a journal and books the notional on rayon's
//! pool, and its stats are printed after `shutdown`. Every number printed at
//! the end is cross-checked; the program exits non-zero if a check fails.
//!
//! Run with `cargo run --release --example demo`.

use std::error::Error;
use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigwire::{AsyncSignal, ConnectOptions, DeliveryOrder, EmitError, SyncSignal};

const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "NVDA", "TSLA"];
const START_CENTS: [u64; 4] = [18_700, 41_500, 46_500, 24_800];

/// Ticks emitted through `SyncSignal::emit` while trading.
const SESSION_TICKS: u64 = 400_000;
/// Session ticks during which the quote publisher is blocked.
const MAINTENANCE: std::ops::Range<u64> = 200_000..250_000;
/// Ticks emitted through an `Emitter` in the measured hot loop.
const HOT_TICKS: u64 = 10_000_000;
/// The risk check rejects orders larger than this.
const MAX_ORDER_QTY: u64 = 400;
/// The price monitor flags prints this far (in percent) from the last good one.
const PRICE_BAND_PCT: u64 = 5;

// ---------------------------------------------------------------- events --

#[derive(Debug, Clone, Copy)]
struct Tick {
    symbol: usize,
    price: u64, // cents
    qty: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Buy,
    Sell,
}

#[derive(Debug, Clone, Copy)]
struct Order {
    id: u64,
    symbol: usize,
    side: Side,
    qty: u64,
    limit: u64, // cents
}

#[derive(Debug, Clone, Copy)]
struct Fill {
    order_id: u64,
    symbol: usize,
    side: Side,
    qty: u64,
    price: u64, // cents
}

impl Fill {
    fn signed_qty(&self) -> i64 {
        match self.side {
            Side::Buy => self.qty as i64,
            Side::Sell => -(self.qty as i64),
        }
    }
}

/// The engine: one signal per event type, and the asynchronous settlement
/// of fills.
struct Engine {
    ticks: SyncSignal<Tick>,
    orders: SyncSignal<Order>,
    fills: SyncSignal<Fill>,
    /// Fills, settled on rayon's pool: each settlement listener sees each
    /// thread's fills in order.
    settlements: AsyncSignal<Fill>,
}

impl Engine {
    fn new() -> Self {
        Self {
            ticks: SyncSignal::new(),
            orders: SyncSignal::new(),
            fills: SyncSignal::new(),
            settlements: AsyncSignal::builder()
                .capacity(4096)
                .ordering(DeliveryOrder::PerListener)
                .build()
                .expect("a valid capacity"),
        }
    }
}

// ---------------------------------------------------------------- errors --

/// Returned by the risk check; comes back typed from `try_emit`.
#[derive(Debug)]
struct RiskReject {
    order_id: u64,
    qty: u64,
}

impl fmt::Display for RiskReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, qty) = (self.order_id, self.qty);
        write!(f, "order #{id}: qty {qty} exceeds {MAX_ORDER_QTY}")
    }
}

impl Error for RiskReject {}

/// Returned by the price monitor; goes to the ticks' error handler.
#[derive(Debug)]
struct PriceAlert {
    symbol: usize,
    price: u64,
    reference: u64,
}

impl fmt::Display for PriceAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sym = SYMBOLS[self.symbol];
        write!(
            f,
            "{sym} print {} vs {}",
            dollars(self.price),
            dollars(self.reference)
        )
    }
}

impl Error for PriceAlert {}

// ------------------------------------------------------------- listeners --

/// What the listeners observe, shared with `main` for the final report.
#[derive(Default)]
struct Books {
    vwap_notional: [AtomicU64; 4],
    vwap_qty: [AtomicU64; 4],
    last_good_price: [AtomicU64; 4],
    quotes: AtomicU64,
    alerts_handled: AtomicU64,
    first_alert: Mutex<Option<String>>,
    risk_rejections: AtomicU64,
    positions: [AtomicI64; 4],
    trade_log: Mutex<Vec<Fill>>,
    first_fills: AtomicU64,
    first_fill: Mutex<Option<String>>,
    audited: AtomicU64,
    journal: Mutex<Vec<Fill>>,
    settled_notional: [AtomicU64; 4],
    settle_rejected: AtomicU64,
}

fn wire(engine: &Arc<Engine>, books: &Arc<Books>) -> sigwire::Connection {
    // Ticks: the price monitor runs first and reports suspicious prints to
    // the error handler; it never stops the other listeners.
    let b = books.clone();
    engine
        .ticks
        .connect_fallible_with(
            ConnectOptions::new().key("price-band").priority(100),
            move |t: &Tick| {
                let reference = b.last_good_price[t.symbol].load(Relaxed);
                if reference != 0 && t.price.abs_diff(reference) * 100 > reference * PRICE_BAND_PCT
                {
                    return Err(PriceAlert {
                        symbol: t.symbol,
                        price: t.price,
                        reference,
                    });
                }
                b.last_good_price[t.symbol].store(t.price, Relaxed);
                Ok(())
            },
        )
        .expect("fresh key");
    let b = books.clone();
    engine.ticks.set_error_handler(move |e: EmitError| {
        b.alerts_handled.fetch_add(1, Relaxed);
        let mut first = b.first_alert.lock().unwrap();
        if first.is_none() {
            *first = Some(e.to_string());
        }
    });
    // One VWAP calculator per symbol, each under its own key.
    for (s, name) in SYMBOLS.iter().enumerate() {
        let b = books.clone();
        engine
            .ticks
            .connect_keyed(format!("vwap.{name}"), move |t: &Tick| {
                if t.symbol == s {
                    b.vwap_notional[s].fetch_add(t.price * t.qty, Relaxed);
                    b.vwap_qty[s].fetch_add(t.qty, Relaxed);
                }
            })
            .expect("fresh key");
    }
    // The quote publisher: blocked during the maintenance window.
    let b = books.clone();
    let quoter = engine.ticks.connect(move |_: &Tick| {
        b.quotes.fetch_add(1, Relaxed);
    });

    // Orders: the risk check (priority 10) runs before the matcher, so
    // `try_emit` never lets an oversized order reach it.
    let b = books.clone();
    engine
        .orders
        .connect_fallible_with(
            ConnectOptions::new().key("risk").priority(10),
            move |o: &Order| {
                if o.qty > MAX_ORDER_QTY {
                    b.risk_rejections.fetch_add(1, Relaxed);
                    return Err(RiskReject {
                        order_id: o.id,
                        qty: o.qty,
                    });
                }
                Ok(())
            },
        )
        .expect("fresh key");
    // The matcher fills marketable orders at their limit, emitting on
    // another signal from inside a listener.
    let e = Arc::downgrade(engine);
    engine.orders.connect(move |o: &Order| {
        if let Some(engine) = e.upgrade() {
            let fill = Fill {
                order_id: o.id,
                symbol: o.symbol,
                side: o.side,
                qty: o.qty,
                price: o.limit,
            };
            engine.fills.emit(&fill);
        }
    });

    // Fills: position keeper, trade log, and a one-off notice.
    let b = books.clone();
    engine.fills.connect(move |f: &Fill| {
        b.positions[f.symbol].fetch_add(f.signed_qty(), Relaxed);
    });
    let b = books.clone();
    engine
        .fills
        .connect(move |f: &Fill| b.trade_log.lock().unwrap().push(*f));
    // Hand every fill to the asynchronous settlement; `emit` returns at once
    // (it waits only if 4096 fills are pending).
    let (e, b) = (Arc::downgrade(engine), books.clone());
    engine.fills.connect(move |f: &Fill| {
        if let Some(engine) = e.upgrade() {
            if engine.settlements.emit(*f).is_err() {
                b.settle_rejected.fetch_add(1, Relaxed);
            }
        }
    });

    // Settlement, on the pool: a journal writer and a notional booker.
    let b = books.clone();
    engine
        .settlements
        .connect(move |f: &Fill| b.journal.lock().unwrap().push(*f));
    let b = books.clone();
    engine.settlements.connect(move |f: &Fill| {
        b.settled_notional[f.symbol].fetch_add(f.qty * f.price, Relaxed);
    });
    let b = books.clone();
    engine.fills.connect_once(move |f: &Fill| {
        b.first_fills.fetch_add(1, Relaxed);
        let side = if f.side == Side::Buy { "BUY" } else { "SELL" };
        let text = format!(
            "{side} {} {} @ {} (order #{})",
            f.qty,
            SYMBOLS[f.symbol],
            dollars(f.price),
            f.order_id
        );
        *b.first_fill.lock().unwrap() = Some(text);
    });

    quoter
}

// ---------------------------------------------------------------- market --

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Generates ticks (a random walk per symbol, with rare bad prints) and
/// keeps its own totals to check the listeners against.
struct Market {
    rng: Rng,
    price: [u64; 4],
    notional: [u64; 4],
    qty: [u64; 4],
    ticks: u64,
    bad_prints: u64,
}

impl Market {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng(seed),
            price: START_CENTS,
            notional: [0; 4],
            qty: [0; 4],
            ticks: 0,
            bad_prints: 0,
        }
    }

    #[inline]
    fn next_tick(&mut self) -> Tick {
        let r = self.rng.next();
        let symbol = (r & 3) as usize;
        let step = (r >> 2) % 7; // -3..=3 cents
        self.price[symbol] = (self.price[symbol] + step).saturating_sub(3).max(100);
        let qty = 1 + (r >> 8) % 100;
        let mut price = self.price[symbol];
        // About one print in 50,000 is off by 10% (never among the first).
        if self.ticks > 10_000 && (r >> 16) % 50_000 == 0 {
            price = if (r >> 40) & 1 == 0 {
                price * 11 / 10
            } else {
                price * 9 / 10
            };
            self.bad_prints += 1;
        }
        self.ticks += 1;
        self.notional[symbol] += price * qty;
        self.qty[symbol] += qty;
        Tick { symbol, price, qty }
    }
}

// ------------------------------------------------------------------ main --

fn main() -> ExitCode {
    let engine = Arc::new(Engine::new());
    let books = Arc::new(Books::default());
    let quoter = wire(&engine, &books);
    let mut market = Market::new(0x5EED_CAFE_F00D_D00D);
    let next_order_id = AtomicU64::new(1);
    let mut checks = Checks::default();
    println!(
        "sigwire demo: {} symbols; listeners: {} on ticks, {} on orders, {} on fills",
        SYMBOLS.len(),
        engine.ticks.len(),
        engine.orders.len(),
        engine.fills.len()
    );

    // 1. Trading session: ticks through `emit`; some ticks become orders,
    //    which pass the risk check (`try_emit`) and the matcher.
    let (mut orders, mut rejected) = (0u64, 0u64);
    let mut rejects_are_typed = true;
    let mut maintenance = None;
    let start = Instant::now();
    for i in 0..SESSION_TICKS {
        if i == MAINTENANCE.start {
            maintenance = Some(quoter.block());
        } else if i == MAINTENANCE.end {
            maintenance = None;
        }
        let tick = market.next_tick();
        engine.ticks.emit(&tick);
        if market.rng.below(32) == 0 {
            let side = if market.rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let id = next_order_id.fetch_add(1, Relaxed);
            let qty = 1 + market.rng.below(500);
            let order = Order {
                id,
                symbol: tick.symbol,
                side,
                qty,
                limit: tick.price,
            };
            orders += 1;
            if let Err(e) = engine.orders.try_emit(&order) {
                // The error names the listener and keeps its typed source.
                let reject = e.source_error().downcast_ref::<RiskReject>();
                rejects_are_typed &=
                    e.key() == Some("risk") && reject.is_some_and(|r| r.qty > MAX_ORDER_QTY);
                rejected += 1;
            }
        }
    }
    drop(maintenance);
    let session = start.elapsed();
    let session_fills = books.trade_log.lock().unwrap().len();
    println!(
        "session:  {:>9} ticks via emit()      {:>6.3} s  {:>6.1} M ticks/s (incl. matching)",
        group(SESSION_TICKS),
        session.as_secs_f64(),
        SESSION_TICKS as f64 / session.as_secs_f64() / 1e6
    );
    println!(
        "          {} orders, {} rejected by risk, {} fills; quoter blocked for {} ticks",
        group(orders),
        group(rejected),
        group(session_fills as u64),
        group(MAINTENANCE.end - MAINTENANCE.start)
    );
    println!(
        "          first fill: {}",
        books
            .first_fill
            .lock()
            .unwrap()
            .as_deref()
            .unwrap_or("none")
    );

    // 2. Hot loop: ticks only, through an `Emitter` that caches the list.
    let start = Instant::now();
    let mut emitter = engine.ticks.emitter();
    for _ in 0..HOT_TICKS {
        emitter.emit(&market.next_tick());
    }
    drop(emitter);
    let hot = start.elapsed();
    println!(
        "hot loop: {:>9} ticks via emitter() {:>6.3} s  {:>6.1} M ticks/s ({:.0} ns per tick)",
        group(HOT_TICKS),
        hot.as_secs_f64(),
        HOT_TICKS as f64 / hot.as_secs_f64() / 1e6,
        hot.as_nanos() as f64 / HOT_TICKS as f64
    );

    // 3. A second gateway thread sends orders while an audit listener is
    //    removed with `disconnect_wait`: once it returns, the audit count is
    //    final even though the other thread keeps emitting.
    let b = books.clone();
    let audit = engine
        .orders
        .connect_with(
            ConnectOptions::new().key("audit").priority(20),
            move |_: &Order| {
                b.audited.fetch_add(1, Relaxed);
            },
        )
        .expect("fresh key");
    let stop = AtomicBool::new(false);
    let sent = AtomicU64::new(0);
    let prices = market.price;
    let (gw_orders, gw_rejected, audited, waited) = std::thread::scope(|scope| {
        let gateway = scope.spawn(|| {
            let mut rng = Rng(0xD1CE_BA5E_0BAD_F00D);
            let mut rejected = 0u64;
            while !stop.load(Relaxed) {
                let symbol = rng.below(4) as usize;
                let side = if rng.below(2) == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let id = next_order_id.fetch_add(1, Relaxed);
                let order = Order {
                    id,
                    symbol,
                    side,
                    qty: 1 + rng.below(500),
                    limit: prices[symbol],
                };
                if engine.orders.try_emit(&order).is_err() {
                    rejected += 1;
                }
                sent.fetch_add(1, Relaxed);
            }
            (sent.load(Relaxed), rejected)
        });
        // Let the gateway get going, remove the audit, let it go on.
        while books.audited.load(Relaxed) < 2_000 && !gateway.is_finished() {
            std::thread::yield_now();
        }
        let waited = Instant::now();
        let was_connected = audit.disconnect_wait().expect("not called from a listener");
        let waited = waited.elapsed();
        checks.expect(
            "disconnect_wait disconnected the audit",
            was_connected && !audit.is_connected(),
        );
        let audited = books.audited.load(Relaxed);
        let sent_at_wait = sent.load(Relaxed);
        while sent.load(Relaxed) < sent_at_wait + 2_000 && !gateway.is_finished() {
            std::thread::yield_now();
        }
        stop.store(true, Relaxed);
        let (gw_orders, gw_rejected) = gateway.join().expect("gateway thread panicked");
        (gw_orders, gw_rejected, audited, waited)
    });
    let audited_after = books.audited.load(Relaxed);
    println!(
        "gateway:  2nd thread sent {} orders ({} rejected); audit listener removed meanwhile",
        group(gw_orders),
        group(gw_rejected),
    );
    println!(
        "          disconnect_wait took {:.2} ms; audit saw {} orders, {} after it returned",
        waited.as_secs_f64() * 1e3,
        group(audited),
        audited_after - audited
    );
    let alerts = engine.ticks.error_count();
    let first_alert = books.first_alert.lock().unwrap().clone();
    println!("alerts:   {alerts} bad prints flagged through the ticks' error handler, e.g.");
    println!("          {}", first_alert.as_deref().unwrap_or("none"));

    // 4. Settlement: everything accepted is delivered before `shutdown`
    //    returns; the stats account for every fill.
    let waited = Instant::now();
    let shutdown = engine.settlements.shutdown(Duration::from_secs(30));
    let waited = waited.elapsed();
    let settled = engine.settlements.stats();
    println!(
        "settled:  {} fills persisted and booked on rayon's pool; shutdown waited {:.2} ms",
        group(settled.emitted),
        waited.as_secs_f64() * 1e3
    );
    println!(
        "          stats: emitted {}, delivered {}, failed {}, panicked {}, rejected {}, pending {}",
        settled.emitted,
        settled.delivered,
        settled.failed,
        settled.panicked,
        settled.rejected,
        settled.pending
    );

    // 5. Per-symbol results.
    println!("\n  symbol      VWAP   market VWAP     position");
    let log = books.trade_log.lock().unwrap();
    let mut all_vwaps_match = true;
    let mut positions_match = true;
    for (s, name) in SYMBOLS.iter().enumerate() {
        let (notional, qty) = (
            books.vwap_notional[s].load(Relaxed),
            books.vwap_qty[s].load(Relaxed),
        );
        let position = books.positions[s].load(Relaxed);
        let from_log: i64 = log
            .iter()
            .filter(|f| f.symbol == s)
            .map(Fill::signed_qty)
            .sum();
        all_vwaps_match &= notional == market.notional[s] && qty == market.qty[s];
        positions_match &= position == from_log;
        let vwap = notional as f64 / qty as f64 / 100.0;
        let expected = market.notional[s] as f64 / market.qty[s] as f64 / 100.0;
        println!("  {name:<6} {vwap:>9.4} {expected:>13.4} {position:>+12}");
    }
    println!();

    // 6. Consistency checks.
    let total_ticks = SESSION_TICKS + HOT_TICKS;
    let accepted = orders - rejected + gw_orders - gw_rejected;
    checks.expect("try_emit errors name the risk check", rejects_are_typed);
    checks.expect("VWAP listeners saw every tick", all_vwaps_match);
    checks.expect("positions equal the sum of the trade log", positions_match);
    checks.expect("one fill per accepted order", log.len() as u64 == accepted);
    checks.expect(
        "risk rejections counted by the listener equal try_emit errors",
        books.risk_rejections.load(Relaxed) == rejected + gw_rejected,
    );
    checks.expect(
        "quoter skipped exactly the maintenance window",
        books.quotes.load(Relaxed) == total_ticks - (MAINTENANCE.end - MAINTENANCE.start),
    );
    checks.expect(
        "every bad print was flagged, and only those",
        alerts == market.bad_prints && books.alerts_handled.load(Relaxed) == alerts,
    );
    checks.expect(
        "first-fill notice ran once and removed itself",
        books.first_fills.load(Relaxed) == 1 && engine.fills.len() == 3,
    );
    let mut journal = books.journal.lock().unwrap().clone();
    let mut logged = log.clone();
    journal.sort_by_key(|f| f.order_id);
    logged.sort_by_key(|f| f.order_id);
    let same_fills = journal.len() == logged.len()
        && journal
            .iter()
            .zip(&logged)
            .all(|(a, b)| a.order_id == b.order_id && a.qty == b.qty && a.price == b.price);
    checks.expect(
        "shutdown delivered every settlement in time",
        shutdown.is_ok(),
    );
    checks.expect(
        "the settlement journal holds exactly the fills of the trade log",
        same_fills,
    );
    checks.expect(
        "settlement stats account for every fill",
        settled.emitted == accepted
            // Two listeners (journal, booker): two deliveries per fill.
            && settled.delivered == 2 * accepted
            && settled.pending == 0
            && settled.failed + settled.panicked + settled.rejected == 0
            && books.settle_rejected.load(Relaxed) == 0,
    );
    checks.expect(
        "booked notional equals the trade log's",
        (0..SYMBOLS.len()).all(|s| {
            books.settled_notional[s].load(Relaxed)
                == log
                    .iter()
                    .filter(|f| f.symbol == s)
                    .map(|f| f.qty * f.price)
                    .sum::<u64>()
        }),
    );
    checks.expect(
        "no audit call after disconnect_wait returned",
        audited_after == audited && audited < gw_orders && !engine.orders.contains_key("audit"),
    );
    checks.report()
}

// --------------------------------------------------------------- helpers --

#[derive(Default)]
struct Checks {
    passed: usize,
    failed: Vec<&'static str>,
}

impl Checks {
    fn expect(&mut self, what: &'static str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed.push(what);
        }
    }

    fn report(self) -> ExitCode {
        if self.failed.is_empty() {
            println!("consistency: all {} checks passed", self.passed);
            ExitCode::SUCCESS
        } else {
            for what in &self.failed {
                println!("consistency FAILED: {what}");
            }
            ExitCode::FAILURE
        }
    }
}

fn dollars(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
