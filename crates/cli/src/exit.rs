//! The CLI's exit codes, and a failure that carries one. Scripts and tests depend on the numbers:
//! never renumber a variant.

use std::process::ExitCode;

use tenge_client::ClientError;
use tenge_client::views::ErrorKind;

/// Why `tenge` exits with something other than 0 (success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The transaction was rejected (by the node or in a block), or a check refused what it was
    /// given: an invalid proof bundle, a transaction file whose signatures or hash do not match.
    Rejected = 1,
    /// Bad input: arguments, amounts, key files, files.
    BadInput = 2,
    /// The node is unreachable or answers wrongly.
    Unreachable = 3,
    /// No final answer in time.
    NoFinalAnswer = 4,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A failure, with its exit code.
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// What `--output json` prints instead of `{"error": ...}`.
    pub json: Option<serde_json::Value>,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Failure {
        Failure::with_exit(Exit::BadInput, message)
    }

    pub fn with_exit(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            json: None,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        let exit = match &error {
            ClientError::Api(detail) if detail.kind == ErrorKind::Rejected => Exit::Rejected,
            ClientError::Api(detail) if detail.status < 500 => Exit::BadInput,
            _ => Exit::Unreachable,
        };
        let mut message = error.to_string();
        if let ClientError::Unreachable { url, reason } = &error {
            if reason.contains("certificate") {
                message += if crate::context::TLS.get().is_some() {
                    "\n  the node's TLS certificate is not signed by the --ca-cert CA (or is not for this host name)"
                } else {
                    "\n  an https:// node needs --ca-cert FILE (the CA that signed its certificate)"
                };
            } else if url.starts_with("http://")
                && (reason.contains("invalid HTTP version") || reason.contains("connection closed"))
            {
                // A TLS server answers a plain request with an alert, which is no HTTP.
                message += "\n  (does the node serve HTTPS? then use https:// and --ca-cert)";
            }
        }
        Failure::with_exit(exit, message)
    }
}

/// What a command prints on success, or why it failed.
pub type Outcome = Result<serde_json::Value, Failure>;

#[cfg(test)]
mod tests {
    use super::Exit;

    /// The numbers are an interface (README, scripts, tests): a renumbering must fail here.
    #[test]
    fn exit_codes_keep_their_numbers() {
        assert_eq!(Exit::Rejected.code(), 1);
        assert_eq!(Exit::BadInput.code(), 2);
        assert_eq!(Exit::Unreachable.code(), 3);
        assert_eq!(Exit::NoFinalAnswer.code(), 4);
    }
}
