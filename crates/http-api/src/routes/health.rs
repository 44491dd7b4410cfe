use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};

use crate::dto::Health;
use huddle_domain::DomainError;

use crate::{blocking, ApiState};

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "the process is alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        checks: BTreeMap::new(),
    })
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "the database answers; `degraded` when an optional dependency (Redis) does not", body = Health),
              (status = 503, description = "the database does not answer", body = Health)))]
pub async fn readyz(state: web::Data<ApiState>) -> HttpResponse {
    let repo = state.chat.repository().clone();
    let db = blocking(move || repo.ping().map_err(DomainError::from)).await;
    let mut checks = BTreeMap::new();
    let ok = match db {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %huddle_domain::Chain(&e), "readiness: database unreachable");
            false
        }
    };
    checks.insert(
        "database".to_owned(),
        if ok { "ok" } else { "down" }.to_owned(),
    );
    let mut degraded = false;
    for probe in &state.readiness {
        let (name, healthy) = probe();
        degraded |= !healthy;
        checks.insert(
            name.to_owned(),
            if healthy { "ok" } else { "degraded" }.to_owned(),
        );
    }
    let status = match (ok, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    let body = Health {
        status: status.into(),
        checks,
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
