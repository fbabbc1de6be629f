//! `record` in a seam check: [`seam_pipeline::outside`] writes the check to the ledger
//! as part of an *outside run*; its errors become HTTP answers here.

use axum::http::StatusCode;

pub use seam_pipeline::outside::{record, Record, RecordError, Recorded, MAX_NAME};

use crate::api::ApiError;

/// A recording failure as the API answers it: `422` for unusable names, `409` for a
/// run seam drives or another pipeline's, `503` when the ledger fails.
pub(crate) fn api_error(e: RecordError) -> ApiError {
    match e {
        RecordError::Invalid(m) => ApiError::invalid(m),
        RecordError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "run_conflict", m),
        RecordError::Ledger(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ledger", m),
    }
}
