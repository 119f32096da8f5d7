//! Project membership: a non-member gets exactly the answer for a project that does not exist,
//! on every project route, and sees no event of a project it is not in.

use serde_json::{Value, json};
use stockade_test_artifacts::FS_BUNDLE_DIR;

use super::{Client, Fixture, MEMBER, code, project_state, setup_project};
use crate::server::Response;

/// Every project route, as (name, method, path after `/v1/projects/{p}`, body). Bodies are
/// valid for a fixture project, so only membership can explain a 404.
fn project_routes() -> Vec<(&'static str, &'static str, &'static str, Option<Value>)> {
    vec![
        ("get project", "GET", "", None),
        ("list members", "GET", "/members", None),
        (
            "add member",
            "POST",
            "/members",
            Some(json!({ "user": MEMBER })),
        ),
        ("list agents", "GET", "/agents", None),
        (
            "create agent",
            "POST",
            "/agents",
            Some(json!({ "name": "probe", "tools": { "allow": ["fs.read_file"] } })),
        ),
        ("list bundles", "GET", "/bundles", None),
        (
            "install bundle",
            "POST",
            "/bundles",
            Some(json!({ "dir": FS_BUNDLE_DIR, "dev": true })),
        ),
        ("get grant", "GET", "/grants/fs/read_file", None),
        (
            "put grant",
            "PUT",
            "/grants/fs/read_file",
            Some(json!({ "dirs": [{ "mount": "/project", "access": "read" }] })),
        ),
        ("list tools", "GET", "/tools?agent=reader", None),
        (
            "call a tool",
            "POST",
            "/tool-calls",
            Some(
                json!({ "agent": "reader", "tool": "fs.read_file", "input": { "path": "hello.txt" } }),
            ),
        ),
        ("list secrets", "GET", "/secrets", None),
        (
            "put secret",
            "PUT",
            "/secrets/probe",
            Some(json!({ "value": "a-probe-secret-value" })),
        ),
        ("delete secret", "DELETE", "/secrets/probe", None),
        ("list workspaces", "GET", "/workspaces", None),
        ("create workspace", "POST", "/workspaces", Some(json!({}))),
        ("destroy workspace", "DELETE", "/workspaces/probe", None),
        (
            "exec in workspace",
            "POST",
            "/workspaces/probe/exec",
            Some(json!({ "argv": ["true"] })),
        ),
    ]
}

/// Headers that may differ between two otherwise identical answers.
fn stable_headers(response: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<_> = response
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("date"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    headers.sort();
    headers
}

/// The table covers every project route the server documents: a new route without a row fails
/// here instead of going untested.
fn assert_table_covers_every_project_route(fx: &Fixture) {
    let doc = fx.server.get("/v1/openapi.json").json();
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Some(route) = path.strip_prefix("/v1/projects/{project}") {
            for method in item.as_object().unwrap().keys() {
                documented.push(format!("{} {route}", method.to_uppercase()));
            }
        }
    }
    let mut tested: Vec<String> = project_routes()
        .iter()
        .map(|(_, method, route, _)| {
            let route = route.split('?').next().unwrap();
            let route = route
                .replace("/grants/fs/read_file", "/grants/{bundle}/{tool}")
                .replace("/secrets/probe", "/secrets/{name}")
                .replace("/workspaces/probe", "/workspaces/{id}");
            format!("{method} {route}")
        })
        .collect();
    documented.sort();
    tested.sort();
    assert_eq!(tested, documented);
}

#[test]
fn a_member_of_one_project_gets_404_on_every_route_of_another() {
    let fx = Fixture::new();
    assert_table_covers_every_project_route(&fx);
    let on = |client: &Client, project: &str, method: &str, route: &str, body: &Option<Value>| {
        client.send(
            method,
            &format!("/v1/projects/{project}{route}"),
            body.as_ref(),
        )
    };

    let b_before = project_state(&fx.admin, &fx.b);
    let b_events_before = fx.admin.events("&project=b");

    // Project `c` does not exist yet: record what the member sees for it.
    let routes = project_routes();
    let missing: Vec<Response> = routes
        .iter()
        .map(|(_, method, route, body)| on(&fx.member, "c", method, route, body))
        .collect();
    // Now it exists, fully set up, and the member is still not in it.
    let _c = setup_project(&fx.admin, "c");

    for ((name, method, route, body), missing) in routes.iter().zip(&missing) {
        assert_eq!(
            missing.status, 404,
            "{name} on a missing project: {missing:?}"
        );
        assert_eq!(code(missing), "not_found", "{name}: {}", missing.body);

        let forbidden = on(&fx.member, "c", method, route, body);
        assert_eq!(
            (forbidden.status, &forbidden.body),
            (missing.status, &missing.body),
            "{name}: an existing project the caller may not see must look exactly missing"
        );
        assert_eq!(
            stable_headers(&forbidden),
            stable_headers(missing),
            "{name}: headers differ"
        );

        let b = on(&fx.member, "b", method, route, body);
        assert_eq!(b.status, 404, "{name} on b: {}", b.body);
        assert_eq!(
            b.body,
            missing.body.replace("`c`", "`b`"),
            "{name} on b: only the name may differ from a missing project's answer"
        );
    }

    // The same member on its own project: every route answers (so the 404s above are about
    // membership, not a broken route); only admins change members, agents, bundles and grants,
    // only admins see or change secrets, and only admins create, use and destroy workspaces.
    let expected_on_a = [
        200, 200, 403, 200, 403, 200, 403, 200, 403, 200, 200, 403, 403, 403, 200, 403, 403, 403,
    ];
    for ((name, method, route, body), status) in routes.iter().zip(expected_on_a) {
        let response = on(&fx.member, "a", method, route, body);
        assert_eq!(response.status, status, "{name} on a: {}", response.body);
    }

    // Nothing the member sent to `b` took effect, and no event about `b` was recorded.
    assert_eq!(project_state(&fx.admin, &fx.b), b_before);
    assert_eq!(fx.admin.events("&project=b"), b_events_before);
}

#[test]
fn events_record_verdicts_and_members_see_only_their_projects() {
    let fx = Fixture::new();
    let admin = &fx.admin;
    let allowed_a = admin.call(
        "a",
        "reader",
        "fs.read_file",
        json!({ "path": "hello.txt" }),
    );
    assert_eq!(allowed_a.status, 200, "{}", allowed_a.body);
    let allowed_b = admin.call(
        "b",
        "writer",
        "fs.write_file",
        json!({ "path": "b.txt", "content": "b" }),
    );
    assert_eq!(allowed_b.status, 200, "{}", allowed_b.body);
    let denied = [
        ("a", "reader", "no_allow_rule"),
        ("a", "viewer", "read_only_agent"),
        ("b", "reader", "no_allow_rule"),
    ];
    for (project, agent, _) in denied {
        let response = admin.call(
            project,
            agent,
            "fs.write_file",
            json!({ "path": "x.txt", "content": "x" }),
        );
        assert_eq!(code(&response), "tool_not_allowed", "{}", response.body);
    }

    let calls = admin.events("&kind=tool_call");
    let by_seq = |seq: &Value| calls.iter().find(|e| e["seq"] == *seq).cloned();
    for (project, response) in [("a", &allowed_a), ("b", &allowed_b)] {
        let event = by_seq(&response.json()["event_seq"])
            .unwrap_or_else(|| panic!("no event for {}: {calls:?}", response.body));
        assert_eq!(event["project"], project, "{event}");
        assert_eq!(event["payload"]["outcome"]["verdict"], "allowed", "{event}");
        assert_eq!(event["payload"]["outcome"]["ok"], true, "{event}");
    }
    for (project, agent, reason) in denied {
        let found = calls.iter().any(|e| {
            e["project"] == project
                && e["actor"] == format!("agent:{project}/{agent}")
                && e["payload"]["tool"] == "fs.write_file"
                && e["payload"]["outcome"]["verdict"] == "denied"
                && e["payload"]["outcome"]["code"] == "tool_not_allowed"
                && e["payload"]["outcome"]["reason"] == reason
        });
        assert!(found, "no denied event for {project}/{agent}: {calls:?}");
    }

    // The member of `a` sees `a`'s events, and nothing else: not `b`'s, not project-less ones.
    let seen = fx.member.events("");
    assert!(!seen.is_empty());
    for event in &seen {
        assert_eq!(event["project"], "a", "member saw {event}");
    }
    let seen_calls: Vec<_> = seen.iter().filter(|e| e["kind"] == "tool_call").collect();
    assert_eq!(seen_calls.len(), 3, "{seen_calls:?}");
    assert!(
        seen.iter()
            .any(|e| e["seq"] == allowed_a.json()["event_seq"])
    );
    // Asking for `b` by name shows nothing either.
    assert!(fx.member.events("&project=b").is_empty());
    // The admin sees both.
    let projects: std::collections::BTreeSet<_> = calls
        .iter()
        .map(|e| e["project"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(projects, ["a".to_owned(), "b".to_owned()].into());
}
