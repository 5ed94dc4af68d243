//! The programme report (protocol/README.md §19): JSON and CSV, signed, coordinators only.

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::workflows::reports;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use sallyport_protocol::report::ReportBody;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/reports/programme", get(programme)).route("/v1/reports/programme.csv", get(programme_csv))
}

#[derive(serde::Deserialize)]
struct PeriodQuery {
    period: Option<String>,
}

async fn body(s: &AppState, query: Result<Query<PeriodQuery>, QueryRejection>, signed: &Signed) -> Result<(ReportBody, &'static str), ApiError> {
    let Query(q) = query.map_err(|_| ApiError::bad_request("give the period: ?period=week or ?period=month"))?;
    let period = reports::parse_period(q.period.as_deref())?;
    Ok((reports::programme(&*s.store, &s.clock, &signed.caller, period).await?, reports::csv_file_name(period)))
}

async fn programme(State(s): State<AppState>, query: Result<Query<PeriodQuery>, QueryRejection>, signed: Signed) -> Result<Json<ReportBody>, ApiError> {
    Ok(Json(body(&s, query, &signed).await?.0))
}

async fn programme_csv(State(s): State<AppState>, query: Result<Query<PeriodQuery>, QueryRejection>, signed: Signed) -> Result<impl IntoResponse, ApiError> {
    let (report, name) = body(&s, query, &signed).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        reports::csv(&report),
    ))
}
