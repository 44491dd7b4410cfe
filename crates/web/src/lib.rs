//! Huddle's web app, served by the server itself.
//!
//! The files under `assets/` (HTML, JavaScript modules, CSS, an icon) are embedded in the binary
//! at compile time and served at `/` (the page), `/invite/{code}` (the same page, which opens the
//! invite) and `/assets/{file}`, with their content type,
//! `Cache-Control: no-cache` and a strong ETag (a hash of the bytes, computed at compile time),
//! so a browser revalidates each load and gets `304 Not Modified` when nothing changed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The name under `/assets/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// FNV-1a of the bytes; the ETag is its hex form in quotes.
    pub hash: u64,
}

/// 64-bit FNV-1a, usable in constants so every hash is computed by the compiler.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! assets {
    ($($name:literal => $content_type:literal),* $(,)?) => {
        /// Every embedded file.
        pub static ASSETS: &[Asset] = &[
            $(Asset {
                name: $name,
                content_type: $content_type,
                bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name)),
                hash: fnv1a(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name))),
            },)*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "app.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "socket.js" => "text/javascript; charset=utf-8",
    "store.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "views.js" => "text/javascript; charset=utf-8",
    "sessions.js" => "text/javascript; charset=utf-8",
    "links.js" => "text/javascript; charset=utf-8",
    "days.js" => "text/javascript; charset=utf-8",
    "people.js" => "text/javascript; charset=utf-8",
    "history.js" => "text/javascript; charset=utf-8",
    "dms.js" => "text/javascript; charset=utf-8",
    "invites.js" => "text/javascript; charset=utf-8",
    "search.js" => "text/javascript; charset=utf-8",
    "reads.js" => "text/javascript; charset=utf-8",
    "reactions.js" => "text/javascript; charset=utf-8",
    "replies.js" => "text/javascript; charset=utf-8",
    "mentions.js" => "text/javascript; charset=utf-8",
    "files.js" => "text/javascript; charset=utf-8",
}

/// The page's Content-Security-Policy: only this origin's scripts, styles, images and sockets,
/// no inline script, no plugins, no framing. A second line of defence behind escaping.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// Finds an embedded file by its name under `/assets/`.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

impl Asset {
    /// The ETag header value: the hash in hex, quoted (a strong validator).
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// Mounts `GET /` (the page), `GET /invite/{code}` (the page again: it reads the code from its
/// address) and `GET /assets/{file}`. HEAD is answered too.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(index))
            .route(web::head().to(index)),
    )
    .service(
        web::resource("/invite/{code}")
            .route(web::get().to(index))
            .route(web::head().to(index)),
    )
    .service(
        web::resource("/assets/{file}")
            .route(web::get().to(file))
            .route(web::head().to(file)),
    );
}

async fn index(req: HttpRequest) -> HttpResponse {
    match asset("index.html") {
        Some(a) => serve(&req, a),
        None => not_found(),
    }
}

async fn file(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    match asset(&name) {
        Some(a) => serve(&req, a),
        None => not_found(),
    }
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("application/json")
        .body(r#"{"error":{"code":"not_found","message":"no such resource"}}"#)
}

/// Whether an `If-None-Match` header names this ETag (or is `*`).
fn matches_etag(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let etag = asset.etag();
    let mut builder = if matches_etag(req, &etag) {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));
    if asset.name == "index.html" {
        builder
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ))
            .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
    }
    if matches_etag(req, &etag) {
        return builder.finish();
    }
    builder
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ))
        .body(asset.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use actix_web::{test as atest, App};

    #[test]
    fn fnv_is_the_reference_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn every_asset_is_embedded_and_the_page_links_only_embedded_files() {
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty", a.name);
        }
        let page = std::str::from_utf8(asset("index.html").unwrap().bytes).unwrap();
        for part in page.split("/assets/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | '?'))
                .collect();
            assert!(
                asset(&name).is_some(),
                "index.html links /assets/{name}, which is not embedded"
            );
        }
        // Every module imported by a module is embedded too.
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let js = std::str::from_utf8(a.bytes).unwrap();
            for part in js.split("from \"./").skip(1) {
                let name: String = part.chars().take_while(|c| *c != '"').collect();
                assert!(
                    asset(&name).is_some(),
                    "{} imports ./{name}, which is not embedded",
                    a.name
                );
            }
        }
    }

    #[actix_web::test]
    async fn serves_the_page_and_assets_with_types_and_etags() {
        let app = atest::init_service(App::new().configure(configure)).await;
        let res = atest::call_service(&app, atest::TestRequest::get().uri("/").to_request()).await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(
            h.get(header::CONTENT_TYPE).unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-cache");
        assert!(h.get(header::CONTENT_SECURITY_POLICY).is_some());
        let etag = h.get(header::ETAG).unwrap().to_str().unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18,
            "{etag}"
        );
        let body = atest::read_body(res).await;
        assert!(std::str::from_utf8(&body)
            .unwrap()
            .contains("<!doctype html>"));

        let req = atest::TestRequest::get()
            .uri("/")
            .insert_header((header::IF_NONE_MATCH, etag.as_str()));
        let res = atest::call_service(&app, req.to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers().get(header::ETAG).unwrap(), etag.as_str());
        assert!(atest::read_body(res).await.is_empty());

        let req = atest::TestRequest::get()
            .uri("/assets/app.css")
            .insert_header((header::IF_NONE_MATCH, "\"0000000000000000\""));
        let res = atest::call_service(&app, req.to_request()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/css; charset=utf-8"
        );

        for (uri, ty) in [
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            ("/assets/icon.svg", "image/svg+xml"),
        ] {
            let res =
                atest::call_service(&app, atest::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(res.status(), StatusCode::OK, "{uri}");
            assert_eq!(
                res.headers().get(header::CONTENT_TYPE).unwrap(),
                ty,
                "{uri}"
            );
            assert_eq!(
                res.headers().get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
                "nosniff"
            );
        }

        // An invite link opens the page itself, with the page's headers.
        let res = atest::call_service(
            &app,
            atest::TestRequest::get()
                .uri("/invite/AbCdEf0123456789")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(
            h.get(header::CONTENT_TYPE).unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(h.get(header::CONTENT_SECURITY_POLICY).unwrap(), CSP);
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(h.get(header::ETAG).unwrap(), etag.as_str());
        let res = atest::call_service(
            &app,
            atest::TestRequest::get().uri("/invite/a/b").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        let res = atest::call_service(
            &app,
            atest::TestRequest::get()
                .uri("/assets/nope.js")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = atest::call_service(
            &app,
            atest::TestRequest::get()
                .uri("/assets/..%2FCargo.toml")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = atest::call_service(
            &app,
            atest::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/assets/app.js")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}
