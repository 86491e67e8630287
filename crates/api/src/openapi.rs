//! The OpenAPI 3 description of the API, generated from the code: the handlers'
//! `#[utoipa::path]` annotations (in `handlers`, `events`, `ready` and `docs`) and the view types' `ToSchema`
//! derives (in `tenge-client`). The tests below check it against [`ROUTES`], the table the router
//! itself is built from: every served route is described, and every described route is served.

use std::sync::LazyLock;

use serde_json::Value;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{Components, RefOr};
use utoipa::{OpenApi, PartialSchema};

use crate::views::{
    AccountRole, ErrorKind, FrozenBy, NodeMode, TransactionOutcome, TransactionStatus,
};

#[cfg(test)]
use crate::routes::ROUTES;

/// The API's description. `paths` lists every handler; the schemas of what they take and answer
/// are collected from their annotations.
#[derive(OpenApi)]
#[openapi(
    modifiers(&EnumValues),
    info(
        title = "tenge node API",
        version = "1",
        description = "Submit transactions to, and read the state of, a tenge validator or \
            observer. Amounts are integer tiyn (1 tenge = 100 tiyn) in fields ending `_tiyn`; ids \
            and hashes are 64 lowercase hex digits. Every error has the shape \
            `{\"error\": {status, kind, message, code?, name?}}`; `code` and `name` are the stable \
            rejection codes of docs/ledger.md. docs/api.md describes each route."
    ),
    paths(
        crate::handlers::transactions::submit,
        crate::handlers::transactions::submit_batch,
        crate::handlers::transactions::transaction,
        crate::handlers::accounts::account,
        crate::handlers::blocks::latest_block,
        crate::handlers::blocks::block,
        crate::handlers::blocks::block_hashes,
        crate::handlers::blocks::headers,
        crate::handlers::chain::supply,
        crate::handlers::proofs::account_proof,
        crate::handlers::proofs::supply_proof,
        crate::handlers::proofs::earmark_proof,
        crate::handlers::chain::policy,
        crate::handlers::chain::validators,
        crate::handlers::chain::observers,
        crate::handlers::chain::status,
        crate::events::events,
        crate::handlers::operations::openapi,
        crate::handlers::operations::metrics,
        crate::handlers::operations::health,
        crate::ready::ready,
        crate::docs::page,
        crate::docs::page_in_folder,
        crate::docs::file,
    ),
    tags(
        (name = "transactions", description = "Submit signed transactions and follow them"),
        (name = "state", description = "The committed state: accounts, supply, policy, validators"),
        (name = "blocks", description = "Committed blocks and their certificates"),
        (name = "proofs", description = "Proof bundles to check offline with `tenge verify` (docs/verification.md)"),
        (name = "node", description = "This node's status and its event stream"),
        (name = "operations", description = "Health, readiness, metrics, this document and the API page"),
    )
)]
pub struct ApiDoc;

/// Lists the values of the protocol enums in the view fields that carry them. Those fields are
/// declared `value_type = String`, so each stays a plain string with its own description (utoipa
/// would wrap an inline enum with a field description in a `oneOf`); this adds the values, taken
/// from the enum's own schema (and `null` where the field is nullable).
struct EnumValues;

impl utoipa::Modify for EnumValues {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let fields = [
            ("ErrorDetail", "kind", ErrorKind::schema()),
            ("TransactionView", "status", TransactionStatus::schema()),
            (
                "BlockTransactionView",
                "outcome",
                TransactionOutcome::schema(),
            ),
            ("AccountView", "role", AccountRole::schema()),
            ("AccountView", "frozen_by", FrozenBy::schema()),
            ("StatusView", "mode", NodeMode::schema()),
        ];
        let schemas = &mut openapi
            .components
            .get_or_insert_with(Components::new)
            .schemas;
        for (name, field, values) in fields {
            let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(name) else {
                panic!("no schema {name}");
            };
            let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) else {
                panic!("no field {name}.{field}");
            };
            let RefOr::T(Schema::Object(values)) = values else {
                panic!("{name}.{field}: the enum's schema is not an object");
            };
            let mut values = values
                .enum_values
                .expect("an enum's schema lists its values");
            if matches!(&property.schema_type, SchemaType::Array(types) if types.contains(&Type::Null))
            {
                values.push(Value::Null);
            }
            property.enum_values = Some(values);
        }
    }
}

/// The description as a value.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> Value {
    serde_json::from_str(&DOCUMENT).expect("the OpenAPI document is JSON")
}

/// The document's JSON, built once.
pub(crate) static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

/// Every (method, path) the document describes, in order.
pub fn described_routes(document: &Value) -> Vec<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut routes: Vec<(String, String)> = document["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_string(), path.clone()))
        })
        .collect();
    routes.sort();
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_describes_exactly_the_served_routes() {
        let described = described_routes(&document());
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect();
        served.sort();
        let not_served: Vec<_> = described.iter().filter(|r| !served.contains(r)).collect();
        let not_described: Vec<_> = served.iter().filter(|r| !described.contains(r)).collect();
        assert!(
            not_served.is_empty() && not_described.is_empty(),
            "described but not served: {not_served:?}; served but not described: {not_described:?}"
        );
        assert_eq!(described.len(), ROUTES.len(), "a route is listed twice");
    }

    #[test]
    fn every_reference_resolves_and_every_operation_answers() {
        let document = document();
        let version = document["openapi"].as_str().expect("openapi version");
        assert!(version.starts_with("3."), "{version}");
        assert_eq!(document["info"]["title"], "tenge node API");
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        let text = document.to_string();
        let references: Vec<&str> = text
            .split("\"$ref\":\"#/components/schemas/")
            .skip(1)
            .map(|rest| rest.split('"').next().expect("name"))
            .collect();
        assert!(references.len() >= 10, "{references:?}");
        for name in references {
            assert!(schemas.contains_key(name), "unresolved $ref {name}");
        }
        for (method, path) in described_routes(&document) {
            let operation = &document["paths"][&path][&method];
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|status| status.starts_with('2') || status.starts_with('3')),
                "{method} {path} has no success response"
            );
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
            // Every path parameter is declared.
            for name in path
                .split('{')
                .skip(1)
                .map(|p| p.split('}').next().unwrap())
            {
                let declared = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == name && p["in"] == "path");
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} undeclared"
                );
            }
        }
    }

    /// Each protocol value the views carry as an enum is listed, value for value, in the document
    /// (with `null` where the field may be null): a variant added in code shows up for clients.
    #[test]
    fn enum_fields_list_every_value() {
        fn names<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<Value> {
            all.iter()
                .map(|&value| Value::from(as_str(value)))
                .collect()
        }
        let mut frozen_by = names(FrozenBy::ALL, FrozenBy::as_str);
        frozen_by.push(Value::Null);
        let fields = [
            (
                "ErrorDetail",
                "kind",
                names(ErrorKind::ALL, ErrorKind::as_str),
            ),
            (
                "TransactionView",
                "status",
                names(TransactionStatus::ALL, TransactionStatus::as_str),
            ),
            (
                "BlockTransactionView",
                "outcome",
                names(TransactionOutcome::ALL, TransactionOutcome::as_str),
            ),
            (
                "AccountView",
                "role",
                names(AccountRole::ALL, AccountRole::as_str),
            ),
            ("AccountView", "frozen_by", frozen_by),
            ("StatusView", "mode", names(NodeMode::ALL, NodeMode::as_str)),
        ];
        let document = document();
        for (schema, field, expected) in fields {
            let property = &document["components"]["schemas"][schema]["properties"][field];
            assert_eq!(property["enum"], Value::from(expected), "{schema}.{field}");
        }
    }

    #[test]
    fn document_round_trips_through_the_openapi_model() {
        let parsed: utoipa::openapi::OpenApi =
            serde_json::from_str(&DOCUMENT).expect("parses as an OpenAPI document");
        assert_eq!(parsed.paths.paths.len(), openapi().paths.paths.len());
        let schemas = |api: &utoipa::openapi::OpenApi| {
            api.components
                .as_ref()
                .map(|c| c.schemas.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(schemas(&parsed), schemas(&openapi()));
    }
}
