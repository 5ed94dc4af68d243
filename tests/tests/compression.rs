//! What travels to a phone is compressed: the web app's files leave as the brotli or gzip siblings
//! the build wrote (web-client/scripts/compress.mjs, run here on a small app), each decoding to
//! exactly the file; the app's routes and the reserved paths answer as before; large API reads
//! are compressed when the client asks, writes never.

use rand::RngCore as _;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use sallyport_core::{Credentials, enrol, signing_time};
use sallyport_e2e::{ServerOptions, TestServer, now_ms, workspace_root};
use sallyport_protocol::auth;
use serde_json::{Value, json};
use std::io::Read as _;
use std::path::Path;

/// A client that sends only the `Accept-Encoding` a test gives and never decodes, so the test sees
/// the encoding and the bytes that travelled.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().no_brotli().no_deflate().build().expect("HTTP client")
}

/// The body as sent, decoded by the encoding the response names.
fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        None => out.extend_from_slice(body),
        Some("br") => {
            brotli_decompressor::Decompressor::new(body, 4096).read_to_end(&mut out).expect("valid brotli");
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).expect("valid gzip");
        }
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    out
}

struct Fetched {
    status: u16,
    encoding: Option<String>,
    headers: reqwest::header::HeaderMap,
    sent: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: reqwest::header::HeaderName) -> &str {
        self.headers.get(&name).map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no {name} header"))
    }

    fn varies_on_encoding(&self) -> bool {
        self.headers.get_all(VARY).iter().any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("accept-encoding"))
    }

    fn decoded(&self) -> Vec<u8> {
        decode(self.encoding.as_deref(), &self.sent)
    }
}

async fn fetch(request: reqwest::RequestBuilder, accept: Option<&'static str>) -> Fetched {
    let request = match accept {
        Some(accept) => request.header(ACCEPT_ENCODING, accept),
        None => request,
    };
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let encoding = headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap().to_owned());
    let sent = response.bytes().await.expect("body").to_vec();
    Fetched { status, encoding, headers, sent }
}

/// Writes a small built app: an index, a hashed script, a wasm module, the worker and an icon.
fn small_app(dir: &Path) {
    let mut index = String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>app shell</title>");
    for i in 0..20 {
        index.push_str(&format!("<link rel=\"modulepreload\" crossorigin href=\"/assets/chunk-{i}-Xy_9-a.js\">"));
    }
    index.push_str("</head><body><div id=\"app\"></div></body></html>");
    std::fs::write(dir.join("index.html"), index).unwrap();
    std::fs::create_dir(dir.join("assets")).unwrap();
    let mut js = String::new();
    for i in 0..600 {
        js.push_str(&format!("export function screen{i}(p){{return h('section',{{class:'screen-{i}','aria-label':p.label}},p.children)}}\n"));
    }
    std::fs::write(dir.join("assets/index--Bq9_xD.js"), js).unwrap();
    // A wasm-like module: the magic number, then repeated random blocks (compressible, not trivially).
    let mut block = [0u8; 1024];
    rand::thread_rng().fill_bytes(&mut block);
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    for i in 0..48u8 {
        wasm.extend_from_slice(&block);
        wasm.push(i);
    }
    std::fs::write(dir.join("assets/sallyport_core_wasm_bg-Dz-3q_1.wasm"), wasm).unwrap();
    std::fs::write(dir.join("sw.js"), "self.addEventListener('push', () => {});\n".repeat(40)).unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut pixels = [0u8; 2048];
    rand::thread_rng().fill_bytes(&mut pixels);
    png.extend_from_slice(&pixels);
    std::fs::write(dir.join("icon-192.png"), png).unwrap();
}

/// Runs the build's own compression step on `dir`.
fn compress(dir: &Path) {
    let script = workspace_root().join("web-client/scripts/compress.mjs");
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("running node {} (Node.js is needed, as for the web build): {e}", script.display()));
    assert!(output.status.success(), "compress.mjs failed: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn web_app_files_travel_precompressed_and_decode_to_exactly_the_file() {
    let web = tempfile::tempdir().unwrap();
    small_app(web.path());
    compress(web.path());
    for file in ["index.html", "sw.js", "assets/index--Bq9_xD.js", "assets/sallyport_core_wasm_bg-Dz-3q_1.wasm"] {
        for sibling in [".br", ".gz"] {
            assert!(web.path().join(format!("{file}{sibling}")).is_file(), "the build wrote {file}{sibling}");
        }
    }
    assert!(!web.path().join("icon-192.png.br").exists() && !web.path().join("icon-192.png.gz").exists(), "images are not recompressed");
    let server = TestServer::start_with(ServerOptions {
        extra_args: vec!["--web-dir".into(), web.path().display().to_string()],
        ..Default::default()
    })
    .await;
    let http = raw_client();
    let get = |path: &str, accept: Option<&'static str>| fetch(http.get(format!("{}{path}", server.url)), accept);

    // What Chromium sends, brotli alone, gzip alone, nothing, identity, and a refusal of brotli.
    let cases: [(Option<&'static str>, Option<&str>); 6] = [
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("br"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (None, None),
        (Some("identity"), None),
        (Some("br;q=0, gzip"), Some("gzip")),
    ];
    let assets = [("assets/index--Bq9_xD.js", "javascript"), ("assets/sallyport_core_wasm_bg-Dz-3q_1.wasm", "application/wasm")];
    for (file, content_type) in assets {
        let original = std::fs::read(web.path().join(file)).unwrap();
        for (accept, expected) in cases {
            let got = get(&format!("/{file}"), accept).await;
            let what = format!("{file} with Accept-Encoding {accept:?}");
            assert_eq!(got.status, 200, "{what}");
            assert_eq!(got.encoding.as_deref(), expected, "{what}");
            assert!(got.varies_on_encoding(), "{what}: Vary names Accept-Encoding");
            assert!(got.header(CONTENT_TYPE).contains(content_type), "{what}: Content-Type {}", got.header(CONTENT_TYPE));
            assert_eq!(got.header(CACHE_CONTROL), "public, max-age=31536000, immutable", "{what}");
            assert!(got.decoded() == original, "{what}: decodes to exactly the file");
            if expected.is_some() {
                assert!(got.sent.len() < original.len() / 2, "{what}: {} bytes sent for {}", got.sent.len(), original.len());
            } else {
                assert_eq!(got.sent.len(), original.len(), "{what}");
            }
        }
    }

    // The app's routes get index.html, compressed too, revalidated, under the strict policy.
    let index = std::fs::read(web.path().join("index.html")).unwrap();
    for path in ["/", "/enrol", "/c/0123abcd", "/-x_y/deep/route"] {
        for (accept, expected) in [(Some("gzip, deflate, br, zstd"), Some("br")), (Some("gzip"), Some("gzip")), (None, None)] {
            let got = get(path, accept).await;
            assert_eq!((got.status, got.encoding.as_deref()), (200, expected), "{path} with {accept:?}");
            assert!(got.decoded() == index, "{path} with {accept:?} is the app shell");
            assert_eq!(got.header(CACHE_CONTROL), "no-cache", "{path}");
            assert!(got.header(reqwest::header::CONTENT_SECURITY_POLICY).contains("script-src 'self' 'wasm-unsafe-eval';"));
            assert!(got.varies_on_encoding(), "{path}");
        }
    }
    let worker = get("/sw.js", Some("br")).await;
    assert_eq!((worker.status, worker.encoding.as_deref()), (200, Some("br")));
    assert_eq!(worker.decoded(), std::fs::read(web.path().join("sw.js")).unwrap());
    assert_eq!(worker.header(CACHE_CONTROL), "no-cache");
    assert_eq!(worker.header("service-worker-allowed".parse().unwrap()), "/");
    // An image has no sibling: sent as it is, whatever the browser accepts.
    let icon = get("/icon-192.png", Some("gzip, deflate, br, zstd")).await;
    assert_eq!((icon.status, icon.encoding.as_deref()), (200, None));
    assert_eq!(icon.sent, std::fs::read(web.path().join("icon-192.png")).unwrap());

    // Reserved paths never fall back to the app, compressed or not.
    for path in ["/v1/nothing-here", "/metrics"] {
        for accept in [Some("br"), None] {
            let got = get(path, accept).await;
            assert_eq!(got.status, 404, "{path} with {accept:?}");
            assert!(!got.decoded().windows(9).any(|w| w == b"app shell"), "{path} is not the app");
        }
    }
    let post = fetch(http.post(format!("{}/", server.url)), Some("br")).await;
    assert_eq!(post.status, 404);
}

/// The server's threshold (server/src/http/mod.rs, `API_COMPRESSION_MIN_BYTES`).
const API_COMPRESSION_MIN_BYTES: usize = 1024;

/// A request signed by `creds`, with the given `Accept-Encoding`.
async fn signed(http: &reqwest::Client, creds: &Credentials, method: &str, path: &str, body: Option<&Value>, accept: Option<&'static str>) -> Fetched {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let time = signing_time(now_ms());
    let signature = creds.keys.sign_request(&creds.device, &creds.server_url, method, path, time, &bytes);
    let mut request = http
        .request(method.parse().unwrap(), format!("{}{path}", creds.server_url))
        .header(auth::DEVICE_HEADER, creds.device.to_text())
        .header(auth::TIME_HEADER, time.to_string())
        .header(auth::SIGNATURE_HEADER, signature.to_text());
    if body.is_some() {
        request = request.header(CONTENT_TYPE, "application/json").body(bytes);
    }
    fetch(request, accept).await
}

#[tokio::test]
async fn large_api_reads_are_compressed_when_asked_and_writes_never() {
    let server = TestServer::start().await;
    let link = server.admin_link.clone().expect("first start prints the administrator link");
    let admin = enrol(&server.url, &link).await.expect("administrator enrols");
    let http = raw_client();
    let chromium = Some("gzip, deflate, br, zstd");

    // The most locations an administrator may list: several KiB of JSON.
    let locations: Vec<String> = (0..sallyport_protocol::incidents::MAX_LOCATIONS).map(|i| format!("Housing unit {i:03}, east wing, corridor B")).collect();
    let body = json!({ "locations": locations });
    let write = signed(&http, &admin, "PUT", "/v1/admin/incident-locations", Some(&body), chromium).await;
    assert_eq!(write.status, 200);
    assert!(write.sent.len() > API_COMPRESSION_MIN_BYTES, "the write's answer is large ({} bytes)", write.sent.len());
    assert_eq!(write.encoding, None, "a write's answer is never compressed");
    assert_eq!(serde_json::from_slice::<Value>(&write.sent).unwrap(), body);

    let plain = signed(&http, &admin, "GET", "/v1/incidents/locations", None, None).await;
    assert_eq!((plain.status, plain.encoding.as_deref()), (200, None), "not compressed unless asked");
    assert_eq!(serde_json::from_slice::<Value>(&plain.sent).unwrap(), body);
    for (accept, expected) in [(chromium, "br"), (Some("br"), "br"), (Some("gzip"), "gzip")] {
        let read = signed(&http, &admin, "GET", "/v1/incidents/locations", None, accept).await;
        assert_eq!((read.status, read.encoding.as_deref()), (200, Some(expected)), "with {accept:?}");
        assert!(read.varies_on_encoding());
        assert!(read.header(CONTENT_TYPE).starts_with("application/json"));
        assert_eq!(read.header(CACHE_CONTROL), "no-store");
        assert!(read.sent.len() < plain.sent.len() / 2, "{expected}: {} bytes for {}", read.sent.len(), plain.sent.len());
        assert_eq!(read.decoded(), plain.sent, "{expected} decodes to the same JSON");
    }
    let identity = signed(&http, &admin, "GET", "/v1/incidents/locations", None, Some("identity")).await;
    assert_eq!((identity.encoding, identity.sent.len()), (None, plain.sent.len()));

    // A small answer is not worth compressing.
    let me = signed(&http, &admin, "GET", "/v1/me", None, None).await;
    assert_eq!(me.status, 200);
    assert!(me.sent.len() < API_COMPRESSION_MIN_BYTES, "GET /v1/me is small ({} bytes)", me.sent.len());
    let me = signed(&http, &admin, "GET", "/v1/me", None, chromium).await;
    assert_eq!((me.status, me.encoding), (200, None));

    // An error keeps its JSON code, uncompressed when small.
    let refused = signed(&http, &admin, "GET", "/v1/incidents/not-an-id", None, chromium).await;
    assert!(refused.status >= 400);
    assert_eq!(refused.encoding, None);
    assert!(serde_json::from_slice::<Value>(&refused.sent).unwrap()["code"].is_string());
}
