//! The interactive API page at `/docs`: Swagger UI showing `/v1/openapi.json`, with "Try it out".
//!
//! Its files are compiled into the binary: `utoipa-swagger-ui-vendored` holds Swagger UI's release
//! zip in a `const`, and the few files the page needs are inflated out of it once, at the first
//! request (D46). The page loads nothing from outside the node: the HTML and the script that starts
//! Swagger UI are ours and name only files under `/docs/`, the online spec validator (whose badge
//! Swagger UI would fetch from its public site) is turned off, and a Content-Security-Policy of
//! `'self'` makes browsers refuse anything else (tests/tests/api_docs.rs checks the page loads).

use std::io::{Cursor, Read};
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::views::{ErrorBody, ErrorKind};

/// Where the page finds the document it shows.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

/// What the page may load: the node's own files, and its own API for "Try it out". Swagger UI
/// runs no inline script and needs no `eval`, but it applies inline styles (Chromium refuses one
/// on every load under `style-src 'self'`) and draws its icons as `data:` images from its style
/// sheet; both were checked in headless Chromium, page loaded and "Try it out" run, with no
/// violation reported under this policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; \
     form-action 'self'";

/// The page. Our own rather than the release's `index.html`, so that its references are absolute
/// (the same page answers at `/docs` and `/docs/`) and its title is the API's.
const INDEX_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>tenge node API</title>
    <link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="/docs/index.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="/docs/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="/docs/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"#;

/// The files taken from Swagger UI's release (its `dist` folder), as served.
const RELEASE_FILES: [&str; 6] = [
    "swagger-ui.css",
    "index.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
];

/// One served file.
struct File {
    name: &'static str,
    content_type: &'static str,
    bytes: Bytes,
}

/// Reading the page's files out of the embedded archive failed: the vendored crate is not what
/// this module expects (a build defect, answered 500; `tests::every_file_reads_from_the_archive`
/// catches it first).
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("reading the embedded Swagger UI archive: {0}")]
    Archive(#[from] zip::result::ZipError),
    #[error("reading `{name}` out of the embedded Swagger UI archive: {source}")]
    Read {
        name: String,
        source: std::io::Error,
    },
    #[error("the embedded Swagger UI archive has no `dist/{0}`")]
    Missing(&'static str),
}

static FILES: LazyLock<Result<Vec<File>, PageError>> = LazyLock::new(files);

fn files() -> Result<Vec<File>, PageError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED))?;
    // The release's files sit under `swagger-ui-<version>/dist/`.
    let dist = archive
        .file_names_raw()
        .filter_map(|name| name.strip_suffix(b"swagger-ui-bundle.js"))
        .find(|prefix| {
            prefix.ends_with(b"/dist/") && prefix.iter().filter(|b| **b == b'/').count() == 2
        })
        .map(|prefix| String::from_utf8_lossy(prefix).into_owned())
        .ok_or(PageError::Missing("swagger-ui-bundle.js"))?;
    let mut files = vec![
        File {
            name: "index.html",
            content_type: "text/html; charset=utf-8",
            bytes: Bytes::from_static(INDEX_HTML.as_bytes()),
        },
        File {
            name: "swagger-initializer.js",
            content_type: "text/javascript; charset=utf-8",
            bytes: Bytes::from(initializer()),
        },
    ];
    for name in RELEASE_FILES {
        let path = format!("{dist}{name}");
        let mut entry = match archive.by_name(&path) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Err(PageError::Missing(name)),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut bytes)
            .map_err(|source| PageError::Read { name: path, source })?;
        files.push(File {
            name,
            content_type: content_type(name),
            bytes: Bytes::from(bytes),
        });
    }
    Ok(files)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The script that starts Swagger UI on the node's own document. `validatorUrl: "none"` turns
/// off the badge that would send the document to validator.swagger.io.
fn initializer() -> String {
    format!(
        r##"window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    "url": "{OPENAPI_PATH}",
    "dom_id": "#swagger-ui",
    "deepLinking": true,
    "validatorUrl": "none",
    "tryItOutEnabled": true,
    "displayRequestDuration": true,
    "presets": [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    "plugins": [SwaggerUIBundle.plugins.DownloadUrl],
    "layout": "StandaloneLayout"
  }});
}};
"##
    )
}

/// The API page (Swagger UI), served by the node itself with no external asset.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    responses((status = 200, description = "The API page (the same as `/docs/`)", body = String, content_type = "text/html"))
)]
pub(crate) async fn page() -> Response {
    serve("index.html")
}

/// The API page (Swagger UI), served by the node itself with no external asset.
#[utoipa::path(
    get,
    path = "/docs/",
    tag = "operations",
    responses((status = 200, description = "The API page", body = String, content_type = "text/html"))
)]
pub(crate) async fn page_in_folder() -> Response {
    serve("index.html")
}

/// A file of the API page: its scripts, style sheets and icons.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "operations",
    params(("file" = String, Path, description = "File name, e.g. `swagger-ui-bundle.js`")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"),
            (String = "text/css"),
            (Vec<u8> = "image/png"),
            (String = "text/html"),
        )),
        (status = 404, description = "No such file", body = ErrorBody),
    )
)]
pub(crate) async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let files = match &*FILES {
        Ok(files) => files,
        Err(e) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                e.to_string(),
            )
            .into_response();
        }
    };
    let Some(file) = files.iter().find(|file| file.name == name) else {
        return ApiError::not_found(format!("no file `{name}` in the API page; open /docs"))
            .into_response();
    };
    let mut response = (
        [(header::CONTENT_TYPE, file.content_type)],
        file.bytes.clone(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str) -> &'static File {
        let files = FILES.as_ref().expect("the page's files read");
        files.iter().find(|f| f.name == name).expect(name)
    }

    #[test]
    fn every_file_reads_from_the_archive() {
        for name in RELEASE_FILES {
            assert!(read(name).bytes.len() > 100, "{name} is nearly empty");
        }
        assert!(
            String::from_utf8_lossy(&read("swagger-ui-bundle.js").bytes)
                .contains("SwaggerUIBundle")
        );
        assert_eq!(&read("favicon-16x16.png").bytes[1..4], b"PNG");
    }

    #[test]
    fn the_page_names_only_files_it_serves() {
        let html = INDEX_HTML;
        let references: Vec<&str> = ["src=\"", "href=\""]
            .iter()
            .flat_map(|marker| html.split(marker).skip(1))
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(references.len(), 7, "{references:?}");
        for reference in references {
            let name = reference
                .strip_prefix("/docs/")
                .unwrap_or_else(|| panic!("{reference} is not under /docs/"));
            read(name);
        }
    }

    #[test]
    fn the_initializer_shows_the_served_document_without_the_online_validator() {
        let script = initializer();
        assert!(script.contains(&format!("\"url\": \"{OPENAPI_PATH}\"")));
        assert!(script.contains("\"validatorUrl\": \"none\""));
        assert!(!script.contains("http"), "{script}");
        assert!(crate::ROUTES.contains(&("get", OPENAPI_PATH)));
    }

    #[test]
    fn unknown_files_are_not_found() {
        for name in ["", "swagger-ui.js", "../Cargo.toml", "oauth2-redirect.html"] {
            assert_eq!(serve(name).status(), StatusCode::NOT_FOUND, "{name}");
        }
        let response = serve("swagger-ui.css");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
    }
}
