//! Hostile destinations: each row of [`CASES`] (the table lives in
//! `stockade_egress::hostile_cases`, shared with the workspace proxy tests) must be refused
//! with exactly its code, even under the widest grants.

use stockade_egress::hostile_cases::CASES;

use crate::{fetch, resolver};

#[tokio::test]
async fn every_hostile_destination_is_refused_with_its_code() {
    assert!(CASES.len() >= 90, "only {} cases", CASES.len());
    let mut names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names are unique");

    let mut failures = Vec::new();
    for &(case, grant, url, answers, expected) in CASES {
        let resolver = resolver(answers);
        match fetch(grant, url, &resolver).await {
            Ok(addresses) => failures.push(format!("{case}: allowed {addresses:?}")),
            Err(denial) if denial.code != expected => failures.push(format!(
                "{case}: {} instead of {expected} ({denial})",
                denial.code
            )),
            Err(denial) => {
                assert!(!denial.reason.is_empty(), "{case}: empty reason");
                // Refused before resolution means no lookup; after, exactly one.
                let looked_up = answers
                    .iter()
                    .map(|(n, _)| resolver.lookups(n))
                    .sum::<usize>();
                assert!(looked_up <= 1, "{case}: {looked_up} lookups");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
