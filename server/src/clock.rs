//! The server's one clock, in Unix milliseconds (the unit stored in the database). Every
//! time-dependent rule — schedules, escalations, expiry, training currency — reads `Clock::now`,
//! so a test moves the whole server's time at once (`--clock-offset-file`) instead of waiting.

use std::path::PathBuf;
use std::sync::Arc;

/// Wall-clock time plus an optional test offset. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// A file holding milliseconds to add, re-read on every `now()` (end-to-end tests only).
    offset_file: Option<Arc<PathBuf>>,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The wall clock moved by the number of milliseconds in `file` (missing or unreadable: 0).
    pub fn with_offset_file(file: Option<PathBuf>) -> Clock {
        Clock { offset_file: file.map(Arc::new) }
    }

    /// The time rules run on.
    pub fn now(&self) -> i64 {
        let offset = self
            .offset_file
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0);
        wall_ms().saturating_add(offset)
    }

    /// The real time, for comparing with a time a device signed: devices' clocks do not move with
    /// a test offset, so signature freshness (protocol §5, §11) is judged on this.
    pub fn wall(&self) -> i64 {
        wall_ms()
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_file_moves_now_but_not_the_wall() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        let clock = Clock::with_offset_file(Some(file.clone()));
        let before = clock.wall();
        assert!((clock.now() - before).abs() < 60_000, "no file: no offset");
        std::fs::write(&file, "3600000\n").unwrap();
        assert!(clock.now() - clock.wall() >= 3_600_000 - 60_000);
        assert!(clock.wall() - before < 60_000);
        std::fs::write(&file, "not a number").unwrap();
        assert!((clock.now() - clock.wall()).abs() < 60_000, "unreadable: no offset");
    }
}
