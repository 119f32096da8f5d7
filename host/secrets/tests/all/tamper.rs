//! Tampered rows: each case edits the database past the store, and every row it touched must
//! fail with `secret_corrupt` naming that row, never a wrong plaintext. Untouched rows still read.

use sqlx::{Row, SqlitePool};
use stockade_secrets::{Scope, SecretValue};

use crate::harness::{KEY_A, TestEnv};

/// A row by (stored scope, name).
type Id = (&'static str, &'static str);

const G_ALPHA: Id = ("global", "ALPHA");
const G_BRAVO: Id = ("global", "BRAVO");
const P_ALPHA: Id = ("project:prj_x", "ALPHA");
const P_CHARLIE: Id = ("project:prj_x", "CHARLIE");

/// Equal lengths, so no case can be caught by a length check alone.
const SECRETS: [(Id, &str); 4] = [
    (G_ALPHA, "value-alpha-0001"),
    (G_BRAVO, "value-bravo-0002"),
    (P_ALPHA, "value-alpha-0003"),
    (P_CHARLIE, "value-charl-0004"),
];

#[derive(Debug, Clone, Copy)]
enum Column {
    Nonce,
    Ciphertext,
    Both,
}

#[derive(Debug, Clone, Copy)]
enum Edit {
    /// Flip the lowest bit of the byte at this index (negative: from the end).
    FlipBit(isize),
    /// Drop this many bytes from the end.
    Truncate(usize),
    /// Keep only this many bytes.
    KeepFirst(usize),
    /// Add a zero byte.
    Append,
}

#[derive(Debug, Clone, Copy)]
enum Tamper {
    Sql(&'static str),
    Swap(Column, Id, Id),
    CopyOver { from: Id, to: Id },
    Edit(Column, Id, Edit),
}

struct Case {
    name: &'static str,
    tamper: Tamper,
    /// Rows (as they are addressed after the tampering) that must fail.
    victims: &'static [Id],
    /// Original rows no longer at their address (renamed or deleted).
    gone: &'static [Id],
}

const CASES: &[Case] = &[
    Case {
        name: "swap the encrypted values of two rows",
        tamper: Tamper::Swap(Column::Both, G_ALPHA, G_BRAVO),
        victims: &[G_ALPHA, G_BRAVO],
        gone: &[],
    },
    Case {
        name: "swap only the ciphertexts of two rows",
        tamper: Tamper::Swap(Column::Ciphertext, G_ALPHA, G_BRAVO),
        victims: &[G_ALPHA, G_BRAVO],
        gone: &[],
    },
    Case {
        name: "swap only the nonces of two rows",
        tamper: Tamper::Swap(Column::Nonce, G_ALPHA, G_BRAVO),
        victims: &[G_ALPHA, G_BRAVO],
        gone: &[],
    },
    Case {
        name: "swap the values of the same name in two scopes",
        tamper: Tamper::Swap(Column::Both, G_ALPHA, P_ALPHA),
        victims: &[G_ALPHA, P_ALPHA],
        gone: &[],
    },
    Case {
        name: "copy one row's value over another",
        tamper: Tamper::CopyOver {
            from: P_CHARLIE,
            to: G_BRAVO,
        },
        victims: &[G_BRAVO],
        gone: &[],
    },
    Case {
        name: "flip a bit in the first ciphertext byte",
        tamper: Tamper::Edit(Column::Ciphertext, G_ALPHA, Edit::FlipBit(0)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "flip a bit in the tag",
        tamper: Tamper::Edit(Column::Ciphertext, G_ALPHA, Edit::FlipBit(-1)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "flip a bit in the nonce",
        tamper: Tamper::Edit(Column::Nonce, G_ALPHA, Edit::FlipBit(5)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "truncate the tag by one byte",
        tamper: Tamper::Edit(Column::Ciphertext, G_ALPHA, Edit::Truncate(1)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "truncate away the whole tag",
        tamper: Tamper::Edit(Column::Ciphertext, G_ALPHA, Edit::Truncate(16)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "truncate to fewer bytes than a tag",
        tamper: Tamper::Edit(Column::Ciphertext, G_ALPHA, Edit::KeepFirst(10)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "empty the ciphertext",
        tamper: Tamper::Edit(Column::Ciphertext, G_ALPHA, Edit::KeepFirst(0)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "append a byte to the ciphertext",
        tamper: Tamper::Edit(Column::Ciphertext, G_ALPHA, Edit::Append),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "shorten the nonce",
        tamper: Tamper::Edit(Column::Nonce, G_ALPHA, Edit::Truncate(1)),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "rename the row",
        tamper: Tamper::Sql(
            "UPDATE secrets SET name = 'DELTA' WHERE scope = 'global' AND name = 'ALPHA'",
        ),
        victims: &[("global", "DELTA")],
        gone: &[G_ALPHA],
    },
    Case {
        name: "move the row to another scope",
        tamper: Tamper::Sql(
            "UPDATE secrets SET scope = 'project:prj_y' \
             WHERE scope = 'global' AND name = 'ALPHA'",
        ),
        victims: &[("project:prj_y", "ALPHA")],
        gone: &[G_ALPHA],
    },
    Case {
        name: "move the row over another (delete it, rename into its place)",
        tamper: Tamper::Sql(
            "DELETE FROM secrets WHERE scope = 'global' AND name = 'BRAVO'; \
             UPDATE secrets SET name = 'BRAVO' WHERE scope = 'global' AND name = 'ALPHA'",
        ),
        victims: &[G_BRAVO],
        gone: &[G_ALPHA],
    },
    Case {
        name: "change the key version to one that does not exist",
        tamper: Tamper::Sql(
            "UPDATE secrets SET key_version = 7 WHERE scope = 'global' AND name = 'ALPHA'",
        ),
        victims: &[G_ALPHA],
        gone: &[],
    },
    Case {
        name: "change the key version to a forged retired version",
        tamper: Tamper::Sql(
            "INSERT INTO secret_keys VALUES (2, x'00', 'retired', 0, 0); \
             UPDATE secrets SET key_version = 2 WHERE scope = 'global' AND name = 'ALPHA'",
        ),
        victims: &[G_ALPHA],
        gone: &[],
    },
];

#[tokio::test]
async fn every_tampering_fails_with_secret_corrupt_never_wrong_plaintext() {
    for case in CASES {
        let t = TestEnv::new().await;
        let store = t.store(KEY_A).await;
        for ((scope, name), value) in SECRETS {
            let scope = Scope::parse(scope).expect("scope");
            store
                .set(&scope, name, SecretValue::from(value))
                .await
                .expect("set");
        }
        let raw = t.raw().await;
        apply(&raw, case.tamper).await;

        for &(scope, name) in case.victims {
            let scope = Scope::parse(scope).expect("scope");
            let err = match store.get(&scope, name).await {
                Ok(value) => panic!(
                    "{}: {scope}/{name} decrypted to {:?} bytes",
                    case.name,
                    value.len()
                ),
                Err(err) => err,
            };
            assert_eq!(err.code(), "secret_corrupt", "{}: {err}", case.name);
            let shown = err.to_string();
            assert!(
                shown.contains(&format!("`{name}`")) && shown.contains(scope.as_str()),
                "{}: the error must name the row: {shown}",
                case.name
            );
            for (_, value) in SECRETS {
                assert!(!shown.contains(value), "{}: {shown}", case.name);
            }
        }
        for &(scope, name) in case.gone {
            let scope = Scope::parse(scope).expect("scope");
            let err = store.get(&scope, name).await.expect_err(case.name);
            assert_eq!(err.code(), "secret_not_found", "{}: {err}", case.name);
        }
        for ((scope, name), value) in SECRETS {
            if case.victims.contains(&(scope, name)) || case.gone.contains(&(scope, name)) {
                continue;
            }
            let scope = Scope::parse(scope).expect("scope");
            let back = store.get(&scope, name).await.expect(case.name);
            assert_eq!(back.expose_str(), Some(value), "{}: bystander", case.name);
        }
        raw.close().await;
    }
}

async fn apply(raw: &SqlitePool, tamper: Tamper) {
    match tamper {
        Tamper::Sql(sql) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(raw)
                .await
                .expect("tamper sql");
        }
        Tamper::Swap(column, a, b) => {
            let (ra, rb) = (read(raw, a).await, read(raw, b).await);
            let (wa, wb) = match column {
                Column::Nonce => ((rb.0.clone(), ra.1.clone()), (ra.0, rb.1)),
                Column::Ciphertext => ((ra.0.clone(), rb.1.clone()), (rb.0, ra.1)),
                Column::Both => (rb, ra),
            };
            write(raw, a, wa).await;
            write(raw, b, wb).await;
        }
        Tamper::CopyOver { from, to } => {
            let value = read(raw, from).await;
            write(raw, to, value).await;
        }
        Tamper::Edit(column, id, edit) => {
            let (mut nonce, mut ciphertext) = read(raw, id).await;
            let target = match column {
                Column::Nonce => &mut nonce,
                Column::Ciphertext | Column::Both => &mut ciphertext,
            };
            match edit {
                Edit::FlipBit(at) => {
                    let i = if at < 0 {
                        target.len() - at.unsigned_abs()
                    } else {
                        at.unsigned_abs()
                    };
                    target[i] ^= 1;
                }
                Edit::Truncate(n) => target.truncate(target.len() - n),
                Edit::KeepFirst(n) => target.truncate(n),
                Edit::Append => target.push(0),
            }
            write(raw, id, (nonce, ciphertext)).await;
        }
    }
}

async fn read(raw: &SqlitePool, (scope, name): Id) -> (Vec<u8>, Vec<u8>) {
    let row = sqlx::query("SELECT nonce, ciphertext FROM secrets WHERE scope = $1 AND name = $2")
        .bind(scope)
        .bind(name)
        .fetch_one(raw)
        .await
        .expect("read row");
    (row.get("nonce"), row.get("ciphertext"))
}

async fn write(raw: &SqlitePool, (scope, name): Id, (nonce, ciphertext): (Vec<u8>, Vec<u8>)) {
    sqlx::query("UPDATE secrets SET nonce = $3, ciphertext = $4 WHERE scope = $1 AND name = $2")
        .bind(scope)
        .bind(name)
        .bind(nonce)
        .bind(ciphertext)
        .execute(raw)
        .await
        .expect("write row");
}
