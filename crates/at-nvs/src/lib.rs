//! at-nvs (being written).
