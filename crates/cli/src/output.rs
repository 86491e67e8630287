//! How results and failures are printed: text (amounts in tenge) or JSON.

use serde_json::json;
use tenge_types::Amount;

use crate::args::Output;
use crate::exit::Failure;

/// Prints a failure: on stderr always, and as JSON on stdout with `--output json`.
pub fn print_failure(output: Output, failure: &Failure) {
    if output == Output::Json {
        let value = failure
            .json
            .clone()
            .unwrap_or_else(|| json!({"error": failure.message, "exit_code": failure.exit.code()}));
        println!("{value}");
    }
    eprintln!("tenge: {}", failure.message);
}

pub fn print(output: Output, value: &serde_json::Value) {
    match output {
        Output::Json => println!("{}", serde_json::to_string(value).expect("JSON")),
        Output::Text => print_text(value, 0),
    }
}

fn print_text(value: &serde_json::Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                // Amounts are shown in tenge, so the label loses its unit suffix.
                let label = key.strip_suffix("_tiyn").unwrap_or(key);
                match value {
                    // Absent fields (`code: null` on a committed transaction) say nothing.
                    serde_json::Value::Null => {}
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                        println!("{pad}{label}:");
                        print_text(value, indent + 2);
                    }
                    _ => println!("{pad}{label}: {}", scalar(key, value)),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                match item {
                    serde_json::Value::Object(_) => {
                        println!("{pad}-");
                        print_text(item, indent + 2);
                    }
                    _ => println!("{pad}- {}", scalar("", item)),
                }
            }
        }
        other => println!("{pad}{}", scalar("", other)),
    }
}

/// Text output shows amounts in tenge with two decimals.
fn scalar(key: &str, value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) if key.ends_with("_tiyn") => n.as_u64().map_or_else(
            || n.to_string(),
            |tiyn| format!("{} tenge", Amount::from_tiyn(tiyn)),
        ),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
