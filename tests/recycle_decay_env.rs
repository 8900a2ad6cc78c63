//! The decay period from the environment (`JDB_ALLOC_DECAY_MS`), read at the first large
//! allocation: checked in a child process of this test binary started with the variable set,
//! since the variable must be there before the crate first looks.

use std::{process::Command, time::Duration};

use jdb_alloc::{AlignedBuf, recycle};

const VAR: &str = "JDB_ALLOC_DECAY_MS";

#[test]
fn the_decay_period_comes_from_the_environment() {
    match std::env::var(VAR).as_deref() {
        // The child: the variable was set before anything was allocated.
        Ok("1234") => {
            drop(AlignedBuf::with_cap(1 << 20).unwrap());
            assert_eq!(recycle::decay(), Duration::from_millis(1234));
            assert_eq!(recycle::stats().decay, Duration::from_millis(1234));
        }
        Ok("not a number") => {
            drop(AlignedBuf::with_cap(1 << 20).unwrap());
            assert_eq!(
                recycle::decay(),
                Duration::from_secs(10),
                "ignored, as documented"
            );
        }
        _ => {
            for value in ["1234", "not a number"] {
                let out = Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "the_decay_period_comes_from_the_environment"])
                    .env(VAR, value)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{VAR}={value}: {}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                // The child ran the test, and did not filter it out.
                assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
            }
        }
    }
}
