//! at-flash (being written).
