//! at-core (being written).
