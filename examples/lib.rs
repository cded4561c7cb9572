//! Examples of using the ESP-AT core; run them with `cargo run --example <name>`.
//!
//! * `custom_command` — add your own `AT+...` commands (test/query/set/exec forms, a
//!   long-running command, and one that takes raw data after a `>` prompt).
