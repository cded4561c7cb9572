//! at-certstore (being written).
