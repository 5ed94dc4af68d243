//! The link to PostgreSQL: with `sslmode=verify-full` and the CA that signed the database's
//! certificate the server works over TLS, and with a CA that did not sign it the server refuses to
//! start rather than talk in plaintext or to an unverified peer. Runs on the test cluster of
//! `scripts/pg-cluster` (TLS on, its CA in `SALLYPORT_TEST_POSTGRES_CA`).

use sallyport_e2e::*;
use sqlx::Connection as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A fresh database on the test cluster and the CA that signed the cluster's certificate, or
/// `None` when no cluster is configured (a missing CA fails the test with
/// `SALLYPORT_REQUIRE_POSTGRES=1`, as a missing cluster does).
async fn tls_database() -> Option<(String, PathBuf)> {
    let ca = PathBuf::from(postgres_setting("SALLYPORT_TEST_POSTGRES_CA")?);
    assert!(ca.is_file(), "SALLYPORT_TEST_POSTGRES_CA={} is not a file", ca.display());
    Some((postgres_database().await?, ca))
}

fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

fn verify_full(url: &str, ca: &Path) -> String {
    let ca = ca.to_str().expect("a UTF-8 path");
    assert!(!ca.contains(['&', '#', '%', '?', ' ']), "the CA path needs no URL escaping: {ca}");
    with_query(url, &format!("sslmode=verify-full&sslrootcert={ca}"))
}

async fn connection_is_tls(url: &str) -> bool {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("reading pg_stat_ssl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_works_over_tls_when_the_url_says_verify_full_with_the_databases_ca() {
    let Some((db, ca)) = tls_database().await else { return };
    let url = verify_full(&db, &ca);

    // The check below tells the two apart.
    assert!(connection_is_tls(&url).await, "a verify-full connection is TLS");
    assert!(!connection_is_tls(&with_query(&db, "sslmode=disable")).await, "a sslmode=disable connection is not");

    let server = TestServer::start_with(ServerOptions {
        database_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    let alice = server.enrol("Alice").await;
    let mut client = sallyport_core::Client::connect(&alice).await.expect("the enrolled device connects");
    let mailbox = sallyport_core::protocol::MailboxId::random();
    client.create_mailbox(mailbox, sallyport_core::protocol::MailboxSecret::random()).await.expect("a write through the server");

    // Every connection the server holds to its database (the pool, the wake-up listener) is TLS.
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connecting to the test database");
    let (plain, tls): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE s.ssl)
         FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("reading pg_stat_activity");
    assert_eq!(plain, 0, "the server has a plaintext connection to PostgreSQL");
    assert!(tls >= 1, "the server holds no connection to its database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refuses_to_start_when_the_databases_certificate_is_not_from_the_given_ca() {
    let Some((db, _)) = tls_database().await else { return };
    // A CA of our own, which did not sign the cluster's certificate.
    let dir = tempfile::tempdir().expect("temp dir");
    let other_ca = dir.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=Not the database's CA", "-addext", "basicConstraints=critical,CA:TRUE"])
        .arg("-keyout")
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .expect("running openssl (Debian package openssl)");
    assert!(made.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&made.stderr));

    let out = tokio::process::Command::new(sallyport_bin())
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--database-url", &verify_full(&db, &other_ca)])
        .env_remove("SALLYPORT_PUBLIC_URL")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, out)
        .await
        .expect("the server neither started nor exited")
        .expect("running sallyport serve");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the server started with an unverified database; stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stdout.contains("listening on"), "the server listened: {stdout}");
    assert!(
        stderr.contains("TLS") && stderr.contains("certificate"),
        "the error does not say the database's TLS certificate is the problem:\n{stderr}"
    );
}
