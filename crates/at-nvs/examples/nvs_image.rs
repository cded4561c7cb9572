//! Placeholder so the workspace manifest parses until the real example lands.
fn main() {}
