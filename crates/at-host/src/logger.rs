//! A logger that never blocks the firmware loop: records go through a bounded queue to a
//! writer thread (stderr or a file). If the writer falls behind, records are dropped and
//! counted rather than stalling the simulated chip.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use log::{LevelFilter, Log, Metadata, Record};

struct Logger {
    tx: SyncSender<String>,
    start: Instant,
    dropped: AtomicUsize,
}

impl Log for Logger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let t = self.start.elapsed();
        let line = format!(
            "{:>4}.{:03} {:<5} {}: {}\n",
            t.as_secs(),
            t.subsec_millis(),
            record.level(),
            record.target(),
            record.args()
        );
        if let Err(TrySendError::Full(_)) = self.tx.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

/// Where log records go.
#[derive(Debug)]
pub enum LogSink {
    /// Standard error.
    Stderr,
    /// A file (appended to).
    File(File),
}

/// Install the logger. Call once.
pub fn init(sink: LogSink, level: LevelFilter) -> io::Result<()> {
    let (tx, rx) = sync_channel::<String>(1024);
    std::thread::Builder::new().name("log".into()).spawn(move || {
        let mut out: Box<dyn Write> = match sink {
            LogSink::Stderr => Box::new(io::stderr()),
            LogSink::File(f) => Box::new(f),
        };
        for line in rx {
            if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    })?;
    let logger = Box::leak(Box::new(Logger { tx, start: Instant::now(), dropped: AtomicUsize::new(0) }));
    log::set_logger(logger).map_err(|e| io::Error::other(e.to_string()))?;
    log::set_max_level(level);
    Ok(())
}
