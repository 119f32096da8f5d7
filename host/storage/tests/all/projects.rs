//! Projects and membership.

use stockade_storage::Role;

use crate::harness::TestDb;

#[tokio::test]
async fn membership_is_per_project() {
    let t = TestDb::new().await;
    let ada =
        t.db.users()
            .create("ada", Role::Member)
            .await
            .expect("user");
    let bob =
        t.db.users()
            .create("bob", Role::Member)
            .await
            .expect("user");
    let projects = t.db.projects();
    let a = projects
        .create("a", "/srv/a", Some(&ada.id))
        .await
        .expect("a");
    let b = projects.create("b", "/srv/b", None).await.expect("b");

    assert!(projects.is_member(&a.id, &ada.id).await.expect("q"));
    assert!(!projects.is_member(&b.id, &ada.id).await.expect("q"));
    assert!(!projects.is_member(&a.id, &bob.id).await.expect("q"));

    projects.add_member(&b.id, &bob.id).await.expect("add");
    assert!(projects.is_member(&b.id, &bob.id).await.expect("q"));
    let err = projects
        .add_member(&b.id, &bob.id)
        .await
        .expect_err("twice");
    assert_eq!(err.code(), "conflict");

    let visible: Vec<_> = projects
        .list_for_user(&ada.id)
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(visible, ["a"]);
    assert_eq!(projects.list().await.expect("all").len(), 2);
    assert_eq!(
        projects.members(&b.id).await.expect("members"),
        std::slice::from_ref(&bob.id)
    );

    projects
        .remove_member(&b.id, &bob.id)
        .await
        .expect("remove");
    assert!(!projects.is_member(&b.id, &bob.id).await.expect("q"));
    let err = projects
        .remove_member(&b.id, &bob.id)
        .await
        .expect_err("again");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn project_names_are_unique() {
    let t = TestDb::new().await;
    let projects = t.db.projects();
    let a = projects.create("a", "/srv/a", None).await.expect("a");
    let err = projects
        .create("a", "/srv/other", None)
        .await
        .expect_err("dup");
    assert_eq!(err.code(), "conflict");
    assert_eq!(projects.get_by_name("a").await.expect("get"), a);
    assert_eq!(projects.get(&a.id).await.expect("get"), a);
    assert_eq!(
        projects.get_by_name("zz").await.expect_err("x").code(),
        "not_found"
    );
}

#[tokio::test]
async fn a_failed_create_leaves_nothing_behind() {
    let t = TestDb::new().await;
    let err =
        t.db.projects()
            .create("a", "/srv/a", Some("usr_missing"))
            .await
            .expect_err("owner missing");
    assert_eq!(err.code(), "not_found");
    // The project row was rolled back with the membership.
    assert_eq!(
        t.db.projects()
            .get_by_name("a")
            .await
            .expect_err("absent")
            .code(),
        "not_found"
    );
    t.db.projects()
        .create("a", "/srv/a", None)
        .await
        .expect("name is free");
}

#[tokio::test]
async fn membership_needs_both_sides() {
    let t = TestDb::new().await;
    let p =
        t.db.projects()
            .create("a", "/srv/a", None)
            .await
            .expect("a");
    let err =
        t.db.projects()
            .add_member(&p.id, "usr_missing")
            .await
            .expect_err("x");
    assert_eq!(err.code(), "not_found");
    let ada =
        t.db.users()
            .create("ada", Role::Member)
            .await
            .expect("user");
    let err =
        t.db.projects()
            .add_member("prj_missing", &ada.id)
            .await
            .expect_err("x");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn deleting_a_project_removes_what_belongs_to_it() {
    let t = TestDb::new().await;
    let ada =
        t.db.users()
            .create("ada", Role::Member)
            .await
            .expect("user");
    let p =
        t.db.projects()
            .create("a", "/srv/a", Some(&ada.id))
            .await
            .expect("a");
    t.db.agents()
        .create(&p.id, "bot", &Default::default())
        .await
        .expect("agent");
    t.db.projects().delete(&p.id).await.expect("delete");
    assert!(!t.db.projects().is_member(&p.id, &ada.id).await.expect("q"));
    assert!(t.db.agents().list(&p.id).await.expect("list").is_empty());
    assert_eq!(
        t.db.projects().delete(&p.id).await.expect_err("x").code(),
        "not_found"
    );
}
