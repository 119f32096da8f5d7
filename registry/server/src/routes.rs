//! The HTTP surface: one module per resource.
//!
//! | Method | Path | Auth | What |
//! |---|---|---|---|
//! | GET | `/v2/` | - | OCI API version check |
//! | GET, HEAD | `/v2/<name>/manifests/<version-or-digest>` | - | approved manifests |
//! | GET, HEAD | `/v2/<name>/blobs/<digest>` | - | blobs of approved manifests |
//! | GET | `/v2/<name>/tags/list` | - | approved versions |
//! | POST | `/v2/<name>/blobs/uploads/[?digest=]` | publish | monolithic upload / open session |
//! | PUT | `/v2/<name>/blobs/uploads/<id>?digest=` | publish | finish a session |
//! | PUT | `/stockade/v1/bundles/<name>/versions/<version>` | publish | stage a version |
//! | GET | `/stockade/v1/bundles/<name>/versions` | - | approved versions, yank flags, records |
//! | PUT | `/stockade/v1/bundles/<name>/versions/<version>/approval` | admin | approve |
//! | POST | `/stockade/v1/bundles/<name>/versions/<version>/yank` | admin | yank |
//! | GET, PUT | `/stockade/v1/revocations` | -, admin | signed revocation list |

mod bundles;
mod oci;
mod revocations;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

pub use bundles::{CheckedManifest, check_manifest};

use crate::config::AppState;

/// The registry's router over `state`; tests drive it on a loopback socket.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v2/", get(oci::base))
        .route("/v2/{name}/manifests/{reference}", get(oci::manifest))
        .route("/v2/{name}/blobs/{digest}", get(oci::blob))
        .route("/v2/{name}/tags/list", get(oci::tags))
        .route("/v2/{name}/blobs/uploads/", post(oci::start_upload))
        .route("/v2/{name}/blobs/uploads/{id}", put(oci::finish_upload))
        .route(
            "/stockade/v1/bundles/{name}/versions",
            get(bundles::versions),
        )
        .route(
            "/stockade/v1/bundles/{name}/versions/{version}",
            put(bundles::publish),
        )
        .route(
            "/stockade/v1/bundles/{name}/versions/{version}/approval",
            put(bundles::approve),
        )
        .route(
            "/stockade/v1/bundles/{name}/versions/{version}/yank",
            post(bundles::yank),
        )
        .route(
            "/stockade/v1/revocations",
            get(revocations::get).put(revocations::put),
        )
        // JSON bodies (a publish carries the manifest) stay small; blob uploads take the raw
        // body stream, which this limit does not cover, and enforce `max_blob_bytes` as they go.
        .layer(DefaultBodyLimit::max(4 << 20))
        .with_state(state)
}
