//! Checks on arguments coming from JS, shared by the napi wrappers.

use napi::{Error, Result, Status};

/// A JS number that must be a non-negative integer no larger than 2^53.
pub(crate) fn offset(name: &str, v: f64) -> Result<u64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0 {
        Ok(v as u64)
    } else {
        Err(Error::new(
            Status::InvalidArg,
            format!("{name} must be a non-negative integer no larger than 2^53, got {v}"),
        ))
    }
}

/// A failure of the core, as a JS Error with its message.
pub(crate) fn fail(e: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, e.to_string())
}

/// A bad argument, as a JS Error with its message.
pub(crate) fn invalid(e: impl std::fmt::Display) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
}
