//! The OpenAPI 3 description of the API, written out by hand and checked against [`ROUTES`]
//! (see the tests): every served route is described, and every described route is served.

use serde_json::{Value, json};

#[cfg(test)]
use crate::server::ROUTES;

fn error_responses() -> Value {
    json!({
        "400": {"description": "Bad request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "Not found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    })
}

fn ok(description: &str, schema: &str) -> Value {
    let mut responses = error_responses();
    responses["200"] = json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    responses
}

fn proof_responses() -> Value {
    let mut responses = ok("The bundle (hex) and what it proves", "Proof");
    responses["503"] = json!({"description": "Nothing committed yet, or the head's commit certificate is being written; retry", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    responses
}

/// What `GET /v1/proofs/...` returns: the fields of `tenge verify --output json` for the bundle's
/// kind, and the bundle.
fn proof_schema(hex: &Value, tiyn: &Value) -> Value {
    json!({"type": "object", "required": ["bundle_hex", "bundle_bytes", "valid", "kind", "chain_id", "height", "block_id", "state_root", "signers"], "properties": {
                "bundle_hex": {"type": "string", "description": "The canonical BCS bundle: save the bytes to a file for `tenge verify`"},
                "bundle_bytes": {"type": "integer"}, "valid": {"type": "boolean"},
                "kind": {"type": "string", "enum": ["account", "absence", "supply", "earmark"]},
                "chain_id": {"type": "string"}, "height": {"type": "integer"}, "block_id": hex, "state_root": hex,
                "block_time_ms": {"type": "integer"}, "committed_height": {"type": "integer"}, "signers": {"type": "integer"}, "validator_set_epoch": {"type": "integer"},
                "account": hex, "role": {"type": "string"}, "bank": hex, "tier": {"type": "integer"}, "balance_tiyn": tiyn, "earmarked_tiyn": tiyn,
                "earmarks": {"type": "array", "items": {"type": "object", "properties": {"earmark": hex, "amount_tiyn": tiyn}}},
                "frozen": {"type": "boolean"}, "frozen_by": {"type": "string"}, "sequence": {"type": "integer"}, "created_at": {"type": "integer"},
                "issued_tiyn": tiyn, "redeemed_tiyn": tiyn, "outstanding_tiyn": tiyn, "ceiling_tiyn": tiyn, "epoch": {"type": "integer"},
                "epoch_issued_tiyn": tiyn, "epoch_cap_tiyn": tiyn,
                "earmark": hex, "purpose": {"type": "string"}, "funder": hex, "holder": hex, "allocated_tiyn": tiyn, "spent_tiyn": tiyn,
                "remaining_tiyn": tiyn, "approved_payees": {"type": "array", "items": hex}}})
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> Value {
    let hex = json!({"type": "string", "pattern": "^[0-9a-f]{64}$"});
    let tiyn = json!({"type": "integer", "format": "int64", "minimum": 0, "description": "Amount in tiyn (1 tenge = 100 tiyn)"});
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "tenge node API",
            "version": "1",
            "description": "Submit transactions to, and read the state of, a tenge validator or observer. Amounts are integer tiyn in fields ending _tiyn; ids and hashes are lowercase hex. Every error has the shape {\"error\": {status, kind, message, code?, name?}}."
        },
        "paths": {
            "/v1/transactions": {"post": {
                "summary": "Submit a signed transaction (its canonical BCS bytes, or JSON {\"transaction_hex\"}).",
                "requestBody": {"required": true, "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object", "required": ["transaction_hex"], "properties": {"transaction_hex": {"type": "string"}}}}
                }},
                "responses": {
                    "202": {"description": "Accepted into the mempool", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Submitted"}}}},
                    "400": {"description": "Malformed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "409": {"description": "Sequence number already used (replay)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "413": {"description": "Body too large"},
                    "422": {"description": "Rejected with a rejection code", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "503": {"description": "Mempool full or node unavailable", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
            }},
            "/v1/transactions/batch": {"post": {
                "summary": "Submit many signed transactions: the BCS encoding of a list of them.",
                "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": ok("One result per transaction", "BatchResults")
            }},
            "/v1/transactions/{hash}": {"get": {
                "summary": "Status of a transaction: pending, committed or rejected.",
                "parameters": [{"name": "hash", "in": "path", "required": true, "schema": hex}],
                "responses": ok("The transaction's status", "Transaction")
            }},
            "/v1/accounts/{id}": {"get": {
                "summary": "An account: balance, earmarked part, sequence, role, tier, frozen.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": hex}],
                "responses": ok("The account", "Account")
            }},
            "/v1/blocks/latest": {"get": {"summary": "The committed head with its certificates.", "responses": ok("The block", "Block")}},
            "/v1/blocks/{height}": {"get": {
                "summary": "A committed block with its certificates.",
                "parameters": [{"name": "height", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
                "responses": ok("The block", "Block")
            }},
            "/v1/blocks/{height}/hashes": {"get": {
                "summary": "The hashes of a committed block's applied and rejected transactions.",
                "parameters": [{"name": "height", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
                "responses": ok("Hashes", "BlockHashes")
            }},
            "/v1/supply": {"get": {"summary": "Issued, redeemed and outstanding supply, ceiling and epoch issuance.", "responses": ok("Supply", "Supply")}},
            "/v1/proofs/accounts/{id}": {"get": {
                "summary": "A proof bundle of an account at the committed head (balance, tier, frozen, earmarked holdings, sequence), or of its absence when no account has the id. Check it offline with `tenge verify` (docs/verification.md).",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": hex}],
                "responses": proof_responses()
            }},
            "/v1/proofs/supply": {"get": {
                "summary": "A proof bundle of the supply at the committed head: issued, redeemed, outstanding, ceiling, epoch issuance.",
                "responses": proof_responses()
            }},
            "/v1/proofs/earmarks/{id}": {"get": {
                "summary": "A proof bundle of an earmark at the committed head: purpose, funder, holder, allocated, spent, remaining, approved payees.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": hex}],
                "responses": proof_responses()
            }},
            "/v1/policy": {"get": {"summary": "Monetary policy in force and its full history.", "responses": ok("Policy", "Policy")}},
            "/v1/validators": {"get": {"summary": "The validator set.", "responses": ok("Validators", "Validators")}},
            "/v1/status": {"get": {"summary": "Mode, height, round, peers, syncing.", "responses": ok("Status", "Status")}},
            "/v1/events": {"get": {"summary": "Server-sent events: one `block` event per committed block.", "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}},
            "/v1/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics.", "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/health": {"get": {"summary": "200 while the node runs and has not halted.", "responses": {"200": {"description": "Healthy"}, "503": {"description": "Halted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
            "/ready": {"get": {"summary": "200 when the node has peers and has not halted.", "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["status", "kind", "message"], "properties": {
                "status": {"type": "integer"}, "kind": {"type": "string"}, "message": {"type": "string"},
                "code": {"type": "integer", "description": "Stable rejection code (docs/ledger.md)"}, "name": {"type": "string"}}}}},
            "Submitted": {"type": "object", "required": ["hash"], "properties": {"hash": hex}},
            "BatchResults": {"type": "array", "items": {"type": "object", "properties": {"hash": hex, "error": {"type": "object"}}}},
            "Transaction": {"type": "object", "required": ["hash", "status"], "properties": {
                "hash": hex, "status": {"type": "string", "enum": ["pending", "committed", "rejected"]},
                "height": {"type": "integer"}, "index": {"type": "integer"}, "code": {"type": "integer"}, "name": {"type": "string"}, "reason": {"type": "string"}}},
            "Account": {"type": "object", "required": ["id", "balance_tiyn", "earmarked_tiyn", "sequence", "role", "frozen"], "properties": {
                "id": hex, "balance_tiyn": tiyn, "earmarked_tiyn": tiyn, "earmarks": {"type": "array", "items": {"type": "object"}},
                "sequence": {"type": "integer"}, "role": {"type": "string", "enum": ["central_bank", "commercial_bank", "wallet"]},
                "tier": {"type": "integer"}, "bank": hex, "name": {"type": "string"}, "frozen": {"type": "boolean"}, "frozen_by": {"type": "string", "enum": ["central_bank", "commercial_bank"]},
                "keys": {"type": "array", "items": hex}, "threshold": {"type": "integer"}}},
            "Block": {"type": "object", "required": ["height", "id", "parent_id", "state_root", "transactions"], "properties": {
                "height": {"type": "integer"}, "id": hex, "parent_id": hex, "round": {"type": "integer"}, "timestamp_ms": {"type": "integer"},
                "transaction_count": {"type": "integer"}, "transactions_root": hex, "receipts_root": hex, "state_root": hex,
                "transactions": {"type": "array", "items": {"type": "object"}}, "certificates": {"type": "object"}}},
            "BlockHashes": {"type": "object", "required": ["height", "timestamp_ms", "applied", "rejected"], "properties": {
                "height": {"type": "integer"}, "timestamp_ms": {"type": "integer"},
                "applied": {"type": "array", "items": hex}, "rejected": {"type": "array", "items": hex}}},
            "Supply": {"type": "object", "required": ["issued_tiyn", "redeemed_tiyn", "outstanding_tiyn", "ceiling_tiyn", "epoch_issued_tiyn", "epoch_cap_tiyn"], "properties": {
                "issued_tiyn": tiyn, "redeemed_tiyn": tiyn, "outstanding_tiyn": tiyn, "ceiling_tiyn": tiyn, "epoch": {"type": "integer"},
                "epoch_issued_tiyn": tiyn, "epoch_cap_tiyn": tiyn, "height": {"type": "integer"}}},
            "Policy": {"type": "object", "required": ["current", "history"], "properties": {"current": {"type": "object"}, "history": {"type": "array", "items": {"type": "object"}}}},
            "Validators": {"type": "array", "items": {"type": "object", "properties": {"index": {"type": "integer"}, "name": {"type": "string"}, "consensus_key": hex, "address": {"type": "string"}}}},
            "Status": {"type": "object", "required": ["mode", "chain_id", "height", "round", "peers", "syncing"], "properties": {
                "mode": {"type": "string", "enum": ["validator", "observer"]}, "chain_id": {"type": "string"}, "height": {"type": "integer"},
                "block_id": hex, "state_root": hex, "block_time_ms": {"type": "integer"}, "round": {"type": "integer"}, "peers": {"type": "integer"},
                "syncing": {"type": "boolean"}, "mempool_transactions": {"type": "integer"}, "halted": {"type": "string"}}}
        }}
    });
    document["components"]["schemas"]["Proof"] = proof_schema(&hex, &tiyn);
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_describes_exactly_the_served_routes() {
        let document = document();
        let paths = document["paths"].as_object().expect("paths");
        let mut described: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, operations)| {
                operations
                    .as_object()
                    .expect("operations")
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        described.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(described, served);
    }

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let text = document.to_string();
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().expect("name");
            assert!(schemas.contains_key(name), "unresolved $ref {name}");
        }
        assert_eq!(document["openapi"], "3.0.3");
    }
}
