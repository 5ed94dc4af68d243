//! `page --responders N`: one crisis team of N responders, all in tier 1 and on call (a team
//! without rotations), each device with one push subscription at a push-service emulator that
//! verifies VAPID and decrypts every push (RFC 8291). A coordinator seals the preview to every
//! recipient device with the client core and declares. Measured: from the declaration request
//! until the emulator has accepted all N pages; then every responder answers `responding` with
//! the token from their page (`POST /v1/incidents/answer`, unsigned, as a service worker does),
//! and the time until all N answers are on the board.

use crate::server::{Server, http, http_get};
use base64::Engine as _;
use sallyport_core::protocol::incidents::page_aad;
use sallyport_core::protocol::rest::Role;
use sallyport_core::protocol::{DeviceId, IncidentId, PublicKey};
use sallyport_core::{Credentials, api_request_with, seal};
use sallyport_e2e::push_emulator::PushEmulator;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct PageParams {
    pub responders: usize,
    /// Answers sent at once.
    pub answer_parallel: usize,
    /// Seconds to wait for all pages, and for all answers.
    pub timeout: f64,
}

async fn call(creds: &Credentials, method: &str, path: &str, body: Option<Value>, ok: &[u16]) -> anyhow::Result<Value> {
    let (status, answer) =
        api_request_with(http(), creds, method, path, body.as_ref()).await.map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))?;
    anyhow::ensure!(ok.contains(&status), "{method} {path} answered {status}: {answer}");
    Ok(answer)
}

/// Milliseconds from `from` to `to`.
fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// Percentile `q` (0..=1) of sorted `v`.
fn percentile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

pub async fn run(server: &Server, p: &PageParams) -> anyhow::Result<Value> {
    let n = p.responders;
    anyhow::ensure!(n > 0, "--responders must be at least 1");
    let emulator = PushEmulator::start().await;
    let config: Value = serde_json::from_str(&http_get(&server.url, "/v1/config").await?)?;
    emulator.expect_vapid_key(config["vapid_public_key"].as_str().ok_or_else(|| anyhow::anyhow!("no vapid_public_key"))?);

    eprintln!("setting up: a coordinator and {n} responders");
    let (coordinator, _) = server.enrol_many_with_roles(1, "bench-coordinator", &[Role::Coordinator]).await?;
    let coordinator = &coordinator[0];
    let (responders, enrol_time) = server.enrol_many(n, "bench-responder").await?;
    // A policy no answer count reaches before the last: paging goes on until every page is sent.
    let policy = json!({"responders": 100, "at_least": {}, "repeat_every_minutes": 60, "escalate_after_minutes": 60});
    let team = call(coordinator, "POST", "/v1/teams", Some(json!({"name": "bench CRT", "policy": policy})), &[201]).await?;
    let team_id = team["id"].as_str().unwrap_or_default().to_owned();
    let mut by_token: HashMap<String, usize> = HashMap::new();
    for (i, r) in responders.iter().enumerate() {
        let path = format!("/v1/teams/{team_id}/members/{}", r.account);
        call(coordinator, "PUT", &path, Some(json!({"tier": 1, "role": "peer"})), &[201]).await?;
        let sub = emulator.subscribe();
        call(r, "POST", "/v1/push/subscriptions", Some(sub.json()), &[204]).await?;
        by_token.insert(sub.token, i);
    }

    // Seal the preview to every recipient device, as the declarer's app does.
    let recipients = call(coordinator, "GET", &format!("/v1/incidents/recipients?team={team_id}"), None, &[200]).await?;
    let id = IncidentId::random();
    let preview = json!({"type": "disturbance", "location": "bench", "note": ""}).to_string();
    let seal_started = Instant::now();
    let mut sealed = Vec::new();
    for r in recipients["recipients"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let device: DeviceId = r["device"].as_str().unwrap_or_default().parse().map_err(anyhow::Error::msg)?;
        let key: PublicKey = r["notification_key"].as_str().unwrap_or_default().parse().map_err(anyhow::Error::msg)?;
        let blob = seal::seal(&key.0, &page_aad(&id, &device), preview.as_bytes()).map_err(|e| anyhow::anyhow!("seal: {e}"))?;
        sealed.push(json!({"device": device, "sealed": base64::engine::general_purpose::STANDARD.encode(blob)}));
    }
    let seal_ms = seal_started.elapsed().as_secs_f64() * 1000.0;

    let cpu_before = server.cpu_s();
    let declared = Instant::now();
    let body = json!({"id": id, "team": team_id, "severity": 1, "sealed": sealed});
    call(coordinator, "POST", "/v1/incidents", Some(body), &[201]).await?;
    let declare_ms = declared.elapsed().as_secs_f64() * 1000.0;
    let deadline = declared + Duration::from_secs_f64(p.timeout);
    let is_page = |r: &sallyport_e2e::push_emulator::Received| {
        serde_json::from_slice::<Value>(&r.plaintext).is_ok_and(|v| v["kind"] == "page")
    };
    while emulator.received().iter().filter(|r| is_page(r)).count() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Pages only (members also get a readiness check when they join the team).
    let received: Vec<_> = emulator.received().into_iter().filter(is_page).collect();
    let mut arrivals: Vec<f64> = received.iter().map(|r| ms(declared, r.at)).collect();
    arrivals.sort_by(f64::total_cmp);
    let all_paged_ms = (received.len() >= n).then(|| arrivals.last().copied()).flatten();
    let cpu_paging = cpu_before.zip(server.cpu_s()).map(|(a, b)| b - a);

    // Every responder answers with the token from their page.
    let tokens: Vec<String> = received
        .iter()
        .filter(|r| by_token.contains_key(&r.token))
        .filter_map(|r| serde_json::from_slice::<Value>(&r.plaintext).ok())
        .filter_map(|page| page["token"].as_str().map(str::to_owned))
        .collect();
    let answers_started = Instant::now();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(p.answer_parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let (limit, url) = (limit.clone(), server.url.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let response = http()
                .post(format!("{url}/v1/incidents/answer"))
                .json(&json!({"token": token, "answer": "responding"}))
                .send()
                .await?;
            anyhow::Ok(response.status().as_u16())
        });
    }
    let mut answered_ok = 0;
    while let Some(result) = tasks.join_next().await {
        if matches!(result, Ok(Ok(200))) {
            answered_ok += 1;
        }
    }
    let mut on_board = 0;
    while Instant::now() < answers_started + Duration::from_secs_f64(p.timeout) {
        let board = call(coordinator, "GET", &format!("/v1/incidents/{id}"), None, &[200]).await?;
        on_board = board["paged"].as_array().map_or(0, |paged| paged.iter().filter(|x| x["answer"] == "responding").count());
        if on_board >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answers_ms = (on_board >= n).then(|| answers_started.elapsed().as_secs_f64() * 1000.0);
    let pages_ms = (received.len() >= n).then(|| ms(declared, received.iter().map(|r| r.at).max().unwrap_or(declared)));
    Ok(json!({
        "scenario": "page",
        "responders": n,
        "enrol_s": enrol_time.as_secs_f64(),
        "seal_ms": seal_ms,
        "declare_request_ms": declare_ms,
        "pages_received": received.len(),
        "all_pages_ms": all_paged_ms.or(pages_ms),
        "first_page_ms": arrivals.first(),
        "p50_page_ms": percentile(&arrivals, 0.5),
        "p99_page_ms": percentile(&arrivals, 0.99),
        "server_cpu_s_paging": cpu_paging,
        "answers_ok": answered_ok,
        "answers_on_board": on_board,
        "all_answers_on_board_ms": answers_ms,
        "emulator_rejections": emulator.rejections().len(),
    }))
}

pub fn print(r: &Value) {
    let show = |k: &str| r.get(k).and_then(Value::as_f64).map_or("n/a".to_owned(), |v| format!("{v:.1}"));
    println!("page: {} responders (tier 1, on call, one push subscription each)", r["responders"]);
    println!("  sealing {} previews (client)   {} ms", r["responders"], show("seal_ms"));
    println!("  declare request                 {} ms", show("declare_request_ms"));
    println!("  pages received                  {} of {}", r["pages_received"], r["responders"]);
    println!("  first / p50 / p99 / all pages   {} / {} / {} / {} ms after the declaration", show("first_page_ms"), show("p50_page_ms"), show("p99_page_ms"), show("all_pages_ms"));
    println!("  server CPU while paging         {} s", show("server_cpu_s_paging"));
    println!("  answers accepted / on board     {} / {}", r["answers_ok"], r["answers_on_board"]);
    println!("  all answers on the board        {} ms after the first answer was sent", show("all_answers_on_board_ms"));
    println!("  emulator rejections             {}", r["emulator_rejections"]);
}
