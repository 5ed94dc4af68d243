//! The deployment files (docs/deploy.md): `docker/compose.yaml` refuses to start without a
//! database password of the operator's own and a domain, publishes no port but Caddy's, and the
//! Caddy and nginx configurations keep no access log and forward no client address. The compose
//! file is checked with `docker-compose config` (no Docker engine needed).

use sallyport_e2e::workspace_root;
use std::process::{Command, Output};

/// `docker-compose -f docker/compose.yaml config` with exactly these variables set (an empty env
/// file, so a `.env` lying around changes nothing). `None` if docker-compose is not installed.
fn compose_config(vars: &[(&str, &str)]) -> Option<Output> {
    let root = workspace_root();
    let env_file = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new("docker-compose");
    command
        .current_dir(&root)
        .args(["--env-file", &env_file.path().display().to_string()])
        .args(["-f", &root.join("docker/compose.yaml").display().to_string(), "config"])
        .env_remove("POSTGRES_PASSWORD")
        .env_remove("SALLYPORT_DOMAIN")
        .env_remove("SALLYPORT_LOG_FORMAT")
        .env_remove("SALLYPORT_PUSH_ALLOW_HOSTS")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME");
    for (name, value) in vars {
        command.env(name, value);
    }
    match command.output() {
        Ok(output) => Some(output),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => panic!("running docker-compose: {err}"),
    }
}

/// The lines of one service's block in `docker-compose config` output (two-space indented names).
fn service<'a>(config: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("  {name}:");
    let mut lines = config.lines().skip_while(|l| *l != header);
    let Some(_) = lines.next() else { panic!("no service {name} in:\n{config}") };
    lines.take_while(|l| l.starts_with("    ")).collect()
}

#[test]
fn compose_refuses_to_start_without_a_database_password_of_ones_own() {
    let domain = ("SALLYPORT_DOMAIN", "relay.example.org");
    let Some(without) = compose_config(&[domain]) else {
        // The README's test command installs it and says so: there, a missing tool fails.
        assert!(
            std::env::var("SALLYPORT_REQUIRE_DOCKER_COMPOSE").as_deref() != Ok("1"),
            "SALLYPORT_REQUIRE_DOCKER_COMPOSE=1 but docker-compose is not installed (Debian package docker-compose)"
        );
        eprintln!("SKIPPED: docker-compose is not installed (Debian package docker-compose; ./scripts/test installs it)");
        return;
    };
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(!without.status.success(), "compose config succeeded without POSTGRES_PASSWORD:\n{}", String::from_utf8_lossy(&without.stdout));
    assert!(stderr.contains("set POSTGRES_PASSWORD to a secret of your own"), "{stderr}");

    let empty = compose_config(&[domain, ("POSTGRES_PASSWORD", "")]).unwrap();
    assert!(!empty.status.success(), "an empty password is no password");

    let no_domain = compose_config(&[("POSTGRES_PASSWORD", "tz8Qk2vR")]).unwrap();
    assert!(!no_domain.status.success(), "compose config succeeded without SALLYPORT_DOMAIN");
    assert!(String::from_utf8_lossy(&no_domain.stderr).contains("SALLYPORT_DOMAIN"));

    let with = compose_config(&[domain, ("POSTGRES_PASSWORD", "tz8Qk2vR")]).unwrap();
    let config = String::from_utf8_lossy(&with.stdout);
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert!(!config.contains("change-me"), "no default password left:\n{config}");
    let postgres = service(&config, "postgres").join("\n");
    assert!(postgres.contains("POSTGRES_PASSWORD: tz8Qk2vR"), "{postgres}");
    let sallyport = service(&config, "sallyport").join("\n");
    assert!(sallyport.contains("postgres://sallyport:tz8Qk2vR@postgres:5432/sallyport"), "{sallyport}");
    assert!(sallyport.contains("SALLYPORT_PUBLIC_URL: https://relay.example.org"), "{sallyport}");
    // The one node delivers early, and the database keeps a second from starting beside it.
    assert!(sallyport.contains("SALLYPORT_SINGLE_NODE: \"true\""), "{sallyport}");

    // Only Caddy is reachable from outside: the server and the database publish nothing.
    for name in ["postgres", "sallyport"] {
        let block = service(&config, name);
        assert!(!block.iter().any(|l| l.trim_start().starts_with("ports:")), "{name} publishes a port:\n{}", block.join("\n"));
    }
    let caddy = service(&config, "caddy").join("\n");
    assert!(caddy.contains("published: 443") && caddy.contains("SALLYPORT_DOMAIN: relay.example.org"), "{caddy}");
    assert!(caddy.contains("Caddyfile:/etc/caddy/Caddyfile:ro"), "{caddy}");
}

/// The Caddyfile's lines without comments.
fn directives(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim().to_owned()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn the_proxy_configurations_keep_no_access_log_and_forward_no_client_address() {
    let root = workspace_root();
    let caddyfile = std::fs::read_to_string(root.join("docker/Caddyfile")).expect("docker/Caddyfile");
    let caddy = directives(&caddyfile);
    // The global `log default` (which drops the error and access loggers) is the only `log`: no site has one.
    let logs = |lines: &[String]| lines.iter().filter(|l| l.split_whitespace().next() == Some("log")).cloned().collect::<Vec<_>>();
    assert_eq!(logs(&caddy), ["log default {"], "docker/Caddyfile");
    let stripped = ["header_up -X-Forwarded-For", "header_up -X-Real-IP", "header_up -Forwarded"];
    for needed in ["{$SALLYPORT_DOMAIN} {", "reverse_proxy sallyport:8080 {", "exclude http.log.error http.log.access"].iter().chain(&stripped) {
        assert!(caddy.iter().any(|l| l == needed), "docker/Caddyfile lacks `{needed}`");
    }

    // docs/deploy.md shows the same Caddy site and an nginx one; both are what operators copy.
    let deploy = std::fs::read_to_string(root.join("docs/deploy.md")).expect("docs/deploy.md");
    let block = |lang: &str| -> String {
        let start = deploy.find(&format!("```{lang}\n")).unwrap_or_else(|| panic!("no {lang} block in docs/deploy.md")) + lang.len() + 4;
        deploy[start..start + deploy[start..].find("```").unwrap()].to_owned()
    };
    let documented = directives(&block("caddyfile"));
    for needed in ["exclude http.log.error http.log.access", "max_size 64KB"].iter().chain(&stripped) {
        assert!(documented.iter().any(|l| l == needed), "the Caddy example lacks `{needed}`");
    }
    assert_eq!(logs(&documented), ["log default {"], "the Caddy example in docs/deploy.md");
    let nginx = block("nginx");
    let nginx_lines = directives(&nginx);
    assert_eq!(nginx_lines.iter().filter(|l| *l == "access_log off;").count(), 2, "both server blocks: {nginx}");
    // nginx adds no address unless told to, but passes on what a client sent: each location
    // blanks the three headers (a `proxy_set_header` in a location replaces the block's).
    for line in &nginx_lines {
        assert!(!line.contains("$remote_addr") && !line.contains("$proxy_add_x_forwarded_for"), "nginx passes a client address: {line}");
        let lower = line.to_lowercase();
        if ["x-forwarded-for", "x-real-ip", "forwarded "].iter().any(|h| lower.contains(h)) {
            assert!(line.ends_with("\"\";"), "a client address header is set, not cleared: {line}");
        }
    }
    let locations = nginx_lines.iter().filter(|l| l.starts_with("location ")).count();
    for header in ["X-Forwarded-For", "X-Real-IP", "Forwarded"] {
        let cleared = format!("proxy_set_header {header} \"\";");
        assert_eq!(nginx_lines.iter().filter(|l| **l == cleared).count(), locations, "`{cleared}` in every location");
    }
    assert!(nginx_lines.iter().any(|l| l == "location = /v1/ws {"), "the WebSocket location matches the server's path");
    assert_eq!(sallyport_protocol::WS_PATH, "/v1/ws");
}
