//! sdNotify: readiness and status for systemd's `Type=notify`.

use napi::Result;
use napi_derive::napi;

use crate::args::fail;

/// Sends `state` (e.g. "READY=1") to `$NOTIFY_SOCKET`; false when it is unset.
#[napi]
pub fn sd_notify(state: String) -> Result<bool> {
    realize_core::sd_notify(&state).map_err(fail)
}
