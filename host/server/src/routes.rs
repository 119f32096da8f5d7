//! One module per resource. Handlers take `Result<Json<_>, JsonRejection>` and
//! `Result<Path<_>, PathRejection>` so every bad request becomes an [`ApiError`] with a code.

pub mod agents;
pub mod bundles;
pub mod calls;
pub mod events;
pub mod grants;
pub mod projects;
pub mod registry;
pub mod secrets;
pub mod shell;
pub mod users;
pub mod webhooks;
pub mod workspaces;

use crate::error::ApiError;

/// Resource names (projects, agents): `[a-z][a-z0-9-]*`, at most 64 characters.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_name",
            format!("{what} name {name:?} must match [a-z][a-z0-9-]* (at most 64 characters)"),
        ))
    }
}

/// An admin action event.
pub(crate) fn admin_event(
    caller: &crate::auth::Caller,
    project: Option<&str>,
    payload: serde_json::Value,
) -> stockade_storage::events::NewEvent {
    stockade_storage::events::NewEvent::new(
        stockade_storage::events::kinds::ADMIN,
        caller.actor(),
        project.map(str::to_owned),
        payload,
    )
}
