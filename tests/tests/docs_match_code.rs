//! Documentation that lists code facts must list all of them.

use tenge_types::RejectionCode;

#[test]
fn ledger_doc_lists_every_rejection_code() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ledger.md")).unwrap();
    for code in RejectionCode::ALL {
        let row = format!("| {} | {} |", code.code(), code.name());
        assert!(doc.contains(&row), "docs/ledger.md lacks the row `{row}`");
    }
}
