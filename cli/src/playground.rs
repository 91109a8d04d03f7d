//! `potok playground [--port 8080] [--bind 127.0.0.1]`: serves the browser playground, whose files are built
//! into this binary (see `build.rs`), over HTTP. Everything runs in the learner's page — a potok broker in
//! WebAssembly — so this server only hands out static files: `GET`/`HEAD` of a known path, `/` redirected to
//! the first lesson, nothing else.

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));

/// Where `/` sends the browser.
const START_PAGE: &str = "/www/index.html";
/// Most HTTP connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// The largest request head read (hyper's read buffer); a larger one is refused.
const MAX_HEAD_BYTES: usize = 16 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The TCP port to serve on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to serve on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
}

/// The files served, by URL path.
#[derive(Debug)]
struct Site {
    files: Vec<(String, &'static [u8])>,
}

impl Site {
    fn new(assets: &[(&str, &'static [u8])]) -> Site {
        Site { files: assets.iter().map(|(name, bytes)| (format!("/{name}"), *bytes)).collect() }
    }

    fn get(&self, path: &str) -> Option<&'static [u8]> {
        self.files.iter().find(|(p, _)| p == path).map(|(_, bytes)| *bytes)
    }

    fn answer(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        let response = Response::builder();
        if method != Method::GET && method != Method::HEAD {
            return text(
                response.status(StatusCode::METHOD_NOT_ALLOWED).header(ALLOW, "GET, HEAD"),
                "method not allowed",
            );
        }
        if path == "/" || path == "/www" || path == "/www/" {
            return text(response.status(StatusCode::FOUND).header(LOCATION, START_PAGE), "see /www/index.html");
        }
        let Some(bytes) = self.get(path) else {
            return text(response.status(StatusCode::NOT_FOUND), "not found");
        };
        let body = if method == Method::HEAD { Bytes::new() } else { Bytes::from_static(bytes) };
        response
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, content_type(path))
            .header(CONTENT_LENGTH, bytes.len())
            // The files change only with the binary; a reload asks again so a new build is never hidden.
            .header(CACHE_CONTROL, "no-cache")
            .header("X-Content-Type-Options", "nosniff")
            .body(Full::new(body))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

fn text(builder: hyper::http::response::Builder, body: &'static str) -> Response<Full<Bytes>> {
    builder
        .header(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The media type a browser needs: `application/wasm` for `WebAssembly.instantiateStreaming`, a JavaScript
/// type for module scripts (browsers refuse others under `nosniff`).
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ts" | "md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if ASSETS.is_empty() {
        bail!(
            "this potok was built without the playground: build its browser package with `scripts/wasm.sh pkg`, \
             then build potok again (cargo build -p potok-cli)"
        );
    }
    let address = format!("{}:{}", args.bind, args.port);
    let listener = std::net::TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let host = if bound.ip().is_unspecified() { "127.0.0.1".to_string() } else { bound.ip().to_string() };
    println!("potok playground: http://{host}:{}/ (Ctrl-C to stop)", bound.port());
    let site = Arc::new(Site::new(ASSETS));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::select! {
            result = serve(listener, site) => result,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

async fn serve(listener: tokio::net::TcpListener, site: Arc<Site>) -> anyhow::Result<()> {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = Arc::clone(&connections).acquire_owned().await?;
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // A connection that failed before it was accepted (reset, or too many open files) is dropped.
            Err(_) => continue,
        };
        let site = Arc::clone(&site);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let site = Arc::clone(&site);
                async move { Ok::<_, Infallible>(site.answer(req.method(), req.uri().path())) }
            });
            let _ = http1::Builder::new()
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &[u8] = b"<!doctype html>";
    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn site() -> Site {
        Site::new(&[("www/index.html", PAGE), ("pkg/web/potok_bg.wasm", MODULE)])
    }

    fn header(response: &Response<Full<Bytes>>, name: &str) -> String {
        response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }

    #[test]
    fn serves_each_file_with_its_type() {
        let page = site().answer(&Method::GET, "/www/index.html");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&page, "content-length"), PAGE.len().to_string());
        let module = site().answer(&Method::GET, "/pkg/web/potok_bg.wasm");
        assert_eq!(module.status(), StatusCode::OK);
        assert_eq!(header(&module, "content-type"), "application/wasm");
        assert_eq!(header(&module, "content-length"), MODULE.len().to_string());
    }

    #[test]
    fn root_redirects_to_the_first_lesson() {
        for path in ["/", "/www", "/www/"] {
            let response = site().answer(&Method::GET, path);
            assert_eq!(response.status(), StatusCode::FOUND, "{path}");
            assert_eq!(header(&response, "location"), START_PAGE);
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        for path in ["/www/missing.js", "/www/../Cargo.toml", "/pkg/web/", "/index.html"] {
            assert_eq!(site().answer(&Method::GET, path).status(), StatusCode::NOT_FOUND, "{path}");
        }
        let post = site().answer(&Method::POST, "/www/index.html");
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&post, "allow"), "GET, HEAD");
    }

    #[test]
    fn head_answers_the_length_without_the_body() {
        let response = site().answer(&Method::HEAD, "/www/index.html");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-length"), PAGE.len().to_string());
    }
}
