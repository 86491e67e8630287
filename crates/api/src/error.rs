//! The API's one error shape, `{"error": {status, kind, message, code?, name?}}`: [`ApiError`],
//! its conversions from the engine's and the proof builder's errors, and the middleware that gives
//! errors produced outside our handlers the same shape.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenge_engine::SubmitError;
use tenge_types::RejectionCode;

use crate::proofs::ProofError;
use crate::views::{ErrorBody, ErrorDetail, ErrorKind};

/// An API error in the one shape.
pub struct ApiError {
    status: StatusCode,
    kind: ErrorKind,
    message: String,
    code: Option<RejectionCode>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            code: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message)
    }

    fn rejected(code: RejectionCode, message: impl Into<String>) -> ApiError {
        let status = match code {
            RejectionCode::SequenceAlreadyUsed => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError {
            status,
            kind: ErrorKind::Rejected,
            message: message.into(),
            code: Some(code),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            message,
        )
    }

    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                kind: self.kind,
                message: self.message.clone(),
                code: self.code.map(RejectionCode::code),
                name: self.code.map(|c| c.name().to_string()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        let message = error.to_string();
        match error {
            SubmitError::InvalidSignature => {
                ApiError::rejected(RejectionCode::InvalidSignature, message)
            }
            SubmitError::WrongChain(_) => ApiError::rejected(RejectionCode::WrongChain, message),
            SubmitError::Rejected(rejection) => {
                ApiError::rejected(rejection.code, rejection.message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::SequenceUsed { .. }) => {
                ApiError::rejected(RejectionCode::SequenceAlreadyUsed, message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::SequencePending { .. }) => {
                ApiError::new(StatusCode::CONFLICT, ErrorKind::Conflict, message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::SequenceTooFarAhead { .. }) => {
                ApiError::rejected(RejectionCode::SequenceTooHigh, message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::Full(_)) | SubmitError::Overloaded => {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorKind::Unavailable,
                    message,
                )
            }
            SubmitError::Stopped | SubmitError::Halted(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Unavailable,
                message,
            ),
        }
    }
}

impl From<ProofError> for ApiError {
    fn from(error: ProofError) -> ApiError {
        match error {
            ProofError::NotFound(message) => ApiError::not_found(message),
            ProofError::Unavailable(message) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Unavailable,
                message,
            ),
            ProofError::Internal(message) => ApiError::internal(message),
        }
    }
}

pub(crate) type ApiResult<T> = Result<axum::Json<T>, ApiError>;

/// Errors produced outside our handlers (body too large, bad path, wrong method) come as plain
/// text; give them the one JSON error shape.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
        s if s.is_server_error() => ErrorKind::Internal,
        _ => ErrorKind::BadRequest,
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, kind, message).into_response()
}
