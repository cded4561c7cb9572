//! at-parser (being written).
