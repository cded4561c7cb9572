//! at-mock (being written).
