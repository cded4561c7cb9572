//! at-host (being written).
